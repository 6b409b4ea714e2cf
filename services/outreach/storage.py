"""Marketing-kit files on disk, content-addressed: a file lives at ``<root>/<aa>/<sha256>``.

No name a user chose ever becomes part of a path, so an upload cannot escape the directory,
and two kits sharing a logo share one copy. Uploads are written to ``<root>/tmp`` first and
moved into place with an atomic rename, so a reader never sees half a file.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
CHUNK = 1024 * 1024


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the file may be at most {limit} bytes")
        self.limit = limit


class ChecksumMismatch(Exception):
    """A stored file no longer has the checksum it was stored under."""


@dataclass(frozen=True)
class Received:
    """An upload copied to the storage's temporary area, with its checksum and size."""

    path: Path
    sha256: str
    size: int


class KitStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def ensure(self) -> None:
        (self.root / "tmp").mkdir(parents=True, exist_ok=True)

    def path_for(self, sha256: str) -> Path:
        if not SHA256_HEX.match(sha256):
            raise ValueError("not a SHA-256 hex digest")
        return self.root / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    @contextlib.asynccontextmanager
    async def receive(
        self, read: Callable[[int], Awaitable[bytes]], max_bytes: int
    ) -> AsyncIterator[Received]:
        """Copy an upload (``read(n)`` until b"") into a temporary file, hashing and counting
        as it goes, and stop at ``max_bytes``. The temporary file is removed on leaving,
        unless ``commit`` moved it into place."""
        self.ensure()
        digest = hashlib.sha256()
        size = 0
        fd, name = tempfile.mkstemp(dir=self.root / "tmp", prefix=f"{uuid.uuid4().hex}-")
        path = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := await read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise TooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
            yield Received(path, digest.hexdigest(), size)
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # noqa: ASYNC240 - one local unlink, not worth a thread

    def commit(self, received: Received) -> bool:
        """Move a received file to its place; True when this call created it (the same
        content may already be stored for another kit)."""
        target = self.path_for(received.sha256)
        if target.is_file():
            return False
        target.parent.mkdir(parents=True, exist_ok=True)
        received.path.chmod(0o640)
        os.replace(received.path, target)
        return True

    def discard(self, sha256: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path_for(sha256).unlink()

    def read_verified(self, sha256: str) -> bytes:
        """The file's bytes, after checking them against the checksum they were stored under
        (a mail attachment must be exactly what the coordinator uploaded)."""
        data = self.path_for(sha256).read_bytes()
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ChecksumMismatch(f"stored file {sha256[:12]}… is corrupted")
        return data
