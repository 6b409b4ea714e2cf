"""Pure governance rules: decisions, surveys, questions and answers, results as cells."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.procurement.domain.errors import InvalidValue, NotPermitted

REMINDER_DAYS = 3  # the audience that has not answered is reminded this many days before close
MAX_TEXT_ANSWER = 4000


class Body(StrEnum):
    STEERING_GROUP = "steering-group"
    COORDINATOR = "coordinator"


class SubjectKind(StrEnum):
    NEED = "need"
    TENDER = "tender"
    AGREEMENT = "agreement"
    MEMBERSHIP_VERSION = "membership-version"
    OTHER = "other"


class SurveyKind(StrEnum):
    RENEWAL = "renewal"
    NEW_NEED = "new-need"
    OPT_IN = "opt-in"


class QuestionKind(StrEnum):
    SINGLE = "single"
    MULTIPLE = "multiple"
    NUMBER = "number"
    TEXT = "text"


class AttachmentType(StrEnum):
    """What a decision register attaches: the minutes and appendices a municipality files
    (PDF or PDF/A above all, office documents, scans). The type is served back as the file's
    Content-Type, so an uploader's free text would be a malformed header, or text/html that
    a browser runs; anything else is refused rather than stored."""

    PDF = "application/pdf"
    ODF_TEXT = "application/vnd.oasis.opendocument.text"
    ODF_SPREADSHEET = "application/vnd.oasis.opendocument.spreadsheet"
    DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    PLAIN_TEXT = "text/plain"
    CSV = "text/csv"
    PNG = "image/png"
    JPEG = "image/jpeg"


class SurveyState(StrEnum):
    SCHEDULED = "scheduled"
    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Attachment:
    name: str
    sha256: str
    size: int
    media_type: str


def attachment_of(name: str, content: bytes, media_type: str) -> Attachment:
    """A file is stored once under its SHA-256, whatever name it is attached by."""
    if not content:
        raise InvalidValue("file", "the attachment is empty")
    if media_type not in set(AttachmentType):
        raise InvalidValue(
            "media_type",
            f"{media_type[:100]!r} is not a type a decision attaches; one of "
            + ", ".join(AttachmentType),
        )
    return Attachment(name, hashlib.sha256(content).hexdigest(), len(content), media_type)


def served_type(stored: str) -> str:
    """The Content-Type a stored file is served with: its own when it is one of the
    attachment types, else plain bytes (a row from before the types were checked)."""
    return stored if stored in set(AttachmentType) else "application/octet-stream"


@dataclass(frozen=True)
class Decision:
    id: str
    body: Body
    decided_on: dt.date
    section: str
    subject_kind: SubjectKind
    subject_id: str
    text: str
    attachments: tuple[Attachment, ...] = ()


class Approved(StrEnum):
    """The acts that name the decision that approved them."""

    TENDER_PUBLISHED = "tender-published"
    TENDER_AWARDED = "tender-awarded"
    DECISION_CORRECTED = "decision-corrected"
    AGREEMENT_RENEWED = "agreement-renewed"


def check_approves(decision: Decision | None, decision_id: str | None, subject_id: str) -> None:
    """A renewal, publication or award names a recorded decision about that subject: none
    named or an unknown id is a bad value (422); a decision about something else, a conflict
    with the register (409)."""
    if not decision_id:
        raise InvalidValue("decision_id", "name the decision that approved this")
    if decision is None:
        raise InvalidValue("decision_id", f"no decision {decision_id} is recorded")
    if decision.subject_id != subject_id:
        raise NotPermitted(
            "decision_id",
            f"decision {decision_id} is about {decision.subject_id}, not {subject_id}",
        )


@dataclass(frozen=True)
class Option:
    id: str
    fi: str
    sv: str


@dataclass(frozen=True)
class Question:
    id: str
    kind: QuestionKind
    fi: str
    sv: str
    options: tuple[Option, ...] = ()
    required: bool = True
    # A single-choice question whose this option, when chosen, is a binding opt-in for the
    # next period: the survey's close turns it into a participation.
    binding_option: str | None = None

    def option_ids(self) -> list[str]:
        return [o.id for o in self.options]


def check_questions(questions: Sequence[Question]) -> None:
    if not questions:
        raise InvalidValue("questions", "a survey asks at least one question")
    ids = [q.id for q in questions]
    if len(set(ids)) != len(ids):
        raise InvalidValue("questions", "question ids must be unique")
    for q in questions:
        where = f"questions.{q.id}"
        choice = q.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE)
        if choice and len(q.options) < 2:
            raise InvalidValue(where, "a choice question offers at least two options")
        if not choice and q.options:
            raise InvalidValue(where, f"a {q.kind} question has no options")
        if len(set(q.option_ids())) != len(q.options):
            raise InvalidValue(where, "option ids must be unique")
        if q.binding_option is not None:
            if q.kind is not QuestionKind.SINGLE:
                raise InvalidValue(where, "only a single-choice question can be binding")
            if q.binding_option not in q.option_ids():
                raise InvalidValue(where, f"binding_option {q.binding_option} is not an option")
    if sum(1 for q in questions if q.binding_option) > 1:
        raise InvalidValue("questions", "at most one question is binding")


@dataclass(frozen=True)
class Survey:
    id: str
    kind: SurveyKind
    title_fi: str
    title_sv: str
    opens_on: dt.date
    closes_on: dt.date  # last day answers are taken
    questions: tuple[Question, ...]
    audience: tuple[str, ...]
    agreement_id: str | None = None
    participation_from: dt.date | None = None
    decision_id: str | None = None
    state: SurveyState = SurveyState.SCHEDULED
    reminded: bool = False

    def binding_question(self) -> Question | None:
        return next((q for q in self.questions if q.binding_option), None)

    def accepts_answers_on(self, day: dt.date) -> bool:
        return self.state is SurveyState.OPEN and self.opens_on <= day <= self.closes_on

    def reminder_due_on(self, day: dt.date) -> bool:
        return (
            self.state is SurveyState.OPEN
            and not self.reminded
            and day >= self.closes_on - dt.timedelta(days=REMINDER_DAYS)
        )


def check_survey(survey: Survey, today: dt.date) -> None:
    if survey.closes_on < survey.opens_on:
        raise InvalidValue("closes_on", "a survey closes on or after the day it opens")
    if survey.closes_on < today:
        raise InvalidValue("closes_on", "a survey cannot close in the past")
    if not survey.audience:
        raise InvalidValue("audience", "the audience has no library in it")
    check_questions(survey.questions)
    binding = survey.binding_question()
    if survey.kind in (SurveyKind.RENEWAL, SurveyKind.OPT_IN):
        if survey.agreement_id is None:
            raise InvalidValue("agreement_id", f"a {survey.kind} survey is about an agreement")
    if binding is not None:
        if survey.agreement_id is None:
            raise InvalidValue("agreement_id", "a binding question needs the agreement")
        if survey.participation_from is None:
            raise InvalidValue("participation_from", "a binding question needs the start day")
        if survey.participation_from <= survey.closes_on:
            raise InvalidValue(
                "participation_from", "binding participation starts after the survey closes"
            )


AnswerValue = str | list[str] | int | float


def check_answers(
    survey: Survey, isil: str, answers: Mapping[str, object], today: dt.date
) -> dict[str, AnswerValue]:
    """Validate one library's answers; return them normalised. Raises naming the problem."""
    if isil not in survey.audience:
        raise NotPermitted("isil", f"{isil} is not in this survey's audience")
    if survey.state is SurveyState.CLOSED or today > survey.closes_on:
        raise NotPermitted("closes_on", f"the survey closed on {survey.closes_on}")
    if not survey.accepts_answers_on(today):
        raise NotPermitted("opens_on", f"the survey opens on {survey.opens_on}")
    by_id = {q.id: q for q in survey.questions}
    unknown = sorted(set(answers) - set(by_id))
    if unknown:
        raise InvalidValue(f"answers.{unknown[0]}", "no such question in this survey")
    clean: dict[str, AnswerValue] = {}
    for q in survey.questions:
        where = f"answers.{q.id}"
        if q.id not in answers or answers[q.id] is None:
            if q.required:
                raise InvalidValue(where, "this question must be answered")
            continue
        clean[q.id] = _answer(q, answers[q.id], where)
    return clean


def _answer(q: Question, value: object, where: str) -> AnswerValue:
    if q.kind is QuestionKind.SINGLE:
        if not isinstance(value, str):
            raise InvalidValue(where, "a single-choice answer is one option id (a string)")
        if value not in q.option_ids():
            raise InvalidValue(where, f"{value!r} is not an option of this question")
        return value
    if q.kind is QuestionKind.MULTIPLE:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidValue(where, "a multiple-choice answer is a list of option ids")
        wrong = [v for v in value if v not in q.option_ids()]
        if wrong:
            raise InvalidValue(where, f"{wrong[0]!r} is not an option of this question")
        if len(set(value)) != len(value):
            raise InvalidValue(where, "an option is chosen at most once")
        return list(value)
    if q.kind is QuestionKind.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidValue(where, "a number answer is a number")
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidValue(where, "a number answer is a finite number")
        return value
    if not isinstance(value, str):
        raise InvalidValue(where, "a free-text answer is a string")
    if len(value) > MAX_TEXT_ANSWER:
        raise InvalidValue(where, f"a free-text answer has at most {MAX_TEXT_ANSWER} characters")
    return value


def binding_yes(survey: Survey, answers: Mapping[str, Mapping[str, object]]) -> list[str]:
    """ISILs whose answer chose the binding option, in ISIL order."""
    q = survey.binding_question()
    if q is None:
        return []
    return sorted(isil for isil, a in answers.items() if a.get(q.id) == q.binding_option)


def not_answered(survey: Survey, answered: Iterable[str]) -> list[str]:
    done = set(answered)
    return sorted(isil for isil in survey.audience if isil not in done)


@dataclass
class Tally:
    question_id: str
    kind: QuestionKind
    counts: dict[str, int] = field(default_factory=dict)
    numbers: list[float] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)


def tally(survey: Survey, answers: Mapping[str, Mapping[str, object]]) -> list[Tally]:
    out: list[Tally] = []
    for q in survey.questions:
        t = Tally(q.id, q.kind, counts={o: 0 for o in q.option_ids()})
        for a in answers.values():
            v = a.get(q.id)
            if v is None:
                continue
            if q.kind is QuestionKind.SINGLE and isinstance(v, str):
                t.counts[v] = t.counts.get(v, 0) + 1
            elif q.kind is QuestionKind.MULTIPLE and isinstance(v, list):
                for item in v:
                    t.counts[item] = t.counts.get(item, 0) + 1
            elif q.kind is QuestionKind.NUMBER and isinstance(v, int | float):
                t.numbers.append(float(v))
            elif q.kind is QuestionKind.TEXT and isinstance(v, str):
                t.texts.append(v)
        out.append(t)
    return out


@dataclass(frozen=True)
class QuestionResult:
    """What a closed survey publishes of one question: counts, never who or free text."""

    question: Question
    answered: int
    counts: dict[str, int]  # option id → libraries that chose it (choice questions)
    mean: float | None  # a number question's mean answer


def results(survey: Survey, answers: Mapping[str, Mapping[str, object]]) -> list[QuestionResult]:
    out = []
    for q, t in zip(survey.questions, tally(survey, answers), strict=True):
        answered = sum(1 for a in answers.values() if a.get(q.id) is not None)
        mean = sum(t.numbers) / len(t.numbers) if t.numbers else None
        out.append(QuestionResult(q, answered, dict(t.counts), mean))
    return out


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A CSV cell a spreadsheet will not run as a formula: text starting with = + - @ tab or
    CR gets a leading apostrophe (OWASP's CSV injection advice)."""
    if value is None:
        return ""
    if isinstance(value, list):
        text = ";".join(str(v) for v in value)
    else:
        text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def result_rows(survey: Survey, answers: Mapping[str, Mapping[str, object]]) -> list[list[str]]:
    """Header and one row per answering library, every cell neutralised."""
    header = ["isil", *(q.id for q in survey.questions)]
    rows = [[safe_cell(h) for h in header]]
    for isil in sorted(answers):
        a = answers[isil]
        rows.append([safe_cell(isil), *(safe_cell(a.get(q.id)) for q in survey.questions)])
    return rows
