"""The command line's first impression: it starts without the web stack, its help reads like
any click tool's, and bad options are refused with an error that names them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from kit.auth import Role, bearer_token, generate_keypair
from konsortio.cli import MAX_TOKEN_HOURS, app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[3]
HEAVY = ("fastapi", "starlette", "faststream", "aiokafka", "asyncpg", "uvicorn")


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    private_pem, _ = generate_keypair()
    path = tmp_path_factory.mktemp("keys") / "jwt_private.pem"
    path.write_text(private_pem)
    return path


def help_of(*command: str) -> str:
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"}, color=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_token_issue_imports_no_web_or_kafka_stack(key_file: Path) -> None:
    """Importing the CLI and issuing a token loads neither FastAPI nor FastStream nor aiokafka
    (each costs seconds); checked in a fresh interpreter, where nothing was imported before."""
    script = (
        "import json, sys\n"
        "import konsortio.cli as cli\n"
        "try:\n"
        "    cli.app(['token', 'issue', '--role', 'library', '--isil', 'FI-Hki',\n"
        f"             '--key-file', {str(key_file)!r}])\n"
        "except SystemExit as done:\n"
        "    assert not done.code, done.code\n"
        f"print(json.dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    token, loaded = done.stdout.strip().splitlines()
    assert json.loads(loaded) == []
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["role"] == "library" and claims["isil"] == "FI-Hki"


@pytest.mark.parametrize(
    "command",
    [
        ("token", "issue"),
        ("events", "tail"),
        ("consumers", "lag"),
        ("dlq", "list"),
        ("demo",),
        ("up",),
        ("catalogue", "ingest"),
    ],
)
def test_help_shows_click_style_placeholders(command: tuple[str, ...]) -> None:
    text = help_of(*command)
    assert "<bool>" not in text and "<str>" not in text and "<int>" not in text
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage


def test_help_placeholders_by_kind() -> None:
    tail = help_of("events", "tail")
    assert "--limit" in tail and "INTEGER" in tail and "TEXT" in tail
    flag_line = next(line for line in tail.splitlines() if "--from-beginning" in line)
    assert "BOOLEAN" not in flag_line  # a flag takes no value
    assert "events tail [OPTIONS]" in tail
    lag = help_of("consumers", "lag")
    assert "[OPTIONS] [GROUP]" in lag
    reset = help_of("consumers", "reset")
    assert "[OPTIONS] GROUP" in reset
    issue = help_of("token", "issue")
    assert "[coordinator|library|procurement|cataloguer|operator]" in issue
    assert "FLOAT" in issue and "PATH" in issue


@pytest.mark.parametrize(
    ("args", "option", "problem"),
    [
        (["--role", "library", "--isil", "not an isil"], "--isil", "is not an ISIL"),
        (["--role", "coordinator", "--hours", "-1"], "--hours", "is not a lifetime"),
        (["--role", "coordinator", "--hours", "0"], "--hours", "is not a lifetime"),
        (
            ["--role", "coordinator", "--hours", str(MAX_TOKEN_HOURS + 1)],
            "--hours",
            "at most 720",
        ),
        (["--role", "library"], "--isil", "needs --isil"),
    ],
)
def test_token_issue_refuses_bad_options(
    key_file: Path, args: list[str], option: str, problem: str
) -> None:
    result = runner.invoke(
        app, ["token", "issue", *args, "--key-file", str(key_file)], env={"COLUMNS": "300"}
    )
    assert result.exit_code == 2
    assert option in result.output and problem in result.output


def test_token_issue_defaults_to_a_bounded_lifetime(key_file: Path) -> None:
    result = runner.invoke(
        app, ["token", "issue", "--role", "operator", "--hours", "720", "--key-file", str(key_file)]
    )
    assert result.exit_code == 0, result.output
    claims = jwt.decode(result.output.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 720 * 3600


def test_events_tail_refuses_an_unknown_type_and_lists_the_known_ones() -> None:
    result = runner.invoke(app, ["events", "tail", "--type", "nonsense"], env={"COLUMNS": "300"})
    assert result.exit_code == 2
    assert "--type" in result.output and "nonsense" in result.output
    assert "member-joined" in result.output and "tender-opened" in result.output


def test_credentials_are_found_the_same_way_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KONSORTIO_TOKEN", raising=False)
    with pytest.raises(LookupError, match="--token"):
        bearer_token(None, role=Role.CATALOGUER, data_dir=tmp_path)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "jwt_private.pem").write_text(generate_keypair()[0])
    signed = bearer_token(None, role=Role.CATALOGUER, data_dir=tmp_path)
    assert jwt.decode(signed, options={"verify_signature": False})["role"] == "cataloguer"
    monkeypatch.setenv("KONSORTIO_TOKEN", "from-the-environment")
    assert bearer_token(None, role=Role.CATALOGUER, data_dir=tmp_path) == "from-the-environment"
    assert bearer_token("explicit", role=Role.CATALOGUER, data_dir=tmp_path) == "explicit"


def test_catalogue_ingest_signs_with_the_data_dirs_key_when_no_token_is_given(
    tmp_path: Path,
) -> None:
    """No --token and no key: the error names --token; the lookup is kit.auth.bearer_token."""
    data = tmp_path / "data"
    data.mkdir()
    listing = tmp_path / "list.tsv"
    listing.write_text("x")
    env = {k: v for k, v in os.environ.items() if k != "KONSORTIO_TOKEN"}
    env.update({"KONSORTIO_DATA_DIR": str(data), "COLUMNS": "300"})
    result = runner.invoke(
        app,
        ["catalogue", "ingest", str(listing), "--collection", "c", "--format", "kbart"],
        env=env,
    )
    assert result.exit_code == 2, result.output
    assert "--token" in result.output and "KONSORTIO_TOKEN" in result.output


def test_demo_reports_a_missing_stack_on_stderr_and_keeps_stdout_for_output(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["demo", "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stdout == ""
    assert "no stack key" in result.stderr
