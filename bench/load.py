"""A lean closed-loop HTTP/1.1 load generator: C clients, each on its own keep-alive connection.

The server and the load share this machine's two cores, so the client must cost little next to
a Django request: it writes requests by hand on asyncio streams and reads only the status line,
the headers it needs and the body by its length (or chunks). Each client sends its next request
as soon as the previous answer is read, until the time is up; every answer's status is checked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

# A request as the workload builds it for client `index`, request number `n`.
Request = tuple[str, str, bytes]  # method, path, form body (b"" for a GET)
MakeRequest = Callable[[int, int], Request]


class LoadError(RuntimeError):
    """The server answered a request with a status the workload did not expect, or hung up."""


@dataclass
class LoadResult:
    """What one load run measured: each answer's latency, and how long the run took."""

    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def throughput(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else float("nan")


@dataclass
class Target:
    """Where to send requests and as whom: the base URL, the cookies and the CSRF token."""

    base_url: str
    cookies: dict[str, str]
    csrf_token: str = ""

    def head(self, method: str, path: str, body: bytes) -> bytes:
        host = urlsplit(self.base_url).netloc
        cookie = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", f"Cookie: {cookie}"]
        if method == "POST":
            lines += [
                "Content-Type: application/x-www-form-urlencoded",
                f"Content-Length: {len(body)}",
                f"X-CSRFToken: {self.csrf_token}",
                f"Referer: {self.base_url}{path}",
            ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """Read one response; return its status and its body."""
    status_line = await reader.readline()
    if not status_line:
        raise LoadError("the server closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if not chunked:
        return status, await reader.readexactly(length)
    body = b""
    while (size := int((await reader.readline()).split(b";")[0], 16)) > 0:
        body += (await reader.readexactly(size + 2))[:-2]
    await reader.readline()
    return status, body


async def _client(
    target: Target, index: int, make: MakeRequest, expect: set[int], until: float, out: LoadResult
) -> None:
    split = urlsplit(target.base_url)
    reader, writer = await asyncio.open_connection(split.hostname, split.port)
    try:
        n = 0
        while time.perf_counter() < until:
            method, path, body = make(index, n)
            began = time.perf_counter()
            writer.write(target.head(method, path, body) + body)
            status, answer = await _read_answer(reader)
            out.latencies.append(time.perf_counter() - began)
            if status not in expect:
                text = answer[:300].decode(errors="replace")
                raise LoadError(f"{method} {path} answered {status}, expected {sorted(expect)}: {text}")
            n += 1
    finally:
        writer.close()


async def _run(
    target: Target, clients: int, make: MakeRequest, expect: set[int], seconds: float
) -> LoadResult:
    out = LoadResult()
    began = time.perf_counter()
    until = began + seconds
    await asyncio.gather(*(_client(target, i, make, expect, until, out) for i in range(clients)))
    out.seconds = time.perf_counter() - began
    return out


def load(target: Target, *, clients: int, seconds: float, make: MakeRequest, expect: set[int]) -> LoadResult:
    """Run `clients` closed-loop clients for `seconds`; return every latency and the elapsed time."""
    return asyncio.run(_run(target, clients, make, expect, seconds))
