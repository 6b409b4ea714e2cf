"""What membership reacts to: nothing. It is the source of truth for members and consumes no
other service's events; its only time-driven work is the scheduled leave in ``app.py``."""

from __future__ import annotations

from kit.consumer import Reactions

reactions = Reactions()
