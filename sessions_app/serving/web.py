"""One web process: uvicorn serving the socket `serve` bound, telling `serve` when it is ready.

Run as `python -m sessions_app.serving.web --fd N --ready-fd M`: N is the inherited listening
socket (its own, on the port every web process listens on; the kernel spreads connections over
them), M a pipe on which one line is written once uvicorn accepts connections,
so `serve` says "Serving ..." only when a visit will be answered.
"""

from __future__ import annotations

import argparse
import os
import socket

import uvicorn

APP_FACTORY = "sessions_app.management.commands.serve:asgi_application"
# uvicorn waits for open connections before it exits, and an event stream never closes on its
# own; this bounds that wait.
HTTP_GRACE_SECONDS = 5
READY_LINE = b"ready\n"


class ReportingServer(uvicorn.Server):
    """A uvicorn server that writes a line to `ready_fd` once it has started."""

    def __init__(self, config: uvicorn.Config, ready_fd: int | None) -> None:
        super().__init__(config)
        self.ready_fd = ready_fd

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.ready_fd is not None and self.started:
            os.write(self.ready_fd, READY_LINE)
            os.close(self.ready_fd)
            self.ready_fd = None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fd", type=int, required=True, help="the listening socket's file descriptor")
    parser.add_argument("--ready-fd", type=int, help="a pipe to write one line to once serving")
    parser.add_argument("--no-access-log", action="store_true", help="do not log each request")
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        APP_FACTORY,
        factory=True,
        lifespan="off",
        timeout_graceful_shutdown=HTTP_GRACE_SECONDS,
        access_log=not args.no_access_log,
    )
    # socket(fileno=...) reads the family from the socket itself (uvicorn's --fd assumes AF_UNIX).
    listener = socket.socket(fileno=args.fd)
    ReportingServer(config, args.ready_fd).run(sockets=[listener])


if __name__ == "__main__":
    main()
