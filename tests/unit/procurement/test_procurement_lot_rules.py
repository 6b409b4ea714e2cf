"""Lots: a tender divided into lots takes bids per lot and is decided lot by lot, each lot on
its own needs, criteria and price model."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from procurement_factories import AFTER_DEADLINE, BEFORE_DEADLINE, DEADLINE

from services.procurement.domain import (
    WHOLE_TENDER_LOT,
    Bid,
    CompatibilityResult,
    Criteria,
    DiscontinuedLot,
    InvalidValue,
    LicenceModel,
    Lot,
    Need,
    NotPermitted,
    QualityScore,
    Supplier,
    Tender,
    TenderState,
    award_tender,
    decide,
    decide_lots,
    lot_of,
    lots_of,
    open_tender,
    rank_lots,
    revise_draft,
    start_evaluation,
    submit_bid,
)

PRICE_ONLY = Criteria(100, 0, 0)
QUALITY_HEAVY = Criteria(10, 90, 0)


def _need(id: str, model: str = "annual-fee") -> Need:
    return Need(
        id=id,
        proposed_by="FI-Hki",
        material_type="e-book",
        description=f"need {id}",
        accepted_licence_models=[model],
        required_devices=["ios"],
    )


NEEDS = [_need("n-books"), _need("n-audio", "per-loan")]
LOTS = (
    Lot("1", "E-books", ("n-books",), PRICE_ONLY, LicenceModel.ANNUAL_FEE),
    Lot("2", "E-audiobooks", ("n-audio",), QUALITY_HEAVY, LicenceModel.PER_LOAN),
)


def _tender(lots: tuple[Lot, ...] = LOTS) -> Tender:
    return Tender(
        id="t-lots",
        title="E-materials 2027",
        kl_reference="KL-2027-002",
        need_ids=("n-books", "n-audio"),
        deadline=DEADLINE,
        criteria=Criteria(50, 30, 20),
        price_model=LicenceModel.ANNUAL_FEE,
        lots=lots,
    )


def _bid(
    id: str, lot_id: str, price: int, model: str = "annual-fee", devices: tuple = ("ios",)
) -> Bid:
    return Bid(
        id=id,
        tender_id="t-lots",
        supplier=Supplier(f"Supplier {id}", "FI"),
        product=f"Product {id}",
        price_model=model,
        price_cents=price,
        submitted_at=BEFORE_DEADLINE,
        supported_devices=frozenset(devices),
        lot_id=lot_id,
    )


def _in_evaluation(bids: list[Bid], tender: Tender | None = None) -> Tender:
    t = open_tender(tender or _tender(), BEFORE_DEADLINE - timedelta(days=1))
    accepted: list[Bid] = []
    for b in bids:
        accepted.append(submit_bid(t, b, accepted))
    return start_evaluation(t, AFTER_DEADLINE)


def test_an_undivided_tender_is_its_one_whole_lot() -> None:
    t = dataclasses.replace(_tender(), lots=())
    (lot,) = lots_of(t)
    assert lot.id == WHOLE_TENDER_LOT
    assert (lot.need_ids, lot.criteria, lot.price_model) == (
        t.need_ids,
        t.criteria,
        t.price_model,
    )
    assert lot_of(t, None) is not None


def test_a_divided_tender_needs_the_lot_named() -> None:
    with pytest.raises(InvalidValue, match="divided into lots") as caught:
        lot_of(_tender(), None)
    assert caught.value.field == "lot_id"
    with pytest.raises(InvalidValue, match="no lot 9; its lots: 1, 2"):
        lot_of(_tender(), "9")


@pytest.mark.parametrize(
    ("lots", "field", "words"),
    [
        ((LOTS[0], LOTS[0]), "lots.id", "listed twice"),
        (
            (dataclasses.replace(LOTS[0], need_ids=("n-books", "n-other")), LOTS[1]),
            "lots.need_ids",
            "not in the tender: n-other",
        ),
        ((LOTS[0],), "lots", "n-audio belong to no lot"),
    ],
)
def test_lots_are_made_of_the_tenders_needs(lots: tuple[Lot, ...], field: str, words: str) -> None:
    with pytest.raises(InvalidValue, match=words) as caught:
        _tender(lots)
    assert caught.value.field == field


@pytest.mark.parametrize("bad", ["", " 1", "a/b", "x" * 21])
def test_a_lot_id_is_short_and_plain(bad: str) -> None:
    with pytest.raises(InvalidValue) as caught:
        Lot(bad, "Lot", ("n-books",), PRICE_ONLY, "annual-fee")
    assert caught.value.field == "lots.id"


def test_lots_are_revised_with_the_draft() -> None:
    revised = revise_draft(_tender(), lots=())
    assert revised.lots == ()


def test_a_bid_answers_a_lot_and_prices_its_model() -> None:
    t = open_tender(_tender(), BEFORE_DEADLINE - timedelta(days=1))
    assert submit_bid(t, _bid("b-1", "2", 150, "per-loan")).lot_id == "2"
    with pytest.raises(NotPermitted, match="lot 2 compares per-loan prices, got annual-fee"):
        submit_bid(t, _bid("b-2", "2", 150))
    with pytest.raises(InvalidValue, match="no lot 3") as caught:
        submit_bid(t, _bid("b-3", "3", 150))
    assert caught.value.field == "lot_id"


def test_each_lot_is_decided_on_its_own_criteria() -> None:
    # Lot 1 is price only: the cheaper bid wins. Lot 2 weighs quality 90: the dearer,
    # better bid wins although its price is double.
    bids = [
        _bid("b-cheap-books", "1", 1_000),
        _bid("b-dear-books", "1", 2_000),
        _bid("b-cheap-audio", "2", 100, "per-loan"),
        _bid("b-good-audio", "2", 200, "per-loan"),
    ]
    t = _in_evaluation(bids)
    quality = [QualityScore("b-cheap-audio", 10), QualityScore("b-good-audio", 100)]
    awarded, awards = decide_lots(t, bids, [], quality, AFTER_DEADLINE, needs=NEEDS)
    assert [(a.lot_id, a.bid_id) for a in awards] == [
        ("1", "b-cheap-books"),
        ("2", "b-good-audio"),
    ]
    assert awarded.state is TenderState.AWARDED
    assert awarded.awarded_bid_id == "b-cheap-books"
    assert {s.bid_id for s in awards[0].scores} == {"b-cheap-books", "b-dear-books"}


def test_a_bid_failing_its_lots_minimum_requirement_is_rejected_in_that_lot() -> None:
    bids = [
        _bid("b-books", "1", 1_000),
        _bid("b-audio-no-ios", "2", 50, "per-loan", devices=()),
        _bid("b-audio", "2", 300, "per-loan"),
    ]
    t = _in_evaluation(bids)
    quality = [QualityScore("b-audio", 50), QualityScore("b-audio-no-ios", 100)]
    _, awards = decide_lots(t, bids, [], quality, AFTER_DEADLINE, needs=NEEDS)
    assert awards[1].bid_id == "b-audio"
    assert [r.bid_id for r in awards[1].rejections] == ["b-audio-no-ios"]
    assert awards[0].rejections == ()


def test_a_lot_without_bids_is_discontinued_and_the_others_decided() -> None:
    bids = [_bid("b-books", "1", 1_000)]
    t = _in_evaluation(bids)
    decision = decide(t, bids, [], [], AFTER_DEADLINE, needs=NEEDS)
    assert [(a.lot_id, a.bid_id) for a in decision.awards] == [("1", "b-books")]
    assert decision.discontinued == (DiscontinuedLot("2", "no bids were received"),)
    assert decision.tender.state is TenderState.AWARDED
    assert decision.tender.awarded_bid_id == "b-books"


def test_a_lot_whose_every_bid_fails_is_discontinued_with_the_ground() -> None:
    bids = [_bid("b-books", "1", 1_000), _bid("b-audio-no-ios", "2", 50, "per-loan", devices=())]
    t = _in_evaluation(bids)
    decision = decide(t, bids, [], [], AFTER_DEADLINE, needs=NEEDS)
    assert [a.lot_id for a in decision.awards] == ["1"]
    (gone,) = decision.discontinued
    assert gone.lot_id == "2" and "minimum requirements" in gone.ground


def test_the_first_lot_may_be_the_discontinued_one() -> None:
    bids = [_bid("b-books-no-ios", "1", 900, devices=()), _bid("b-audio", "2", 300, "per-loan")]
    t = _in_evaluation(bids)
    decision = decide(t, bids, [], [QualityScore("b-audio", 60)], AFTER_DEADLINE, needs=NEEDS)
    assert [(a.lot_id, a.bid_id) for a in decision.awards] == [("2", "b-audio")]
    assert decision.tender.awarded_bid_id == "b-audio"
    assert [d.lot_id for d in decision.discontinued] == ["1"]


def test_with_no_lot_decidable_the_procurement_is_discontinued_instead() -> None:
    bids = [_bid("b-books-no-ios", "1", 900, devices=())]
    t = _in_evaluation(bids)
    with pytest.raises(NotPermitted, match="no lot has a conforming bid") as caught:
        decide(t, bids, [], [], AFTER_DEADLINE, needs=NEEDS)
    assert caught.value.field == "lots"
    assert "lot 1: no bid meets" in str(caught.value) and "lot 2: no bids" in str(caught.value)


def test_an_undivided_tender_without_a_conforming_bid_is_still_refused() -> None:
    t = dataclasses.replace(_tender(), lots=(), need_ids=("n-books",))
    bids = [dataclasses.replace(_bid("b-no-ios", "1", 900, devices=()))]
    t = _in_evaluation(bids, t)
    with pytest.raises(NotPermitted, match="no bid meets the minimum requirements") as caught:
        decide(t, bids, [], [], AFTER_DEADLINE, needs=NEEDS)
    assert caught.value.field == "bids"


def test_a_lots_missing_quality_score_is_named_with_the_lot() -> None:
    bids = [_bid("b-books", "1", 1_000), _bid("b-audio", "2", 300, "per-loan")]
    t = _in_evaluation(bids)
    with pytest.raises(NotPermitted, match="lot 2: missing for bids: b-audio"):
        decide_lots(t, bids, [], [], AFTER_DEADLINE, needs=NEEDS)


def test_award_tender_is_for_undivided_tenders_only() -> None:
    bids = [_bid("b-books", "1", 1_000), _bid("b-audio", "2", 300, "per-loan")]
    t = _in_evaluation(bids)
    with pytest.raises(InvalidValue, match="lot by lot"):
        award_tender(t, bids, [], [QualityScore("b-audio", 1)], AFTER_DEADLINE, needs=NEEDS)


def test_each_lot_is_tested_against_its_own_needs() -> None:
    # Lot 2's need requires no android, so a failed android test costs lot 2 nothing.
    needs = [
        Need("n-books", "FI-Hki", "e-book", "books", ["annual-fee"], ["ios", "android"]),
        _need("n-audio", "per-loan"),
    ]
    lots = (
        Lot("1", "E-books", ("n-books",), Criteria(0, 0, 100), "annual-fee"),
        Lot("2", "E-audiobooks", ("n-audio",), Criteria(0, 0, 100), "per-loan"),
    )
    bids = [
        _bid("b-books", "1", 1_000, devices=("ios", "android")),
        _bid("b-audio", "2", 300, "per-loan"),
    ]
    t = _in_evaluation(bids, _tender(lots))
    results = [
        CompatibilityResult("b-books", "ios", True),
        CompatibilityResult("b-books", "android", True),
        CompatibilityResult("b-audio", "ios", True),
        CompatibilityResult("b-audio", "android", False),
    ]
    books, audio = rank_lots(t, bids, results, [], needs=needs)
    assert books.scores[0].tests_recorded == 2
    assert audio.scores[0].tests_recorded == 1
    assert audio.scores[0].total == 100


@st.composite
def divided_tenders(draw: st.DrawFn) -> tuple[Tender, list[Bid]]:
    """A tender of 1-4 price-only lots, each with 1-4 conforming bids at random prices."""
    count = draw(st.integers(1, 4))
    need_ids = tuple(f"n-{n}" for n in range(count))
    lots = tuple(
        Lot(str(n + 1), f"Lot {n + 1}", (need_ids[n],), PRICE_ONLY, "annual-fee")
        for n in range(count)
    )
    tender = Tender(
        id="t-lots",
        title="Lots",
        kl_reference="KL-1",
        need_ids=need_ids,
        deadline=DEADLINE,
        criteria=PRICE_ONLY,
        price_model="annual-fee",
        lots=lots,
    )
    bids: list[Bid] = []
    for lot in lots:
        prices = draw(st.lists(st.integers(1, 10**9), min_size=1, max_size=4))
        for n, price in enumerate(prices):
            bids.append(_bid(f"b-{lot.id}-{n}", lot.id, price))
    return tender, bids


@given(divided_tenders(), st.randoms(use_true_random=False))
def test_every_lot_gets_the_cheapest_bid_of_its_own(
    case: tuple[Tender, list[Bid]], rnd: object
) -> None:
    tender, bids = case
    shuffled = list(bids)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]  # hypothesis' Random
    needs = [_need(n) for n in tender.need_ids]
    t = _in_evaluation(shuffled, tender)
    _, awards = decide_lots(t, shuffled, [], [], AFTER_DEADLINE, needs=needs)
    assert [a.lot_id for a in awards] == [lot.id for lot in tender.lots]
    for award in awards:
        own = [b for b in bids if b.lot_id == award.lot_id]
        chosen = next(b for b in own if b.id == award.bid_id)
        # The winner is of this lot and no bid of the lot is cheaper (ties: the earlier id).
        assert chosen.price_cents == min(b.price_cents for b in own)
        assert {s.bid_id for s in award.scores} == {b.id for b in own}
