"""A run as a person reads it: titled by its first text input, inputs in words, the model by name.

Nothing here knows a workflow: inputs are ordered by the workflow's own run() signature (stored
JSON need not keep the order; PostgreSQL's jsonb does not), and shown by the type of their value.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from django.forms.utils import pretty_name

from sessions_app.models import RunEvent, WorkflowRun
from sessions_app.registry import UnknownWorkflowError, get_workflow_class, run_parameters
from sessions_app.workflow import Workflow
from sessions_app.workflow.llm import model_display_name

TITLE_CHARS = 120


@dataclass(frozen=True)
class InputFact:
    """One input of a run: its label as the run form shows it, and its value in words."""

    name: str
    label: str
    value: str


@cache
def _declared_order(cls: type[Workflow]) -> tuple[str, ...]:
    return tuple(param.name for param in run_parameters(cls))


def run_inputs_ordered(run: WorkflowRun) -> list[tuple[str, Any]]:
    """Return the run's inputs as (name, value) in the order its workflow's run() declares them."""
    inputs = run.inputs if isinstance(run.inputs, dict) else {}
    try:
        declared = _declared_order(get_workflow_class(run.workflow))  # type: ignore[arg-type]  # a class hashes by identity
    except UnknownWorkflowError:
        declared = ()
    names = [name for name in declared if name in inputs] + [name for name in inputs if name not in declared]
    return [(name, inputs[name]) for name in names]


def input_text(value: Any) -> str:
    """Say an input's value as a person reads it: Yes/No for booleans, "—" for none, JSON for the rest."""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return f"{value:,}" if isinstance(value, int) else f"{value:g}"
    return json.dumps(value, ensure_ascii=False)


def run_input_facts(run: WorkflowRun) -> list[InputFact]:
    """Return the run's inputs, labelled as on the run form."""
    return [InputFact(name, pretty_name(name), input_text(value)) for name, value in run_inputs_ordered(run)]


def run_first_input(run: WorkflowRun) -> str:
    """Return the run's first input in words ("" when it has none), for lists of runs."""
    ordered = run_inputs_ordered(run)
    return input_text(ordered[0][1]) if ordered else ""


def run_title(run: WorkflowRun) -> str:
    """Return what the run is about: its first non-blank text input, or "<workflow> run"."""
    for _, value in run_inputs_ordered(run):
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())
            return text if len(text) <= TITLE_CHARS else text[: TITLE_CHARS - 1] + "…"
    return f"{run.workflow} run"


def run_model(run: WorkflowRun) -> str:
    """Name the model the run's events name, in words; "" when none does (yet)."""
    model_id = (
        RunEvent.objects.filter(run=run, data__has_key="model")
        .order_by("seq")
        .values_list("data__model", flat=True)
        .first()
    )
    return model_display_name(str(model_id)) if model_id else ""


def duration_text(delta: timedelta | None) -> str:
    """Say how long something took: "0.4 s", "12.3 s", "2 min 5 s", "1 h 4 min"; "" when not known."""
    if delta is None:
        return ""
    seconds = max(0.0, delta.total_seconds())
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


def run_facts(run: WorkflowRun) -> dict[str, Any]:
    """Return what the run page's heading and facts show."""
    return {"title": run_title(run), "inputs": run_input_facts(run), "model": run_model(run)}
