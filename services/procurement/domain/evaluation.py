"""What evaluators record during a tender's evaluation: compatibility tests and quality
scores. Both are recorded only while the tender is in evaluation, and re-recording the same
(bid, target) or bid replaces the earlier entry, so a retest after a supplier fix counts once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ._checks import optional_text, require_int, require_text
from .bids import Bid
from .errors import IllegalTransition, InvalidValue
from .tenders import Tender, TenderState
from .vocabulary import Device, LibrarySystem

Target = Device | LibrarySystem

#: Quality is entered on a fixed 0..100 scale and scaled by the quality weight when scoring,
#: so evaluators need not know the weights and the same scale works for every tender.
QUALITY_SCALE = 100


def parse_target(value: object) -> Target:
    """Accept a Device or LibrarySystem, or either's value (the two vocabularies are
    disjoint, so a plain string is unambiguous)."""
    if isinstance(value, Device | LibrarySystem):
        return value
    for enum_cls in (Device, LibrarySystem):
        try:
            return enum_cls(value)  # type: ignore[arg-type]  # any value is tried; ValueError rejects it
        except ValueError:
            continue
    raise InvalidValue("target", f"not a device or library system: {value!r}")


@dataclass(frozen=True, slots=True)
class CompatibilityResult:
    bid_id: str
    target: Target
    passed: bool
    notes: str = ""

    def __post_init__(self) -> None:
        require_text("bid_id", self.bid_id, max_length=100)
        object.__setattr__(self, "target", parse_target(self.target))
        if not isinstance(self.passed, bool):
            raise InvalidValue("passed", "must be true or false")
        optional_text("notes", self.notes)


@dataclass(frozen=True, slots=True)
class QualityScore:
    bid_id: str
    #: 0..QUALITY_SCALE, entered by hand by the evaluators.
    score: int
    rationale: str = ""

    def __post_init__(self) -> None:
        require_text("bid_id", self.bid_id, max_length=100)
        require_int("score", self.score, minimum=0, maximum=QUALITY_SCALE)
        optional_text("rationale", self.rationale)


def _check_recordable(tender: Tender, bids: Iterable[Bid], bid_id: str, what: str) -> None:
    if tender.state is not TenderState.EVALUATION:
        raise IllegalTransition("tender", tender.state.value, f"record {what} for")
    if not any(b.id == bid_id and b.tender_id == tender.id for b in bids):
        raise InvalidValue("bid_id", f"{bid_id} is not a bid of tender {tender.id}")


def record_compatibility_result(
    tender: Tender,
    bids: Iterable[Bid],
    existing: Iterable[CompatibilityResult],
    result: CompatibilityResult,
) -> tuple[CompatibilityResult, ...]:
    """Return the tender's results with ``result`` added, replacing any earlier result for
    the same (bid, target)."""
    _check_recordable(tender, bids, result.bid_id, "a compatibility test")
    kept = tuple(r for r in existing if (r.bid_id, r.target) != (result.bid_id, result.target))
    return (*kept, result)


def record_quality_score(
    tender: Tender,
    bids: Iterable[Bid],
    existing: Iterable[QualityScore],
    score: QualityScore,
) -> tuple[QualityScore, ...]:
    """Return the tender's quality scores with ``score`` replacing any earlier one."""
    _check_recordable(tender, bids, score.bid_id, "a quality score")
    return (*(q for q in existing if q.bid_id != score.bid_id), score)
