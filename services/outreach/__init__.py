"""Outreach: the consortium's joint communication and marketing.

- Publishes (``contracts/outreach.py``): message-delivered, campaign-sent,
  announcement-published. No event carries a contact's address.
- Reacts to (``handlers.py``): membership events (the audience), agreement-signed,
  agreement-joined/-left/-ended, tender-opened, records-available.
- Answers (``api.py``, ``api_kits.py``, ``api_campaigns.py``, ``api_feed.py``): the delivery
  log and audience, marketing kits, campaigns with progress, and the public Atom feed.
- Runs in the background (``app.py``): the SMTP sender (``mailer.py``) and the campaign job
  (``campaigns.py``). ``cli.py`` adds ``konsortio outreach campaign-send``.
"""
