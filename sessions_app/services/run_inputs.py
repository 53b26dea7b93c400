"""A run's inputs: checked against the workflow's run() parameters, stored as JSON, given back to run().

Inputs are stored on `WorkflowRun.inputs` as JSON with every default filled in, so that two
requests that mean the same run look the same (single-flight compares them) and the history
shows what actually ran. Enum members are stored as their values and turned back into members
for `run()`.
"""

from __future__ import annotations

import enum
import math
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError

from sessions_app.registry import RunParameter, run_parameters
from sessions_app.workflow import Workflow

_KIND_NAMES = {str: "text", bool: "true or false", int: "a whole number", float: "a number"}


def run_inputs_clean(*, workflow_class: type[Workflow], inputs: dict[str, Any]) -> dict[str, Any]:
    """Return the inputs as JSON with defaults filled in; raise ValidationError naming each bad field."""
    if not isinstance(inputs, dict):
        raise ValidationError("The inputs must be a mapping of parameter names to values.")
    most = settings.WFSITE_MAX_RUN_INPUTS
    if len(inputs) > most:
        # Refused before looking at them, so a flood of names costs one message, not one each.
        raise ValidationError(f"A run takes at most {most} inputs; {len(inputs)} were given.")
    params = {param.name: param for param in run_parameters(workflow_class)}
    errors: dict[str, list[str]] = {}
    for name in inputs:
        if name not in params:
            takes = ", ".join(params) or "no inputs"
            errors[str(name)] = [f"{workflow_class.__name__} has no input {name!r}; it takes: {takes}."]
    cleaned: dict[str, Any] = {}
    for name, param in params.items():
        if name not in inputs:
            if param.required:
                errors[name] = ["This input is required."]
            else:
                cleaned[name] = _to_json(param.default)
            continue
        try:
            cleaned[name] = _check(param, inputs[name])
        except ValueError as error:
            errors[name] = [str(error)]
    if errors:
        raise ValidationError(errors)
    return cleaned


def run_kwargs(*, workflow_class: type[Workflow], inputs: dict[str, Any]) -> dict[str, Any]:
    """Return stored inputs as run()'s keyword arguments, Enum values turned back into members."""
    kwargs = dict(inputs)
    for param in run_parameters(workflow_class):
        if param.name in kwargs and isinstance(param.kind, type) and issubclass(param.kind, enum.Enum):
            kwargs[param.name] = param.kind(kwargs[param.name])
    return kwargs


def _to_json(value: Any) -> Any:
    return value.value if isinstance(value, enum.Enum) else value


def _check(param: RunParameter, value: Any) -> Any:
    """Return `value` as stored JSON, or raise ValueError saying what it should be."""
    if value is None and not param.required and param.default is None:
        return None
    if issubclass(param.kind, enum.Enum):
        return _check_choice(param, value.value if isinstance(value, param.kind) else value)
    if param.choices:
        return _check_choice(param, value)
    kind = param.kind
    # bool is an int in Python, but True is not a sensible count.
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        ok, value = True, float(value)
    if not ok:
        raise ValueError(f"Expected {_KIND_NAMES.get(kind, kind.__name__)}, got {type(value).__name__}.")
    if kind is float and not math.isfinite(value):
        raise ValueError(f"Expected a finite number, got {value!r}.")
    if kind is str and len(value) > (most := settings.WFSITE_MAX_INPUT_CHARS):
        raise ValueError(f"The text is {len(value)} characters long; the limit is {most}.")
    return value


def _check_choice(param: RunParameter, value: Any) -> Any:
    allowed = [_to_json(choice) for choice in param.choices]
    if value not in allowed:
        raise ValueError(f"Choose one of: {', '.join(map(repr, allowed))}; got {value!r}.")
    return value
