"""What `run_start` asks a workflow's declared caches: is the answer cached, and which runs share one generation.

Everything comes from the declaration (`Workflow.caches()`, `Workflow.clean_run_inputs`): a
workflow with no cache simply has no fast path, its runs always go to a worker, and runs with the
same inputs on one session share a generation. The result cache (`Workflow.result_cache()`) is
the one whose entry is a run's answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from sessions_app.models import WorkflowSession
from sessions_app.selectors.caches import FoundEntry, cache_entry_find
from sessions_app.workflow import Workflow
from sessions_app.workflow.errors import InputError


@dataclass(frozen=True)
class CachedAnswer:
    """A run's result found in the session's state: the entry, and its value as the run's output."""

    entry: FoundEntry

    @property
    def output(self) -> str:
        """Return the entry's value as the run's output text."""
        value = self.entry.value
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, indent=2)


def run_inputs_check(*, workflow_class: type[Workflow], inputs: dict[str, Any]) -> dict[str, Any]:
    """Return the inputs as the workflow checks them, so a bad one is refused before a run is queued."""
    try:
        return workflow_class.clean_run_inputs(dict(inputs))
    except InputError as error:
        raise ValidationError({error.field: [str(error)]}) from None


def run_cached_answer(
    *,
    session: WorkflowSession,
    workflow_class: type[Workflow],
    inputs: dict[str, Any],
    accept_stale: bool = False,
) -> CachedAnswer | None:
    """Return the fresh cached result for these inputs (newest entry for the key), or None."""
    cache = workflow_class.result_cache()
    if cache is None or not cache.enabled(inputs):
        return None
    key = cache.key_of(inputs)
    if key is None:
        return None
    entry = cache_entry_find(session=session, cache=cache, key=key, with_stats=cache.ttl is not None)
    if entry is None or (entry.stale and not accept_stale):
        return None
    return CachedAnswer(entry)
