"""Suppliers' questions: taken while the tender is open and before its deadline, answered
once, in time for every bidder."""

from __future__ import annotations

from datetime import timedelta

import pytest
from procurement_factories import AFTER_DEADLINE, BEFORE_DEADLINE, DEADLINE, tender

from services.procurement.domain import (
    IllegalTransition,
    NotPermitted,
    Question,
    answer_question,
    ask_question,
    open_tender,
)


def test_questions_until_the_deadline_and_one_answer_each() -> None:
    opened = open_tender(tender(), BEFORE_DEADLINE)
    q = Question("q-1", "t-1", "Ellibs Oy", "Is Quria required?", BEFORE_DEADLINE)
    assert ask_question(opened, q, DEADLINE) == q
    with pytest.raises(NotPermitted):
        ask_question(opened, Question("q-2", "t-1", "X", "late?", DEADLINE), DEADLINE)
    with pytest.raises(NotPermitted):
        ask_question(opened, q, BEFORE_DEADLINE - timedelta(days=1))  # own earlier cut-off
    with pytest.raises(IllegalTransition):
        ask_question(tender(), q, DEADLINE)
    answered = answer_question(opened, q, "No.", BEFORE_DEADLINE + timedelta(hours=1))
    assert answered.answer == "No." and answered.answered_at is not None
    with pytest.raises(IllegalTransition):
        answer_question(opened, answered, "Again", BEFORE_DEADLINE + timedelta(hours=2))
    with pytest.raises(NotPermitted):
        answer_question(opened, q, "Too late", AFTER_DEADLINE)
