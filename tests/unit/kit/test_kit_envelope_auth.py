"""The CloudEvents envelope, tokens, and log redaction: pure, no I/O."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from contracts.membership import Contact, Library, LibraryNames, MemberJoined
from kit.auth import Role, TokenVerifier, generate_keypair, issue_token
from kit.envelope import PoisonMessage, decode, encode
from kit.errors import ApiError
from kit.logging import REDACTED, _redact


def joined() -> MemberJoined:
    return MemberJoined(
        library=Library(
            isil="FI-Tro",
            names=LibraryNames(fi="Tornio"),
            municipalities=["851"],
            population=21000,
            library_system="Koha",
            contacts=[Contact(name="Aino", email="aino@tornio.fi", role="d", language="fi")],
        ),
        joined_on=dt.date(2026, 1, 1),
        period=1,
    )


def as_received(headers: dict[str, str]) -> dict[str, bytes]:
    return {k: v.encode() for k, v in headers.items()}


def test_encode_uses_binary_mode_with_the_aggregate_key_and_trace_ids() -> None:
    message = encode(
        joined(), source="/konsortio/membership", correlation_id="c-1", causation_id="e-0"
    )
    assert message.topic == "konsortio.membership"
    assert message.key == "FI-Tro"
    assert message.headers["ce_type"] == "fi.konsortio.membership.member-joined.v1"
    assert message.headers["ce_specversion"] == "1.0"
    assert message.headers["content-type"] == "application/json"
    assert message.headers["ce_correlationid"] == "c-1"
    assert message.headers["ce_causationid"] == "e-0"
    assert json.loads(message.value)["library"]["isil"] == "FI-Tro"
    envelope = decode(as_received(message.headers), message.key.encode(), message.value)
    assert envelope.id == message.headers["ce_id"]
    assert envelope.key == "FI-Tro"
    assert (envelope.correlation_id, envelope.causation_id) == ("c-1", "e-0")
    assert MemberJoined.model_validate(envelope.data) == joined()


def test_a_chain_starts_with_its_own_id_as_correlation() -> None:
    message = encode(joined(), source="/x")
    assert message.headers["ce_correlationid"] == message.headers["ce_id"]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, v: ({k: x for k, x in h.items() if k != "ce_id"}, v), "ce_id"),
        (lambda h, v: ({k: x for k, x in h.items() if k != "ce_type"}, v), "ce_type"),
        (lambda h, v: ({**h, "ce_specversion": b"0.3"}, v), "specversion"),
        (lambda h, v: ({**h, "content-type": b"text/plain"}, v), "content-type"),
        (lambda h, v: (h, b'{"library": '), "malformed JSON"),
        (lambda h, v: (h, b"[1, 2]"), "object"),
        (lambda h, v: (h, b"\xff\xfe"), "malformed JSON"),
    ],
)
def test_decode_rejects_what_can_never_be_processed(mutate, reason: str) -> None:  # type: ignore[no-untyped-def]  # a test helper; pytest or the test gives its untyped parameters
    message = encode(joined(), source="/x")
    headers, value = mutate(as_received(message.headers), message.value)
    with pytest.raises(PoisonMessage, match=reason):
        decode(headers, b"FI-Tro", value)


def test_tokens_carry_role_and_isil_and_are_verified() -> None:
    private, public = generate_keypair()
    verifier = TokenVerifier(public)
    caller = verifier.verify(issue_token(private, role=Role.LIBRARY, isil="FI-Tro"))
    assert caller.role is Role.LIBRARY and caller.acts_for("FI-Tro")
    assert not caller.acts_for("FI-Ah")
    coordinator = verifier.verify(issue_token(private, role="coordinator"))
    assert not coordinator.acts_for("FI-Tro")  # the coordinator acts through `also=` roles
    with pytest.raises(ValueError):
        issue_token(private, role=Role.LIBRARY)
    with pytest.raises(ValueError):
        issue_token(private, role=Role.OPERATOR, isil="FI-Tro")
    other_private, _ = generate_keypair()
    for token in (
        issue_token(other_private, role=Role.COORDINATOR),
        issue_token(private, role=Role.COORDINATOR, issuer="someone-else"),
        issue_token(private, role=Role.COORDINATOR, now=dt.datetime(2000, 1, 1, tzinfo=dt.UTC)),
        "garbage",
    ):
        with pytest.raises(ApiError) as error:
            verifier.verify(token)
        assert error.value.status == 401


def test_personal_data_is_redacted_at_any_depth() -> None:
    event = {
        "event": "x",
        "library": {"isil": "FI-Tro", "contacts": [{"email": "a@b.fi"}]},
        "items": [{"email": "c@d.fi", "kind": "welcome"}],
        "Authorization": "Bearer abc",
    }
    redacted = _redact(event)
    assert redacted["library"] == {"isil": "FI-Tro", "contacts": REDACTED}
    assert redacted["items"] == [{"email": REDACTED, "kind": "welcome"}]
    assert redacted["Authorization"] == REDACTED
    assert "a@b.fi" not in json.dumps(redacted)
