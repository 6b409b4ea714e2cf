"""The consortium metadata profile: validation, normalisation, match keys and richness.

Pure functions over pymarc records. The same profile runs in the ingest and in the
offline `konsortio catalogue convert`, so a cataloguer sees exactly what the ingest will
accept or reject.

Local field: the collection code lives in 909 $a. 9XX fields are local by MARC 21
convention; 909 is not used by Melinda's own 9XX (LOW, SID, CAT, 900/910/940 are), and
the Melinda export strips it again.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pymarc import Field, Indicators, Record, Subfield
from stdnum.exceptions import ValidationError
from stdnum.isbn import format as isbn_format

Severity = Literal["error", "warning"]

COLLECTION_TAG = "909"

# ISO 639-1 and common non-standard variants → ISO 639-2/B as used in MARC 21.
LANGUAGE_ALIASES: dict[str, str] = {
    "fi": "fin",
    "fin": "fin",
    "finnish": "fin",
    "suomi": "fin",
    "sv": "swe",
    "swe": "swe",
    "sve": "swe",
    "swedish": "swe",
    "ruotsi": "swe",
    "svenska": "swe",
    "en": "eng",
    "eng": "eng",
    "english": "eng",
    "englanti": "eng",
    "de": "ger",
    "deu": "ger",
    "ger": "ger",
    "fr": "fre",
    "fra": "fre",
    "fre": "fre",
    "ru": "rus",
    "rus": "rus",
    "es": "spa",
    "spa": "spa",
    "et": "est",
    "est": "est",
    "no": "nor",
    "nb": "nob",
    "nn": "nno",
    "nor": "nor",
    "da": "dan",
    "dan": "dan",
    "it": "ita",
    "ita": "ita",
    "ar": "ara",
    "ara": "ara",
    "so": "som",
    "som": "som",
    "se": "sme",
    "sme": "sme",
    "smn": "smn",
    "sms": "sms",
    "zh": "chi",
    "zho": "chi",
    "chi": "chi",
    "ja": "jpn",
    "jpn": "jpn",
    "uk": "ukr",
    "ukr": "ukr",
    "fa": "per",
    "fas": "per",
    "per": "per",
    "nl": "dut",
    "nld": "dut",
    "dut": "dut",
    "pl": "pol",
    "pol": "pol",
    "mul": "mul",
    "und": "und",
    "zxx": "zxx",
}

# Fields whose subfields carry ISBD punctuation that the profile trims at subfield end.
# The national resolver (URN:ISBN), the access URL of a record whose supplier gave none.
RESOLVER_PREFIX = "http://urn.fi/URN:ISBN:"
PUNCTUATED_TAGS = ("100", "110", "245", "246", "250", "264", "300", "490", "700", "710")


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str
    field: str
    message: str


@dataclass(frozen=True)
class ProfileResult:
    record: Record
    findings: tuple[Finding, ...]
    match_key: str | None

    @property
    def accepted(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)


# --- identifiers ---------------------------------------------------------------------


def _digits(value: str) -> str:
    return "".join(ch for ch in value.upper() if ch.isdigit() or ch == "X")


def isbn10_check_digit(first9: str) -> str:
    total = sum((10 - i) * int(d) for i, d in enumerate(first9))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def isbn13_check_digit(first12: str) -> str:
    total = sum(int(d) * (1 if i % 2 == 0 else 3) for i, d in enumerate(first12))
    return str((10 - total % 10) % 10)


def issn_check_digit(first7: str) -> str:
    total = sum((8 - i) * int(d) for i, d in enumerate(first7))
    check = (11 - total % 11) % 11
    return "X" if check == 10 else str(check)


def is_valid_isbn10(value: str) -> bool:
    v = _digits(value)
    return len(v) == 10 and v[:9].isdigit() and isbn10_check_digit(v[:9]) == v[9]


def is_valid_isbn13(value: str) -> bool:
    v = _digits(value)
    return (
        len(v) == 13
        and v.isdigit()
        and v[:3] in ("978", "979")
        and isbn13_check_digit(v[:12]) == v[12]
    )


def is_valid_issn(value: str) -> bool:
    v = _digits(value)
    return len(v) == 8 and v[:7].isdigit() and issn_check_digit(v[:7]) == v[7]


def isbn10_to_13(value: str) -> str:
    v = _digits(value)
    body = "978" + v[:9]
    return body + isbn13_check_digit(body)


# The profile asks about each identifier several times (normalising, then the warnings, the
# validation and the match key): a small cache answers the repeats, which were a tenth of the
# ingest's time. Pure functions of a string, so caching changes no answer.
@functools.lru_cache(maxsize=4096)
def normalise_isbn(value: str) -> str | None:
    """Valid ISBN-10 or ISBN-13 (hyphens, spaces, qualifiers allowed) → 13 digits."""
    token = _leading_identifier(value)
    if is_valid_isbn13(token):
        return _digits(token)
    if is_valid_isbn10(token):
        return isbn10_to_13(token)
    return None


@functools.lru_cache(maxsize=4096)
def hyphenated_isbn(value: str) -> str:
    """An ISBN hyphenated by the ISBN ranges (python-stdnum's range data), in its own
    length: an ISBN-10 stays ten digits. An invalid one is given as it came."""
    try:
        return isbn_format(value, convert=False)
    except ValidationError:
        return value


def normalise_issn(value: str) -> str | None:
    """Valid ISSN → "NNNN-NNNC" (the form 022 carries)."""
    token = _leading_identifier(value)
    if not is_valid_issn(token):
        return None
    v = _digits(token)
    return f"{v[:4]}-{v[4:]}"


def _leading_identifier(value: str) -> str:
    # Supplier data often writes "951-0-12345-6 (nid.)": keep the identifier part only.
    match = re.match(r"\s*([0-9Xx][0-9Xx\- ]*)", value)
    return match.group(1).strip() if match else ""


# --- languages -------------------------------------------------------------------------


def normalise_language(code: str | None) -> str | None:
    if not code:
        return None
    return LANGUAGE_ALIASES.get(code.strip().lower())


def record_language(record: Record) -> str | None:
    f008 = record.get("008")
    if f008 is not None and f008.data and len(f008.data) >= 38:
        code = f008.data[35:38]
        if code.strip() and code not in ("|||", "   ", "und"):
            return code
    for f041 in record.get_fields("041"):
        codes = f041.get_subfields("a", "d")
        if codes:
            return codes[0]
    return None


# --- classification -------------------------------------------------------------------


def is_online(record: Record) -> bool:
    """Online resources are what the consortium licenses; print records are rare."""
    for f007 in record.get_fields("007"):
        if f007.data and f007.data[:2] == "cr":
            return True
    f008 = record.get("008")
    if f008 is not None and f008.data and len(f008.data) > 23:
        if f008.data[23] in ("o", "s") and record.leader[6] in "at":
            return True
        if f008.data[23] == "o":
            return True
    for f337 in record.get_fields("337"):
        if "c" in f337.get_subfields("b"):
            return True
    return bool(record.get_fields("856"))


def access_urls(record: Record) -> list[str]:
    return [u for f in record.get_fields("856") for u in f.get_subfields("u") if u.strip()]


def match_key(record: Record) -> str | None:
    """Normalised ISBN-13 (13 digits) or ISSN (8 characters, no hyphen).

    The lengths differ, so the two kinds never collide. The first valid identifier wins,
    in field order, so the key is stable across re-ingests.
    """
    for f020 in record.get_fields("020"):
        for value in f020.get_subfields("a"):
            isbn = normalise_isbn(value)
            if isbn:
                return isbn
    for f022 in record.get_fields("022"):
        for value in f022.get_subfields("a"):
            issn = normalise_issn(value)
            if issn:
                return issn.replace("-", "")
    return None


def richness(record: Record) -> int:
    """A rough measure of how much a record tells: more description wins a merge.

    Counts data fields and subfields, with extra weight for fields that help people
    find and choose a title (subjects, summary, contributors, classification).
    """
    score = 0
    weights = {"520": 5, "650": 3, "651": 3, "653": 1, "600": 3, "080": 3, "084": 3}
    weights.update({"700": 2, "100": 2, "500": 1, "505": 3, "300": 1, "250": 1, "490": 2})
    for field in record.get_fields():
        if field.is_control_field():
            score += 1
            continue
        score += 1 + len(field.subfields) + weights.get(field.tag, 0)
    if record.leader[17] in (" ", "1", "4"):
        score += 5  # full-level cataloguing beats preliminary supplier data
    return score


# --- characters that would corrupt an export -----------------------------------------

# MARC's record terminator, field and subfield separators (0x1D, 0x1E, 0x1F) inside data
# would split a record in ISO 2709 exports; these and every other character XML 1.0 forbids
# (C0 controls but tab, line feed and carriage return; lone surrogates; U+FFFE, U+FFFF) would
# make MARCXML exports and OAI-PMH responses not well-formed. They are never data.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _names(text: str) -> str:
    found = sorted({f"U+{ord(ch):04X}" for ch in _FORBIDDEN.findall(text)})
    return ", ".join(found[:8]) + (" …" if len(found) > 8 else "")


def remove_control_characters(record: Record) -> list[Finding]:
    """Remove the characters no export may carry (see ``_FORBIDDEN``) from the leader,
    control fields, indicators, subfield codes and values, in place; one warning per field
    and subfield that had any, naming it."""
    findings: list[Finding] = []
    leader = str(record.leader)
    everything = [leader]
    for field in record.fields:
        if field.is_control_field():
            everything.append(field.data or "")
        else:
            everything += field.indicators or ()
            everything += (sf.code + sf.value for sf in field.subfields)
    if not _FORBIDDEN.search("".join(everything)):
        return findings  # the usual case: one search over the whole record
    if _FORBIDDEN.search(leader):
        findings.append(Finding("warning", "control-characters-removed", "leader", _names(leader)))
        record.leader = type(record.leader)(_FORBIDDEN.sub(" ", leader))
    for field in record.fields:
        if field.is_control_field():
            if field.data and _FORBIDDEN.search(field.data):
                findings.append(
                    Finding(
                        "warning",
                        "control-characters-removed",
                        field.tag,
                        f"removed {_names(field.data)}",
                    )
                )
                field.data = _FORBIDDEN.sub("", field.data)
            continue
        indicators = field.indicators or Indicators(" ", " ")
        if any(_FORBIDDEN.search(i or "") for i in indicators):
            findings.append(
                Finding("warning", "control-characters-removed", f"{field.tag} indicators", "")
            )
            field.indicators = Indicators(
                *(" " if _FORBIDDEN.search(i or "") else i for i in indicators)
            )
        if not any(_FORBIDDEN.search(sf.code + sf.value) for sf in field.subfields):
            continue
        kept: list[Subfield] = []
        for sf in field.subfields:
            if _FORBIDDEN.search(sf.code):
                findings.append(
                    Finding(
                        "warning",
                        "control-characters-removed",
                        field.tag,
                        f"dropped a subfield whose code is {_names(sf.code)}",
                    )
                )
                continue
            if _FORBIDDEN.search(sf.value):
                findings.append(
                    Finding(
                        "warning",
                        "control-characters-removed",
                        f"{field.tag} ${sf.code}",
                        f"removed {_names(sf.value)}",
                    )
                )
                sf = Subfield(sf.code, _FORBIDDEN.sub("", sf.value))
            kept.append(sf)
        field.subfields = kept
    return findings


# --- normalisation ---------------------------------------------------------------------


# What trimming takes off the end of a text, read on the REVERSED text from its start: spaces,
# ISBD separators, and periods that do not end an initial or abbreviation (a run of one to
# three word characters, "Tove J.", "s.") or an ellipsis. One match, linear in the text.
_TRIMMED_END_REVERSED = re.compile(r"(?:[ /:;=,]|\.(?!\.)(?!\w{1,3}(?!\w)))*")


def trim_isbd(value: str) -> str:
    """Drop trailing ISBD separators and a final period that is not part of an
    abbreviation or initial.

    One regular-expression match over the reversed text, so the cost is linear: the loop
    that re-ran two expressions over the whole text for every separator it took off was
    quadratic, and a 16,000-character title of separators cost seconds."""
    text = " ".join(value.split())
    match = _TRIMMED_END_REVERSED.match(text[::-1])
    return text[: len(text) - match.end()] if match else text


def copy_record(record: Record) -> Record:
    """A copy that shares nothing mutable with the original.

    Subfields and indicators are immutable named tuples, so copying the field objects and
    their subfield lists is enough; copy.deepcopy walked every string and tuple and was
    most of the profile's time.
    """
    out = Record(to_unicode=record.to_unicode, force_utf8=record.force_utf8)
    out.leader = type(record.leader)(str(record.leader))
    out.fields = [_copy_field(field) for field in record.fields]
    return out


def _copy_field(field: Field) -> Field:
    if field.is_control_field():
        return Field(tag=field.tag, data=field.data)
    return Field(tag=field.tag, indicators=field.indicators, subfields=list(field.subfields))


def normalise(record: Record, collection_code: str | None, *, in_place: bool = False) -> Record:
    """Return a normalised copy: ISBN-13, ISSN form, trimmed punctuation, ISO 639-2
    languages and the collection code in 909 $a. ``in_place=True`` normalises ``record``
    itself and returns it, for a caller that owns the record and has no use for the
    original (copying was a fifth of the ingest's time)."""
    out = record if in_place else copy_record(record)
    punctuated = has_isbd_punctuation(out)
    _normalise_020(out, keep_form=punctuated)
    _normalise_022(out)
    _normalise_languages(out)
    if not punctuated:
        for field in out.get_fields(*PUNCTUATED_TAGS):
            field.subfields = [
                Subfield(sf.code, trim_isbd(sf.value) if sf.code not in "0126" else sf.value)
                for sf in field.subfields
            ]
        # Records without ISBD punctuation say so in the leader.
        out.leader.cataloging_form = "c"
    if collection_code is not None:
        out.remove_fields(COLLECTION_TAG)
        out.add_ordered_field(
            Field(
                tag=COLLECTION_TAG,
                indicators=Indicators(" ", " "),
                subfields=[Subfield("a", collection_code)],
            )
        )
    return out


def has_isbd_punctuation(record: Record) -> bool:
    """Leader/18 "i" (RDA with ISBD punctuation) or "a" (AACR 2): the record's punctuation
    is part of it, as Melinda takes it, and is kept; match keys use the trimmed form."""
    return record.leader[18] in ("i", "a")


def _normalise_020(record: Record, *, keep_form: bool = False) -> None:
    """020 $a as compact ISBN-13, or, ``keep_form``, hyphenated by the ISBN ranges in the
    length it came in (an ISBN-10 is kept, not overwritten)."""
    for field in record.get_fields("020"):
        new: list[Subfield] = []
        for sf in field.subfields:
            if sf.code != "a":
                new.append(sf)
                continue
            isbn = normalise_isbn(sf.value)
            token = _leading_identifier(sf.value)
            rest = sf.value.strip()[len(token) :].strip(" ()")
            if keep_form and isbn:
                isbn = hyphenated_isbn(token)
            new.append(Subfield("a", isbn or _digits(token) or sf.value.strip()))
            if rest and "q" not in field.subfields_as_dict():
                new.append(Subfield("q", rest))
        field.subfields = new


def _normalise_022(record: Record) -> None:
    for field in record.get_fields("022"):
        field.subfields = [
            Subfield(sf.code, normalise_issn(sf.value) or sf.value.strip())
            if sf.code in "ayz"
            else sf
            for sf in field.subfields
        ]


def _normalise_languages(record: Record) -> None:
    for field in record.get_fields("041"):
        field.subfields = [
            Subfield(sf.code, normalise_language(sf.value) or sf.value)
            if sf.code in "abdefghjk"
            else sf
            for sf in field.subfields
        ]
    f008 = record.get("008")
    if f008 is None or not f008.data or len(f008.data) < 40:
        return
    code = f008.data[35:38]
    fixed = normalise_language(code) if code.strip(" |") else None
    if fixed is None and not code.strip(" |"):
        first_041 = record.get_fields("041")
        codes = first_041[0].get_subfields("a", "d") if first_041 else []
        fixed = codes[0] if codes and len(codes[0]) == 3 else None
    if fixed and fixed != code:
        f008.data = f008.data[:35] + fixed + f008.data[38:]


# --- validation ------------------------------------------------------------------------


def validate(record: Record) -> list[Finding]:
    findings: list[Finding] = []
    findings += _validate_identifiers(record)
    title = record.get("245")
    if title is None or not "".join(title.get_subfields("a", "k")).strip():
        findings.append(Finding("error", "missing-title", "245", "no title in 245 $a"))
    language = record_language(record)
    if language is None:
        findings.append(
            Finding("error", "missing-language", "008/35-37", "no language in 008 or 041")
        )
    elif normalise_language(language) != language:
        findings.append(
            Finding(
                "warning",
                "unknown-language-code",
                "008/35-37",
                f"{language!r} is not an ISO 639-2 code known to the profile",
            )
        )
    urls = access_urls(record)
    if not urls:
        findings.append(Finding("error", "missing-access-url", "856", "no access URL in 856 $u"))
    for url in urls:
        if not url.startswith(("http://", "https://")):
            findings.append(Finding("error", "bad-access-url", "856", f"{url!r} is not HTTP(S)"))
        elif url.startswith(RESOLVER_PREFIX):
            findings.append(
                Finding(
                    "warning",
                    "resolver-access-url",
                    "856",
                    f"no supplier link: {url} is the national resolver's",
                )
            )
        elif url.startswith("http://"):
            findings.append(Finding("warning", "insecure-access-url", "856", f"{url} is http"))
    if is_online(record):
        for tag, name in (("336", "content"), ("337", "media"), ("338", "carrier")):
            if not any(f.get_subfields("a", "b") for f in record.get_fields(tag)):
                findings.append(
                    Finding("error", f"missing-{name}-type", tag, f"no RDA {name} type in {tag}")
                )
    findings += _warnings(record)
    return findings


def _validate_identifiers(record: Record) -> list[Finding]:
    findings: list[Finding] = []
    isbns = [v for f in record.get_fields("020") for v in f.get_subfields("a")]
    issns = [v for f in record.get_fields("022") for v in f.get_subfields("a")]
    if not isbns and not issns:
        return [Finding("error", "missing-identifier", "020/022", "no ISBN in 020 or ISSN in 022")]
    for value in isbns:
        token = _digits(_leading_identifier(value))
        if normalise_isbn(value) is None:
            findings.append(
                Finding("error", "bad-isbn", "020", f"{value!r} is not a valid ISBN (checksum)")
            )
        elif len(token) == 10:
            findings.append(Finding("warning", "isbn-10", "020", f"{value} is an ISBN-10"))
    for value in issns:
        if normalise_issn(value) is None:
            findings.append(
                Finding("error", "bad-issn", "022", f"{value!r} is not a valid ISSN (checksum)")
            )
    return findings


def _warnings(record: Record) -> list[Finding]:
    findings: list[Finding] = []
    if not record.get_fields("100", "110", "111", "700", "710", "711"):
        findings.append(
            Finding("warning", "missing-creator", "1XX/7XX", "no author or contributor")
        )
    publication = record.get_fields("264", "260")
    if not any(f.get_subfields("b") for f in publication):
        findings.append(Finding("warning", "missing-publisher", "264", "no publisher in 264 $b"))
    if not any(f.get_subfields("c") for f in publication):
        findings.append(Finding("warning", "missing-date", "264", "no publication date in 264 $c"))
    if record.get("040") is None:
        findings.append(Finding("warning", "missing-040", "040", "no cataloguing source"))
    if record.get("008") is None:
        findings.append(Finding("warning", "missing-008", "008", "no fixed-length data"))
    if record.get_fields("020") and not any(f.get_subfields("q") for f in record.get_fields("020")):
        findings.append(Finding("warning", "missing-isbn-qualifier", "020", "no 020 $q (format)"))
    if is_online(record) and not record.get_fields("347"):
        findings.append(Finding("warning", "missing-file-type", "347", "no 347 file type"))
    return findings


def _normalisation_findings(original: Record) -> list[Finding]:
    """Warnings for what normalisation had to fix, so suppliers can be told."""
    findings = (
        []
        if has_isbd_punctuation(original)
        else [
            Finding("warning", "isbn-10", "020", f"{value} converted to ISBN-13")
            for f in original.get_fields("020")
            for value in f.get_subfields("a")
            if len(_digits(_leading_identifier(value))) == 10 and normalise_isbn(value)
        ]
    )
    language = record_language(original)
    if language and normalise_language(language) not in (None, language):
        findings.append(
            Finding(
                "warning",
                "language-code-normalised",
                "008/35-37",
                f"{language!r} → {normalise_language(language)!r}",
            )
        )
    return findings


def apply_profile(
    record: Record, collection_code: str | None, *, in_place: bool = False
) -> ProfileResult:
    """Normalise, then validate: what the ingest stores and what convert prints.
    ``in_place=True``: ``record`` itself is normalised (see ``normalise``)."""
    if not in_place:
        record = copy_record(record)
    cleaned = remove_control_characters(record)
    fixed = cleaned + _normalisation_findings(record)  # read before normalising
    normalised = normalise(record, collection_code, in_place=True)
    return ProfileResult(
        record=normalised,
        findings=tuple(fixed + validate(normalised)),
        match_key=match_key(normalised),
    )


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == "error" for f in findings)
