"""The page in Finnish and English: texts, number and date formats, and event summaries.

Formats follow each language's convention (Finnish: ``5 635 971``, ``1,2 %``, ``12 345 €``,
``14.5.2026``; English: ``5,635,971``, ``1.2%``, ``€12,345``, ``14 May 2026``). Times are
shown in Helsinki time, the consortium's own.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Mapping
from typing import Any, Literal
from zoneinfo import ZoneInfo

Lang = Literal["fi", "en"]
LANGUAGES: tuple[Lang, ...] = ("fi", "en")
DEFAULT_LANG: Lang = "fi"
HELSINKI = ZoneInfo("Europe/Helsinki")
NBSP = "\u00a0"

TEXTS: dict[str, dict[Lang, str]] = {
    "title": {"fi": "Konsortion tilannekuva", "en": "Consortium dashboard"},
    "operator_title": {"fi": "Ylläpitonäkymä", "en": "Operator view"},
    "skip": {"fi": "Siirry pääsisältöön", "en": "Skip to main content"},
    "other_lang": {"fi": "In English", "en": "Suomeksi"},
    "nav_label": {"fi": "Sivuston navigointi", "en": "Site navigation"},
    "nav_dashboard": {"fi": "Tilannekuva", "en": "Dashboard"},
    "nav_operator": {"fi": "Ylläpito", "en": "Operator view"},
    "figures": {"fi": "Tunnusluvut", "en": "Key figures"},
    "members": {"fi": "Jäsenkirjastot", "en": "Member libraries"},
    "members_active": {"fi": "aktiivista jäsentä", "en": "active members"},
    "population_served": {"fi": "asukasta", "en": "residents served"},
    "of_finland": {"fi": "Suomen väestöstä", "en": "of Finland's population"},
    "agreements": {"fi": "Puitesopimukset", "en": "Framework agreements"},
    "agreements_active": {"fi": "voimassa olevaa sopimusta", "en": "active agreements"},
    "participations": {"fi": "osallistumista", "en": "participations"},
    "annual_cost_total": {"fi": "vuosikustannukset yhteensä", "en": "annual cost in total"},
    "catalogue": {"fi": "Luettelointi", "en": "Catalogue"},
    "records_total": {"fi": "tietuetta kokoelmissa", "en": "records in collections"},
    "collections_n": {"fi": "Kokoelmia", "en": "Collections"},
    "outreach": {"fi": "Viestintä", "en": "Outreach"},
    "sent": {"fi": "lähetetty", "en": "sent"},
    "failed": {"fi": "epäonnistunut", "en": "failed"},
    "procurement": {"fi": "Hankinnat", "en": "Procurement"},
    "tenders_open": {"fi": "avointa kilpailutusta", "en": "open tenders"},
    "needs": {"fi": "hankintatarvetta", "en": "proposed needs"},
    "agreement": {"fi": "Sopimus", "en": "Agreement"},
    "supplier": {"fi": "Toimittaja", "en": "Supplier"},
    "participants": {"fi": "Osallistujat", "en": "Participants"},
    "coverage": {"fi": "Väestökattavuus", "en": "Population coverage"},
    "annual_cost": {"fi": "Vuosikustannus", "en": "Annual cost"},
    "agreements_caption": {
        "fi": "Voimassa olevat puitesopimukset",
        "en": "Active framework agreements",
    },
    "no_agreements": {"fi": "Ei voimassa olevia sopimuksia.", "en": "No active agreements."},
    "collection": {"fi": "Kokoelma", "en": "Collection"},
    "records": {"fi": "Tietueet", "en": "Records"},
    "libraries": {"fi": "Kirjastot", "en": "Libraries"},
    "accepted_share": {"fi": "Hyväksytty", "en": "Accepted"},
    "warnings": {"fi": "Varoitukset", "en": "Warnings"},
    "collections_caption": {
        "fi": "Tietueet kokoelmittain ja niiden laatu",
        "en": "Records per collection and their quality",
    },
    "no_collections": {"fi": "Ei vielä kokoelmia.", "en": "No collections yet."},
    "kind": {"fi": "Viestityyppi", "en": "Message kind"},
    "deliveries_caption": {
        "fi": "Lähetetyt ja epäonnistuneet viestit tyypeittäin",
        "en": "Messages sent and failed, by kind",
    },
    "no_deliveries": {"fi": "Ei vielä viestejä.", "en": "No messages yet."},
    "total": {"fi": "Yhteensä", "en": "Total"},
    "charts": {"fi": "Kehitys", "en": "Over time"},
    "chart_members": {"fi": "Jäsenkirjastot päivittäin", "en": "Member libraries per day"},
    "chart_participation": {
        "fi": "Sopimusosallistumiset päivittäin",
        "en": "Agreement participations per day",
    },
    "chart_desc": {
        "fi": "Porrasviivakaavio {start}–{end}: alussa {first}, lopussa {last}, enimmillään {max}.",
        "en": "Step chart {start} to {end}: {first} at the start, {last} at the end, "
        "at most {max}.",
    },
    "chart_data": {"fi": "Kaavion tiedot taulukkona", "en": "Chart data as a table"},
    "date": {"fi": "Päivä", "en": "Date"},
    "count": {"fi": "Määrä", "en": "Count"},
    "no_data": {"fi": "Ei vielä tietoja.", "en": "No data yet."},
    "feed": {"fi": "Tapahtumavirta", "en": "Live event feed"},
    "filter_type": {"fi": "Tapahtumatyyppi", "en": "Event type"},
    "filter_service": {"fi": "Palvelu", "en": "Service"},
    "all": {"fi": "Kaikki", "en": "All"},
    "apply_filters": {"fi": "Suodata", "en": "Filter"},
    "clear_filters": {"fi": "Poista suodattimet", "en": "Clear filters"},
    "feed_empty": {"fi": "Ei tapahtumia.", "en": "No events."},
    "live_connecting": {"fi": "Yhdistetään…", "en": "Connecting…"},
    "live_connected": {"fi": "Reaaliaikainen yhteys päällä", "en": "Live updates on"},
    "live_lost": {
        "fi": "Yhteys katkesi, yhdistetään uudelleen…",
        "en": "Connection lost, reconnecting…",
    },
    "event_time": {"fi": "Aika", "en": "Time"},
    "event_type": {"fi": "Tyyppi", "en": "Type"},
    "event_key": {"fi": "Avain", "en": "Key"},
    "footer": {
        "fi": "Luvut lasketaan tapahtumavirrasta. Sivulla ei näytetä henkilötietoja.",
        "en": "Figures are computed from the event stream. No personal data is shown.",
    },
    # operator view
    "login_title": {"fi": "Kirjaudu ylläpitonäkymään", "en": "Sign in to the operator view"},
    "login_help": {
        "fi": "Liitä ylläpitäjän tai koordinaattorin tunniste (bearer token).",
        "en": "Paste an operator or coordinator token (bearer token).",
    },
    "token": {"fi": "Tunniste", "en": "Token"},
    "sign_in": {"fi": "Kirjaudu", "en": "Sign in"},
    "sign_out": {"fi": "Kirjaudu ulos", "en": "Sign out"},
    "health": {"fi": "Palveluiden tila", "en": "Service health"},
    "service": {"fi": "Palvelu", "en": "Service"},
    "status": {"fi": "Tila", "en": "Status"},
    "checks": {"fi": "Tarkistukset", "en": "Checks"},
    "outbox_backlog": {"fi": "Lähtevät jonossa (outbox)", "en": "Outbox backlog"},
    "ready": {"fi": "valmis", "en": "ready"},
    "not ready": {"fi": "ei valmis", "en": "not ready"},
    "unreachable": {"fi": "ei tavoitettavissa", "en": "unreachable"},
    "lag": {"fi": "Kuluttajien viive", "en": "Consumer lag"},
    "group": {"fi": "Ryhmä", "en": "Group"},
    "topic": {"fi": "Aihe", "en": "Topic"},
    "partition": {"fi": "Osio", "en": "Partition"},
    "committed": {"fi": "Kuitattu", "en": "Committed"},
    "end": {"fi": "Loppu", "en": "End"},
    "lag_col": {"fi": "Viive", "en": "Lag"},
    "no_offsets": {"fi": "ei kuitattuja siirtymiä", "en": "no committed offsets"},
    "broker_error": {"fi": "Välittäjään ei saatu yhteyttä", "en": "The broker was not reachable"},
    "dead_letters": {"fi": "Käsittelemättömät viestit (DLQ)", "en": "Dead letters"},
    "dead_letter_counts": {
        "fi": "Käsittelemättömät viestit aiheittain ja ryhmittäin",
        "en": "Dead letters by topic and consumer group",
    },
    "latest_reasons": {"fi": "Viimeisimmät syyt", "en": "Latest reasons"},
    "reason": {"fi": "Syy", "en": "Reason"},
    "error_class": {"fi": "Virheluokka", "en": "Error class"},
    "no_dead_letters": {"fi": "Ei käsittelemättömiä viestejä.", "en": "No dead letters."},
    "refresh": {"fi": "Päivitä", "en": "Refresh"},
    "generated": {"fi": "Päivitetty", "en": "Generated"},
    "yes": {"fi": "kyllä", "en": "yes"},
    "no": {"fi": "ei", "en": "no"},
}

SERVICE_NAMES: dict[str, dict[Lang, str]] = {
    "membership": {"fi": "Jäsenyys", "en": "Membership"},
    "procurement": {"fi": "Hankinnat", "en": "Procurement"},
    "catalogue": {"fi": "Luettelointi", "en": "Catalogue"},
    "outreach": {"fi": "Viestintä", "en": "Outreach"},
    "dashboard": {"fi": "Tilannekuva", "en": "Dashboard"},
}

MONTHS_EN = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def t(key: str, lang: Lang) -> str:
    entry = TEXTS.get(key)
    return entry[lang] if entry else key


def service_name(producer: str, lang: Lang) -> str:
    entry = SERVICE_NAMES.get(producer)
    return entry[lang] if entry else producer


def number(value: int | float, lang: Lang) -> str:
    grouped = f"{int(round(value)):,}"
    return grouped.replace(",", NBSP) if lang == "fi" else grouped


def percent(fraction: float, lang: Lang, digits: int = 1) -> str:
    shown = f"{fraction * 100:.{digits}f}"
    return f"{shown.replace('.', ',')}{NBSP}%" if lang == "fi" else f"{shown}%"


def euros(cents: int, lang: Lang) -> str:
    whole = number(round(cents / 100), lang)
    return f"{whole}{NBSP}€" if lang == "fi" else f"€{whole}"


def date(value: dt.date, lang: Lang) -> str:
    if lang == "fi":
        return f"{value.day}.{value.month}.{value.year}"
    return f"{value.day} {MONTHS_EN[value.month - 1]} {value.year}"


def short_date(value: dt.date, lang: Lang) -> str:
    return (
        f"{value.day}.{value.month}."
        if lang == "fi"
        else f"{value.day} {MONTHS_EN[value.month - 1]}"
    )


def time_of(moment: dt.datetime, lang: Lang) -> str:
    local = moment.astimezone(HELSINKI)
    if lang == "fi":
        return f"{local.day}.{local.month}. {local:%H.%M.%S}"
    return f"{local.day} {MONTHS_EN[local.month - 1]} {local:%H:%M:%S}"


# --- summaries of feed events ------------------------------------------------------------------

_SUMMARIES: dict[str, dict[Lang, str]] = {
    "member-joined": {
        "fi": "{name} liittyi jäseneksi ({population} asukasta)",
        "en": "{name} joined ({population} residents)",
    },
    "member-updated": {"fi": "{name}: tiedot päivitetty", "en": "{name}: details updated"},
    "member-left": {"fi": "{name} erosi {effective_date}", "en": "{name} left on {effective_date}"},
    "need-proposed": {
        "fi": "Uusi hankintatarve: {material_type}",
        "en": "New need proposed: {material_type}",
    },
    "interest-registered": {
        "fi": "{isil} ilmoitti kiinnostuksensa",
        "en": "{isil} registered interest",
    },
    "tender-opened": {"fi": "Kilpailutus avattu: {title}", "en": "Tender opened: {title}"},
    "tender-awarded": {
        "fi": "Kilpailutus ratkaistu: {supplier_name} – {product}",
        "en": "Tender awarded: {supplier_name} – {product}",
    },
    "tender-cancelled": {"fi": "Kilpailutus peruttu", "en": "Tender cancelled"},
    "agreement-signed": {
        "fi": "Sopimus allekirjoitettu: {title} ({supplier_name}, {annual_cost}/v)",
        "en": "Agreement signed: {title} ({supplier_name}, {annual_cost}/yr)",
    },
    "agreement-ended": {
        "fi": "Sopimus päättyi {effective_on}",
        "en": "Agreement ended {effective_on}",
    },
    "agreement-joined": {
        "fi": "{isil} liittyi sopimukseen {title} (osallistujia nyt {participants})",
        "en": "{isil} joined {title} (participants now: {participants})",
    },
    "agreement-left": {
        "fi": "{isil} erosi sopimuksesta (osallistujia nyt {participants})",
        "en": "{isil} left the agreement (participants now: {participants})",
    },
    "titles-ingested": {
        "fi": "{collection_id}: {counts_accepted} uutta, {counts_rejected} hylättyä, "
        "{records_in_collection} tietuetta",
        "en": "{collection_id}: {counts_accepted} new, {counts_rejected} rejected, "
        "{records_in_collection} records",
    },
    "records-available": {
        "fi": "{isil}: {count} tietuetta saatavilla ({title})",
        "en": "{isil}: {count} records available ({title})",
    },
    "records-withdrawn": {
        "fi": "{isil}: {count} tietuetta poistettu",
        "en": "{isil}: {count} records withdrawn",
    },
    "message-delivered": {
        "fi": "Viesti ({kind}) kirjastolle {isil}: {status}",
        "en": "Message ({kind}) to {isil}: {status}",
    },
    "campaign-sent": {
        "fi": "Kampanja {title}: {sent}/{recipients} lähetetty",
        "en": "Campaign {title}: {sent}/{recipients} sent",
    },
    "announcement-published": {
        "fi": "Tiedote julkaistu: {title}",
        "en": "Announcement published: {title}",
    },
}

# Richer lines for payloads that carry optional fields (added to the contracts later): used
# when every field they name is present, else the plain line above.
_RICHER: dict[str, dict[Lang, str]] = {
    "tender-awarded": {
        "fi": "Kilpailutus ratkaistu: {title} – {supplier_name}, {product}",
        "en": "Tender awarded: {title} – {supplier_name}, {product}",
    },
    "tender-cancelled": {"fi": "Kilpailutus peruttu: {title}", "en": "Tender cancelled: {title}"},
    "agreement-ended": {
        "fi": "Sopimus {title} päättyi {effective_on}",
        "en": "Agreement {title} ended {effective_on}",
    },
}

_STATUS: dict[str, dict[Lang, str]] = {
    "sent": {"fi": "lähetetty", "en": "sent"},
    "failed": {"fi": "epäonnistui", "en": "failed"},
}


class _Blank(dict[str, Any]):
    """Missing fields print as a dash, so a reshaped payload still gets a readable line."""

    def __missing__(self, key: str) -> str:
        return "–"


def _fields(template: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(template) if field}


def summary(name: str, details: Mapping[str, Any], lang: Lang) -> str:
    template = _SUMMARIES.get(name)
    if template is None:
        return name
    richer = _RICHER.get(name)
    if richer and _fields(richer[lang]) <= set(details):
        template = richer
    values = _Blank()
    for key, value in details.items():
        if isinstance(value, bool):
            values[key] = t("yes" if value else "no", lang)
        elif isinstance(value, int | float):
            values[key] = number(value, lang)
        else:
            values[key] = value
    names = (details.get("library_names_en") if lang == "en" else None) or details.get(
        "library_names_fi"
    )
    if names:
        values["name"] = names
    if "library_population" in details:
        values["population"] = number(details["library_population"], lang)
    if isinstance(details.get("annual_cost_cents"), int):
        values["annual_cost"] = euros(details["annual_cost_cents"], lang)
    for field in ("effective_date", "effective_on"):
        if isinstance(details.get(field), str) and len(details[field]) >= 10:
            try:
                values[field] = date(dt.date.fromisoformat(details[field][:10]), lang)
            except ValueError:
                pass
    status = details.get("status")
    if isinstance(status, str) and status in _STATUS:
        values["status"] = _STATUS[status][lang]
    return template[lang].format_map(values)


class Formatter:
    """The formats and texts of one language, handed to the templates as ``f``."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.other: Lang = "en" if lang == "fi" else "fi"

    def t(self, key: str) -> str:
        return t(key, self.lang)

    def number(self, value: int | float) -> str:
        return number(value, self.lang)

    def percent(self, fraction: float, digits: int = 1) -> str:
        return percent(fraction, self.lang, digits)

    def euros(self, cents: int) -> str:
        return euros(cents, self.lang)

    def date(self, value: dt.date) -> str:
        return date(value, self.lang)

    def short_date(self, value: dt.date) -> str:
        return short_date(value, self.lang)

    def time(self, moment: dt.datetime) -> str:
        return time_of(moment, self.lang)

    def service(self, producer: str) -> str:
        return service_name(producer, self.lang)

    def summary(self, name: str, details: Mapping[str, Any]) -> str:
        return summary(name, details, self.lang)
