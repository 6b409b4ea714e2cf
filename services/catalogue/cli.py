"""``konsortio catalogue …``: load a title list into the running service, read a batch's
quality report, and convert files offline.

``ingest`` streams the file to the service's HTTP API (POST /batches) with a progress bar for
the upload and then for the processing, and prints the quality report. It needs a cataloguer
token: ``--token``, else KONSORTIO_TOKEN, else one signed with the local stack's key
(KONSORTIO_DATA_DIR).

Exit codes: 0 when the batch finished and no record was rejected, 1 when some were rejected,
2 when the batch could not be loaded (bad file, refused request, failed batch).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from kit.auth import Role, bearer_token
from services.catalogue.convert_cli import convert

app = typer.Typer(
    help="Catalogue: load title lists into collections, quality reports, offline conversion.",
    no_args_is_help=True,
)
app.command("convert")(convert)

DEFAULT_URL = os.environ.get("KONSORTIO_CATALOGUE_URL", "http://127.0.0.1:8003")
UPLOAD_CHUNK = 256 * 1024
POLL_S = 0.5


class IngestFormat(StrEnum):
    onix = "onix"
    marc = "marc"
    marcxml = "marcxml"
    kbart = "kbart"


class Mode(StrEnum):
    full = "full"
    delta = "delta"


CONTENT_TYPES = {
    IngestFormat.onix: "application/xml",
    IngestFormat.marcxml: "application/xml",
    IngestFormat.marc: "application/marc",
    IngestFormat.kbart: "text/tab-separated-values",
}


def _token(token: str | None) -> str:
    # The same lookup as every command that talks to a running stack (kit.auth.bearer_token):
    # --token, else KONSORTIO_TOKEN, else one signed with the local stack's key.
    try:
        return bearer_token(token, role=Role.CATALOGUER, subject="cli:catalogue")
    except LookupError as error:
        raise typer.BadParameter(str(error), param_hint="--token") from error


def _fail(console: Console, response: httpx.Response) -> typer.Exit:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    console.print(f"[red]{response.status_code}[/red] {detail}")
    return typer.Exit(2)


def _read(path: Path, progress: Progress, task: Any) -> Iterator[bytes]:
    with path.open("rb") as stream:
        while chunk := stream.read(UPLOAD_CHUNK):
            progress.advance(task, len(chunk))
            yield chunk


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    collection: Annotated[
        str, typer.Option("--collection", help="Collection id (an agreement's is its id)")
    ],
    format: Annotated[  # noqa: A002
        IngestFormat | None, typer.Option("--format", help="Override format detection")
    ] = None,
    mode: Annotated[
        Mode, typer.Option("--mode", help="full withdraws titles missing from the list")
    ] = Mode.delta,
    language: Annotated[
        str | None, typer.Option("--language", help="Language of a KBART list (fin, swe…)")
    ] = None,
    url_template: Annotated[
        str | None, typer.Option("--url-template", help="Access URL for ONIX without one")
    ] = None,
    url: Annotated[str, typer.Option("--url", help="The catalogue service")] = DEFAULT_URL,
    token: Annotated[str | None, typer.Option("--token", help="Cataloguer token")] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help=(
                "Coordinator token only: run a full load that would be refused (the file ends "
                "early, or too many of its records are rejected)"
            ),
        ),
    ] = False,
) -> None:
    """Load FILE into a collection of the running catalogue service and show its report."""
    console = Console(stderr=True)
    headers = {
        "Authorization": f"Bearer {_token(token)}",
        "Content-Type": CONTENT_TYPES[format] if format else "application/octet-stream",
    }
    params: dict[str, str] = {"collection": collection, "mode": mode.value, "filename": file.name}
    if format:
        params["format"] = format.value
    if language:
        params["language"] = language
    if url_template:
        params["url_template"] = url_template
    if force:
        params["force"] = "true"
    size = file.stat().st_size
    with httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(60, read=600)) as client:
        with Progress(
            TextColumn("[bold]upload[/]"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("upload", total=size)
            try:
                response = client.post(
                    "/batches", params=params, content=_read(file, progress, task), headers=headers
                )
            except httpx.HTTPError as error:
                console.print(f"[red]cannot reach {url}:[/red] {error}")
                raise typer.Exit(2) from error
        if response.status_code != 202:
            raise _fail(console, response)
        batch = response.json()
        console.print(f"uploaded {file.name} ({size:,} bytes) as batch [bold]{batch['id']}[/bold]")
        batch = _follow(client, console, batch, headers)
    _show(console, batch)
    if batch["status"] != "done":
        raise typer.Exit(2)
    raise typer.Exit(1 if batch["counts"]["rejected"] else 0)


def _follow(
    client: httpx.Client, console: Console, batch: dict[str, Any], headers: dict[str, str]
) -> dict[str, Any]:
    """Poll the batch until it has finished, showing the records processed."""
    auth = {"Authorization": headers["Authorization"]}
    with Progress(
        SpinnerColumn(),
        TextColumn("[bold]ingest[/] {task.fields[processed]:,} records"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task("ingest", processed=0)
        while batch["status"] == "processing":
            time.sleep(POLL_S)
            response = client.get(f"/batches/{batch['id']}", headers=auth)
            if response.status_code != 200:
                raise _fail(console, response)
            batch = response.json()
            progress.update(task, processed=batch["processed"])
    return batch


def _show(console: Console, batch: dict[str, Any]) -> None:
    if batch["status"] == "failed":
        console.print(f"[red]batch {batch['id']} failed:[/red] {batch['error']}")
        return
    counts = batch["counts"]
    table = Table(title=f"batch {batch['id']}: {batch['format']}, {batch['mode']} load")
    table.add_column("outcome")
    table.add_column("records", justify="right")
    for name in ("received", "accepted", "updated", "unchanged", "duplicate", "rejected"):
        table.add_row(name, f"{counts[name]:,}")
    table.add_row("withdrawn", f"{counts['withdrawn']:,}")
    table.add_row("with warnings", f"{counts['warnings']:,}")
    console.print(table)
    findings = (batch.get("report") or {}).get("top_findings", [])
    if findings:
        top = Table(title="most frequent findings")
        for column in ("severity", "code", "count", "example"):
            top.add_column(column)
        for finding in findings[:10]:
            colour = "red" if finding["severity"] == "error" else "yellow"
            example = finding["examples"][0] if finding["examples"] else ""
            top.add_row(
                f"[{colour}]{finding['severity']}[/]",
                finding["code"],
                str(finding["count"]),
                example[:80],
            )
        console.print(top)
    console.print(f"every finding: {batch['links']['findings_csv']}")


def _show_fields(console: Console, report: dict[str, Any]) -> None:
    table = Table(title=f"core fields over {report['records']:,} new or changed records")
    for column in ("field", "applies to", "as Melinda takes it", "share"):
        table.add_column(column, justify="right")
    for tag, row in report["fields"].items():
        share = "" if row["share"] is None else f"{row['share']:.1%}"
        table.add_row(tag, f"{row['applicable']:,}", f"{row['accepted']:,}", share)
    console.print(table)
    if report["core_share"] is not None:
        console.print(f"core fields as Melinda takes them: {report['core_share']:.1%}")


@app.command()
def report(
    batch_id: Annotated[str, typer.Argument(help="The batch id")],
    csv: Annotated[
        Path | None, typer.Option("--csv", help="Write every finding as CSV to this file")
    ] = None,
    fields: Annotated[
        bool,
        typer.Option(
            "--fields", help="Also show how many records carry each core field as Melinda takes it"
        ),
    ] = False,
    url: Annotated[str, typer.Option("--url", help="The catalogue service")] = DEFAULT_URL,
    token: Annotated[str | None, typer.Option("--token", help="Cataloguer token")] = None,
) -> None:
    """Show a batch's quality report (and save its findings as CSV)."""
    console = Console(stderr=True)
    auth = {"Authorization": f"Bearer {_token(token)}"}
    with httpx.Client(base_url=url.rstrip("/"), timeout=60) as client:
        response = client.get(f"/batches/{batch_id}", headers=auth)
        if response.status_code != 200:
            raise _fail(console, response)
        batch = response.json()
        _show(console, batch)
        if fields:
            response = client.get(f"/batches/{batch_id}/conversion-report", headers=auth)
            if response.status_code != 200:
                raise _fail(console, response)
            _show_fields(console, response.json())
        if csv is not None:
            with (
                client.stream("GET", f"/batches/{batch_id}/findings.csv", headers=auth) as stream,
                csv.open("wb") as out,
            ):
                if stream.status_code != 200:
                    stream.read()
                    raise _fail(console, stream)
                for chunk in stream.iter_bytes():
                    out.write(chunk)
            console.print(f"findings written to {csv}")
