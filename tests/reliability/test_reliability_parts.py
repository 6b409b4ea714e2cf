"""The suite's own pure parts, without a stack: the forged tokens really are refused by the
kit, poison covers every kind for every consumer, the log scan finds what it must and nothing
else, and the reconciliation's arithmetic."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import random
import socket
import struct
from pathlib import Path

import pytest

from contracts import TOPICS
from kit.auth import TokenVerifier, generate_keypair
from kit.errors import ApiError
from reliability import authz, badinput, poison, secrets, supplier
from reliability.ledger import Command, Outcome
from reliability.probes import consumed_topics, probe_for
from reliability.probes.base import AuthzContext, Subject, fill_path
from reliability.reconcile import Reconciliation
from reliability.stack import Stack
from services.catalogue.formats.readers import ParseFailure, read_records


@pytest.fixture
def keys() -> tuple[str, str]:
    return generate_keypair()


@pytest.fixture
def ctx(tmp_path: Path, keys: tuple[str, str]) -> AuthzContext:
    stack = Stack.create(tmp_path)
    stack.private_key = keys[0]
    stack.foreign_private_key, _ = generate_keypair()
    return AuthzContext(
        stack=stack,
        client=None,  # this part never uses the client
        own_isil="FI-Aown",
        other_isil="FI-Aoth",
        run_tag="t",
        today=dt.date(2026, 11, 25),
    )


def test_every_bad_token_is_refused_by_the_kit_and_every_good_one_accepted(
    ctx: AuthzContext, keys: tuple[str, str]
) -> None:
    verifier = TokenVerifier(keys[1])
    tokens = authz.tokens(ctx)
    assert set(tokens) == set(Subject.ALL)
    for subject in Subject.VALID:
        caller = verifier.verify(tokens[subject] or "")
        assert caller.role.value in subject or subject.startswith("library")
    for subject in (Subject.EXPIRED, Subject.TAMPERED, Subject.WRONG_KEY, Subject.ALG_NONE):
        with pytest.raises(ApiError) as refused:
            verifier.verify(tokens[subject] or "")
        assert refused.value.status == 401, subject
    assert tokens[Subject.NO_TOKEN] is None
    # The revoked subject is a good token until membership's token-revoked reaches a service.
    revoked = tokens[Subject.REVOKED] or ""
    verifier.verify(revoked)
    verifier.revoke(authz._claims(revoked)["jti"])
    with pytest.raises(ApiError) as refused:
        verifier.verify(revoked)
    assert refused.value.status == 401
    assert authz.tokens(ctx)[Subject.REVOKED] == revoked  # one per run


def test_paths_are_filled_with_the_fixtures_and_ids_that_name_nothing(ctx: AuthzContext) -> None:
    samples = {"kit_id": lambda c: "kit-1"}
    assert fill_path("/libraries/{isil}/history", ctx, {}) == "/libraries/FI-Aown/history"
    assert fill_path("/kits/{kit_id}/files/{file_id}", ctx, samples).startswith("/kits/kit-1/")


def test_poison_covers_every_kind_on_every_consumed_topic() -> None:
    consumers = {s: consumed_topics(s) for s in ("outreach", "dashboard", "procurement")}
    consumers = {s: t for s, t in consumers.items() if t}
    if not consumers:
        pytest.skip("no consumer services in this checkout")
    messages = poison.build(consumers)
    for topic in {t for topics in consumers.values() for t in topics}:
        kinds = {p.kind for p in messages if p.topic == topic}
        assert {
            "malformed-json",
            "unknown-type",
            "unknown-major-version",
            "missing-cloudevents-header",
            "schema-invalid",
            "one-megabyte",
            "business-rule",
        } <= kinds, topic
    big = next(p for p in messages if p.kind == "one-megabyte")
    assert len(big.message.value) > 1024 * 1024
    headless = next(p for p in messages if p.kind == "missing-cloudevents-header")
    assert "ce_id" not in dict(headless.message.headers)
    assert all(dict(p.message.headers)[poison.MARKER] for p in messages)


def test_each_topic_has_a_schema_valid_event_that_breaks_a_rule() -> None:
    events = poison.broken_rule_events("abc")
    assert set(events) == set(TOPICS)
    for event in events.values():
        again = type(event).model_validate_json(event.model_dump_json())  # schema-valid
        assert again.broken_rule()


def test_the_log_scan_finds_addresses_and_tokens_but_not_the_systems_own_domain(
    tmp_path: Path,
) -> None:
    log = tmp_path / "membership.log"
    log.write_text(
        '{"event": "sent", "message_id": "<abc@konsortio.localhost>"}\n'
        '{"event": "oops", "contact": "aino.virtanen@tornio.example"}\n'
        '{"event": "oops", "auth": "Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"}\n'
    )
    found = secrets.scan([log])
    assert [(f.line, f.kind) for f in found.findings] == [(2, "email"), (3, "jwt")]
    assert all(f.excerpt.endswith("…") and len(f.excerpt) <= 7 for f in found.findings)
    assert secrets.scan([log], {"membership.log": 0}, {"membership.log": 60}).findings == []


def test_catch_up_counts_only_effects_of_commands_made_before_the_fault_ended() -> None:
    rec = Reconciliation(timings=[(10.0, 11.0), (12.0, 40.0), (31.0, 90.0)])
    assert rec.catch_up_after(30.0) == 10.0
    assert rec.catch_up_after(50.0) == 40.0
    assert rec.longest_delay() == 59.0


def test_command_outcomes() -> None:
    def made(status: int | None) -> Command:
        return Command("c", "membership", "join", "FI-X", "member-joined", status=status)

    assert made(201).outcome is Outcome.OK and made(201).took_effect
    assert made(409).outcome is Outcome.REJECTED and not made(409).took_effect
    assert made(503).outcome is Outcome.UNKNOWN
    assert made(None).outcome is Outcome.UNKNOWN
    assert made(500).outcome is Outcome.SERVER_ERROR


def test_hostile_file_names_travel_unescaped() -> None:
    body, content_type = badinput.multipart(
        (("file", "notes\x00.exe.txt", b"x", "text/plain"),), (("language", "fi"),)
    )
    assert b'filename="notes\x00.exe.txt"' in body
    assert content_type.startswith("multipart/form-data; boundary=")


def test_upload_form_fields_are_filled_from_the_schema() -> None:
    document = {
        "components": {
            "schemas": {
                "Upload": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "language": {"enum": ["fi", "sv", "any"]},
                        "category": {"type": "string"},
                    },
                    "required": ["file", "language", "category"],
                }
            }
        }
    }
    body = {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/Upload"}}}
    assert badinput.form_fields(document, body) == ("file", {"language": "fi", "category": "x"})


def test_every_declared_probe_names_real_methods_and_paths() -> None:
    for service in ("membership", "procurement", "catalogue", "outreach", "dashboard"):
        for endpoint in probe_for(service).endpoints:
            assert endpoint.method in ("GET", "POST", "PUT", "PATCH", "DELETE")
            assert endpoint.path.startswith("/")
            assert endpoint.allowed <= set(Subject.ALL)


def test_only_a_resend_forced_by_a_sigkill_right_after_the_servers_reply_is_excused() -> None:
    from reliability.probes.outreach import killed_in_reply_window

    copies = [{"received_at": 100.0}, {"received_at": 170.0}]
    assert killed_in_reply_window(copies, [100.3])  # killed as the 250 came back
    # Killed right after writing the message, stamped by the sink's thread a moment later.
    assert killed_in_reply_window(copies, [99.9])
    assert not killed_in_reply_window(copies, [])  # no kill: a real duplicate
    assert not killed_in_reply_window(copies, [90.0])  # killed long before: a real duplicate
    assert not killed_in_reply_window(copies, [175.0])  # the second copy came before the kill


def test_only_takes_names_with_hyphens_or_underscores_and_repeat_names_each_run() -> None:
    from reliability.__main__ import chosen, parse

    args = parse(["--only", "database-restart,replay", "--only", "poison", "--repeat", "2"])
    assert args.only == ["database_restart", "replay", "poison"]
    runs = [(label, name) for label, name, _ in chosen(args)]
    # The suite's order, each scenario's runs one after another.
    assert runs == [
        ("database_restart#1", "database_restart"),
        ("database_restart#2", "database_restart"),
        ("replay#1", "replay"),
        ("replay#2", "replay"),
        ("poison#1", "poison"),
        ("poison#2", "poison"),
    ]
    assert [label for label, _, _ in chosen(parse(["--only", "replay"]))] == ["replay"]
    with pytest.raises(SystemExit):
        parse(["--only", "no-such-scenario"])
    with pytest.raises(SystemExit):
        parse(["--repeat", "0"])


def test_redeliveries_the_inbox_skipped_are_never_reported_as_duplicates() -> None:
    from reliability.faults import consumed_counts

    metrics = "\n".join(
        [
            'konsortio_consumer_messages_total{consumer="outreach",outcome="duplicate",'
            'topic="konsortio.membership"} 7.0',
            'konsortio_consumer_messages_total{consumer="outreach",outcome="handled",'
            'topic="konsortio.membership"} 3.0',
            'konsortio_consumer_messages_total{consumer="other",outcome="handled",'
            'topic="konsortio.membership"} 9.0',
        ]
    )
    counts = consumed_counts(metrics, "outreach")
    assert counts == {"redelivered_ignored": 7, "handled": 3}
    assert not any("duplicate" in key for key in counts)


def test_the_report_prints_the_time_of_every_scenario_run() -> None:
    from reliability.report import Report, ScenarioResult

    report = Report(mode="quick", services=[], started=dt.datetime(2026, 12, 6))
    report.scenarios = [
        ScenarioResult("database_restart#1", "3.", seconds=12.0),
        ScenarioResult("database_restart#2", "3.", seconds=13.5),
    ]
    report.seconds = 80.0
    text = report.timings()
    assert "database_restart#1" in text and "12.0 s" in text and "13.5 s" in text
    assert "25.5 s (whole run 80.0 s)" in text


@pytest.mark.parametrize("fmt", supplier.FORMATS)
def test_the_supplier_files_read_whole_and_the_cut_ones_say_the_rest_is_unread(fmt: str) -> None:
    """The premise of the cut-file scenario: each whole file reads to its end, and each cut
    one breaks inside a record, which the catalogue's reader reports as the rest unread."""
    whole = supplier.BUILDERS[fmt](123_400)
    options = {"default_language": "fin"} if fmt == "kbart" else {}
    read = list(read_records(io.BytesIO(whole), fmt, **options))
    assert len(read) == supplier.TITLES
    assert not any(isinstance(item, ParseFailure) and item.rest_unread for item in read)
    broken = list(read_records(io.BytesIO(supplier.cut(whole, fmt)), fmt, **options))
    assert 0 < len(broken) < supplier.TITLES
    last = broken[-1]
    assert isinstance(last, ParseFailure) and last.rest_unread, last


def test_the_twin_file_lists_every_title_twice_under_one_identifier() -> None:
    read = list(read_records(io.BytesIO(supplier.twin_products(123_400, titles=3)), "onix"))
    isbns = [item["020"]["a"] for item in read if not isinstance(item, ParseFailure)]
    assert len(isbns) == 6 and len(set(isbns)) == 3


def test_a_listing_that_moved_a_datestamp_or_withdrew_a_record_is_a_change() -> None:
    record = {
        "id": 1,
        "match_key": "9789520000001",
        "deleted": False,
        "datestamp": "2026-12-06T10:00:00Z",
        "changed_batch": "batch-a",
        "title": "Talvi",
    }
    assert supplier.moved([record], [dict(record)]) == []
    assert supplier.moved([record], [{**record, "datestamp": "2026-12-06T10:00:01Z"}])
    assert supplier.moved([record], [{**record, "deleted": True}])
    assert supplier.moved([record], [])
    assert supplier.moved([], [record])
    assert supplier.quiet({"unchanged": 5, "duplicate": 2, "rejected": 1})
    assert not supplier.quiet({"withdrawn": 1})


ST_OUTPUT_WITH_ERRORS = """\
 ✅  Fuzzing (in 189.49s)

==================================== ERRORS ====================================
______________________ POST /libraries/{isil}/acceptances ______________________
Runtime Error

AST constructor recursion depth mismatch (before=66, after=213)

    Traceback (most recent call last):
    SystemError: AST constructor recursion depth mismatch (before=66, after=213)
_______________________________ POST /agreements _______________________________
Runtime Error

Inconsistent results: A test case failed on the first run but now succeeds
        | SystemError: AST constructor recursion depth mismatch (before=207, after=140)
________________________________ GET /needs/{id} _______________________________
Runtime Error

Some other error
=================================== FAILURES ===================================
______________________________ POST /melinda/jobs ______________________________
AST constructor recursion depth mismatch (a failure section is not an error)
=================================== SUMMARY ====================================
"""


def test_operations_whose_generation_crashed_in_the_parser_are_named() -> None:
    assert badinput.parser_crashed_operations(ST_OUTPUT_WITH_ERRORS) == [
        "POST /libraries/{isil}/acceptances",
        "POST /agreements",
    ]
    assert badinput.parser_crashed_operations("=== SUMMARY ===\nNo issues found") == []


async def test_an_oversized_body_still_gets_its_answer_when_the_server_resets_mid_body() -> None:
    """A server refuses a body by answering and closing with the rest unread, and the kernel
    answers the bytes still coming with a reset, which a client may meet on its next write
    before it has read the answer. The probe must read the answer all the same."""
    refusal = (
        b"HTTP/1.1 413 Payload Too Large\r\ncontent-type: application/problem+json\r\n"
        b"content-length: 2\r\nconnection: close\r\n\r\n{}"
    )

    async def refuse_part_way(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        # How much is read before the refusal varies, so that some resets meet the client
        # mid-write (a few in ten with asyncio's streams) and some while it waits.
        to_read, read = random.randint(0, 4 << 20), 0
        while read < to_read and (data := await reader.read(65536)):
            read += len(data)
        writer.write(refusal)
        await writer.drain()
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a reset now, not a graceful close

    server = await asyncio.start_server(refuse_part_way, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = badinput.Probe(
        "outreach",
        "upload over the limit, chunked",
        "POST",
        "/kits/k/files",
        accept=(413,),
        oversize=64 << 20,
        declared=False,
        headers=(("content-type", "text/plain"),),
    )
    async with server:
        answers = await asyncio.gather(
            *(badinput.send_oversized(f"http://127.0.0.1:{port}", "t", probe) for _ in range(30)),
            return_exceptions=True,
        )
    assert [a if isinstance(a, BaseException) else a.status for a in answers] == [413] * 30
