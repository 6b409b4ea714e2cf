"""Checks on uploaded marketing-kit files, with no I/O beyond the bytes handed in.

A file is accepted only when its name is harmless and its extension and its content agree on
one of the allowed types. The type we store and serve comes from this check, never from the
client's Content-Type. The file name is metadata only: files are stored under their SHA-256,
so a name can never reach the file system, but a name with path parts or control characters
is still refused, because it would be handed to every recipient's mail client.
"""

from __future__ import annotations

import codecs
import unicodedata
import zipfile
from dataclasses import dataclass
from typing import BinaryIO

from services.outreach.domain import OutreachRuleViolated

MAX_FILENAME_CHARS = 200
# SVG is refused outright rather than filtered. It is XML a browser executes, and a filter
# that removes what can run or fetch keeps losing to new spellings: ``java&#9;script:`` in
# ``<animate>``/``<set>`` values, an ``<?xml-stylesheet?>`` instruction, CSS ``url()`` in a
# style, a DOCTYPE hidden in UTF-16. A logo is sent as PNG or PDF instead.
REFUSED_EXTENSIONS = {
    ".svg": "SVG images are not accepted in kits: an SVG can carry scripts and links that a "
    "browser runs when the file is opened; export the image as PNG or PDF",
    ".svgz": "compressed SVG images are not accepted in kits: an SVG can carry scripts and "
    "links that a browser runs when the file is opened; export the image as PNG or PDF",
}
MAX_DOCX_ENTRIES = 2_000
CHUNK = 1024 * 1024
# Windows reserves these names whatever the extension; a recipient may save the file there.
RESERVED_STEMS = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)


class UnsupportedFile(OutreachRuleViolated):
    """The file is not one of the accepted types, or its content is not what its name says:
    415."""

    status = 415


@dataclass(frozen=True)
class FileType:
    name: str
    content_type: str
    extensions: tuple[str, ...]


TYPES: dict[str, FileType] = {
    t.name: t
    for t in (
        FileType("pdf", "application/pdf", (".pdf",)),
        FileType("png", "image/png", (".png",)),
        FileType("jpeg", "image/jpeg", (".jpg", ".jpeg")),
        FileType("txt", "text/plain; charset=utf-8", (".txt",)),
        FileType("md", "text/markdown; charset=utf-8", (".md",)),
        FileType(
            "docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            (".docx",),
        ),
    )
}
EXTENSIONS: dict[str, FileType] = {ext: t for t in TYPES.values() for ext in t.extensions}
ALLOWED_EXTENSIONS = ", ".join(sorted(EXTENSIONS))


def check_filename(raw: str | None) -> str:
    """The file name to keep, in NFC; raises for a name that is empty, too long, has path
    parts, control or format characters, or a disallowed extension."""
    if raw is None or not raw.strip():
        raise OutreachRuleViolated("the file needs a name", field="file.filename")
    name = unicodedata.normalize("NFC", raw)
    if len(name) > MAX_FILENAME_CHARS:
        raise OutreachRuleViolated(
            f"the file name may be at most {MAX_FILENAME_CHARS} characters", field="file.filename"
        )
    for char in name:
        category = unicodedata.category(char)
        # Cc: control characters (NUL, newline, ESC...); Cf: invisible format characters
        # such as the right-to-left override that disguises 'txt.exe' as 'exe.txt'.
        if category in ("Cc", "Cf", "Zl", "Zp"):
            raise OutreachRuleViolated(
                f"the file name contains a control character (U+{ord(char):04X})",
                field="file.filename",
            )
    if "/" in name or "\\" in name or ":" in name:
        raise OutreachRuleViolated(
            "the file name may not contain a path (/, \\ or :)", field="file.filename"
        )
    if name in (".", "..") or name.startswith(".") or name != name.strip() or name.endswith("."):
        raise OutreachRuleViolated(
            "the file name may not start with a dot or end with a dot or space",
            field="file.filename",
        )
    stem, _, _ = name.partition(".")
    if stem.lower() in RESERVED_STEMS:
        raise OutreachRuleViolated(f"{stem!r} is a reserved device name", field="file.filename")
    extension = extension_of(name)
    if extension in REFUSED_EXTENSIONS:
        raise UnsupportedFile(REFUSED_EXTENSIONS[extension], field="file.filename")
    if extension not in EXTENSIONS:
        raise UnsupportedFile(
            f"files of type {extension or '(none)'} are not accepted; allowed: "
            f"{ALLOWED_EXTENSIONS}",
            field="file.filename",
        )
    return name


def extension_of(name: str) -> str:
    dot = name.rfind(".")
    return name[dot:].lower() if dot > 0 else ""


def sniff(head: bytes) -> str | None:
    """The type that the first bytes of a file prove, or None when they prove nothing
    (plain text and DOCX need the whole file: see ``check_content``)."""
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return None


def check_content(filename: str, stream: BinaryIO) -> FileType:
    """The file's type, when the extension and the bytes agree; raises otherwise. ``stream``
    is a seekable binary file, read in chunks (a kit file may be tens of megabytes)."""
    declared = EXTENSIONS[extension_of(filename)]
    stream.seek(0)
    head = stream.read(16)
    if not head:
        raise OutreachRuleViolated("the file is empty", field="file")
    magic = sniff(head)
    mismatch = UnsupportedFile(
        f"the content of {filename!r} is not a {declared.name.upper()} file", field="file"
    )
    if declared.name in ("pdf", "png", "jpeg"):
        if magic != declared.name:
            raise mismatch
        return declared
    if declared.name == "docx":
        if magic != "zip" or not _is_docx(stream):
            raise mismatch
        return declared
    if magic is not None:  # a binary format under a text name
        raise mismatch
    _check_text(stream)
    return declared


def _is_docx(stream: BinaryIO) -> bool:
    stream.seek(0)
    try:
        with zipfile.ZipFile(stream) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, ValueError, OSError):
        return False
    # Reading only the directory: nothing is decompressed, so a zip bomb costs nothing here.
    return (
        len(names) <= MAX_DOCX_ENTRIES
        and "[Content_Types].xml" in names
        and "word/document.xml" in names
    )


def _check_text(stream: BinaryIO) -> None:
    stream.seek(0)
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    while True:
        chunk = stream.read(CHUNK)
        try:
            text = decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as error:
            raise UnsupportedFile(
                f"a text file must be UTF-8 (invalid byte near offset {offset + error.start})",
                field="file",
            ) from error
        for char in text:
            if unicodedata.category(char) == "Cc" and char not in "\t\n\r\f":
                raise UnsupportedFile(
                    f"a text file may not contain control characters (U+{ord(char):04X})",
                    field="file",
                )
        if not chunk:
            return
        offset += len(chunk)
