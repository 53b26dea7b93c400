"""Bind the site's port in `serve` itself, before any web process starts.

Binding here, not in uvicorn, means a port in use is known at once and said in one line, and
the socket stays bound while a web process that died is restarted: connections wait in the
listen queue instead of being refused, and no other program can take the port meanwhile.
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


def listen(host: str, port: int) -> socket.socket:
    """Return a listening TCP socket on host:port that child processes may inherit."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as error:
        raise ListenError(f"Cannot listen on {host!r}: {error.strerror}; use --host 127.0.0.1") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        # As uvicorn does: a restart may bind at once although old connections linger in TIME_WAIT.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        raise ListenError(_explain(error, host, port)) from None
    sock.set_inheritable(True)
    return sock


def _explain(error: OSError, host: str, port: int) -> str:
    other = port + 1 if port < 65535 else 8001
    pick = f"pick another with `make run PORT={other}` (or `manage.py serve --port {other}`)"
    if error.errno == errno.EADDRINUSE:
        return f"Port {port} on {host} is already in use (is the site already running?); {pick}."
    if error.errno == errno.EACCES:
        return f"Port {port} on {host} needs more privileges than this user has; {pick}."
    if error.errno == errno.EADDRNOTAVAIL:
        return f"{host} is not an address of this machine; use --host 127.0.0.1 (or 0.0.0.0 for all)."
    return f"Cannot listen on {host} port {port}: {error.strerror}; {pick}."
