"""Governance's pure rules: decisions approve their subject, surveys validate answers by type,
and results are safe to open in a spreadsheet."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.procurement.domain.errors import InvalidValue, NotPermitted
from services.procurement.governance import domain
from services.procurement.governance.domain import (
    Body,
    Decision,
    Option,
    Question,
    QuestionKind,
    SubjectKind,
    Survey,
    SurveyKind,
    SurveyState,
)

DAY = dt.date(2026, 12, 1)
YES_NO = (Option("yes", "Kyllä", "Ja"), Option("no", "Ei", "Nej"))


def survey(**changes: object) -> Survey:
    base = Survey(
        id="survey-1",
        kind=SurveyKind.RENEWAL,
        title_fi="Jatketaanko?",
        title_sv="Förnyas?",
        opens_on=DAY,
        closes_on=DAY + dt.timedelta(days=10),
        questions=(
            Question(
                "renew",
                QuestionKind.SINGLE,
                "Jatketaanko?",
                "Förnyas?",
                YES_NO,
                binding_option="yes",
            ),
            Question(
                "formats",
                QuestionKind.MULTIPLE,
                "Muodot",
                "Format",
                (Option("epub", "EPUB", "EPUB"), Option("pdf", "PDF", "PDF")),
            ),
            Question("loans", QuestionKind.NUMBER, "Lainoja", "Lån", required=False),
            Question("note", QuestionKind.TEXT, "Huomio", "Anmärkning", required=False),
        ),
        audience=("FI-A", "FI-B", "FI-C"),
        agreement_id="agreement-1",
        participation_from=DAY + dt.timedelta(days=30),
        state=SurveyState.OPEN,
    )
    return Survey(**{**base.__dict__, **changes})


def test_a_decision_approves_only_its_own_subject() -> None:
    d = Decision("d1", Body.STEERING_GROUP, DAY, "3 §", SubjectKind.AGREEMENT, "agr-1", "ok")
    domain.check_approves(d, "d1", "agr-1")
    with pytest.raises(InvalidValue) as missing:
        domain.check_approves(None, None, "agr-1")
    assert missing.value.field == "decision_id"
    with pytest.raises(InvalidValue, match="no decision d9 is recorded"):
        domain.check_approves(None, "d9", "agr-1")
    with pytest.raises(NotPermitted, match="is about agr-1"):
        domain.check_approves(d, "d1", "agr-2")


def test_attachments_are_addressed_by_sha256() -> None:
    a = domain.attachment_of("minutes.pdf", b"%PDF-1.4", "application/pdf")
    assert a.sha256 == hashlib.sha256(b"%PDF-1.4").hexdigest() and a.size == 8
    assert domain.attachment_of("copy.pdf", b"%PDF-1.4", "application/pdf").sha256 == a.sha256
    with pytest.raises(InvalidValue):
        domain.attachment_of("empty", b"", "text/plain")


@pytest.mark.parametrize(
    "media_type", ["text/html", "image/svg+xml", "0" * 99, "application/pdf;x"]
)
def test_an_attachment_type_outside_the_register_types_is_refused(media_type: str) -> None:
    # Served back as the file's Content-Type: free text would be a malformed header, and
    # HTML or SVG would run in the API's origin.
    with pytest.raises(InvalidValue) as refused:
        domain.attachment_of("minutes", b"<script>", media_type)
    assert refused.value.field == "media_type"
    assert domain.served_type(media_type) == "application/octet-stream"
    assert domain.served_type("application/pdf") == "application/pdf"


def test_valid_answers_are_kept_normalised() -> None:
    clean = domain.check_answers(
        survey(), "FI-A", {"renew": "yes", "formats": ["epub"], "loans": 12}, DAY
    )
    assert clean == {"renew": "yes", "formats": ["epub"], "loans": 12}


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"renew": ["yes"], "formats": []}, "answers.renew"),
        ({"renew": "maybe", "formats": []}, "answers.renew"),
        ({"renew": "yes", "formats": "epub"}, "answers.formats"),
        ({"renew": "yes", "formats": ["doc"]}, "answers.formats"),
        ({"renew": "yes", "formats": [], "loans": "many"}, "answers.loans"),
        ({"renew": "yes", "formats": [], "loans": True}, "answers.loans"),
        ({"renew": "yes", "formats": [], "note": 5}, "answers.note"),
        ({"formats": []}, "answers.renew"),
        ({"renew": "yes", "formats": [], "other": 1}, "answers.other"),
    ],
)
def test_answers_of_the_wrong_type_name_the_question(
    answers: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidValue) as error:
        domain.check_answers(survey(), "FI-A", answers, DAY)
    assert error.value.field == field


def test_only_the_audience_answers_and_only_while_open() -> None:
    ok = {"renew": "no", "formats": []}
    with pytest.raises(NotPermitted) as outside:
        domain.check_answers(survey(), "FI-Z", ok, DAY)
    assert outside.value.field == "isil"
    with pytest.raises(NotPermitted) as late:
        domain.check_answers(survey(), "FI-A", ok, DAY + dt.timedelta(days=11))
    assert late.value.field == "closes_on"
    with pytest.raises(NotPermitted) as closed:
        domain.check_answers(survey(state=SurveyState.CLOSED), "FI-A", ok, DAY)
    assert closed.value.field == "closes_on"
    with pytest.raises(NotPermitted) as early:
        domain.check_answers(survey(state=SurveyState.SCHEDULED), "FI-A", ok, DAY)
    assert early.value.field == "opens_on"


def test_binding_yes_and_who_has_not_answered() -> None:
    s = survey()
    answers = {"FI-A": {"renew": "yes"}, "FI-B": {"renew": "no"}}
    assert domain.binding_yes(s, answers) == ["FI-A"]
    assert domain.not_answered(s, answers) == ["FI-C"]


def test_the_reminder_falls_due_three_days_before_the_close_once() -> None:
    s = survey()
    assert not s.reminder_due_on(s.closes_on - dt.timedelta(days=4))
    assert s.reminder_due_on(s.closes_on - dt.timedelta(days=3))
    assert not survey(reminded=True).reminder_due_on(s.closes_on)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"closes_on": DAY - dt.timedelta(days=1)}, "closes_on"),
        ({"audience": ()}, "audience"),
        ({"agreement_id": None}, "agreement_id"),
        ({"participation_from": DAY + dt.timedelta(days=5)}, "participation_from"),
        ({"questions": ()}, "questions"),
        (
            {"questions": (Question("q", QuestionKind.SINGLE, "a", "b", YES_NO[:1]),)},
            "questions.q",
        ),
        (
            {"questions": (Question("q", QuestionKind.NUMBER, "a", "b", binding_option="x"),)},
            "questions.q",
        ),
    ],
)
def test_a_survey_that_cannot_work_is_refused(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidValue) as error:
        domain.check_survey(survey(**changes), DAY)
    assert error.value.field == field


@given(st.text(max_size=30))
def test_no_csv_cell_starts_a_formula(text: str) -> None:
    cell = domain.safe_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert cell in (text, "'" + text)


def test_results_rows_neutralise_every_cell() -> None:
    s = survey()
    rows = domain.result_rows(
        s, {"FI-A": {"renew": "yes", "formats": ["epub", "pdf"], "note": "=HYPERLINK(1)"}}
    )
    assert rows[0] == ["isil", "renew", "formats", "loans", "note"]
    assert rows[1] == ["FI-A", "yes", "epub;pdf", "", "'=HYPERLINK(1)"]


def test_tally_counts_choices_numbers_and_texts() -> None:
    s = survey()
    tallies = domain.tally(
        s,
        {
            "FI-A": {"renew": "yes", "formats": ["epub", "pdf"], "loans": 3},
            "FI-B": {"renew": "no", "formats": ["epub"], "note": "hi"},
        },
    )
    by_id = {t.question_id: t for t in tallies}
    assert by_id["renew"].counts == {"yes": 1, "no": 1}
    assert by_id["formats"].counts == {"epub": 2, "pdf": 1}
    assert by_id["loans"].numbers == [3.0]
    assert by_id["note"].texts == ["hi"]
