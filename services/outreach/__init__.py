"""Outreach: the consortium's joint communication and marketing.

- Publishes (``contracts/outreach.py``): message-delivered, campaign-sent,
  announcement-published. No event carries a contact's address.
- Reacts to (``handlers.py``): membership events (the audience), agreement-signed,
  agreement-joined/-left/-ended, tender-opened, records-available.
- Answers (the ``api/`` package, one router per area): the delivery log and audience,
  marketing kits, campaigns with progress, the public Atom feed and the usage-digest opt-out.
- Keeps its state with the ``store/`` package (SQL, one module per group of tables).
- Runs in the background (``app.py``): the SMTP sender (``mailer.py``) and the campaign job
  (``campaigns.py``). ``cli.py`` adds ``konsortio outreach campaign-send``.
"""
