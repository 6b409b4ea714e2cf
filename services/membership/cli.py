"""``konsortio membership …``: the coordinator's yearly load of Statistics Finland's population
figures, and an offline check of such a file.

``load-population`` sends the file to the running service (POST /municipalities/population)
with a coordinator token (``--token`` or KONSORTIO_TOKEN; ``konsortio token issue --role
coordinator``). ``check-population`` only parses it and prints the row-level report.

Exit codes: 0 loaded (or, for the check, readable); 1 the file has bad rows; 2 the request
was refused or the service could not be reached.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import httpx
import typer

from services.membership.population import parse_pxweb_csv

app = typer.Typer(
    help="Membership: load the official population figures of municipalities.",
    no_args_is_help=True,
)
DEFAULT_URL = os.environ.get("KONSORTIO_MEMBERSHIP_URL", "http://127.0.0.1:8001")
FileArg = Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)]
YearOption = Annotated[
    int | None,
    typer.Option("--year", min=1900, max=2200, help="Year of the figures (31.12.)"),
]


def _text(path: Path) -> str:
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252")


@app.command("check-population")
def check_population(file: FileArg, year: YearOption = None) -> None:
    """Parse a PxWeb CSV export offline and report what would be loaded."""
    parsed = parse_pxweb_csv(_text(file), year)
    for problem in parsed.problems:
        typer.echo(f"row {problem.row} {problem.field}: {problem.message}", err=True)
    total = sum(m.population for m in parsed.rows)
    typer.echo(f"year {parsed.year}: {len(parsed.rows)} municipalities, population {total}")
    raise typer.Exit(1 if parsed.problems else 0)


@app.command("load-population")
def load_population(
    file: FileArg,
    year: YearOption = None,
    source: Annotated[
        str, typer.Option("--source", help="Where the figures come from")
    ] = "Statistics Finland, PxWeb table 11ra",
    url: Annotated[str, typer.Option("--url", help="The membership service")] = DEFAULT_URL,
    token: Annotated[str | None, typer.Option("--token", help="Coordinator token")] = None,
) -> None:
    """Load a year's population by municipality (the CSV that Statistics Finland's PxWeb
    tables export) into the running membership service."""
    token = token or os.environ.get("KONSORTIO_TOKEN")
    if not token:
        raise typer.BadParameter(
            "a coordinator token is needed: --token, or KONSORTIO_TOKEN "
            "(konsortio token issue --role coordinator)",
            param_hint="--token",
        )
    data = {"source": source}
    if year is not None:
        data["year"] = str(year)
    try:
        response = httpx.post(
            f"{url.rstrip('/')}/municipalities/population",
            files={"file": (file.name, file.read_bytes(), "text/csv")},
            data=data,
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
    except httpx.HTTPError as error:
        typer.echo(f"cannot reach {url}: {error}", err=True)
        raise typer.Exit(2) from error
    body = response.json() if response.content else {}
    if response.status_code == 422:
        typer.echo(f"not loaded: {body.get('detail', response.text)}", err=True)
        raise typer.Exit(1)
    if response.status_code != 200:
        typer.echo(
            f"refused ({response.status_code}): {body.get('detail', response.text)}", err=True
        )
        raise typer.Exit(2)
    typer.echo(
        f"year {body['year']}: {body['loaded']} municipalities, population {body['population']}"
        f"; {body['libraries_updated']} libraries' derived population changed"
    )
