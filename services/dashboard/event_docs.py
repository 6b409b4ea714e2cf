"""The event documentation page: Konsortio's AsyncAPI document as a readable page, per event
its producer, topic, key, meaning, payload schema and an example record.

Built from the committed document and schemas that ship in konsortio-contracts (the same
files a consuming team installs), rendered on the server with the page's one stylesheet
served from here: no script, no CDN, so it renders offline. Finnish and English; the strings
live in this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import jinja2
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse

from contracts import __version__ as contracts_version
from contracts import resources

router = APIRouter(include_in_schema=False)

HERE = Path(__file__).parent
STYLESHEET = HERE / "static" / "event-docs.css"
DocsLang = Literal["fi", "en"]
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

STRINGS: dict[str, dict[DocsLang, str]] = {
    "title": {"fi": "Konsortion tapahtumat", "en": "Konsortio events"},
    "intro": {
        "fi": (
            "Palvelut julkaisevat nämä tapahtumat Kafkaan CloudEvents 1.0 -muodossa "
            "(binääritila): attribuutit ce_*-otsakkeissa, JSON-sisältö arvona ja koosteen "
            "tunniste avaimena. Tilaava tiimi asentaa vain paketin konsortio-contracts."
        ),
        "en": (
            "The services publish these events to Kafka as CloudEvents 1.0 in binary content "
            "mode: attributes in ce_* headers, the JSON payload as the value and the "
            "aggregate id as the key. A subscribing team installs only konsortio-contracts."
        ),
    },
    "version": {"fi": "Sopimusten versio", "en": "Contracts version"},
    "download": {"fi": "AsyncAPI-dokumentti (JSON)", "en": "AsyncAPI document (JSON)"},
    "contents": {"fi": "Sisällys", "en": "Contents"},
    "topic_events": {"fi": "Aiheen tapahtumat", "en": "Events on the topic"},
    "producer": {"fi": "Tuottaja", "en": "Producer"},
    "topic": {"fi": "Aihe (topic)", "en": "Topic"},
    "dead_letters": {"fi": "Kuolleet viestit", "en": "Dead letters"},
    "key": {"fi": "Avain", "en": "Key"},
    "type": {"fi": "CloudEvents-tyyppi", "en": "CloudEvents type"},
    "meaning": {"fi": "Merkitys", "en": "Meaning"},
    "payload": {"fi": "Sisällön skeema", "en": "Payload schema"},
    "field": {"fi": "Kenttä", "en": "Field"},
    "field_type": {"fi": "Tyyppi", "en": "Type"},
    "required": {"fi": "Pakollinen", "en": "Required"},
    "description": {"fi": "Kuvaus", "en": "Description"},
    "yes": {"fi": "kyllä", "en": "yes"},
    "no": {"fi": "ei", "en": "no"},
    "example": {"fi": "Esimerkki", "en": "Example"},
    "headers": {"fi": "Otsakkeet", "en": "Headers"},
    "value": {"fi": "Arvo", "en": "Value"},
    "versions": {
        "fi": (
            "Versiot: tyypin lopussa on pääversio (.v1). Saman version sisällä lisätään vain "
            "valinnaisia kenttiä; rikkova muutos julkaistaan uutena versiona (.v2). "
            "Tuntematon versio: päivitä konsortio-contracts tai ohita tapahtuma tietoisesti."
        ),
        "en": (
            "Versions: a type ends in its major version (.v1). Within a version only optional "
            "fields are added; a breaking change is published as a new version (.v2). An "
            "unknown version: upgrade konsortio-contracts, or skip the event knowingly."
        ),
    },
    "other_lang": {"fi": "In English", "en": "Suomeksi"},
}

# What each event means, in Finnish; the English comes from the model's docstring, as in the
# AsyncAPI document.
MEANING_FI: dict[str, str] = {
    "fi.konsortio.membership.member-joined.v1": (
        "Kirjasto allekirjoitti konsortiosopimuksen ja on nyt jäsen."
    ),
    "fi.konsortio.membership.member-updated.v1": "Kirjaston tiedot muuttuivat.",
    "fi.konsortio.membership.member-left.v1": (
        "Kirjaston irtisanoutuminen tuli voimaan: se ei ole jäsen päivästä effective_date alkaen."
    ),
    "fi.konsortio.membership.organisation-updated.v1": (
        "Kirjastoa ylläpitävä organisaatio (kunta tai kuntayhtymä) rekisteröitiin tai sen"
        " tiedot muuttuivat."
    ),
    "fi.konsortio.membership.kimppa-updated.v1": (
        "Kimpan (yhteisen kirjastojärjestelmän) tiedot tai jäsenkirjastot muuttuivat."
    ),
    "fi.konsortio.membership.population-figures-loaded.v1": (
        "Tilastokeskuksen kuntien asukasluvut ladattiin vuodelle."
    ),
    "fi.konsortio.membership.agreement-version-published.v1": (
        "Konsortiosopimuksesta julkaistiin uusi versio: jokaista jäsentä pyydetään hyväksymään se."
    ),
    "fi.konsortio.membership.agreement-version-accepted.v1": (
        "Jäsenen organisaatio hyväksyi konsortiosopimuksen version."
    ),
    "fi.konsortio.membership.contact-erased.v1": (
        "Entisen yhteyshenkilön tiedot poistettiin pyynnöstä: jokainen palvelu unohtaa osoitteen."
    ),
    "fi.konsortio.membership.token-revoked.v1": (
        "Koordinaattori mitätöi tunnisteen ennen sen vanhenemista: jokainen palvelu hylkää sen."
    ),
    "fi.konsortio.usage.usage-reported.v1": (
        "Kirjaston sopimuksen aineistojen kuukauden käyttö kirjattiin tai korjattiin (uusi versio)."
    ),
    "fi.konsortio.usage.usage-harvest-failed.v1": (
        "Kuukauden käyttötilaston SUSHI-haku kirjastolle epäonnistui; sen voi yrittää uudelleen."
    ),
    "fi.konsortio.usage.invoice-discrepancy-found.v1": (
        "Lainakohtainen lasku poikkeaa lainamäärän ja sopimushinnan tulosta yli sallitun."
    ),
    "fi.konsortio.procurement.tender-awarded.v2": (
        "Hankintapäätös tehtiin ja annettiin tiedoksi tarjoajille: valitut tarjoukset osittain,"
        " hylätyt perusteineen ja odotusajan päättyminen."
    ),
    "fi.konsortio.procurement.decision-corrected.v1": (
        "Hankintapäätös oikaistiin (hankintaoikaisu) perusteineen ja oikaistu päätös annettiin"
        " tiedoksi: se korvaa aiemman, ja uusi odotusaika alkaa."
    ),
    "fi.konsortio.procurement.appeal-lodged.v1": (
        "Tarjoaja valitti hankintapäätöksestä markkinaoikeuteen."
    ),
    "fi.konsortio.procurement.appeal-resolved.v1": (
        "Markkinaoikeus ratkaisi valituksen, tai se peruttiin."
    ),
    "fi.konsortio.procurement.question-answered.v1": (
        "Tarjoajan kysymykseen vastattiin; kysymys ja vastaus julkaistiin kaikille tarjoajille."
    ),
    "fi.konsortio.procurement.standstill-ended.v1": (
        "Hankintapäätöksen odotusaika päättyi: sopimuksen voi allekirjoittaa, ellei valitus estä."
    ),
    "fi.konsortio.procurement.invoice-lines-issued.v2": (
        "Laskutuskausi suljettiin ja sen kustannus laskutettiin maksajille minkä tahansa"
        " kustannusmallin mukaan, myös käytön osuuksina."
    ),
    "fi.konsortio.procurement.invoice-lines-issued.v1": (
        "Sopimuksen laskutuskausi suljettiin: laskurivit maksaville organisaatioille"
        " osallistumispäivien mukaan."
    ),
    "fi.konsortio.procurement.cancellation-deadline-approaching.v1": (
        "Sopimuksen irtisanomisen määräpäivään on 60, 30 tai 7 päivää."
    ),
    "fi.konsortio.procurement.entitlements-changed.v1": (
        "Kirjaston tai kimpan nimekekohtaiset käyttöoikeudet lisättiin tai päättyivät."
    ),
    "fi.konsortio.procurement.need-proposed.v1": "Kirjasto ehdotti uutta hankintatarvetta.",
    "fi.konsortio.procurement.interest-registered.v1": (
        "Kirjasto ilmoitti kiinnostuksensa hankintatarpeeseen."
    ),
    "fi.konsortio.procurement.tender-opened.v1": "Kilpailutus avattiin tarjouksille.",
    "fi.konsortio.procurement.tender-awarded.v1": (
        "Kilpailutus ratkaistiin: voittanut tarjous ja sen pisteet."
    ),
    "fi.konsortio.procurement.tender-cancelled.v1": "Kilpailutus keskeytettiin.",
    "fi.konsortio.procurement.agreement-signed.v2": (
        "Sopimus toimittajan kanssa allekirjoitettiin; kustannusmalli nimetään aina, myös"
        " käyttöön perustuva jako."
    ),
    "fi.konsortio.procurement.agreement-signed.v1": (
        "Sopimus toimittajan kanssa allekirjoitettiin: ehdot, kaudet ja kustannukset."
    ),
    "fi.konsortio.procurement.agreement-ended.v1": "Sopimus päättyi tai irtisanottiin.",
    "fi.konsortio.procurement.agreement-joined.v1": "Kirjasto liittyi sopimukseen.",
    "fi.konsortio.procurement.agreement-left.v1": "Kirjasto erosi sopimuksesta.",
    "fi.konsortio.procurement.decision-recorded.v1": "Ohjausryhmä tai koordinaattori päätti.",
    "fi.konsortio.procurement.survey-opened.v1": "Jäsenkysely avattiin vastattavaksi.",
    "fi.konsortio.procurement.annual-report-published.v1": "Kirjaston vuosiraportti julkaistiin.",
    "fi.konsortio.procurement.survey-reminder-due.v1": "Kysely sulkeutuu pian; osa ei vastannut.",
    "fi.konsortio.procurement.survey-closed.v1": (
        "Jäsenkysely suljettiin ja sitovat vastaukset toteutettiin."
    ),
    "fi.konsortio.catalogue.titles-ingested.v1": (
        "Toimittajan nimekelista luettiin kokoelmaan: määrät tuloksittain."
    ),
    "fi.konsortio.catalogue.records-available.v1": (
        "Kirjaston tietuejoukkoon tuli kokoelman tietueita."
    ),
    "fi.konsortio.catalogue.records-withdrawn.v1": (
        "Kirjaston tietuejoukosta poistettiin kokoelman tietueita."
    ),
    "fi.konsortio.outreach.message-delivered.v1": (
        "Viesti kirjastolle lähetettiin tai sen lähetys epäonnistui."
    ),
    "fi.konsortio.outreach.campaign-sent.v1": "Viestikampanja lähetettiin loppuun.",
    "fi.konsortio.outreach.announcement-published.v1": "Tiedote julkaistiin.",
    "fi.konsortio.outreach.usage-digest-subscription-changed.v1": (
        "Kirjaston yhteyshenkilön käyttötilastojen kuukausikooste peruttiin tai tilattiin "
        "uudelleen."
    ),
}


@dataclass(frozen=True)
class Field:
    path: str
    type: str
    required: bool
    description: str


@dataclass(frozen=True)
class EventDoc:
    anchor: str
    ce_type: str
    title: str
    producer: str
    topic: str
    key: str
    meaning: dict[DocsLang, str]
    fields: list[Field]
    example_key: str
    example_headers: str
    example_value: str


@dataclass(frozen=True)
class TopicDoc:
    producer: str
    topic: str
    dead_letter_topic: str
    description: str
    events: list[EventDoc] = field(default_factory=list)


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return root.get("$defs", {}).get(ref.split("/")[-1], {})
    return schema


def _type_of(schema: dict[str, Any], root: dict[str, Any]) -> str:
    if "$ref" in schema:
        return str(schema["$ref"]).split("/")[-1]
    if "anyOf" in schema:
        return " | ".join(_type_of(alternative, root) for alternative in schema["anyOf"])
    if "enum" in schema:
        return " | ".join(json.dumps(value, ensure_ascii=False) for value in schema["enum"])
    if "const" in schema:
        return json.dumps(schema["const"], ensure_ascii=False)
    kind = schema.get("type", "any")
    if kind == "array":
        return f"list[{_type_of(schema.get('items', {}), root)}]"
    if kind == "object" and "additionalProperties" in schema:
        return f"map[string, {_type_of(schema['additionalProperties'], root)}]"
    if "format" in schema:
        return f"{kind} ({schema['format']})"
    return str(kind)


def _describe(schema: dict[str, Any]) -> str:
    parts = [schema.get("description", "")]
    for keyword, label in (("pattern", "pattern"), ("minimum", "≥"), ("maximum", "≤")):
        if keyword in schema:
            parts.append(f"{label} {schema[keyword]}")
    if "minLength" in schema or "maxLength" in schema:
        parts.append(f"length {schema.get('minLength', 0)}–{schema.get('maxLength', '')}")
    return "; ".join(part for part in parts if part != "")


def _object_of(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any] | None:
    """The object schema a property leads to (through $ref, list items or a nullable)."""
    schema = _resolve(schema, root)
    if schema.get("type") == "array":
        return _object_of(schema.get("items", {}), root)
    if "anyOf" in schema:
        for alternative in schema["anyOf"]:
            found = _object_of(alternative, root)
            if found is not None:
                return found
    if "additionalProperties" in schema and isinstance(schema["additionalProperties"], dict):
        return _object_of(schema["additionalProperties"], root)
    return schema if "properties" in schema else None


def _fields(schema: dict[str, Any], root: dict[str, Any], prefix: str = "") -> list[Field]:
    rows: list[Field] = []
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        resolved = _resolve(prop, root)
        path = f"{prefix}{name}"
        rows.append(Field(path, _type_of(prop, root), name in required, _describe(resolved)))
        nested = _object_of(prop, root)
        if nested is not None and nested is not schema:
            target = _resolve(prop, root)
            suffix = "[]." if target.get("type") == "array" else "."
            if "additionalProperties" in target:
                suffix = "{}."
            rows += _fields(nested, root, f"{path}{suffix}")
    return rows


def _pretty(value: Any) -> str:
    return "" if value is None else json.dumps(value, indent=2, ensure_ascii=False)


@cache
def catalogue() -> tuple[str, list[TopicDoc]]:
    """(AsyncAPI version, the topics with their events), read once from the package data."""
    document = resources.asyncapi()
    messages = document["components"]["messages"]
    topics: list[TopicDoc] = []
    channels = document["channels"]
    for channel_id, channel in channels.items():
        if channel_id.endswith("-dlq"):
            continue
        dead = channels.get(f"{channel_id}-dlq", {}).get("address", "")
        topic = TopicDoc(channel_id, channel["address"], dead, channel.get("description", ""))
        for reference in channel.get("messages", {}).values():
            message = messages[reference["$ref"].split("/")[-1]]
            ce_type = message["name"]
            schema = resources.schema(ce_type)
            example = (message.get("examples") or [{}])[0]
            topic.events.append(
                EventDoc(
                    anchor=ce_type.replace(".", "-"),
                    ce_type=ce_type,
                    title=message["title"],
                    producer=channel_id,
                    topic=channel["address"],
                    key=message["bindings"]["kafka"]["key"]["description"],
                    meaning={"en": message["summary"], "fi": MEANING_FI.get(ce_type, "")},
                    fields=_fields(schema, schema),
                    example_key=example.get("summary", ""),
                    example_headers=_pretty(example.get("headers")),
                    example_value=_pretty(example.get("payload")),
                )
            )
        topics.append(topic)
    return document["info"]["version"], topics


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(lang: DocsLang) -> str:
    version, topics = catalogue()

    def t(key: str) -> str:
        return STRINGS[key][lang]

    return (
        _environment()
        .get_template("events.html")
        .render(
            lang=lang,
            other="en" if lang == "fi" else "fi",
            t=t,
            topics=topics,
            asyncapi_version=version,
            contracts_version=contracts_version,
        )
    )


@router.get("/events", response_class=HTMLResponse)
async def event_docs(
    lang: Annotated[DocsLang, Query(description="Page language: fi or en")] = "fi",
) -> HTMLResponse:
    return HTMLResponse(render(lang), headers=SECURITY_HEADERS)


@router.get("/events/asyncapi.json")
async def asyncapi_document() -> JSONResponse:
    return JSONResponse(resources.asyncapi(), headers={"Cache-Control": "max-age=300"})


@router.get("/events/event-docs.css")
async def stylesheet() -> FileResponse:
    return FileResponse(
        STYLESHEET, media_type="text/css; charset=utf-8", headers={"Cache-Control": "max-age=300"}
    )
