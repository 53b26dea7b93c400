"""A lean event-stream reader for W6: HTTP/1.1 over asyncio streams, chunked bodies, `id:` and `event:`.

A thousand httpx streams would cost the bench's process more CPU than the server it measures
(both share two cores), so this reads the bytes itself: one request, the status line and
headers, then chunks split into messages on blank lines. It keeps what W6 checks: each
message's id and its arrival time, whether `event: done` came, and when the headers arrived.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

READ_LIMIT = 1 << 20


class StreamError(RuntimeError):
    """The event stream answered something other than a 200 event stream, or broke off."""


@dataclass
class Received:
    """What one client got from one run's stream."""

    run_id: str
    connected_at: float = 0.0
    seqs: list[int] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)
    done: bool = False


def request_bytes(base_url: str, path: str, cookies: dict[str, str]) -> bytes:
    """Return the GET request for `path`, with the session's cookies."""
    host = urlsplit(base_url).netloc
    cookie = "; ".join(f"{name}={value}" for name, value in cookies.items())
    lines = [
        f"GET {path} HTTP/1.1",
        f"Host: {host}",
        "Accept: text/event-stream",
        f"Cookie: {cookie}",
        "",
        "",
    ]
    return "\r\n".join(lines).encode()


async def read_stream(base_url: str, run_id: str, cookies: dict[str, str]) -> Received:
    """Read `/runs/<run_id>/events/` to its `done` message; return what arrived and when."""
    parts = urlsplit(base_url)
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port, limit=READ_LIMIT)
    got = Received(run_id)
    try:
        writer.write(request_bytes(base_url, f"/runs/{run_id}/events/", cookies))
        head = await reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            raise StreamError(f"the event stream answered {status}")
        got.connected_at = time.time()
        if b"transfer-encoding: chunked" not in head.lower():
            raise StreamError("the event stream was not sent chunked")
        await _read_chunks(reader, got)
    finally:
        writer.close()
    return got


async def _read_chunks(reader: asyncio.StreamReader, got: Received) -> None:
    buffer = b""
    while not got.done:
        size = int((await reader.readline()).split(b";", 1)[0], 16)
        if size == 0:
            return
        buffer += (await reader.readexactly(size + 2))[:-2]
        *messages, buffer = buffer.split(b"\n\n")
        arrived = time.time()
        for message in messages:
            _take(message, got, arrived)


def _take(message: bytes, got: Received, arrived: float) -> None:
    for line in message.split(b"\n", 2)[:2]:  # event: and id: come before the data lines
        if line.startswith(b"id:"):
            got.seqs.append(int(line[3:]))
            got.arrivals.append(arrived)
        elif line == b"event: done":
            got.done = True
