"""OAI-PMH 2.0 request handling and response rendering, without I/O of its own.

The store implements OaiRepository (async: it will sit on asyncpg); the HTTP route
passes the query arguments and the repository here and returns the bytes. Sets are
`library:<ISIL>` and `collection:<id>`; formats are `marc21` (MARCXML) and `oai_dc`.
Deleted records are kept (deletedRecord = persistent) and shown with status="deleted".

Resumption tokens are opaque base64url JSON carrying the store's cursor and the
original arguments, so any replica can serve the next page without session state. Each
carries an HMAC of its content under the repository's key (a setting shared by the
replicas): a token that was changed, or issued by another repository, is a
badResumptionToken, never an error of ours.

Records are rendered one at a time: one that cannot be rendered (bytes that are no longer a
record, text XML cannot carry) is left out of its page and reported to the caller's
``on_unrenderable``, and the page stays valid.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from lxml import etree
from pymarc import Field, Record
from pymarc.marcxml import record_to_xml

from services.catalogue.profile import trim_isbd

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
MARC_NS = "http://www.loc.gov/MARC21/slim"
MARC_SCHEMA = "http://www.loc.gov/standards/marcxml/schema/MARC21slim.xsd"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"

METADATA_FORMATS: dict[str, tuple[str, str]] = {
    "marc21": (MARC_SCHEMA, MARC_NS),
    "oai_dc": (OAI_DC_SCHEMA, OAI_DC_NS),
}

VERBS = (
    "Identify",
    "ListMetadataFormats",
    "ListSets",
    "GetRecord",
    "ListIdentifiers",
    "ListRecords",
)

# Arguments each verb allows: (required, optional). resumptionToken is exclusive.
VERB_ARGUMENTS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "Identify": (frozenset(), frozenset()),
    "ListMetadataFormats": (frozenset(), frozenset({"identifier"})),
    "ListSets": (frozenset(), frozenset({"resumptionToken"})),
    "GetRecord": (frozenset({"identifier", "metadataPrefix"}), frozenset()),
    "ListIdentifiers": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set", "resumptionToken"}),
    ),
    "ListRecords": (
        frozenset({"metadataPrefix"}),
        frozenset({"from", "until", "set", "resumptionToken"}),
    ),
}

DEFAULT_PAGE_SIZE = 100
_UNRESERVED = r"[A-Za-z0-9\-_.!~*'()]"
_SET_SPEC = re.compile(rf"{_UNRESERVED}+(:{_UNRESERVED}+)*")
_PREFIX = re.compile(rf"{_UNRESERVED}+")
TOKEN_VERSION = 1


# --- the repository the store implements ------------------------------------------------


@dataclass(frozen=True)
class OaiItem:
    identifier: str  # full OAI identifier, e.g. "oai:konsortio.example.fi:rec-123"
    datestamp: datetime  # UTC
    set_specs: tuple[str, ...]
    deleted: bool = False
    record: Record | None = None  # None for deleted items, and when metadata not asked
    problem: Exception | None = None  # the stored record could not be read back


@dataclass(frozen=True)
class OaiSet:
    spec: str
    name: str


@dataclass(frozen=True)
class ItemPage:
    items: Sequence[OaiItem]
    next_cursor: str | None  # None when this is the last page
    complete_list_size: int | None = None


class OaiRepository(Protocol):
    async def earliest_datestamp(self) -> datetime: ...

    async def get_item(self, identifier: str) -> OaiItem | None: ...

    async def list_items(
        self,
        *,
        set_spec: str | None,
        from_: datetime | None,
        until: datetime | None,
        after: str | None,
        limit: int,
        with_metadata: bool,
    ) -> ItemPage:
        """Items ordered by (datestamp, identifier), starting after the cursor."""
        ...

    async def list_sets(self) -> Sequence[OaiSet]:
        """All sets; empty means the repository has no set hierarchy."""
        ...


@dataclass(frozen=True)
class RepositoryInfo:
    name: str
    base_url: str
    admin_emails: tuple[str, ...]
    token_key: bytes = b""  # signs resumption tokens; the same on every replica


# Told of each item left out because its metadata could not be rendered: (identifier, error).
Unrenderable = Callable[[str, Exception], None]


# --- errors and arguments -----------------------------------------------------------------


class OaiError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _normalise_args(args: Mapping[str, str] | Iterable[tuple[str, str]]) -> dict[str, str]:
    pairs = list(args.items()) if isinstance(args, Mapping) else list(args)
    out: dict[str, str] = {}
    for key, value in pairs:
        if key in out:
            raise OaiError("badArgument", f"repeated argument {key!r}")
        out[key] = value
    return out


def parse_datestamp(value: str, *, end_of_day: bool = False) -> tuple[datetime, str]:
    """Parse an OAI datestamp; return it (UTC) and its granularity."""
    try:
        if len(value) == 10:
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
            return (day + timedelta(days=1, seconds=-1) if end_of_day else day), "day"
        if len(value) == 20 and value.endswith("Z"):
            return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC), "second"
    except ValueError:
        pass
    raise OaiError("badArgument", f"{value!r} is not a valid datestamp")


def format_datestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


TOKEN_SIGNATURE_BYTES = 18
TOKEN_MAX_CHARS = 4096


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode((text + "=" * (-len(text) % 4)).encode("ascii"))


def _signature(body: str, key: bytes) -> str:
    digest = hmac.new(key, body.encode("ascii"), hashlib.sha256).digest()
    return _b64(digest[:TOKEN_SIGNATURE_BYTES])


def encode_token(payload: Mapping[str, object], key: bytes = b"") -> str:
    raw = json.dumps({"v": TOKEN_VERSION, **payload}, separators=(",", ":"), sort_keys=True)
    body = _b64(raw.encode())
    return f"{body}.{_signature(body, key)}"


def token_payload(token: str, key: bytes = b"") -> dict[str, object] | None:
    """The content of a token this repository issued, or None (changed, foreign, garbled)."""
    if len(token) > TOKEN_MAX_CHARS:
        return None
    body, dot, signature = token.partition(".")
    try:
        if not dot or not hmac.compare_digest(
            signature.encode("ascii"), _signature(body, key).encode("ascii")
        ):
            return None
        payload = json.loads(_unb64(body))
    except (binascii.Error, ValueError, UnicodeError):
        return None
    return payload if isinstance(payload, dict) else None


def decode_token(token: str, verb: str, key: bytes = b"") -> dict[str, object]:
    payload = token_payload(token, key)
    if payload is None:
        raise OaiError("badResumptionToken", "the resumption token is invalid")
    offset = payload.get("offset", 0)
    if (
        payload.get("v") != TOKEN_VERSION
        or payload.get("verb") != verb
        or not isinstance(payload.get("cursor"), str)
        or payload.get("metadataPrefix") not in METADATA_FORMATS
        or not isinstance(offset, int)
        or offset < 0
        or any(not isinstance(payload.get(name), str | None) for name in ("set", "from", "until"))
    ):
        raise OaiError("badResumptionToken", "the resumption token is invalid or expired")
    return payload


# --- rendering -----------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{OAI_NS}}}{name}"


def _sub(
    parent: etree._Element, name: str, text: str | None = None, **attrs: str
) -> etree._Element:
    element = etree.SubElement(parent, _q(name), {k: v for k, v in attrs.items()})
    if text is not None:
        element.text = text
    return element


def _envelope(now: datetime, base_url: str, request_args: Mapping[str, str]) -> etree._Element:
    # lxml takes None as the default namespace's prefix; its stubs allow str keys only.
    root = etree.Element(_q("OAI-PMH"), nsmap={None: OAI_NS, "xsi": XSI_NS})  # type: ignore[dict-item]  # lxml-stubs want str keys; None is lxml's documented default namespace
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_NS} {OAI_SCHEMA}")
    _sub(root, "responseDate", format_datestamp(now))
    request = _sub(root, "request", base_url)
    for key, value in request_args.items():
        request.set(key, value)
    return root


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=False)


def _header(parent: etree._Element, item: OaiItem) -> None:
    header = _sub(parent, "header", **({"status": "deleted"} if item.deleted else {}))
    _sub(header, "identifier", item.identifier)
    _sub(header, "datestamp", format_datestamp(item.datestamp))
    for spec in item.set_specs:
        _sub(header, "setSpec", spec)


def _record(parent: etree._Element, item: OaiItem, prefix: str) -> None:
    """Append the item's <record>; nothing is appended when its metadata cannot be
    rendered (the exception propagates for the caller to report)."""
    metadata = None
    if item.problem is not None and not item.deleted:
        raise item.problem
    if not item.deleted and item.record is not None:
        metadata = render_metadata(item.record, prefix)  # first: may raise
    record = _sub(parent, "record")
    _header(record, item)
    if metadata is not None:
        _sub(record, "metadata").append(metadata)


def render_metadata(record: Record, prefix: str) -> etree._Element:
    if prefix == "marc21":
        element = etree.fromstring(record_to_xml(record, namespace=True))
        element.set(f"{{{XSI_NS}}}schemaLocation", f"{MARC_NS} {MARC_SCHEMA}")
        return element
    return marc_to_dc(record)


# --- MARC → Dublin Core crosswalk (after LoC's MARC to DC crosswalk) ---------------------

_DC_TYPES = {"a": "Text", "t": "Text", "i": "Sound", "j": "Sound", "g": "MovingImage"}


def _join(field: Field, codes: str) -> str:
    # Dublin Core has no ISBD: the record's punctuation (" :", " /", ",", ".") is trimmed.
    values = field.get_subfields(*codes)
    return " ".join(t for v in values if (t := trim_isbd(v)))


def marc_to_dc(record: Record) -> etree._Element:
    root = etree.Element(
        f"{{{OAI_DC_NS}}}dc", nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS}
    )
    root.set(f"{{{XSI_NS}}}schemaLocation", f"{OAI_DC_NS} {OAI_DC_SCHEMA}")

    def add(name: str, value: str | None) -> None:
        if value:
            etree.SubElement(root, f"{{{DC_NS}}}{name}").text = value

    for field in record.get_fields("245"):
        add("title", _join(field, "abfgknps"))
    for field in record.get_fields("100", "110", "111"):
        add("creator", _join(field, "abcdq"))
    for field in record.get_fields("700", "710", "711"):
        add("contributor", _join(field, "abcdq"))
    for field in record.get_fields("600", "610", "650", "651", "653"):
        add("subject", _join(field, "abcdxyzv"))
    for field in record.get_fields("520", "500", "505"):
        add("description", _join(field, "a"))
    for field in record.get_fields("264", "260"):
        add("publisher", _join(field, "b"))
        add("date", _join(field, "c"))
    add("type", _DC_TYPES.get(record.leader[6]))
    for field in record.get_fields("347"):
        add("format", _join(field, "b"))
    for field in record.get_fields("020"):
        for value in field.get_subfields("a"):
            add("identifier", f"URN:ISBN:{value}")
    for field in record.get_fields("022"):
        for value in field.get_subfields("a"):
            add("identifier", f"URN:ISSN:{value}")
    for field in record.get_fields("856"):
        for value in field.get_subfields("u"):
            add("identifier", value)
    f008 = record.get("008")
    languages = []
    if f008 is not None and f008.data and len(f008.data) >= 38 and f008.data[35:38].strip():
        languages.append(f008.data[35:38])
    for field in record.get_fields("041"):
        languages += [c for c in field.get_subfields("a", "d") if c not in languages]
    for code in languages:
        add("language", code)
    for field in record.get_fields("776"):
        add("relation", _join(field, "iztwx"))
    for field in record.get_fields("540", "506"):
        add("rights", _join(field, "a"))
    return root


# --- the verbs ----------------------------------------------------------------------------


async def handle_request(
    args: Mapping[str, str] | Iterable[tuple[str, str]],
    repository: OaiRepository,
    info: RepositoryInfo,
    *,
    now: datetime,
    page_size: int = DEFAULT_PAGE_SIZE,
    on_unrenderable: Unrenderable | None = None,
) -> bytes:
    """Answer one OAI-PMH request (GET query or POST form arguments) as XML bytes."""
    try:
        arguments = _normalise_args(args)
    except OaiError as error:
        return _error_response(now, info, {}, [error])
    verb = arguments.get("verb")
    if verb not in VERBS:
        message = "missing verb" if verb is None else f"illegal verb {verb!r}"
        return _error_response(now, info, {}, [OaiError("badVerb", message)])
    rest = {k: v for k, v in arguments.items() if k != "verb"}
    try:
        _check_arguments(verb, rest)
    except OaiError as error:
        return _error_response(now, info, {}, [error])
    root = _envelope(now, info.base_url, arguments)
    try:
        body = await _dispatch(verb, rest, repository, info, page_size, on_unrenderable)
    except OaiError as error:
        if error.code == "badArgument":
            return _error_response(now, info, {}, [error])
        # Arguments were well-formed, so the request element keeps them (spec 3.6).
        _sub(root, "error", error.message, code=error.code)
        return _serialise(root)
    root.append(body)
    return _serialise(root)


def _error_response(
    now: datetime, info: RepositoryInfo, args: Mapping[str, str], errors: Iterable[OaiError]
) -> bytes:
    # For badVerb and badArgument the request element carries the base URL only.
    root = _envelope(now, info.base_url, args)
    for error in errors:
        _sub(root, "error", error.message, code=error.code)
    return _serialise(root)


def _check_arguments(verb: str, args: Mapping[str, str]) -> None:
    required, optional = VERB_ARGUMENTS[verb]
    allowed = required | optional
    unknown = set(args) - allowed
    if unknown:
        raise OaiError("badArgument", f"illegal argument(s) for {verb}: {sorted(unknown)}")
    if "resumptionToken" in args:
        if len(args) > 1:
            raise OaiError("badArgument", "resumptionToken is an exclusive argument")
        return
    missing = required - set(args)
    if missing:
        raise OaiError("badArgument", f"missing argument(s) for {verb}: {sorted(missing)}")
    for key, value in args.items():
        if not value:
            raise OaiError("badArgument", f"empty argument {key!r}")
    # Values echoed in <request> must fit the schema's patterns, so check them here.
    if "set" in args and not _SET_SPEC.fullmatch(args["set"]):
        raise OaiError("badArgument", f"{args['set']!r} is not a valid setSpec")
    if "metadataPrefix" in args and not _PREFIX.fullmatch(args["metadataPrefix"]):
        raise OaiError("badArgument", f"{args['metadataPrefix']!r} is not a valid prefix")
    for key in ("from", "until"):
        if key in args:
            parse_datestamp(args[key])


async def _dispatch(
    verb: str,
    args: Mapping[str, str],
    repository: OaiRepository,
    info: RepositoryInfo,
    page_size: int,
    on_unrenderable: Unrenderable | None,
) -> etree._Element:
    if verb == "Identify":
        return await _identify(repository, info)
    if verb == "ListMetadataFormats":
        return await _list_metadata_formats(repository, args.get("identifier"))
    if verb == "ListSets":
        return await _list_sets(repository, args.get("resumptionToken"))
    if verb == "GetRecord":
        return await _get_record(
            repository, args["identifier"], args["metadataPrefix"], on_unrenderable
        )
    return await _list(verb, args, repository, page_size, info.token_key, on_unrenderable)


async def _identify(repository: OaiRepository, info: RepositoryInfo) -> etree._Element:
    element = etree.Element(_q("Identify"))
    _sub(element, "repositoryName", info.name)
    _sub(element, "baseURL", info.base_url)
    _sub(element, "protocolVersion", "2.0")
    for email in info.admin_emails:
        _sub(element, "adminEmail", email)
    _sub(element, "earliestDatestamp", format_datestamp(await repository.earliest_datestamp()))
    _sub(element, "deletedRecord", "persistent")
    _sub(element, "granularity", "YYYY-MM-DDThh:mm:ssZ")
    return element


async def _list_metadata_formats(
    repository: OaiRepository, identifier: str | None
) -> etree._Element:
    if identifier is not None and await repository.get_item(identifier) is None:
        raise OaiError("idDoesNotExist", f"no item {identifier!r}")
    element = etree.Element(_q("ListMetadataFormats"))
    for prefix, (schema, namespace) in METADATA_FORMATS.items():
        fmt = _sub(element, "metadataFormat")
        _sub(fmt, "metadataPrefix", prefix)
        _sub(fmt, "schema", schema)
        _sub(fmt, "metadataNamespace", namespace)
    return element


async def _list_sets(repository: OaiRepository, token: str | None) -> etree._Element:
    sets = await repository.list_sets()
    if not sets:
        raise OaiError("noSetHierarchy", "this repository does not support sets")
    if token is not None:
        # The set list is short and never paged, so no token was ever issued for it.
        raise OaiError("badResumptionToken", "the resumption token is invalid")
    element = etree.Element(_q("ListSets"))
    for oai_set in sets:
        set_element = _sub(element, "set")
        _sub(set_element, "setSpec", oai_set.spec)
        _sub(set_element, "setName", oai_set.name)
    return element


async def _get_record(
    repository: OaiRepository,
    identifier: str,
    prefix: str,
    on_unrenderable: Unrenderable | None,
) -> etree._Element:
    if prefix not in METADATA_FORMATS:
        raise OaiError("cannotDisseminateFormat", f"metadata format {prefix!r} is not supported")
    item = await repository.get_item(identifier)
    if item is None:
        raise OaiError("idDoesNotExist", f"no item {identifier!r}")
    element = etree.Element(_q("GetRecord"))
    try:
        _record(element, item, prefix)
    except Exception as error:  # one bad stored record must not become a server error
        if on_unrenderable is not None:
            on_unrenderable(item.identifier, error)
        raise OaiError(
            "cannotDisseminateFormat", f"the item cannot be rendered as {prefix}"
        ) from error
    return element


async def _list(
    verb: str,
    args: Mapping[str, str],
    repository: OaiRepository,
    page_size: int,
    token_key: bytes,
    on_unrenderable: Unrenderable | None,
) -> etree._Element:
    token = args.get("resumptionToken")
    if token is not None:
        state = decode_token(token, verb, token_key)
        prefix = str(state["metadataPrefix"])
        set_spec = state.get("set")
        from_raw, until_raw = state.get("from"), state.get("until")
        cursor: str | None = str(state["cursor"])
        offset = int(str(state.get("offset", 0)))
    else:
        prefix = args["metadataPrefix"]
        set_spec, from_raw, until_raw = args.get("set"), args.get("from"), args.get("until")
        cursor, offset = None, 0
    from_ = until = None
    granularities = set()
    if isinstance(from_raw, str):
        from_, granularity = parse_datestamp(from_raw)
        granularities.add(granularity)
    if isinstance(until_raw, str):
        until, granularity = parse_datestamp(until_raw, end_of_day=True)
        granularities.add(granularity)
    if len(granularities) > 1:
        raise OaiError("badArgument", "from and until must have the same granularity")
    if from_ and until and from_ > until:
        raise OaiError("badArgument", "from is later than until")
    if prefix not in METADATA_FORMATS:
        raise OaiError("cannotDisseminateFormat", f"metadata format {prefix!r} is not supported")
    if set_spec is not None and not await repository.list_sets():
        raise OaiError("noSetHierarchy", "this repository does not support sets")
    page = await repository.list_items(
        set_spec=set_spec if isinstance(set_spec, str) else None,
        from_=from_,
        until=until,
        after=cursor,
        limit=page_size,
        with_metadata=verb == "ListRecords",
    )
    if not page.items:
        if token is not None:
            raise OaiError("badResumptionToken", "the resumption token no longer matches")
        raise OaiError("noRecordsMatch", "no records match the arguments")
    element = etree.Element(_q(verb))
    skipped: list[OaiItem] = []
    for item in page.items:
        if verb != "ListRecords":
            _header(element, item)
            continue
        try:
            _record(element, item, prefix)
        except Exception as error:  # one bad stored record must not fail the page
            skipped.append(item)
            if on_unrenderable is not None:
                on_unrenderable(item.identifier, error)
    if skipped and len(element) == 0:
        # A list holds at least one record: when none could be rendered, their headers
        # stand in (metadata is optional in a record), so the harvester can go on.
        for item in skipped:
            _header(_sub(element, "record"), item)
    if page.next_cursor is not None or token is not None:
        attrs = {"cursor": str(offset)}
        if page.complete_list_size:
            attrs["completeListSize"] = str(page.complete_list_size)
        token_element = _sub(element, "resumptionToken", **attrs)
        if page.next_cursor is not None:
            token_element.text = encode_token(
                {
                    "verb": verb,
                    "metadataPrefix": prefix,
                    "set": set_spec,
                    "from": from_raw,
                    "until": until_raw,
                    "cursor": page.next_cursor,
                    "offset": offset + len(page.items),
                },
                token_key,
            )
    return element


def library_set(isil: str) -> str:
    return f"library:{isil}"


def collection_set(collection_id: str) -> str:
    return f"collection:{collection_id}"


def kimppa_set(kimppa_id: str) -> str:
    return f"kimppa:{kimppa_id}"


def parse_set_spec(spec: str) -> tuple[str, str]:
    """ "library:FI-Tro" → ("library", "FI-Tro"), "kimppa:vaski" → ("kimppa", "vaski");
    raises badArgument for anything else."""
    kind, _, value = spec.partition(":")
    if kind not in ("library", "collection", "kimppa") or not value:
        raise OaiError("badArgument", f"unknown set {spec!r}")
    return kind, value
