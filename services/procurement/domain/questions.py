"""Suppliers' questions during a tender, and the answers every bidder sees.

Questions are taken while the tender is open, up to its questions deadline (by default the
bid deadline). Every answer is published to all bidders, together with the question, and
never names who asked: equal treatment of tenderers.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime

from ._checks import require_aware_datetime, require_text
from .errors import IllegalTransition, InvalidValue, NotPermitted
from .tenders import Tender, TenderState


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    tender_id: str
    #: The supplier who asked; kept on record, never published.
    asked_by: str
    text: str
    asked_at: datetime
    answer: str | None = None
    answered_at: datetime | None = None

    def __post_init__(self) -> None:
        require_text("id", self.id, max_length=100)
        require_text("tender_id", self.tender_id, max_length=100)
        require_text("asked_by", self.asked_by, max_length=500)
        require_text("question", self.text, max_length=10_000)
        require_aware_datetime("asked_at", self.asked_at)
        if (self.answer is None) != (self.answered_at is None):
            raise InvalidValue("answer", "is given exactly when answered_at is")


def ask_question(tender: Tender, question: Question, questions_until: datetime) -> Question:
    if question.tender_id != tender.id:
        raise InvalidValue("tender_id", f"the question is for {question.tender_id}")
    if tender.state is not TenderState.OPEN:
        raise IllegalTransition("tender", tender.state.value, "ask a question about")
    if question.asked_at >= min(questions_until, tender.deadline):
        raise NotPermitted("asked_at", "the deadline for questions has passed")
    return question


def answer_question(tender: Tender, question: Question, answer: str, now: datetime) -> Question:
    require_text("answer", answer, max_length=20_000)
    require_aware_datetime("now", now)
    if question.answer is not None:
        raise IllegalTransition("question", "answered", "answer")
    if tender.state is not TenderState.OPEN:
        raise IllegalTransition("tender", tender.state.value, "answer a question about")
    if now >= tender.deadline:
        raise NotPermitted("now", "answers must reach every bidder before the bid deadline")
    return dataclasses.replace(question, answer=answer, answered_at=now)
