"""`konsortio catalogue convert`: check and convert a supplier file offline.

Runs the same reading, conversion and profile as the ingest, with no stack running.
Accepted records (warnings allowed) go to stdout; rejected records are left out and
their findings reported. Findings go to stderr, or as CSV to --report FILE.

Exit codes: 0 when no record had an error, 1 when at least one record was rejected or
unreadable, 2 for usage errors (unknown format, unreadable file).

Output formats: marcxml (one <collection>), marc (ISO 2709), json (JSON Lines: one
pymarc MARC-in-JSON record per line, so the output streams).
"""

from __future__ import annotations

import csv
import io
import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, BinaryIO

import typer
from pymarc import Record
from pymarc.marcxml import record_to_xml
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from kit.csvsafe import safe_row
from services.catalogue.formats.readers import UnknownFormat
from services.catalogue.pipeline import process_stream
from services.catalogue.quality import (
    FINDINGS_CSV_COLUMNS,
    QualityReport,
    ReportOutcome,
    finding_rows,
)

MARCXML_NS = "http://www.loc.gov/MARC21/slim"

convert_app = typer.Typer(add_completion=False, help="Convert and check supplier title lists.")


class InputFormat(StrEnum):
    onix = "onix"
    marc = "marc"
    marcxml = "marcxml"
    kbart = "kbart"


class OutputFormat(StrEnum):
    marcxml = "marcxml"
    marc = "marc"
    json = "json"


class _Counting(io.RawIOBase):
    """Counts bytes read so the progress bar can follow a streaming reader."""

    def __init__(self, inner: BinaryIO) -> None:
        self.inner = inner
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]  # typeshed's RawIOBase takes any writable buffer; only these reach it
        data = self.inner.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


@convert_app.command("convert")
def convert(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    to: Annotated[OutputFormat, typer.Option("--to", help="output format")],
    from_: Annotated[
        InputFormat | None, typer.Option("--from", help="input format (default: detect)")
    ] = None,
    collection: Annotated[
        str | None, typer.Option("--collection", help="collection code for 909 $a")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="write findings as CSV here, not stderr")
    ] = None,
    language: Annotated[
        str | None, typer.Option("--language", help="language of a KBART list (fin, swe…)")
    ] = None,
    url_template: Annotated[
        str | None,
        typer.Option("--url-template", help="access URL for ONIX without one, e.g. …/{isbn}"),
    ] = None,
) -> None:
    """Convert FILE with the consortium profile; records to stdout, findings to stderr."""
    err = Console(stderr=True)
    out = sys.stdout.buffer
    report_file = report.open("w", newline="", encoding="utf-8") if report else None
    writer = csv.writer(report_file) if report_file else None
    if writer:
        writer.writerow(FINDINGS_CSV_COLUMNS)
    quality = QualityReport()
    size = file.stat().st_size
    try:
        with (
            file.open("rb") as raw,
            Progress(
                TextColumn("[bold]convert[/]"),
                BarColumn(),
                TextColumn("{task.completed:,.0f}/{task.total:,.0f} B"),
                TextColumn("{task.fields[records]} records"),
                TimeRemainingColumn(),
                console=err,
                transient=True,
            ) as progress,
        ):
            task = progress.add_task("convert", total=size, records=0)
            counting = _Counting(raw)
            stream = io.BufferedReader(counting)
            items = process_stream(
                stream,
                from_.value if from_ else None,
                collection_code=collection,
                default_language=language,
                url_template=url_template,
            )
            _write_start(out, to)
            for item in items:
                outcome: ReportOutcome = "accepted" if item.accepted else "rejected"
                quality.add(outcome, item.findings, item.reference)
                if item.accepted and item.record is not None:
                    _write_record(out, to, item.record)
                if item.findings:
                    if writer:
                        rows = finding_rows(item.position, item.reference, item.findings)
                        writer.writerows(safe_row(row) for row in rows)  # no formulas
                    else:
                        for f in item.findings:
                            colour = "red" if f.severity == "error" else "yellow"
                            err.print(
                                f"[{colour}]{f.severity}[/] #{item.position} "
                                f"{item.reference or ''} {f.code} {f.field}: {f.message}",
                                markup=True,
                                highlight=False,
                            )
                progress.update(task, completed=counting.count, records=quality.total)
            _write_end(out, to)
    except UnknownFormat as error:
        err.print(f"[red]cannot read {file}:[/] {error}")
        raise typer.Exit(2) from error
    finally:
        if report_file:
            report_file.close()
        out.flush()
    accepted, rejected = quality.outcomes.get("accepted", 0), quality.outcomes.get("rejected", 0)
    err.print(
        f"{quality.total} records: {accepted} accepted, {rejected} rejected, "
        f"{quality.records_with_warnings} with warnings"
    )
    raise typer.Exit(1 if quality.outcomes.get("rejected") else 0)


def _write_start(out: BinaryIO, to: OutputFormat) -> None:
    if to is OutputFormat.marcxml:
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(f'<collection xmlns="{MARCXML_NS}">\n'.encode())


def _write_record(out: BinaryIO, to: OutputFormat, record: Record) -> None:
    if to is OutputFormat.marcxml:
        out.write(record_to_xml(record) + b"\n")
    elif to is OutputFormat.marc:
        out.write(record.as_marc())
    else:
        out.write(record.as_json(ensure_ascii=False).encode("utf-8") + b"\n")


def _write_end(out: BinaryIO, to: OutputFormat) -> None:
    if to is OutputFormat.marcxml:
        out.write(b"</collection>\n")
