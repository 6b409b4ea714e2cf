"""The development SMTP sink's mailbox, read for ``GET /dev/mailbox``.

The embedded stack (``konsortio up``) runs a local SMTP server that stores each message it
receives as one JSON file in a directory; outreach is told that directory by the
``smtp_sink_dir`` setting. Reading it here keeps the service free of the launcher's code: a
service never imports the tool that runs it. Production sets no sink directory.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_mailbox(directory: Path) -> list[dict[str, Any]]:
    """Every message the sink received, oldest file name first; nothing if there is none."""
    if not directory.is_dir():
        return []
    return [json.loads(path.read_text()) for path in sorted(directory.glob("*.json"))]
