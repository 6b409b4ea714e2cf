"""Help text that reads like any click tool's: ``--limit INTEGER``, ``--json`` (a flag takes no
value, so it shows none), arguments as ``GROUP`` in the usage line.

Why this exists: Typer 0.29 labels every parameter with its Python type in angle brackets
(``<str>``, ``<float>``) and does not leave flags out, so every flag, ``--help`` included,
showed ``<bool>``; it also writes a required argument as ``{group}`` in the usage line. The
classes below keep Typer's parsing and only change how a parameter is displayed. The command
line's groups (``KonsortioGroup``) apply them to every command they hand out, including the
services' own sub-commands, and mount those sub-commands only when they are asked for, so a
command that needs none of them does not pay for importing them.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Sequence
from typing import Any

import typer
from typer import _click as click  # typer runs its own copy of click; these hooks get its types
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

# Typer's own type labels -> the metavar click (and Typer before 0.29) shows.
CLICK_NAMES = {
    "str": "TEXT",
    "int": "INTEGER",
    "float": "FLOAT",
    "bool": "BOOLEAN",
    "path": "PATH",
    "file": "FILENAME",
    "uuid": "UUID",
}
# Services that may ship sub-commands in services/<name>/cli.py, mounted as `konsortio <name>`.
SERVICE_CLIS = ("membership", "procurement", "catalogue", "outreach", "dashboard", "usage")
# Sub-commands named for what they do rather than for their service: `konsortio report`.
NAMED_CLIS = {"report": "services.procurement.governance.cli"}


def click_metavar(param: TyperOption | TyperArgument, ctx: click.Context) -> str:
    desc = param.type_descriptor
    if desc.is_choice and desc.choices is not None:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in desc.choices) + "]"
    label = TyperOption.display_type(param, ctx).strip("<>")
    if desc.is_ranged and label.endswith(" range"):
        base = label.removesuffix(" range")
        return f"{CLICK_NAMES.get(base, base.upper())} RANGE"
    return CLICK_NAMES.get(label, label.upper())


class ClickStyleOption(TyperOption):
    def display_type(self, ctx: click.Context) -> str:
        return self.display_type_rich(ctx) or ""

    def display_type_rich(self, ctx: click.Context) -> str | None:
        if self.is_flag or self.count:
            return None
        if self.metavar is not None:
            return self.metavar
        return click_metavar(self, ctx) + ("..." if self.nargs != 1 else "")


class ClickStyleArgument(TyperArgument):
    def display_type(self, ctx: click.Context) -> str:
        return click_metavar(self, ctx)

    def display_type_rich(self, ctx: click.Context) -> str | None:
        return self.display_type(ctx)

    def _usage_display_name(self) -> str:
        name = (self.metavar or self.name or "").upper()
        if not self.required:
            name = f"[{name}]"
        return name + ("..." if self.nargs != 1 else "")

    def get_error_hint(self, ctx: click.Context | None = None) -> str:
        return f"'{(self.metavar or self.name or '').upper()}'"


def restyle(params: Sequence[click.Parameter]) -> None:
    for param in params:
        if type(param) is TyperOption:
            param.__class__ = ClickStyleOption
        elif type(param) is TyperArgument:
            param.__class__ = ClickStyleArgument


def restyled(command: click.Command | None) -> click.Command | None:
    if type(command) is TyperCommand:
        command.__class__ = KonsortioCommand
    elif type(command) is TyperGroup:
        command.__class__ = KonsortioGroup
    return command


class KonsortioCommand(TyperCommand):
    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        restyle(params)
        return params


class KonsortioGroup(TyperGroup):
    def get_params(self, ctx: click.Context) -> list[click.Parameter]:
        params = super().get_params(ctx)
        restyle(params)
        return params

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return restyled(super().get_command(ctx, cmd_name))


class RootGroup(KonsortioGroup):
    """The top-level ``konsortio`` group: mounts ``services/<name>/cli.py`` on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        own = super().list_commands(ctx)
        return own + [name for name in service_clis() if name not in own]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in service_clis():
            module = NAMED_CLIS.get(cmd_name, f"services.{cmd_name}.cli")
            sub: typer.Typer = importlib.import_module(module).app
            command = typer.main.get_group(sub)
            command.name = cmd_name
            self.commands[cmd_name] = command
        return super().get_command(ctx, cmd_name)


def service_clis() -> list[str]:
    return [
        name
        for name in SERVICE_CLIS
        if importlib.util.find_spec(f"services.{name}") is not None
        and importlib.util.find_spec(f"services.{name}.cli") is not None
    ] + [name for name, module in NAMED_CLIS.items() if importlib.util.find_spec(module)]


def typer_app(**kwargs: Any) -> typer.Typer:
    """A ``typer.Typer`` whose help reads like click's (see the module's docstring)."""
    kwargs.setdefault("no_args_is_help", True)
    kwargs.setdefault("cls", KonsortioGroup)
    return typer.Typer(**kwargs)
