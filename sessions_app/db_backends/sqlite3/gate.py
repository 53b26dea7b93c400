"""The write gate: writers queue for SQLite's write lock here, waking the moment it is free.

SQLite does not queue writers: a transaction that finds the lock taken sleeps in its busy
handler (1, 2, 5, ... then 100 ms at a time) and tries again, so a lock freed just after a try
sits idle while the waiters sleep, and a writer can lose round after round. The gate puts two
queues in front of `BEGIN`:

- the threads of one process take a `threading.Lock`, so only one of them goes further;
- that one takes an exclusive `flock` on `<database>-writer`, shared by every process on the
  database. A process that finds it taken hands the wait to its gatekeeper thread, blocked in
  the kernel, which wakes when the holder lets go; the waiting thread gives up at its timeout.

Both waits together are bounded by the connection's busy timeout, after which the gate answers
False and the caller fails as SQLite would. A database with no file (in memory) gets only the
first queue; so does one whose folder refuses the lock file.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

LOCK_SUFFIX = "-writer"


class WriteGate:
    """One database's gate in this process: a thread lock, then a file lock shared with other processes."""

    def __init__(self, name: str) -> None:
        self.local = threading.Lock()
        self.fd = _open_lock_file(name)
        self._cond = threading.Condition()
        self._asked = 0  # the ticket of the thread waiting for the file lock, 0 for none
        self._granted = 0
        self._tickets = 0
        # True while the gatekeeper is on its way to the file lock: taking the lock directly then
        # would let the gatekeeper's late, abandoned grab unlock it under the new holder.
        self._keeper_busy = False
        self._gatekeeper: threading.Thread | None = None

    def acquire(self, timeout: float) -> bool:
        """Take the gate within `timeout` seconds; False if it stayed taken."""
        deadline = time.monotonic() + timeout
        if not self.local.acquire(timeout=timeout):
            return False
        if self.fd is None or self._try_file_lock() or self._wait_file_lock(deadline):
            return True
        self.local.release()
        return False

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
        self.local.release()

    def locked(self) -> bool:
        return self.local.locked()

    def _try_file_lock(self) -> bool:
        assert self.fd is not None
        with self._cond:
            if self._keeper_busy:
                return False
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _wait_file_lock(self, deadline: float) -> bool:
        """Ask the gatekeeper for the file lock and wait for it until `deadline`."""
        with self._cond:
            self._start_gatekeeper()
            self._tickets += 1
            ticket = self._asked = self._tickets
            self._cond.notify_all()
            granted = self._cond.wait_for(lambda: self._granted == ticket, deadline - time.monotonic())
            if not granted:
                # The gatekeeper, still blocked, lets go of the lock at once when it gets it.
                self._asked = 0
            return granted

    def _start_gatekeeper(self) -> None:
        if self._gatekeeper is None or not self._gatekeeper.is_alive():
            self._gatekeeper = threading.Thread(target=self._keep, name="sqlite-write-gate", daemon=True)
            self._gatekeeper.start()

    def _keep(self) -> None:
        """Forever: wait for a request, block on the file lock, hand it over (or drop it if nobody waits)."""
        assert self.fd is not None
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._asked != 0)
                self._keeper_busy = True
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            with self._cond:
                self._keeper_busy = False
                if self._asked == 0:
                    fcntl.flock(self.fd, fcntl.LOCK_UN)
                    continue
                self._granted, self._asked = self._asked, 0
                self._cond.notify_all()


def _open_lock_file(name: str) -> int | None:
    if not name or name == ":memory:" or name.startswith("file:") or "mode=memory" in name:
        return None
    try:
        return os.open(name + LOCK_SUFFIX, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return None


_gates: dict[str, WriteGate] = {}
_gates_lock = threading.Lock()


def write_gate(name: str) -> WriteGate:
    """Return the gate of the database file `name`, shared by every connection in this process."""
    with _gates_lock:
        gate = _gates.get(name)
        if gate is None:
            gate = _gates[name] = WriteGate(name)
        return gate


def _forget_gates() -> None:
    # A forked child has its parent's locks (maybe held) and no gatekeeper: it starts afresh.
    global _gates_lock
    _gates_lock = threading.Lock()
    _gates.clear()


os.register_at_fork(after_in_child=_forget_gates)
