"""serve's sockets: one per web process on one port, connections spread over them, a taken port refused."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator

import pytest

from sessions_app.serving.listen import ListenError, listen

CONNECTIONS = 20


@pytest.fixture
def two_listeners() -> Iterator[list[socket.socket]]:
    sockets = listen("127.0.0.1", 0, count=2)
    yield sockets
    for sock in sockets:
        sock.close()


def test_each_web_process_gets_a_socket_on_the_same_port(two_listeners: list[socket.socket]) -> None:
    ports = {sock.getsockname()[1] for sock in two_listeners}
    assert len(ports) == 1
    assert all(sock.get_inheritable() for sock in two_listeners)


def test_new_connections_are_spread_over_the_sockets(two_listeners: list[socket.socket]) -> None:
    port = two_listeners[0].getsockname()[1]
    clients = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(CONNECTIONS)]
    accepted = []
    for listener in two_listeners:
        listener.setblocking(False)
        count = 0
        while True:
            try:
                conn, _ = listener.accept()
            except BlockingIOError:
                break
            conn.close()
            count += 1
        accepted.append(count)
    for client in clients:
        client.close()
    assert sum(accepted) == CONNECTIONS
    # By a hash of each connection's addresses: all 20 on one socket has odds of 2 in a million.
    assert min(accepted) > 0, accepted


def test_a_port_that_is_taken_is_refused_in_one_line(two_listeners: list[socket.socket]) -> None:
    port = two_listeners[0].getsockname()[1]
    with pytest.raises(ListenError, match=rf"^Port {port} on 127.0.0.1 is already in use .*PORT={port + 1}"):
        listen("127.0.0.1", port, count=2)


def test_an_address_not_on_this_machine_says_what_to_use() -> None:
    with pytest.raises(
        ListenError, match=re.escape("192.0.2.1 is not an address of this machine; use --host 127.0.0.1")
    ):
        listen("192.0.2.1", 0)
