"""The engine's logger; `logger.info(...)` in a workflow's run() goes here, as upstream's does."""

from __future__ import annotations

import logging

logger = logging.getLogger("wfsite.workflow")
