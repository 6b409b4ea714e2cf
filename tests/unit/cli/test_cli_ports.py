"""The launcher's "is another stack running?" check looks for a listener, so the TIME-WAIT
sockets a stopped stack leaves behind do not refuse the next start."""

from __future__ import annotations

import socket

from konsortio.stack import free_port, listening


def test_a_listener_is_seen_and_time_wait_leftovers_are_not() -> None:
    port = free_port()
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
    server.bind(("127.0.0.1", port))
    server.listen()
    client = socket.create_connection(("127.0.0.1", port))
    accepted, _ = server.accept()
    assert listening(port)
    accepted.close()  # the server side closes first, so its end of the connection waits
    server.close()
    client.close()
    assert not listening(port)
    with socket.socket() as test_bind:  # a bind without SO_REUSEADDR still fails here
        try:
            test_bind.bind(("127.0.0.1", port))
            bound = True
        except OSError:
            bound = False
    assert not bound, "no TIME-WAIT socket was left, so this test proves nothing"
