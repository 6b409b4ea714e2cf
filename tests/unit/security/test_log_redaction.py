"""Logs: personal data and bearer tokens are masked by key name and by pattern."""

import io
import json
import logging
from contextlib import redirect_stdout

import pytest

from kit.auth import generate_keypair, issue_token
from kit.logging import configure_logging, get_logger, mask_text
from services.dashboard import domain


def _logged(**fields: object) -> str:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        configure_logging("test")
        get_logger("t").info("message", **fields)
    return buffer.getvalue()


def test_email_under_any_key_name_or_in_free_text_is_masked() -> None:
    line = _logged(
        contact_email="aino.virtanen@tornio.example",
        recipient_email="pekka@oulu.example",
        note="sent to liisa.k@kemi.example, then retried",
    )
    assert "tornio.example" not in line
    assert "oulu.example" not in line
    assert "kemi.example" not in line
    assert "then retried" in line
    assert json.loads(line)["note"] == "sent to [email], then retried"


def test_a_bearer_token_in_free_text_is_masked() -> None:
    private, _ = generate_keypair()
    token = issue_token(private, role="coordinator")
    line = _logged(detail=f"request with Authorization: Bearer {token} failed")
    assert token not in line
    assert token.split(".")[1] not in line
    assert "[token]" in line


def test_stdlib_log_lines_are_masked_too() -> None:
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        configure_logging("test")
        logging.getLogger("aiosmtplib").warning("rejected recipient aino@tornio.example")
    assert "tornio.example" not in buffer.getvalue()


def test_plain_text_is_left_alone() -> None:
    assert mask_text("Tornion kirjasto, 3 titles @ 2 € each") == (
        "Tornion kirjasto, 3 titles @ 2 € each"
    )


@pytest.mark.timeout(5)
def test_masking_is_linear_on_pathological_input() -> None:
    # A backtracking address pattern takes quadratic time on a long run without a match.
    for hostile in ("a" * 200_000 + "@", "a" * 200_000, "a@" * 100_000, "eyJ" * 100_000):
        domain.redact(hostile)
        mask_text(hostile)
