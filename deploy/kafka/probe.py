"""Exit 0 when a Kafka broker answers ApiVersions without error on HOST PORT, else 1.

A KRaft broker enables request processing only after it is unfenced, so an answer means
it is ready for clients. Standard library only: lane.sh runs it before any venv exists.
"""

from __future__ import annotations

import socket
import struct
import sys

API_VERSIONS = 18


def answers(host: str, port: int, timeout: float = 2.0) -> bool:
    client_id = b"konsortio-lane-probe"
    body = struct.pack(">hhih", API_VERSIONS, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(struct.pack(">i", len(body)) + body)
            header = _read(sock, 4)
            (size,) = struct.unpack(">i", header)
            response = _read(sock, size)
    except OSError:
        return False
    correlation_id, error_code = struct.unpack(">ih", response[:6])
    return correlation_id == 1 and error_code == 0


def _read(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


if __name__ == "__main__":
    sys.exit(0 if answers(sys.argv[1], int(sys.argv[2])) else 1)
