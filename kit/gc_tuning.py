"""Garbage-collector settings for a long-running service, applied once start-up is done.

A consumer, the outbox relay or a catalogue ingest keeps thousands of fresh objects alive at
a time (a batch of records, a chunk of MARC fields). With CPython's default thresholds
(700, 10, 10) the collector then runs every few hundred allocations and rescans them: about a
quarter of a batch consumer's CPU (measured in ``python -m bench``: 77 → 59 µs per event) and
a fifth of the catalogue ingest's. Two changes:

- ``gc.freeze()`` moves everything start-up built (modules, the app, pools, clients) to a
  permanent generation that no later collection scans;
- a young-generation threshold of 10,000 allocations instead of 700, so fewer collections.

Reference counting still frees everything that is not in a cycle at once; the collector only
runs less often, and memory held by cyclic garbage waits a little longer to be returned.
"""

from __future__ import annotations

import gc

GC_THRESHOLD = (10_000, 50, 50)


def tune_gc() -> None:
    """Call once, when start-up is done: freeze what it built, raise the thresholds."""
    gc.collect()  # what start-up left as garbage is collected, not frozen for good
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLD)
