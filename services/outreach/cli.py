"""``konsortio outreach ...``: send a campaign and follow it with a progress bar, and time a
large campaign against a local SMTP server.

The send itself runs inside the outreach service (its campaign job), so closing this command
stops only the watching; ``--watch`` picks it up again, and a crashed service resumes the send
where it stopped when it starts again.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from kit.auth import Role, bearer_token

app = typer.Typer(help="Outreach: campaigns and their delivery.", no_args_is_help=True)
console = Console(stderr=True)
DATA_DIR = Path(os.environ.get("KONSORTIO_DATA_DIR", "data"))


def _outreach_url() -> str:
    for item in os.environ.get("KONSORTIO_SERVICE_URLS", "").split(","):
        name, _, url = item.partition("=")
        if name.strip() == "outreach" and url:
            return url.strip()
    return "http://127.0.0.1:8004"


def _token(token: str | None, data_dir: Path) -> str:
    # The same lookup as every command that talks to a running stack (kit.auth.bearer_token).
    try:
        return bearer_token(token, role=Role.COORDINATOR, data_dir=data_dir, subject="cli:outreach")
    except LookupError as error:
        raise typer.BadParameter(str(error), param_hint="--token") from error


async def _follow(
    url: str, token: str, campaign_id: str, send: bool, interval_s: float
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=10) as client:
        if send:
            response = await client.post(f"/campaigns/{campaign_id}/send")
            if response.status_code >= 400:
                detail = response.json().get("detail", response.text)
                raise typer.BadParameter(f"{response.status_code}: {detail}")
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console) as bar:
            queued = bar.add_task("queued", total=None)
            delivered = bar.add_task("delivered", total=None)
            while True:
                response = await client.get(f"/campaigns/{campaign_id}/progress")
                if response.status_code >= 400:
                    raise typer.BadParameter(f"{response.status_code}: {response.text}")
                figures = response.json()
                total = figures["recipients"] or None
                bar.update(queued, total=total, completed=figures["materialised"])
                bar.update(
                    delivered,
                    total=total,
                    completed=figures["sent"] + figures["failed"],
                    description=f"delivered ({figures['failed']} failed)",
                )
                if figures["done"] or figures["status"] not in ("scheduled", "sending"):
                    return figures
                await asyncio.sleep(interval_s)


@app.command("campaign-send")
def campaign_send(
    campaign_id: Annotated[str, typer.Argument(help="The campaign's id")],
    url: Annotated[str, typer.Option(help="Outreach base URL")] = "",
    token: Annotated[str | None, typer.Option(help="Coordinator bearer token")] = None,
    data_dir: Annotated[Path, typer.Option(help="Stack data dir (for its key)")] = DATA_DIR,
    watch: Annotated[bool, typer.Option("--watch", help="Only follow a send in progress")] = False,
    interval: Annotated[float, typer.Option(help="Seconds between progress polls")] = 0.5,
) -> None:
    """Send a campaign now and follow its progress until every message is sent or failed."""
    figures = asyncio.run(
        _follow(url or _outreach_url(), _token(token, data_dir), campaign_id, not watch, interval)
    )
    console.print(
        f"campaign {campaign_id}: {figures['status']}, {figures['sent']} sent, "
        f"{figures['failed']} failed of {figures['recipients']}"
    )
    raise typer.Exit(0 if figures["status"] == "sent" and not figures["failed"] else 1)
