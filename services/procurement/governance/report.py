"""The annual report each member receives, and the consortium-wide summary.

Figures come from procurement's own tables (participations, agreements, cost shares) and from
the copies of other services' events in ``report_facts`` (records delivered to the library's
catalogue, messages and kits outreach delivered). A usage-priced agreement is shared by the use
reported so far, as its cost-share table shares it. Usage (COUNTER) appears only when a usage
service publishes its events; until then the report says there are no usage figures.

Rendered as HTML (jinja2) and as PDF (fpdf2's core fonts and drawing primitives, so nothing
outside the lock file is needed), in Finnish or Swedish.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import asyncpg
import jinja2

from services.procurement import commands as procurement_commands
from services.procurement import domain as procurement_domain
from services.procurement import store as procurement_store

Language = Literal["fi", "sv"]

LABELS: dict[str, dict[str, str]] = {
    "fi": {
        "title": "Vuosiraportti",
        "summary_title": "Konsortion vuosikooste ohjausryhmälle",
        "agreements": "Sopimukset, joihin kirjasto osallistui",
        "agreement": "Sopimus",
        "collection": "Kokoelma",
        "period": "Osallistuminen",
        "days": "Päiviä",
        "annual_share": "Vuosiosuus",
        "cost": "Kustannus vuodelta",
        "total": "Yhteensä",
        "records": "Luettelointiin toimitetut tietueet",
        "available": "Lisätty",
        "withdrawn": "Poistettu",
        "messages": "Vastaanotetut viestit ja materiaalipaketit",
        "kind": "Laji",
        "count": "Määrä",
        "usage": "Käyttö",
        "no_usage": "Käyttötilastoja ei ole vielä saatavilla.",
        "none": "Ei tietoja tältä vuodelta.",
        "chart": "Kustannusosuudet sopimuksittain (EUR)",
        "libraries": "Kirjastot",
        "participations": "Osallistumisia",
        "organisation_libraries": "Organisaation kirjastot, joiden luvut on laskettu yhteen",
    },
    "sv": {
        "title": "Årsrapport",
        "summary_title": "Konsortiets årssammandrag för styrgruppen",
        "agreements": "Avtal som biblioteket deltog i",
        "agreement": "Avtal",
        "collection": "Samling",
        "period": "Deltagande",
        "days": "Dagar",
        "annual_share": "Årsandel",
        "cost": "Kostnad för året",
        "total": "Totalt",
        "records": "Poster levererade till katalogen",
        "available": "Tillagda",
        "withdrawn": "Borttagna",
        "messages": "Mottagna meddelanden och materialpaket",
        "kind": "Typ",
        "count": "Antal",
        "usage": "Användning",
        "no_usage": "Användningsstatistik finns ännu inte.",
        "none": "Inga uppgifter för detta år.",
        "chart": "Kostnadsandelar per avtal (EUR)",
        "libraries": "Bibliotek",
        "participations": "Deltaganden",
        "organisation_libraries": "Organisationens bibliotek, vars siffror är sammanräknade",
    },
}


@dataclass
class AgreementLine:
    agreement_id: str
    title: str
    start: dt.date  # first day participating within the year
    end: dt.date  # last day participating within the year
    days: int
    annual_share_cents: int
    cost_cents: int


@dataclass
class LibraryReport:
    year: int
    isil: str
    name: str
    agreements: list[AgreementLine] = field(default_factory=list)
    records: dict[str, dict[str, int]] = field(default_factory=dict)  # collection → counts
    messages: dict[str, int] = field(default_factory=dict)  # kind → delivered count
    usage: list[dict[str, Any]] = field(default_factory=list)
    names: dict[str, str | None] = field(default_factory=dict)
    # An organisation's report: the ISILs of the libraries whose figures are summed here.
    libraries: list[str] = field(default_factory=list)

    def name_in(self, lang: str) -> str:
        return self.names.get(lang) or self.name

    @property
    def total_cost_cents(self) -> int:
        return sum(a.cost_cents for a in self.agreements)


def _year_bounds(year: int) -> tuple[dt.date, dt.date]:
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


def prorate(annual_cents: int, days: int, year: int) -> int:
    """The part of an annual share for ``days`` of ``year`` (cents, rounded half up)."""
    length = (dt.date(year, 12, 31) - dt.date(year, 1, 1)).days + 1
    return (annual_cents * days * 2 + length) // (2 * length)


async def library_report(conn: asyncpg.Connection, year: int, isil: str) -> LibraryReport | None:
    member = await procurement_store.get_member(conn, isil)
    if member is None:
        return None
    first, last = _year_bounds(year)
    names = await conn.fetchval("SELECT names FROM members WHERE isil = $1", isil)
    report = LibraryReport(year, isil, member.name, names=dict(names or {}))
    participations = await procurement_store.participations_of_library(conn, isil)
    for record in participations:
        p = record.participation
        start = max(p.joined_on, first)
        end = min(last, p.left_on - dt.timedelta(days=1)) if p.left_on else last
        agreement_record = await procurement_store.get_agreement(conn, p.agreement_id)
        if agreement_record is None:
            continue
        expires = agreement_record.agreement.expires_on
        if expires is not None:
            end = min(end, expires - dt.timedelta(days=1))
        if end < start:
            continue
        try:
            # The same shares the agreement's cost-share table shows on that day; a usage
            # model divides by the participants' use reported so far in the period.
            shares = await procurement_commands.cost_shares(conn, agreement_record, end)
        except (procurement_domain.InvalidValue, procurement_domain.NotPermitted):
            shares = ()  # e.g. nobody has used a usage-priced agreement yet
        annual = next((s.share_cents for s in shares if s.isil == isil), 0)
        days = (end - start).days + 1
        report.agreements.append(
            AgreementLine(
                p.agreement_id,
                agreement_record.title,
                start,
                end,
                days,
                annual,
                prorate(annual, days, year),
            )
        )
    rows = await conn.fetch(
        "SELECT fact, detail, sum(count)::int AS n FROM report_facts "
        "WHERE isil = $1 AND day BETWEEN $2 AND $3 GROUP BY fact, detail ORDER BY fact, detail",
        isil,
        first,
        last,
    )
    for row in rows:
        if row["fact"].startswith("records-"):
            counts = report.records.setdefault(row["detail"], {"available": 0, "withdrawn": 0})
            counts[row["fact"].removeprefix("records-")] += row["n"]
        elif row["fact"] == "message-sent":
            report.messages[row["detail"]] = report.messages.get(row["detail"], 0) + row["n"]
    return report


async def consortium_summary(conn: asyncpg.Connection, year: int) -> list[LibraryReport]:
    """Every library that was a member at some point in the year (the steering group's view)."""
    first, last = _year_bounds(year)
    isils = await conn.fetch(
        "SELECT isil FROM members WHERE joined_on <= $2 AND (left_on IS NULL OR left_on > $1) "
        "ORDER BY isil",
        first,
        last,
    )
    out = []
    for row in isils:
        report = await library_report(conn, year, row["isil"])
        if report is not None:
            out.append(report)
    return out


async def organisation_report(
    conn: asyncpg.Connection, year: int, business_id: str
) -> list[LibraryReport] | None:
    """The organisation's libraries' figures summed (one agreement line per agreement, each
    collection and kind of message once), followed by each library's own report; None when no
    member library in the year is run by that organisation (membership's ``organisation``)."""
    first, last = _year_bounds(year)
    rows = await conn.fetch(
        "SELECT isil, payer FROM members WHERE payer->>'business_id' = $1 "
        "AND joined_on <= $3 AND (left_on IS NULL OR left_on > $2) ORDER BY isil",
        business_id,
        first,
        last,
    )
    libraries = [r for r in [await library_report(conn, year, row["isil"]) for row in rows] if r]
    if not libraries:
        return None
    name = str((rows[0]["payer"] or {}).get("name") or business_id)
    total = LibraryReport(year, business_id, name, libraries=[r.isil for r in libraries])
    by_agreement: dict[str, AgreementLine] = {}
    for r in libraries:
        for a in r.agreements:
            line = by_agreement.get(a.agreement_id)
            if line is None:
                by_agreement[a.agreement_id] = AgreementLine(**a.__dict__)
                continue
            line.start, line.end = min(line.start, a.start), max(line.end, a.end)
            line.days = (line.end - line.start).days + 1
            line.annual_share_cents += a.annual_share_cents
            line.cost_cents += a.cost_cents
        for collection, counts in r.records.items():
            summed = total.records.setdefault(collection, {"available": 0, "withdrawn": 0})
            for what, n in counts.items():
                summed[what] = summed.get(what, 0) + n
        for kind, n in r.messages.items():
            total.messages[kind] = total.messages.get(kind, 0) + n
    total.agreements = sorted(by_agreement.values(), key=lambda a: (a.start, a.agreement_id))
    return [total, *libraries]


def euros(cents: int) -> str:
    whole, part = divmod(abs(cents), 100)
    sign = "-" if cents < 0 else ""
    return f"{sign}{whole:,}".replace(",", " ") + f",{part:02d} EUR"


def day_text(day: dt.date) -> str:
    return f"{day.day}.{day.month}.{day.year}"


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
    undefined=jinja2.StrictUndefined,
)
_ENV.filters.update(euros=euros, day=day_text)


def render_html(reports: list[LibraryReport], year: int, lang: Language, summary: bool) -> str:
    return _ENV.get_template("annual_report.html.j2").render(
        reports=reports, year=year, lang=lang, t=LABELS[lang], summary=summary
    )


def render_pdf(reports: list[LibraryReport], year: int, lang: Language, summary: bool) -> bytes:
    # fpdf2 (with fontTools) was a third of procurement's start-up imports, for a report
    # asked for a few times a year: it is loaded with the first PDF.
    from services.procurement.governance import report_pdf

    return report_pdf.render(reports, year, lang, summary)
