"""What the page shows: Finnish, Swedish and English formats and summaries, SVG chart geometry, the
operator view's parsing of metrics and lag, and the settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from aiokafka import TopicPartition

from contracts import ALL_EVENTS
from kit.auth import Role, TokenVerifier, ensure_acts_for, generate_keypair, issue_token
from kit.errors import ApiError
from services.dashboard import charts, i18n
from services.dashboard.deps import sign_in_problem
from services.dashboard.operator import group_lag, outbox_backlog
from services.dashboard.settings import DashboardSettings

D = dt.date
NBSP = "\u00a0"


def test_numbers_follow_each_languages_convention() -> None:
    assert i18n.number(5_635_971, "fi") == f"5{NBSP}635{NBSP}971"
    assert i18n.number(5_635_971, "en") == "5,635,971"
    assert i18n.percent(0.0123, "fi") == f"1,2{NBSP}%"
    assert i18n.percent(0.0123, "en", 2) == "1.23%"
    assert i18n.euros(1_234_550, "fi") == f"12{NBSP}346{NBSP}€"
    assert i18n.euros(1_234_550, "en") == "€12,346"
    assert i18n.date(D(2026, 5, 4), "fi") == "4.5.2026"
    assert i18n.date(D(2026, 5, 4), "en") == "4 May 2026"


def test_times_are_shown_in_helsinki_time() -> None:
    moment = dt.datetime(2026, 1, 15, 10, 0, 5, tzinfo=dt.UTC)
    assert i18n.time_of(moment, "fi") == "15.1. 12.00.05"
    assert i18n.time_of(moment, "en") == "15 Jan 12:00:05"


CATALOGUES = {
    "TEXTS": i18n.TEXTS,
    "CHECKS": i18n.CHECKS,
    "SERVICE_NAMES": i18n.SERVICE_NAMES,
    "EVENT_NAMES": i18n.EVENT_NAMES,
    "MESSAGE_KINDS": i18n.MESSAGE_KINDS,
    "_SUMMARIES": i18n._SUMMARIES,
    "_RICHER": i18n._RICHER,
    "_STATUS": i18n._STATUS,
}


@pytest.mark.parametrize("catalogue", sorted(CATALOGUES))
def test_every_text_exists_in_all_three_languages(catalogue: str) -> None:
    for key, entry in CATALOGUES[catalogue].items():
        assert set(entry) == set(i18n.LANGUAGES), (catalogue, key)
        assert all(entry[lang].strip() for lang in i18n.LANGUAGES), (catalogue, key)
        # A summary's placeholders are the same in every language, or a field goes missing.
        fields = {lang: i18n._fields(entry[lang]) for lang in i18n.LANGUAGES}
        assert fields["fi"] == fields["sv"] == fields["en"], (catalogue, key)


def test_every_event_kind_and_check_has_a_name_people_read() -> None:
    assert {model.name for model in ALL_EVENTS} <= set(i18n.EVENT_NAMES)
    # Outreach's message kinds (services/outreach/domain.py) and the kit's readiness checks.
    kinds = {"welcome", "announcement", "kit", "invitation", "notice", "campaign"}
    assert kinds <= set(i18n.MESSAGE_KINDS)
    assert {"database", "migrations", "broker"} <= set(i18n.CHECKS)
    assert {"membership", "procurement", "catalogue", "outreach"} <= set(i18n.SERVICE_NAMES)
    assert i18n.event_name("member-joined", "sv") == "Medlem anslöt sig"
    assert i18n.message_kind("welcome", "fi") == "tervetuloviesti"
    assert i18n.check_name("database", "fi") == "tietokanta"
    assert i18n.message_kind("unheard-of", "fi") == "unheard-of"


def test_the_language_switch_names_each_language_in_itself() -> None:
    assert i18n.Formatter("fi").others == [("sv", "På svenska"), ("en", "In English")]
    assert i18n.Formatter("sv").others == [("fi", "Suomeksi"), ("en", "In English")]


def test_swedish_follows_finlands_conventions() -> None:
    assert i18n.number(5_635_971, "sv") == f"5{NBSP}635{NBSP}971"
    assert i18n.percent(0.0123, "sv") == f"1,2{NBSP}%"
    assert i18n.euros(1_234_550, "sv") == f"12{NBSP}346{NBSP}€"
    assert i18n.date(D(2026, 5, 4), "sv") == "4.5.2026"
    details = {"library_names_fi": "Porvoon kirjasto", "library_names_sv": "Borgå bibliotek"}
    assert (
        i18n.summary("member-updated", details, "sv") == "Borgå bibliotek: uppgifterna uppdaterade"
    )
    assert i18n.summary("member-updated", details, "en") == "Porvoon kirjasto: details updated"


def test_grouped_deliveries_read_as_one_line_with_counts() -> None:
    group = {"kind": "campaign", "sent": 1_691, "failed": 3}
    assert i18n.summary("message-delivered", group, "fi") == (
        f"Viestit (kampanja): 1{NBSP}691 lähetetty, 3 epäonnistui"
    )
    assert i18n.summary("message-delivered", group, "sv") == (
        f"Meddelanden (kampanj): 1{NBSP}691 skickade, 3 misslyckades"
    )
    assert i18n.summary("message-delivered", group, "en") == (
        "Messages (campaign): 1,691 sent, 3 failed"
    )


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_every_event_has_a_summary_even_when_fields_are_missing(lang: i18n.Lang) -> None:
    for model in ALL_EVENTS:
        line = i18n.summary(model.name, {}, lang)
        assert line and "{" not in line, model.name


def test_summaries_use_the_languages_formats() -> None:
    details = {
        "library_names_fi": "Keski-kirjastot",
        "library_names_en": "Keski Libraries",
        "library_population": 280_000,
    }
    assert i18n.summary("member-joined", details, "fi") == (
        f"Keski-kirjastot liittyi jäseneksi (280{NBSP}000 asukasta)"
    )
    assert (
        i18n.summary("member-joined", details, "en") == "Keski Libraries joined (280,000 residents)"
    )
    delivered = {"kind": "welcome", "isil": "FI-Tro", "status": "failed"}
    assert i18n.summary("message-delivered", delivered, "fi") == (
        "Viesti (tervetuloviesti) kirjastolle FI-Tro: epäonnistui"
    )
    assert i18n.summary(
        "agreement-signed",
        {"title": "E-kirjat", "supplier_name": "Ellibs", "annual_cost_cents": 1_000_000},
        "en",
    ) == ("Agreement signed: E-kirjat (Ellibs, €10,000/yr)")
    assert i18n.summary("some-new-event", {}, "en") == "some-new-event"
    assert i18n.summary("member-left", {}, "sv") == "– utträdde –"
    # An optional field, when present, makes a richer line.
    ended = {"effective_on": "2026-05-04", "kind": "expired"}
    assert i18n.summary("agreement-ended", ended, "fi") == "Sopimus päättyi 4.5.2026"
    ended["title"] = "E-kirjat"
    assert i18n.summary("agreement-ended", ended, "en") == "Agreement E-kirjat ended 4 May 2026"


def test_step_chart_geometry() -> None:
    series = [(D(2026, 1, 1) + dt.timedelta(days=i), c) for i, c in enumerate([0, 0, 3, 3, 7, 6])]
    chart = charts.step_chart(series, lambda d: f"{d.day}.{d.month}.")
    assert chart is not None
    assert (chart.first, chart.last, chart.maximum) == (0, 6, 7)
    assert [t.label for t in chart.y_ticks] == ["0", "5", "10"]  # 7 rounds up to 10
    assert chart.x_ticks[0].label == "1.1." and chart.x_ticks[-1].label == "6.1."
    assert (chart.x_ticks[0].anchor, chart.x_ticks[1].anchor, chart.x_ticks[-1].anchor) == (
        "start",
        "middle",
        "end",
    )
    assert chart.line.startswith(f"M{charts.LEFT}") and chart.line.count("V") == 3
    assert chart.area.endswith("Z")
    assert charts.step_chart([], str) is None
    assert [charts.nice_maximum(v) for v in (0, 1, 2, 3, 7, 11, 49, 51)] == [
        1,
        1,
        2,
        5,
        10,
        20,
        50,
        100,
    ]


def test_outbox_backlog_is_read_from_prometheus_text() -> None:
    text = (
        "# HELP konsortio_outbox_backlog Outbox rows not yet published\n"
        "# TYPE konsortio_outbox_backlog gauge\n"
        'konsortio_outbox_backlog{service="membership"} 4.0\n'
        'konsortio_outbox_backlog{service="other"} 9.0\n'
    )
    assert outbox_backlog(text, "membership") == 4
    assert outbox_backlog(text, "catalogue") is None
    assert outbox_backlog("not { prometheus", "membership") is None


def test_lag_covers_the_topics_a_group_consumes() -> None:
    a0, a1, b0 = TopicPartition("a", 0), TopicPartition("a", 1), TopicPartition("b", 0)
    report = group_lag(
        "g",
        [a0, a1, b0],
        committed={a0: 5, a1: -1, b0: -1},
        beginning={a0: 0, a1: 2, b0: 0},
        end={a0: 8, a1: 4, b0: 10},
    )
    assert [(p.topic, p.partition, p.committed, p.lag) for p in report.partitions] == [
        ("a", 0, 5, 3),
        ("a", 1, None, 2),  # nothing committed yet: everything retained is still to read
    ]
    assert report.lag == 5


def test_settings_parse_service_urls_and_groups() -> None:
    settings = DashboardSettings(
        service_urls="membership=http://m:8001/, dashboard=http://d:8000,bad,x=ftp://no",
        lag_groups="membership, outreach",
    )
    assert settings.services() == {"membership": "http://m:8001"}
    assert settings.groups("dashboard-replay") == ["membership", "outreach", "dashboard-replay"]


def test_a_refused_token_is_explained_by_a_translation_key_not_pyjwts_words() -> None:
    private, public = generate_keypair()
    verifier = TokenVerifier(public)

    def problem(check: Callable[[], object]) -> str:
        with pytest.raises(ApiError) as refused:
            check()
        return sign_in_problem(refused.value)

    assert problem(lambda: verifier.verify("not-a-token")) == "token_invalid"
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    expired = issue_token(private, role=Role.OPERATOR, now=old, ttl=dt.timedelta(hours=1))
    assert problem(lambda: verifier.verify(expired)) == "token_expired"
    assert problem(lambda: TokenVerifier("").verify("x")) == "token_unchecked"
    library = issue_token(private, role=Role.LIBRARY, isil="FI-Tro")
    caller = verifier.verify(library)
    # A 403 (a token of the wrong role or library) says so, not "invalid".
    assert problem(lambda: ensure_acts_for(caller, "FI-Hki")) == "token_wrong_role"
    assert problem(lambda: no_token_given()) == "token_required"
    for key in ("token_invalid", "token_expired", "token_unchecked", "token_wrong_role"):
        assert key in i18n.TEXTS


def no_token_given() -> None:
    raise ApiError(401, "a bearer token is required", field="authorization")
