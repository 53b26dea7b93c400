"""The folder Prometheus' client shares between the web processes (`PROMETHEUS_MULTIPROC_DIR`).

With several web processes each keeps its own counters; prometheus_client's multiprocess mode
writes them to files in one folder that /metrics reads together. The folder must start empty,
or counts from an earlier run would be added in, so serve makes a fresh one under the system's
temporary folder (removed when serve stops), or empties the one the environment names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV_NAME = "PROMETHEUS_MULTIPROC_DIR"


@contextmanager
def metrics_directory() -> Iterator[Path]:
    """Yield an empty folder for the web processes' metrics files."""
    named = os.environ.get(ENV_NAME, "").strip()
    if named:
        folder = Path(named)
        folder.mkdir(parents=True, exist_ok=True)
        # Only prometheus_client's own files: the folder may have been chosen carelessly.
        for stale in folder.glob("*.db"):
            stale.unlink()
        yield folder
        return
    folder = Path(tempfile.mkdtemp(prefix="wfsite-metrics-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
