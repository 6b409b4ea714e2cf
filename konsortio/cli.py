"""The ``konsortio`` command line."""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from kit.auth import Role, issue_token

app = typer.Typer(
    help="Konsortio: the shared work of a consortium of public libraries.", no_args_is_help=True
)
token_app = typer.Typer(help="Bearer tokens.", no_args_is_help=True)
events_app = typer.Typer(help="The event stream.", no_args_is_help=True)
consumers_app = typer.Typer(help="Consumer groups: lag and replay.", no_args_is_help=True)
dlq_app = typer.Typer(help="Dead-letter topics: list, replay, purge.", no_args_is_help=True)
contracts_app = typer.Typer(help="Event contracts: JSON Schema and AsyncAPI.", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(events_app, name="events")
app.add_typer(contracts_app, name="contracts")
app.add_typer(dlq_app, name="dlq")
app.add_typer(consumers_app, name="consumers")
TopicOption = Annotated[
    str | None, typer.Option(help="One topic (e.g. konsortio.membership); default: all")
]

DATA_DIR = Path(os.environ.get("KONSORTIO_DATA_DIR", "data"))


@app.command()
def up(
    data_dir: Annotated[Path, typer.Option(help="Where data is kept across runs")] = DATA_DIR,
) -> None:
    """Start the whole system on embedded defaults (what `make up` runs)."""
    from konsortio.launcher import up as launch

    raise typer.Exit(launch(data_dir))


@app.command()
def run(service: Annotated[str, typer.Argument(help="membership, procurement, ...")]) -> None:
    """Run one service (the container entrypoint). Settings come from the environment."""
    import uvicorn

    from kit.settings import Settings
    from konsortio.stack import SERVICE_PORTS

    if service not in SERVICE_PORTS:
        raise typer.BadParameter(f"unknown service {service!r}; one of {', '.join(SERVICE_PORTS)}")
    overrides: dict[str, object] = {"service": service}
    if "KONSORTIO_HTTP_PORT" not in os.environ:
        overrides["http_port"] = SERVICE_PORTS[service]
    settings = Settings(**overrides)  # type: ignore[arg-type]
    build = importlib.import_module(f"services.{service}.app").build
    uvicorn.run(
        build(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=20,
    )


@token_app.command("issue")
def token_issue(
    role: Annotated[Role, typer.Option(help="The caller's role")],
    isil: Annotated[str | None, typer.Option(help="Library tokens: the library's ISIL")] = None,
    hours: Annotated[float, typer.Option(help="Validity")] = 12,
    key_file: Annotated[Path, typer.Option(help="Ed25519 private key (PEM)")] = DATA_DIR
    / "keys"
    / "jwt_private.pem",
) -> None:
    """Issue a signed bearer token."""
    import datetime as dt

    if not key_file.exists():
        raise typer.BadParameter(
            f"no private key at {key_file}; run `make up` once or pass --key-file"
        )
    try:
        token = issue_token(
            key_file.read_text(), role=role, isil=isil, ttl=dt.timedelta(hours=hours)
        )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    typer.echo(token)


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    data_dir: Annotated[Path, typer.Option(help="The running stack's data directory")] = DATA_DIR,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reaction")] = 20,
) -> None:
    """Drive a realistic scenario through a running stack and wait for every reaction."""
    from konsortio.demo import run_demo

    summary = asyncio.run(run_demo(data_dir, timeout_s=timeout, quiet=as_json))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    raise typer.Exit(0 if summary["ok"] else 1)


@events_app.command("tail")
def events_tail(
    type_: Annotated[
        str | None, typer.Option("--type", help="Only this event name, e.g. member-joined")
    ] = None,
    from_beginning: Annotated[bool, typer.Option(help="Start at the earliest offset")] = False,
    bootstrap: Annotated[str, typer.Option(envvar="KONSORTIO_KAFKA_BOOTSTRAP_SERVERS")] = (
        "127.0.0.1:9092"
    ),
    limit: Annotated[int | None, typer.Option(help="Stop after this many events")] = None,
) -> None:
    """Print the live event stream, one line per CloudEvent."""
    from konsortio.tail import tail

    asyncio.run(tail(bootstrap, event_name=type_, from_beginning=from_beginning, limit=limit))


@consumers_app.command("lag")
def consumers_lag(group: Annotated[str, typer.Argument(help="e.g. outreach")]) -> None:
    """Committed offset, end offset and lag per partition of a consumer group."""
    from kit.settings import KafkaSettings
    from konsortio.consumers import lag

    for row in asyncio.run(lag(KafkaSettings(), group)):
        typer.echo(
            f"{row.topic}[{row.partition}] committed={row.committed} end={row.end} lag={row.lag}"
        )


@consumers_app.command("reset")
def consumers_reset(
    group: Annotated[str, typer.Argument(help="e.g. outreach")],
    topic: TopicOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Replay: reset a stopped service's consumer group to the earliest offsets."""
    from kit.settings import KafkaSettings
    from konsortio.consumers import reset_to_earliest

    if not yes:
        typer.confirm(f"Are all replicas of {group} stopped? Reset it to earliest?", abort=True)
    count = asyncio.run(reset_to_earliest(KafkaSettings(), group, [topic] if topic else None))
    typer.echo(f"reset {count} partition(s) of {group} to the earliest offset")


@dlq_app.command("list")
def dlq_list(
    topic: TopicOption = None,
    include_handled: Annotated[bool, typer.Option("--all", help="Include purged ones")] = False,
) -> None:
    """Dead letters not yet dealt with, one line each, with their reason."""
    from kit.settings import KafkaSettings
    from konsortio.dlq import read

    letters, _ = asyncio.run(read(KafkaSettings(), topic, include_handled=include_handled))
    for letter in letters:
        typer.echo(letter.summary())
    typer.echo(f"{len(letters)} dead letter(s)", err=True)


@dlq_app.command("replay")
def dlq_replay(
    topic: TopicOption = None,
    event_id: Annotated[str | None, typer.Option("--id", help="Only this CloudEvent id")] = None,
) -> None:
    """Republish dead letters to their original topics, keeping their event ids (idempotent:
    consumers that handled an event already skip it)."""
    from kit.settings import KafkaSettings
    from konsortio.dlq import read, replay

    kafka = KafkaSettings()
    letters, _ = asyncio.run(read(kafka, topic))
    if event_id:
        letters = [letter for letter in letters if letter.header("ce_id") == event_id]
    typer.echo(f"replayed {asyncio.run(replay(kafka, letters))} dead letter(s)")


@dlq_app.command("purge")
def dlq_purge(
    topic: TopicOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Mark every listed dead letter as dealt with (they stay on the topic for audit)."""
    from kit.settings import KafkaSettings
    from konsortio.dlq import purge

    if not yes:
        typer.confirm("Mark every dead letter as dealt with?", abort=True)
    typer.echo(f"purged {asyncio.run(purge(KafkaSettings(), topic))} dead letter(s)")


@contracts_app.command("export")
def contracts_export(
    out: Annotated[
        Path | None,
        typer.Option(help="Directory to write into (default: the contracts package's schemas/)"),
    ] = None,
) -> None:
    """Write the JSON Schemas and the AsyncAPI 3 document of every event."""
    from contracts.export import SCHEMA_DIR, write_all

    for path in write_all(out or SCHEMA_DIR):
        typer.echo(path)


def all_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, meaning) of every setting of the kit and services."""
    import inspect

    from pydantic import SecretStr
    from pydantic_settings import BaseSettings

    from kit.settings import KafkaSettings, Settings

    models: list[type[BaseSettings]] = [Settings, KafkaSettings]
    for service in ("membership", "procurement", "catalogue", "outreach", "dashboard"):
        if importlib.util.find_spec(f"services.{service}.settings") is None:
            continue
        module = importlib.import_module(f"services.{service}.settings")
        models += [
            model
            for _, model in inspect.getmembers(module, inspect.isclass)
            if issubclass(model, BaseSettings) and model.__module__ == module.__name__
        ]
    rows = []
    for model in models:
        prefix = model.model_config.get("env_prefix", "")
        for name, field in model.model_fields.items():
            if name == "kafka":
                continue
            default = field.default
            shown = "(secret)" if isinstance(default, SecretStr) else repr(default)
            rows.append((f"{prefix}{name.upper()}", shown, field.description or ""))
    return rows


SETTINGS_START, SETTINGS_END = "<!-- settings:start -->", "<!-- settings:end -->"


def settings_markdown() -> str:
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [
        f"| `{name}` | `{default}` | {meaning} |" for name, default, meaning in all_settings()
    ]
    return "\n".join(lines)


@app.command()
def settings(
    markdown: Annotated[bool, typer.Option(help="As a Markdown table")] = False,
    update_readme: Annotated[
        Path | None, typer.Option(help="Rewrite the settings table in this README")
    ] = None,
) -> None:
    """List every setting: its environment variable, default and meaning."""
    if update_readme:
        text = update_readme.read_text()
        head, _, rest = text.partition(SETTINGS_START)
        _, _, tail = rest.partition(SETTINGS_END)
        table = f"{SETTINGS_START}\n{settings_markdown()}\n{SETTINGS_END}"
        update_readme.write_text(head + table + tail)
        return
    if markdown:
        typer.echo(settings_markdown())
        return
    rows = all_settings()
    for name, default, meaning in rows:
        typer.echo(f"{name}\t{default}\t{meaning}")


def _mount_service_commands() -> None:
    """A service may ship its own sub-commands in ``services/<name>/cli.py`` as a Typer ``app``
    (for example ``konsortio catalogue convert``); they are mounted under the service's name."""
    for service in ("membership", "procurement", "catalogue", "outreach", "dashboard"):
        if importlib.util.find_spec(f"services.{service}.cli") is None:
            continue
        sub = importlib.import_module(f"services.{service}.cli").app
        app.add_typer(sub, name=service)


_mount_service_commands()

if __name__ == "__main__":
    app()
