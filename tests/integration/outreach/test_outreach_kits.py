"""Marketing kits over HTTP: upload (coordinator), list and download (members and staff);
size, type and name checks answer a 4xx problem naming the field, and write nothing."""

from __future__ import annotations

import hashlib
import io
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest

from kit.auth import Role
from tests.conftest import Infra
from tests.integration.conftest import auth
from tests.integration.outreach.conftest import (
    KIT_MAX_BYTES,
    Outreach,
    joined,
    library,
    members_known,
    publish,
    unique_isil,
)

pytestmark = pytest.mark.integration

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
SVG = (
    b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 4 4"><rect width="4" height="4"/></svg>'
)


def docx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


def coordinator(infra: Infra) -> dict[str, str]:
    return auth(infra.token(Role.COORDINATOR))


async def new_kit(infra: Infra, outreach: Outreach) -> dict[str, Any]:
    response = await outreach.client.post(
        "/kits",
        json={"title": "Testipaketti", "product": f"Tuote {uuid.uuid4().hex[:6]}"},
        headers=coordinator(infra),
    )
    assert response.status_code == 201, response.text
    return response.json()


async def post_file(
    infra: Infra,
    outreach: Outreach,
    kit_id: str,
    name: str,
    content: bytes,
    language: str = "fi",
    category: str = "poster",
    headers: dict[str, str] | None = None,
) -> Any:
    return await outreach.client.post(
        f"/kits/{kit_id}/files",
        files={"file": (name, content, "application/pdf")},  # the client's type is ignored
        data={"language": language, "category": category},
        headers=headers or coordinator(infra),
    )


def stored_files(outreach: Outreach) -> set[Path]:
    return {p for p in outreach.storage_dir.rglob("*") if p.is_file()}


async def kit_file_rows(outreach: Outreach, kit_id: str) -> int:
    return await outreach.pool.fetchval(
        "SELECT count(*) FROM kit_files WHERE kit_id = $1", uuid.UUID(kit_id)
    )


def problem(response: Any, status: int, field: str) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["errors"][0]["field"] == field, body
    return body["detail"]


async def test_upload_list_and_download_with_checksums(
    infra: Infra, outreach_own: Outreach
) -> None:
    kit = await new_kit(infra, outreach_own)
    uploads = {
        ("juliste.pdf", "fi"): (b"%PDF-1.7 juliste", "application/pdf"),
        ("affisch.pdf", "sv"): (b"%PDF-1.7 affisch", "application/pdf"),
        ("logo.png", "any"): (PNG, "image/png"),
        ("somepostaus.txt", "fi"): ("Lue e-kirjoja! 📚\n".encode(), "text/plain; charset=utf-8"),
        ("ohje.md", "sv"): (b"# Guide\n", "text/markdown; charset=utf-8"),
        (
            "opas.docx",
            "fi",
        ): (
            docx(),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        ),
    }
    for (name, language), (content, content_type) in uploads.items():
        response = await post_file(infra, outreach_own, kit["id"], name, content, language)
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["sha256"] == hashlib.sha256(content).hexdigest()
        assert (body["size"], body["content_type"]) == (len(content), content_type)

    member = unique_isil("FI-K")
    await publish(infra, joined(library(member)))
    await members_known(outreach_own, member)
    readers = {
        "member library": auth(infra.token(Role.LIBRARY, member)),
        "cataloguer": auth(infra.token(Role.CATALOGUER)),
    }
    for headers in readers.values():
        listed = await outreach_own.client.get(
            "/kits", params={"product": kit["product"]}, headers=headers
        )
        assert listed.status_code == 200, listed.text
        [only] = listed.json()["items"]
        assert len(only["files"]) == len(uploads)
    png = next(f for f in only["files"] if f["filename"] == "logo.png")
    download = await outreach_own.client.get(png["url"], headers=readers["member library"])
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-disposition"].startswith("attachment")
    assert download.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in download.headers["content-security-policy"]
    assert download.headers["x-checksum-sha256"] == hashlib.sha256(PNG).hexdigest()

    outsider = auth(infra.token(Role.LIBRARY, unique_isil("FI-N")))
    assert (await outreach_own.client.get(png["url"], headers=outsider)).status_code == 403
    assert (await outreach_own.client.get(png["url"])).status_code == 401
    not_ours = await outreach_own.client.post(
        "/kits", json={"title": "x", "onboarding": True}, headers=readers["member library"]
    )
    assert not_ours.status_code == 403


async def test_uploads_over_the_size_limit_are_refused_with_413(
    infra: Infra, outreach_own: Outreach
) -> None:
    kit = await new_kit(infra, outreach_own)
    before = stored_files(outreach_own)
    just_over = b"%PDF-1.7 " + b"x" * KIT_MAX_BYTES
    problem(await post_file(infra, outreach_own, kit["id"], "iso.pdf", just_over), 413, "file")
    # Far over: the body limit refuses it before any of it is parsed.
    huge = b"%PDF-1.7 " + b"x" * (KIT_MAX_BYTES + 200 * 1024)
    response = await post_file(infra, outreach_own, kit["id"], "valtava.pdf", huge)
    assert response.status_code == 413
    assert stored_files(outreach_own) == before
    assert await kit_file_rows(outreach_own, kit["id"]) == 0
    exactly = b"%PDF-1.7 " + b"x" * (KIT_MAX_BYTES - 9)
    ok = await post_file(infra, outreach_own, kit["id"], "raja.pdf", exactly)
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    ("name", "content", "status", "field"),
    [
        ("ohjelma.exe", b"MZ\x90\x00", 415, "file.filename"),
        ("sivu.html", b"<html></html>", 415, "file.filename"),
        ("kuva.pdf", PNG, 415, "file"),  # a PNG under a PDF name
        ("teksti.txt", PNG, 415, "file"),
        ("asiakirja.docx", b"PK\x03\x04 not a zip", 415, "file"),
        (
            "logo.svg",
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            415,
            "file.filename",
        ),
        ("logo.svg", SVG, 415, "file.filename"),
        ("tyhja.txt", b"", 422, "file"),
    ],
)
async def test_types_are_checked_by_extension_and_by_content(
    infra: Infra, outreach_own: Outreach, name: str, content: bytes, status: int, field: str
) -> None:
    kit = await new_kit(infra, outreach_own)
    before = stored_files(outreach_own)
    problem(await post_file(infra, outreach_own, kit["id"], name, content), status, field)
    assert stored_files(outreach_own) == before
    assert await kit_file_rows(outreach_own, kit["id"]) == 0


def raw_multipart(filename: bytes, content: bytes) -> tuple[bytes, dict[str, str]]:
    """A hand-made body, so that control bytes reach the server as they are (httpx would
    percent-encode some of them)."""
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="language"\r\n\r\nfi\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="category"\r\n\r\nposter\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="'
        + filename
        + b'"\r\nContent-Type: application/pdf\r\n\r\n'
        + content
        + b"\r\n--XyZ--\r\n"
    )
    return body, {"content-type": "multipart/form-data; boundary=XyZ"}


@pytest.mark.parametrize(
    "filename",
    [
        b"../../etc/passwd.pdf",
        b"..\\..\\windows\\win.ini.pdf",
        b"/etc/cron.d/evil.pdf",
        b"kuva\x01.pdf",
        b"esc\x1b[2J.pdf",
        b"del\x7f.pdf",
        "rtl\u202efdp.txt".encode(),
        b".htaccess.pdf",
    ],
)
async def test_malicious_file_names_are_refused_and_nothing_is_written(
    infra: Infra, outreach_own: Outreach, filename: bytes
) -> None:
    kit = await new_kit(infra, outreach_own)
    before = stored_files(outreach_own)
    body, headers = raw_multipart(filename, b"%PDF-1.7 harmless")
    response = await outreach_own.client.post(
        f"/kits/{kit['id']}/files", content=body, headers={**headers, **coordinator(infra)}
    )
    problem(response, 422, "file.filename")
    assert stored_files(outreach_own) == before
    assert not list(outreach_own.storage_dir.parent.glob("etc*"))
    assert await kit_file_rows(outreach_own, kit["id"]) == 0


async def test_a_body_that_is_not_multipart_is_refused_as_its_media_type(
    infra: Infra, outreach_own: Outreach
) -> None:
    kit = await new_kit(infra, outreach_own)
    response = await outreach_own.client.post(
        f"/kits/{kit['id']}/files", json={"file": "x"}, headers=coordinator(infra)
    )
    assert "multipart/form-data" in problem(response, 415, "content-type")
    assert await kit_file_rows(outreach_own, kit["id"]) == 0
    # The caller's role is still checked first.
    response = await outreach_own.client.post(f"/kits/{kit['id']}/files", json={"file": "x"})
    assert response.status_code == 401


async def test_form_errors_name_their_field(infra: Infra, outreach_own: Outreach) -> None:
    kit = await new_kit(infra, outreach_own)
    content = b"%PDF-1.7 x"
    problem(
        await post_file(infra, outreach_own, kit["id"], "a.pdf", content, language="en"),
        422,
        "language",
    )
    problem(
        await post_file(infra, outreach_own, kit["id"], "a.pdf", content, category="meme"),
        422,
        "category",
    )
    problem(
        await post_file(infra, outreach_own, str(uuid.uuid4()), "a.pdf", content), 404, "kit_id"
    )
    assert (await post_file(infra, outreach_own, kit["id"], "a.pdf", content)).status_code == 201
    problem(
        await post_file(infra, outreach_own, kit["id"], "a.pdf", b"%PDF-1.7 other"),
        409,
        "file.filename",
    )
    assert (
        await post_file(infra, outreach_own, kit["id"], "a.pdf", content, language="sv")
    ).status_code == 201
    problem(
        await outreach_own.client.post("/kits", json={"title": "x"}, headers=coordinator(infra)),
        422,
        "body",
    )
    library_token = auth(infra.token(Role.LIBRARY, "FI-Tro"))
    response = await post_file(
        infra, outreach_own, kit["id"], "b.pdf", content, headers=library_token
    )
    assert response.status_code == 403
