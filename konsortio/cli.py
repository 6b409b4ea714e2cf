"""The ``konsortio`` command line."""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Annotated

import typer

from kit.auth import Role, default_data_dir, private_key_file
from konsortio.help import RootGroup, typer_app

app = typer_app(
    cls=RootGroup, help="Konsortio: the shared work of a consortium of public libraries."
)
token_app = typer_app(help="Bearer tokens.")
events_app = typer_app(help="The event stream.")
consumers_app = typer_app(help="Consumer groups: lag and replay.")
dlq_app = typer_app(help="Dead-letter topics: list, replay, purge.")
contracts_app = typer_app(
    help="Contracts: events (JSON Schema, AsyncAPI) and the HTTP APIs (OpenAPI)."
)
app.add_typer(token_app, name="token")
app.add_typer(events_app, name="events")
app.add_typer(contracts_app, name="contracts")
app.add_typer(dlq_app, name="dlq")
app.add_typer(consumers_app, name="consumers")
TopicOption = Annotated[
    str | None, typer.Option(help="One topic (e.g. konsortio.membership); default: all")
]

DATA_DIR = default_data_dir()
# A token is a bearer credential: a long-lived one that leaks is a long-lived breach.
MAX_TOKEN_HOURS = 30 * 24


@app.command()
def up(
    data_dir: Annotated[
        Path, typer.Option(envvar="KONSORTIO_DATA_DIR", help="Where data is kept across runs")
    ] = DATA_DIR,
    port_base: Annotated[
        int,
        typer.Option(
            envvar="KONSORTIO_UP_PORT_BASE",
            min=1,
            max=65000,
            help="The dashboard's port; membership, procurement, catalogue and outreach follow",
        ),
    ] = 8000,
    broker_port: Annotated[
        int, typer.Option(min=1, max=65535, help="The broker's port (a free one if taken)")
    ] = 9092,
    smtp_port: Annotated[
        int, typer.Option(min=1, max=65535, help="The SMTP sink's port (a free one if taken)")
    ] = 8025,
    only: Annotated[
        str | None,
        typer.Option(help="Start only these services, comma-separated (default: all)"),
    ] = None,
    max_restarts: Annotated[
        int,
        typer.Option(
            envvar="KONSORTIO_UP_MAX_RESTARTS",
            min=0,
            help="A service that crashes more often than this within the window stops the stack",
        ),
    ] = 5,
    restart_window: Annotated[
        float,
        typer.Option(envvar="KONSORTIO_UP_RESTART_WINDOW_S", min=1, help="That window, in seconds"),
    ] = 300,
) -> None:
    """Start the whole system on embedded defaults (what `make up` runs)."""
    from konsortio.launcher import RestartPolicy
    from konsortio.launcher import up as launch

    raise typer.Exit(
        launch(
            data_dir,
            broker_port,
            smtp_port,
            port_base=port_base,
            only=[name.strip() for name in only.split(",") if name.strip()] if only else (),
            policy=RestartPolicy(max_restarts=max_restarts, window_s=restart_window),
        )
    )


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
    settings = Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates the overrides at run time
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
    isil: Annotated[
        str | None, typer.Option(help="Library tokens: the library's ISIL, e.g. FI-Hki")
    ] = None,
    hours: Annotated[
        float,
        typer.Option(
            help=f"Validity in hours, more than 0 and at most KONSORTIO_TOKEN_MAX_HOURS "
            f"(default {MAX_TOKEN_HOURS})"
        ),
    ] = 12,
    audience: Annotated[
        list[str] | None,
        typer.Option(
            help="A service the token is good at (repeat for more): membership, procurement, "
            "catalogue, outreach, dashboard, usage, or all (the default)"
        ),
    ] = None,
    key_file: Annotated[Path, typer.Option(help="Ed25519 private key (PEM)")] = private_key_file(
        DATA_DIR
    ),
) -> None:
    """Issue a signed bearer token."""
    import datetime as dt
    import re

    from kit.auth import audiences, issue_token, max_token_hours

    try:
        longest = max_token_hours()
        audience_claim = audiences(audience or None)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--audience") from error
    if not 0 < hours <= longest:
        raise typer.BadParameter(
            f"{hours:g} is not a lifetime: give more than 0 and at most {longest:g} "
            f"hours ({longest / 24:g} days; KONSORTIO_TOKEN_MAX_HOURS sets the maximum)",
            param_hint="--hours",
        )
    if isil is not None:
        from contracts.membership import ISIL_PATTERN

        if not re.fullmatch(ISIL_PATTERN, isil):
            raise typer.BadParameter(
                f"{isil!r} is not an ISIL (ISO 15511: a country code, a hyphen and up to 11 "
                "letters, digits, ':', '/' or '-', e.g. FI-Hki)",
                param_hint="--isil",
            )
    if not key_file.exists():
        raise typer.BadParameter(
            f"no private key at {key_file}; run `make up` once or pass --key-file",
            param_hint="--key-file",
        )
    try:
        token = issue_token(
            key_file.read_text(),
            role=role,
            isil=isil,
            ttl=dt.timedelta(hours=hours),
            audience=audience_claim,
            max_ttl=dt.timedelta(hours=longest),
        )
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--isil") from error
    typer.echo(token)


@app.command()
def demo(
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON")] = False,
    data_dir: Annotated[Path, typer.Option(help="The running stack's data directory")] = DATA_DIR,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for each reaction")] = 20,
) -> None:
    """Drive a realistic scenario through a running stack and wait for every reaction."""
    import asyncio

    from konsortio.demo import run_demo

    summary = asyncio.run(run_demo(data_dir, timeout_s=timeout, quiet=as_json))
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    elif summary.get("error"):
        typer.echo(f"demo: {summary['error']}", err=True)
    raise typer.Exit(0 if summary["ok"] else 1)


@events_app.command("tail")
def events_tail(
    type_: Annotated[
        str | None, typer.Option("--type", help="Only this event name, e.g. member-joined")
    ] = None,
    from_beginning: Annotated[
        bool, typer.Option(help="First print the history, in time order across topics")
    ] = False,
    limit: Annotated[int | None, typer.Option(min=1, help="Stop after this many events")] = None,
) -> None:
    """Print the event stream, one line per CloudEvent (broker: KONSORTIO_KAFKA_*)."""
    import asyncio

    from kit.settings import KafkaSettings
    from konsortio.tail import known_event_names, tail

    if type_ is not None and type_ not in known_event_names():
        raise typer.BadParameter(
            f"no event is called {type_!r}; known: {', '.join(known_event_names())}",
            param_hint="--type",
        )
    try:
        asyncio.run(
            tail(KafkaSettings(), event_name=type_, from_beginning=from_beginning, limit=limit)
        )
    except KeyboardInterrupt:
        pass


@consumers_app.command("lag")
def consumers_lag(
    group: Annotated[
        str | None, typer.Argument(help="A consumer group, e.g. outreach; default: every group")
    ] = None,
) -> None:
    """Committed offset, end offset and lag per partition of the topics a group consumes."""
    import asyncio

    from kit.settings import KafkaSettings
    from kit.streams import group_lag
    from konsortio.consumers import all_groups

    kafka = KafkaSettings()
    groups = [group] if group else asyncio.run(all_groups(kafka))
    if not groups:
        typer.echo("the broker knows no consumer group", err=True)
        raise typer.Exit(1)
    for name in groups:
        rows = asyncio.run(group_lag(kafka, name))
        if rows is None:
            typer.echo(f"no consumer group {name!r} on {kafka.bootstrap_servers}", err=True)
            raise typer.Exit(1)
        if group is None:
            typer.echo(f"{name}: lag={sum(row.lag for row in rows)}")
        for row in rows:
            prefix = "  " if group is None else ""
            typer.echo(
                f"{prefix}{row.topic}[{row.partition}] committed={row.committed} "
                f"end={row.end} lag={row.lag}"
            )
        if not rows:
            typer.echo(f"{'  ' if group is None else ''}(no committed offsets yet)")


@consumers_app.command("reset")
def consumers_reset(
    group: Annotated[str, typer.Argument(help="e.g. outreach")],
    topic: TopicOption = None,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask")] = False,
) -> None:
    """Replay: reset a stopped service's consumer group to the earliest offsets."""
    import asyncio

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
    import asyncio

    from rich.console import Console

    from kit.settings import KafkaSettings
    from konsortio.dlq import read

    kafka = KafkaSettings()
    with Console(stderr=True).status(f"reading dead letters from {kafka.bootstrap_servers}"):
        letters, _ = asyncio.run(read(kafka, topic, include_handled=include_handled))
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
    import asyncio

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
    import asyncio

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


@contracts_app.command("openapi")
def contracts_openapi(
    out: Annotated[
        Path | None,
        typer.Option(help="Directory to write into (default: docs/openapi/)"),
    ] = None,
) -> None:
    """Write the OpenAPI document of every service's HTTP API."""
    from konsortio.openapi import OPENAPI_DIR, write_all

    for path in write_all(out or OPENAPI_DIR):
        typer.echo(path)


def all_settings() -> list[tuple[str, str, str]]:
    """(environment variable, default, meaning) of every setting of the kit and services."""
    import inspect

    from pydantic import SecretStr
    from pydantic_settings import BaseSettings

    from kit.settings import KafkaSettings, Settings

    models: list[type[BaseSettings]] = [Settings, KafkaSettings]
    for service in ("membership", "procurement", "catalogue", "outreach", "usage", "dashboard"):
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


if __name__ == "__main__":
    app()
