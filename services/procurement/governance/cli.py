"""``konsortio report annual``: fetch the annual reports from the running procurement service
and write them to a directory, HTML and PDF, Finnish and Swedish.

The command is a client of procurement's HTTP API (``GET /reports/annual/{year}``) like every
command that talks to a running stack: the figures are computed where the data lives.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

import httpx
import typer

from kit.auth import Role, bearer_token

app = typer.Typer(no_args_is_help=True, help="Reports for the members and the steering group.")
DATA_DIR = Path(os.environ.get("KONSORTIO_DATA_DIR", "data"))


def _procurement_url() -> str:
    for item in os.environ.get("KONSORTIO_SERVICE_URLS", "").split(","):
        name, _, url = item.partition("=")
        if name.strip() == "procurement" and url:
            return url.strip()
    return "http://127.0.0.1:8002"


async def fetch_reports(client: httpx.AsyncClient, year: int, isil: str | None) -> dict[str, bytes]:
    """``annual-report-<year>-<isil or consortium>-<lang>.<html|pdf>`` → its content."""
    reports = {}
    for lang in ("fi", "sv"):
        for fmt in ("html", "pdf"):
            params = {"format": fmt, "lang": lang} | ({"isil": isil} if isil else {})
            response = await client.get(f"/reports/annual/{year}", params=params)
            if response.status_code != 200:
                raise typer.BadParameter(
                    f"{response.status_code}: {response.text[:300]}", param_hint="--isil"
                )
            reports[f"annual-report-{year}-{isil or 'consortium'}-{lang}.{fmt}"] = response.content
    return reports


@app.command("annual")
def annual(
    year: Annotated[int, typer.Option(min=2000, max=2100, help="The report's year")],
    out: Annotated[Path, typer.Option(help="Directory to write the reports into")],
    isil: Annotated[str | None, typer.Option(help="One library; default: the summary")] = None,
    url: Annotated[str, typer.Option(help="Procurement base URL")] = "",
    token: Annotated[str | None, typer.Option(help="Coordinator bearer token")] = None,
    data_dir: Annotated[Path, typer.Option(help="Stack data dir (for its key)")] = DATA_DIR,
) -> None:
    """The annual report of one library, or the consortium summary with every library."""
    try:
        bearer = bearer_token(token, role=Role.COORDINATOR, data_dir=data_dir, subject="cli:report")
    except LookupError as error:
        raise typer.BadParameter(str(error), param_hint="--token") from error

    async def run() -> dict[str, bytes]:
        headers = {"Authorization": f"Bearer {bearer}"}
        async with httpx.AsyncClient(
            base_url=url or _procurement_url(), headers=headers, timeout=60
        ) as client:
            return await fetch_reports(client, year, isil)

    reports = asyncio.run(run())
    out.mkdir(parents=True, exist_ok=True)
    for name, content in reports.items():
        (out / name).write_bytes(content)
        typer.echo(str(out / name))
