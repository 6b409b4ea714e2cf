"""Tokens: bounded lifetime (a setting), an audience per service, a small clock leeway, a
deny list of revoked ``jti``s, and one ISIL as a string."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import jwt
import pytest
from typer.testing import CliRunner

from kit.auth import CLOCK_LEEWAY, Role, TokenVerifier, generate_keypair, issue_token
from kit.errors import ApiError
from konsortio.cli import app

KEYS = generate_keypair()
PRIVATE, PUBLIC = KEYS


def at(service: str) -> TokenVerifier:
    return TokenVerifier(PUBLIC, audience=service)


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(ApiError) as error:
        verifier.verify(token)
    assert error.value.status == 401
    return str(error.value)


def test_a_token_for_membership_does_not_work_at_procurement() -> None:
    token = issue_token(PRIVATE, role=Role.COORDINATOR, audience="membership")
    assert at("membership").verify(token).role is Role.COORDINATOR
    assert "not issued for procurement" in refused(at("procurement"), token)


def test_a_token_for_both_works_at_both_and_the_default_everywhere() -> None:
    both = issue_token(PRIVATE, role=Role.COORDINATOR, audience=["membership", "procurement"])
    every = issue_token(PRIVATE, role=Role.COORDINATOR)
    for service in ("membership", "procurement"):
        at(service).verify(both)
    refused(at("outreach"), both)
    for service in ("membership", "procurement", "catalogue", "outreach", "dashboard"):
        at(service).verify(every)


def test_a_token_without_audience_or_jti_is_refused() -> None:
    now = dt.datetime.now(dt.UTC)
    base = {"iss": "konsortio", "sub": "x", "role": "coordinator", "iat": now}
    base["exp"] = now + dt.timedelta(hours=1)
    no_aud = jwt.encode({**base, "jti": "a"}, PRIVATE, algorithm="EdDSA")
    no_jti = jwt.encode({**base, "aud": ["membership"]}, PRIVATE, algorithm="EdDSA")
    refused(at("membership"), no_aud)
    refused(at("membership"), no_jti)


def test_clock_leeway_is_small() -> None:
    now = dt.datetime.now(dt.UTC)
    hour = dt.timedelta(hours=1)
    just_expired = issue_token(
        PRIVATE, role="operator", now=now - hour - CLOCK_LEEWAY / 3, ttl=hour
    )
    long_expired = issue_token(
        PRIVATE, role="operator", now=now - hour - 4 * CLOCK_LEEWAY, ttl=hour
    )
    from_a_fast_clock = issue_token(PRIVATE, role="operator", now=now + CLOCK_LEEWAY / 3)
    from_the_future = issue_token(PRIVATE, role="operator", now=now + 4 * CLOCK_LEEWAY)
    at("dashboard").verify(just_expired)
    at("dashboard").verify(from_a_fast_clock)
    assert "expired" in refused(at("dashboard"), long_expired)
    refused(at("dashboard"), from_the_future)
    assert dt.timedelta(0) < CLOCK_LEEWAY <= dt.timedelta(minutes=2)


def test_a_revoked_jti_is_refused() -> None:
    verifier = at("membership")
    token = issue_token(PRIVATE, role=Role.COORDINATOR)
    other = issue_token(PRIVATE, role=Role.COORDINATOR)
    verifier.verify(token)
    verifier.revoke(jwt.decode(token, options={"verify_signature": False})["jti"])
    assert "revoked" in refused(verifier, token)
    verifier.verify(other)


def test_the_isil_claim_is_one_string() -> None:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "iss": "konsortio",
        "sub": "library:FI-Tro",
        "role": "library",
        "iat": now,
        "exp": now + dt.timedelta(hours=1),
        "jti": "j",
        "aud": ["membership"],
    }
    for isil in (["FI-Tro", "FI-Hki"], {"FI-Tro": 1}, 7):
        forged = jwt.encode({**claims, "isil": isil}, PRIVATE, algorithm="EdDSA")
        assert "isil" in refused(at("membership"), forged)
    with pytest.raises(ValueError):
        issue_token(PRIVATE, role=Role.LIBRARY, isil=["FI-Tro", "FI-Hki"])  # type: ignore[arg-type]  # a list on purpose: it must be refused


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key.pem"
    path.write_text(PRIVATE)
    return path


def issue(key_file: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(
        app,
        ["token", "issue", *args, "--key-file", str(key_file)],
        env={"COLUMNS": "300", **(env or {})},
    )
    return result.exit_code, result.output


def test_the_cli_maximum_lifetime_is_a_setting(key_file: Path) -> None:
    code, output = issue(
        key_file, "--role", "operator", "--hours", "48", env={"KONSORTIO_TOKEN_MAX_HOURS": "24"}
    )
    assert code == 2 and "at most 24" in output
    code, output = issue(
        key_file, "--role", "operator", "--hours", "24", env={"KONSORTIO_TOKEN_MAX_HOURS": "24"}
    )
    assert code == 0, output


def test_the_cli_issues_for_named_audiences(key_file: Path) -> None:
    code, output = issue(
        key_file, "--role", "coordinator", "--audience", "membership", "--audience", "procurement"
    )
    assert code == 0, output
    token = output.strip()
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == [
        "membership",
        "procurement",
    ]
    refused(at("outreach"), token)
    code, output = issue(key_file, "--role", "coordinator", "--audience", "nowhere")
    assert code == 2 and "unknown audience nowhere" in output
