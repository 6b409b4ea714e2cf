"""Scenario 6: bad HTTP input.

- schemathesis against every service's own OpenAPI document (examples, coverage and fuzzing
  phases, a valid coordinator token): no 5xx, and every documented response matches its
  schema. Run as the ``st`` CLI in a subprocess, with its JSON and HAR reports parsed here.
- Hand-made abuse of every endpoint that takes a body: bodies past the service's limit,
  declared and chunked; the wrong content type; malformed, deeply nested and non-UTF-8 JSON;
  and, on every upload endpoint, oversized files and hostile file names. Each must get a
  clear 4xx (problem+json from the app), never a 5xx.
"""

from __future__ import annotations

import asyncio
import glob
import importlib
import json
import re
import socket
import sys
import uuid
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx

from kit.auth import Role
from kit.settings import Settings
from reliability.authz import tokens as authz_tokens
from reliability.probes.base import AuthzContext, Subject, fill_path
from reliability.probes.base import Probe as ServiceProbe
from reliability.report import ScenarioResult
from reliability.suite import Suite

SCHEMATHESIS_TIMEOUT_S = 1800
# Operations per `st run`. Procurement's coordinator alone has about 60; in one run under a full
# run's data they took 1,480 s of the 1,800 s bound. Runs of at most this many keep every run
# far inside its bound without fewer cases.
OPERATIONS_PER_RUN = 20
# Each ends in an accepted extension with plain-text content, so only the name is at fault.
HOSTILE_FILE_NAMES = (
    "../../../../etc/passwd.txt",
    "..\\..\\..\\windows\\win.txt",
    "/etc/shadow.txt",
    "C:report.txt",
    "notes\x00.exe.txt",
    "<script>alert(1)</script>.txt",
    "report\u202etxt.exe.txt",
    ".htaccess.txt",
    "CON.txt",
    "x" * 4096 + ".txt",
)
UPLOAD_CONTENT = b"Kirjaston markkinointiohje.\n"


@dataclass(frozen=True)
class Limits:
    body: int
    upload: int
    upload_paths: tuple[str, ...]


def service_limits(service: str) -> Limits:
    """The body limits the service declares in its ServiceSpec. Building the app runs no
    lifespan (nothing connects), so reading them costs nothing."""
    module = importlib.import_module(f"services.{service}.app")
    app = module.build(Settings(service=service, jwt_public_key="unused"))
    spec = app.state.runtime.spec
    return Limits(spec.max_body_bytes, spec.upload_max_bytes, tuple(spec.upload_paths))


async def streaming_paths(suite: Suite, service: str) -> list[str]:
    """GET operations answering with ``text/event-stream`` (the OpenAPI document does not
    say so), found by asking each one and reading only the headers."""
    url = suite.stack.url(service)
    document = (await suite.client.get(f"{url}/openapi.json")).json()
    ctx = await suite.authz_context()
    token = suite.stack.token(Role.COORDINATOR)
    found = []
    for path, item in document.get("paths", {}).items():
        if "get" not in item:
            continue
        concrete = fill_path(path, ctx, suite.probes[service].path_samples)
        try:
            async with suite.client.stream(
                "GET", url + concrete, headers={"Authorization": f"Bearer {token}"}, timeout=10
            ) as response:
                if "text/event-stream" in response.headers.get("content-type", ""):
                    found.append(path)
        except httpx.HTTPError:
            continue
    return found


PREFERRED_ACTORS = (
    Subject.COORDINATOR,
    Subject.PROCUREMENT,
    Subject.CATALOGUER,
    Subject.OPERATOR,
    Subject.LIBRARY_OWN,
)


def actor(probe: ServiceProbe, method: str, path: str) -> str:
    """Who calls an endpoint with bad input: someone the spec lets in (a coordinator where
    possible), so the input, not the token, decides the answer."""
    allowed = next(
        (e.allowed for e in probe.endpoints if (e.method, e.path) == (method, path)), None
    )
    if not allowed:
        return Subject.COORDINATOR
    return next((s for s in PREFERRED_ACTORS if s in allowed), Subject.COORDINATOR)


async def schemathesis(suite: Suite, service: str, out: Path) -> dict[str, Any]:
    """Run ``st run`` against one service, once per role that the operations need (each run
    limited to the operations that role may call); return cases, failures and 5xx answers."""
    url = suite.stack.url(service)
    document = (await suite.client.get(f"{url}/openapi.json")).json()
    # An event stream never ends: every generated case would wait for the request timeout.
    # Streams get the authorization matrix (status only) instead.
    streams = set(await streaming_paths(suite, service))
    groups: dict[str, list[str]] = {}
    for method, path, _ in _operations(document):
        if path not in streams:
            who = actor(suite.probes[service], method, path)
            groups.setdefault(who, []).append(f"{method} {path}")
    tokens = authz_tokens(await suite.authz_context())
    runs: dict[str, dict[str, Any]] = {}
    for who, names in sorted(groups.items()):
        for part, first in enumerate(range(0, len(names), OPERATIONS_PER_RUN), start=1):
            label = f"{who} {part}"
            folder = out / f"{who.split(' ')[0]}-{part}"
            await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
            chunk = names[first : first + OPERATIONS_PER_RUN]
            run = await _st_run(suite, url, str(tokens[who]), chunk, folder)
            runs[label] = run
            if crashed := run.get("parser_crashed"):
                # The interpreter's parser failed inside Hypothesis, not the API: those
                # operations go again on their own, so none of them is left untested.
                retry = folder / "again"
                await asyncio.to_thread(retry.mkdir, parents=True, exist_ok=True)
                runs[f"{label} again"] = await _st_run(suite, url, str(tokens[who]), crashed, retry)
    merged: dict[str, Any] = {"runs": runs}
    runs_list = list(runs.values())
    for key in ("operations", "cases", "requests"):
        merged[key] = sum(r.get(key, 0) for r in runs_list)
    for key in ("server_errors", "unavailable_503", "schema_violations", "failures", "errors"):
        merged[key] = [item for r in runs_list for item in r.get(key, [])]
    broken = [r["error"] for r in runs_list if "error" in r]
    if broken:
        merged["error"] = "; ".join(broken)
    merged["excluded_streams"] = sorted(streams)
    return merged


async def _st_run(
    suite: Suite, url: str, token: str, operations: list[str], out: Path
) -> dict[str, Any]:
    st = Path(sys.executable).with_name("st")
    command = [
        str(st),
        "run",
        f"{url}/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        *(arg for name in operations for arg in ("--include-name", name)),
        "--max-examples",
        str(suite.mode.schemathesis_examples),
        "--checks",
        "not_a_server_error,response_schema_conformance",
        "--phases",
        suite.mode.schemathesis_phases,
        "--suppress-health-check",
        "all",
        "--seed",
        str(suite.rng.randrange(2**31)),
        "--workers",
        "2",
        "--request-timeout",
        "20",
        "--report",
        "json,har",
        "--report-dir",
        str(out),
        "--no-shrink",
        # Each run starts in a fresh folder, so an example database is never read again; and
        # with one, Hypothesis spends its time optimising the Pareto front of the targets
        # schemathesis sets (success rate per operation): py-spy put 94% of st's CPU there,
        # and 5,285 requests in 30 minutes against membership. Without it, the same examples
        # per operation are generated and sent.
        "--generation-database",
        "none",
    ]
    process = await asyncio.create_subprocess_exec(
        *command,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=out,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), SCHEMATHESIS_TIMEOUT_S)
    except TimeoutError:
        process.kill()
        await process.wait()
        return {"error": f"schemathesis took over {SCHEMATHESIS_TIMEOUT_S}s"}
    return await asyncio.to_thread(_read_reports, out, output, process.returncode, url)


def _read_reports(out: Path, output: bytes, exit_code: int | None, url: str) -> dict[str, Any]:
    (out / "output.txt").write_bytes(output)
    reports = sorted(glob.glob(str(out / "json-*.json")))
    hars = sorted(glob.glob(str(out / "har-*.json")))
    if not reports or not hars:
        return {"error": f"no report (exit {exit_code}): {output.decode()[-500:]}"}
    run = json.loads(Path(reports[-1]).read_text())
    entries = json.loads(Path(hars[-1]).read_text())["log"]["entries"]
    statuses = Counter(e["response"]["status"] for e in entries)
    answers = [
        (
            e["response"]["status"],
            f"{e['request']['method']} {e['request']['url'].removeprefix(url)}",
        )
        for e in entries
    ]
    # A 503 names a dependency that is not there (the stack configures no Melinda, for
    # one): honest, and counted apart. Every other 5xx is a bug.
    server_errors = [
        f"{what} -> {status}" for status, what in answers if status >= 500 and status != 503
    ]
    unavailable = sorted({what for status, what in answers if status == 503})
    failures = [
        f"{f['title']} ({f['code']}) x{f['count']}: {', '.join(f['operations'])}"
        for f in run.get("failures", [])
    ]
    return {
        "operations": run["operations"]["tested"],
        "cases": run["test_cases"]["generated"],
        "requests": len(entries),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "server_errors": server_errors,
        "unavailable_503": unavailable[:20],
        "schema_violations": [f for f in failures if "schema" in f.lower()],
        "failures": failures,
        "errors": [str(e)[:300] for e in run.get("errors", [])],
        "parser_crashed": parser_crashed_operations(output.decode(errors="replace")),
        "warnings": {k: v for k, v in run.get("warnings", {}).items() if v},
        "exit_code": exit_code,
    }


# CPython 3.11's AST constructor can fail this way when two threads parse at once
# (python/cpython#106905); `st --workers 2` does, through Hypothesis's lambda descriptions.
PARSER_CRASH = "AST constructor recursion depth mismatch"
_OPERATION_HEADER = re.compile(r"^_{3,} ([A-Z]+ /\S*) _{3,}$")


def parser_crashed_operations(output: str) -> list[str]:
    """The operations ``st run`` reported as errored by ``PARSER_CRASH``, from its console
    output's ERRORS section (the JSON report counts errors without naming them)."""
    if "=== ERRORS ===" not in output:
        return []
    section = output.split("=== ERRORS ===", 1)[1]
    section = re.split(r"^=+ [A-Z]+ =+$", section, maxsplit=1, flags=re.MULTILINE)[0]
    crashed: list[str] = []
    operation: str | None = None
    for line in section.splitlines():
        if match := _OPERATION_HEADER.match(line.strip()):
            operation = match.group(1)
        elif operation and PARSER_CRASH in line and operation not in crashed:
            crashed.append(operation)
    return crashed


@dataclass(frozen=True)
class Probe:
    """One hand-made bad request and what must come back."""

    service: str
    label: str
    method: str
    path: str
    accept: tuple[int, ...] | None = None  # exact statuses; None: any 4xx
    ok_2xx: bool = False  # a 2xx is fine too (a hostile name the endpoint ignores)
    content: bytes | None = None
    # Send this many bytes past the limit over a raw socket, with a Content-Length or
    # chunked; the answer is read while sending, as a client would see an early 413.
    oversize: int = 0
    declared: bool = True
    subject: str = Subject.COORDINATOR  # who calls: someone the spec lets in
    headers: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str, bytes, str], ...] = ()  # (field, name, content, type)
    form: tuple[tuple[str, str], ...] = ()  # the other form fields of an upload
    params: tuple[tuple[str, str], ...] = ()  # query parameters


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, op)
        for path, item in document.get("paths", {}).items()
        for method, op in item.items()
        if method in ("get", "post", "put", "patch", "delete")
    ]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        node: Any = document
        for part in schema["$ref"].lstrip("#/").split("/"):
            node = node[part]
        schema = node
    return schema


def form_fields(document: dict[str, Any], body: dict[str, Any]) -> tuple[str, dict[str, str]]:
    """The file field of a multipart body, and valid values for its other required fields
    (an enum's first value, else a short string), so only the file decides the answer."""
    schema = _resolve(document, body["multipart/form-data"].get("schema", {}))
    properties = schema.get("properties", {})
    file_field = next(
        (
            name
            for name, p in properties.items()
            if p.get("format") == "binary"
            or p.get("contentMediaType") == "application/octet-stream"
        ),
        next(iter(properties), "file"),
    )
    fields = {}
    for name in schema.get("required", []):
        if name == file_field:
            continue
        prop = _resolve(document, properties.get(name, {}))
        options = prop.get("enum") or [
            v for alt in prop.get("anyOf", []) for v in _resolve(document, alt).get("enum", [])
        ]
        fields[name] = str(options[0]) if options else "x"
    return file_field, fields


def probes_for(
    service: str,
    document: dict[str, Any],
    limits: Limits,
    ctx: AuthzContext,
    probe: ServiceProbe,
    full: bool,
) -> list[Probe]:
    probes: list[Probe] = []
    for method, template, op in _operations(document):
        body = op.get("requestBody", {}).get("content", {})
        if body:
            who = actor(probe, method, template)
            made = _for_operation(
                service, document, limits, ctx, probe, full, method, template, body
            )
            probes += [replace(p, subject=who) for p in made]
    return probes


def _for_operation(
    service: str,
    document: dict[str, Any],
    limits: Limits,
    ctx: AuthzContext,
    probe: ServiceProbe,
    full: bool,
    method: str,
    template: str,
    body: dict[str, Any],
) -> list[Probe]:
    probes: list[Probe] = []
    path = fill_path(template, ctx, probe.path_samples)
    upload = "multipart/form-data" in body
    limited = any(path.startswith(p) for p in limits.upload_paths)
    limit = limits.upload if limited else limits.body
    big = limit + 64 * 1024
    where = f"{method} {template}"
    json_type = (("content-type", "application/json"),)
    query = probe.upload_query.get(template)
    params = tuple(query(ctx).items()) if upload and query else ()
    if not upload or full:
        probes.append(
            Probe(
                service,
                f"{where}: body over the {limit} B limit, declared",
                method,
                path,
                accept=(413,),
                params=params,
                oversize=big,
                headers=json_type,
            )
        )
        probes.append(
            Probe(
                service,
                f"{where}: body over the limit, chunked",
                method,
                path,
                # A JSON body to an upload endpoint is refused for its type before a byte
                # of it is read (415); anywhere else it is read until the limit cuts it (413).
                # An upload whose required query this probe does not fill, or whose path
                # names no existing resource, is refused for that first (422, 404), also
                # before its body is read.
                # A raw body to a path that names no existing resource (404), or without a
                # query the endpoint requires (422), may be refused before a byte is read.
                accept=((415,) if params else (404, 415, 422)) if upload else (404, 413, 422),
                params=params,
                oversize=big,
                declared=False,
                headers=json_type,
            )
        )
    if upload:
        field, fields = form_fields(document, body)
        form = tuple(fields.items())
        if full:
            for declared in (True, False):
                probes.append(
                    Probe(
                        service,
                        f"{where}: upload over the {limit} B limit, "
                        + ("declared" if declared else "chunked"),
                        method,
                        path,
                        accept=(413,),
                        params=params,
                        oversize=big,
                        declared=declared,
                        form=form,
                        files=((field, "big.txt", b"", "text/plain"),),
                    )
                )
        for name in HOSTILE_FILE_NAMES:
            shown = name if len(name) < 60 else name[:20] + f"...({len(name)} chars)"
            probes.append(
                Probe(
                    service,
                    f"{where}: hostile file name {shown!r}",
                    method,
                    path,
                    ok_2xx=template in probe.uploads_ignoring_filename,
                    form=form,
                    params=params,
                    files=((field, name, UPLOAD_CONTENT, "text/plain"),),
                )
            )
        # Awkward content under an ordinary name: the answer may be a 2xx or a 4xx (the
        # service decides what it accepts), never a 5xx.
        for label, content in (
            ("a bare CR inside a field", b"isil,name_fi\nFI-Cr,Kir\rjasto\n"),
            ("a 200 kB field", b"isil,name_fi\nFI-Big," + b"x" * 200_000 + b"\n"),
            ("invalid UTF-8", b"isil,name_fi\nFI-Bad,\xff\xfe\n"),
        ):
            probes.append(
                Probe(
                    service,
                    f"{where}: file with {label}",
                    method,
                    path,
                    ok_2xx=True,
                    form=form,
                    params=params,
                    files=((field, "libraries.txt", content, "text/plain"),),
                )
            )
        probes.append(
            Probe(
                service,
                f"{where}: JSON instead of multipart",
                method,
                path,
                accept=(415,),
                params=params,
                content=b'{"file": "x"}',
                headers=json_type,
            )
        )
        return probes
    probes += [
        Probe(
            service,
            f"{where}: text/plain body",
            method,
            path,
            content=b"hello",
            headers=(("content-type", "text/plain"),),
        ),
        Probe(
            service,
            f"{where}: XML body",
            method,
            path,
            content=b"<library/>",
            headers=(("content-type", "application/xml"),),
        ),
        Probe(
            service,
            f"{where}: malformed JSON",
            method,
            path,
            content=b'{"isil": ',
            headers=json_type,
        ),
        Probe(
            service,
            f"{where}: JSON nested 50,000 deep",
            method,
            path,
            content=b"[" * 50_000 + b"]" * 50_000,
            headers=json_type,
        ),
        Probe(
            service,
            f"{where}: invalid UTF-8",
            method,
            path,
            content=b'{"isil": "\xff\xfe"}',
            headers=json_type,
        ),
    ]
    return probes


def multipart(
    files: tuple[tuple[str, str, bytes, str], ...], form: tuple[tuple[str, str], ...]
) -> tuple[bytes, str]:
    """A multipart body written by hand: HTTP clients escape control characters in file
    names, and the point is to send the hostile name exactly as an attacker would."""
    boundary = uuid.uuid4().hex
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in form
    ]
    for field, filename, content, kind in files:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="'.encode()
            + filename.encode()
            + f'"\r\nContent-Type: {kind}\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str


async def send_oversized(base: str, token: str, probe: Probe) -> Answer:
    """A body past the limit, over a raw socket: the request line and headers, a moment for
    an early answer (a declared length is refused at once), then bytes while the answer is
    awaited. An HTTP client would insist on sending all of it (up to half a gigabyte) before
    reading the 413. An upload is a real multipart stream whose file part never ends, so
    the size limit, not the form parser, must be what stops it.

    A server that refuses a body closes the connection with the rest unread, and the kernel
    answers the bytes still coming with a reset. The answer sent before it is still in this
    side's receive buffer, so a failed write only stops the sending, and the answer is read
    after it, as httpcore does. asyncio's streams would drop the connection, unread answer
    and all, on the first failed write; the loop's socket calls keep reading and writing
    apart."""
    url = httpx.URL(base + probe.path, params=dict(probe.params))
    headers = list(probe.headers)
    preamble = b""
    if probe.files:
        opening, content_type = multipart(probe.files, probe.form)
        preamble = opening[: opening.rindex(b"\r\n--")]  # no closing boundary: it goes on
        headers.append(("content-type", content_type))
    lines = [
        f"{probe.method} {url.raw_path.decode()} HTTP/1.1",
        f"Host: {url.host}:{url.port}",
        f"Authorization: Bearer {token}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
        f"Content-Length: {probe.oversize}" if probe.declared else "Transfer-Encoding: chunked",
    ]
    loop = asyncio.get_running_loop()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setblocking(False)
        await loop.sock_connect(sock, (url.host, url.port or 80))
        await loop.sock_sendall(sock, ("\r\n".join(lines) + "\r\n\r\n").encode())

        def frame(part: bytes) -> bytes:
            return part if probe.declared else b"%x\r\n%s\r\n" % (len(part), part)

        async def read_head() -> bytes:
            received = b""
            while b"\r\n\r\n" not in received:
                data = await loop.sock_recv(sock, 65536)
                if not data:
                    raise ConnectionError(f"closed after {len(received)} B, before an answer")
                received += data
            return received.split(b"\r\n\r\n", 1)[0]

        answer = asyncio.create_task(read_head())

        async def pump() -> None:
            # A service that refuses by the headers alone answers before any body byte.
            await asyncio.wait({answer}, timeout=2)
            if answer.done():
                return
            parts = [frame(preamble)] if preamble else []
            chunk, sent = b"x" * 65536, len(preamble)
            try:
                for part in parts:
                    await loop.sock_sendall(sock, part)
                while sent < probe.oversize and not answer.done():
                    part = chunk[: min(len(chunk), probe.oversize - sent)]
                    await loop.sock_sendall(sock, frame(part))
                    sent += len(part)
                if not probe.declared and not answer.done():
                    await loop.sock_sendall(sock, b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server stopped reading; its answer is read all the same

        pumping = asyncio.create_task(pump())
        try:
            head = await asyncio.wait_for(answer, 120)
        finally:
            pumping.cancel()
            await asyncio.gather(pumping, return_exceptions=True)
    status = int(head.split(b" ", 2)[1])
    content_type = next(
        (
            line.split(b":", 1)[1].strip().decode()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-type:")
        ),
        "",
    )
    return Answer(status, content_type)


async def send(client: httpx.AsyncClient, base: str, token: str, probe: Probe) -> Answer:
    headers = {"Authorization": f"Bearer {token}", **dict(probe.headers)}
    if probe.oversize:
        return await send_oversized(base, token, probe)
    if probe.files:
        content, content_type = multipart(probe.files, probe.form)
        headers["content-type"] = content_type
        response = await client.request(
            probe.method,
            base + probe.path,
            content=content,
            params=dict(probe.params),
            headers=headers,
        )
    else:
        response = await client.request(
            probe.method,
            base + probe.path,
            content=probe.content,
            params=dict(probe.params),
            headers=headers,
        )
    return Answer(response.status_code, response.headers.get("content-type", ""))


def verdict(probe: Probe, answer: Answer | None, error: str | None) -> str | None:
    """None when the answer is right, else what is wrong with it."""
    if answer is None:
        return f"no answer: {error}"
    status = answer.status
    if probe.ok_2xx and 200 <= status < 300:
        return None
    if probe.accept is not None and status not in probe.accept:
        return f"got {status}, want {probe.accept}"
    if not 400 <= status < 500:
        return f"got {status}, want a 4xx"
    if "problem+json" not in answer.content_type:
        return f"got {status} as {answer.content_type}, not problem+json"
    return None


async def bad_input(suite: Suite) -> ScenarioResult:
    stack = suite.stack
    result = ScenarioResult("http_bad_input", "6. HTTP bad input")
    client = suite.client
    ctx = await suite.authz_context()
    tokens = authz_tokens(ctx)
    # Services are probed two at a time, and each one's hand-made requests four at a time:
    # they are independent, and one by one the scenario spent most of its time waiting.
    services_gate, requests_gate = asyncio.Semaphore(2), asyncio.Semaphore(4)

    async def attempt(service: str, probe: Probe) -> tuple[Probe, str | None, int | None]:
        answer, error = None, None
        async with requests_gate:
            try:
                answer = await send(client, stack.url(service), str(tokens[probe.subject]), probe)
            except (httpx.HTTPError, OSError, EOFError, ValueError, IndexError) as failure:
                error = repr(failure)
        status = answer.status if answer is not None else None
        return probe, verdict(probe, answer, error), status

    async def one_service(
        service: str,
    ) -> tuple[list[tuple[Probe, str | None, int | None]], dict[str, Any]]:
        async with services_gate:
            document = (await client.get(f"{stack.url(service)}/openapi.json")).json()
            limits = service_limits(service)
            knowledge = suite.probes[service]
            full = suite.mode.upload_limit_probe
            probes = probes_for(service, document, limits, ctx, knowledge, full)
            answers = await asyncio.gather(*(attempt(service, p) for p in probes))
            report = await schemathesis(suite, service, stack.root / "schemathesis" / service)
            return list(answers), report

    outcomes = await asyncio.gather(*(one_service(s) for s in stack.services))
    per_service: dict[str, Any] = {}
    handmade: list[tuple[Probe, str | None, int | None]] = []
    for service, (answers, report) in zip(stack.services, outcomes, strict=True):
        handmade += answers
        per_service[service] = report

    cases = sum(r.get("cases", 0) for r in per_service.values())
    server_errors = [
        f"{s}: {e}" for s, r in per_service.items() for e in r.get("server_errors", [])
    ]
    violations = [
        f"{s}: {v}" for s, r in per_service.items() for v in r.get("schema_violations", [])
    ]
    broken = [f"{s}: {r['error']}" for s, r in per_service.items() if "error" in r]
    # Server errors and schema violations are counted from the HAR and the report above.
    other = [
        f"{s}: {f}"
        for s, r in per_service.items()
        for f in r.get("failures", [])
        if "schema" not in f.lower() and "server error" not in f.lower()
    ]
    result.zero("schemathesis runs that did not complete", broken)
    result.check(
        "schemathesis generated cases for every service",
        all(r.get("cases", 0) > 0 for r in per_service.values()),
        ", ".join(f"{s}: {r.get('cases', 0)}" for s, r in per_service.items()),
    )
    result.zero("schemathesis 5xx responses", server_errors, examples=5)
    result.zero("schemathesis response schema violations", violations)
    result.zero("schemathesis other failures", other)
    wrong = [f"{p.service} {p.label}: {v}" for p, v, _ in handmade if v]
    result.zero("hand-made bad requests without a clear 4xx", wrong, examples=8)
    handmade_5xx = [p for p, _, status in handmade if status is not None and status >= 500]
    result.figures.update(
        {
            "schemathesis_cases": cases,
            "schemathesis_5xx": len(server_errors),
            "schemathesis_schema_violations": len(violations),
            "schemathesis_examples_per_operation": suite.mode.schemathesis_examples,
            "schemathesis": per_service,
            "handmade_cases": len(handmade),
            "handmade_wrong": len(wrong),
            "http_5xx": len(server_errors) + len(handmade_5xx),
            "handmade": [
                {"service": p.service, "case": p.label, "status": status, "problem": v}
                for p, v, status in handmade
            ],
            "summary": f"{cases} schemathesis cases, {len(server_errors)} 5xx; "
            f"{len(handmade)} hand-made, {len(wrong)} wrong",
        }
    )
    suite.check_crashes(result)
    return result
