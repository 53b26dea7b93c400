"""Bind the site's port in `serve` itself, one listening socket per web process, before any starts.

Binding here, not in uvicorn, means a port in use is known at once and said in one line, and
each socket stays bound while its web process is restarted: connections wait in its queue
instead of being refused, and no other program can take the port meanwhile.

Each web process gets a socket of its own on the same port (`SO_REUSEPORT`), and the kernel
spreads new connections over them. One shared socket would not spread them: the first process
to wake accepts every pending connection, so ten keep-alive clients that connect at once all
land on one process while the others idle.
"""

from __future__ import annotations

import errno
import socket

# Connections the kernel queues before a web process accepts them (uvicorn's default too).
BACKLOG = 2048


class ListenError(Exception):
    """The port cannot be bound; the message says why and what to do, in one line."""


def display_url(host: str, port: int) -> str:
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def listen(host: str, port: int, count: int = 1) -> list[socket.socket]:
    """Return `count` listening TCP sockets on host:port (0: a free port) that children may inherit."""
    family, address = _address(host, port)
    # A socket without SO_REUSEPORT first: it fails on any listener already there, also on the
    # sockets of another serve, which would otherwise share the port silently.
    with _bound(family, address, host, port, reuse_port=False) as probe:
        address = probe.getsockname()
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = _bound(family, address, host, port, reuse_port=True)
            sockets.append(sock)
            sock.listen(BACKLOG)
            sock.set_inheritable(True)
    except OSError as error:
        for sock in sockets:
            sock.close()
        raise ListenError(_explain(error, host, port)) from None
    return sockets


def _address(host: str, port: int) -> tuple[socket.AddressFamily, tuple[object, ...]]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ListenError(f"Cannot listen on {host!r}: {error.strerror}; use --host 127.0.0.1") from None
    family, _, _, _, address = infos[0]
    return family, address


def _bound(
    family: socket.AddressFamily, address: tuple[object, ...], host: str, port: int, *, reuse_port: bool
) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        # As uvicorn does: a restart may bind at once although old connections linger in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
    except OSError as error:
        sock.close()
        raise ListenError(_explain(error, host, port)) from None
    return sock


def _explain(error: OSError, host: str, port: int) -> str:
    other = port + 1 if 0 < port < 65535 else 8001
    pick = f"pick another with `make run PORT={other}` (or `manage.py serve --port {other}`)"
    if error.errno == errno.EADDRINUSE:
        return f"Port {port} on {host} is already in use (is the site already running?); {pick}."
    if error.errno == errno.EACCES:
        return f"Port {port} on {host} needs more privileges than this user has; {pick}."
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; use --host 127.0.0.1 (or 0.0.0.0 for all)."
    return f"Cannot listen on {host} port {port}: {error.strerror}; {pick}."
