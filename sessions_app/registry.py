"""The workflow classes the dashboard can run, from `settings.WFSITE_WORKFLOWS`, and their run() inputs.

A workflow is known by its class name, which is also the `workflow` of its sessions.
`run_parameters` reads `run()`'s signature so a form can be built for any subclass: str, bool,
int, float, Enum and Literal parameters become fields with their defaults. `workflow_caches`
gives the caches a workflow declares, with the ttls `settings.WFSITE_CACHE_TTL` overrides; the
registered class carries those overrides too (a subclass of the same name), so a worker's run
expires entries exactly as the pages show them.
"""

from __future__ import annotations

import enum
import inspect
import types
import typing
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from sessions_app.workflow import Workflow
from sessions_app.workflow.cache import Cache


class UnknownWorkflowError(LookupError):
    """No workflow of that name is registered."""


@dataclass(frozen=True)
class RunParameter:
    """One parameter of a workflow's run(), as a form field needs it."""

    name: str
    kind: type  # str, bool, int, float, or an Enum subclass
    default: Any
    required: bool
    choices: tuple[Any, ...] = ()


@cache
def _load(paths: tuple[str, ...], ttls: tuple[tuple[str, float | None], ...]) -> dict[str, type[Workflow]]:
    classes: dict[str, type[Workflow]] = {}
    overrides = dict(ttls)
    for path in paths:
        cls = import_string(path)
        if not (isinstance(cls, type) and issubclass(cls, Workflow)):
            raise TypeError(f"WFSITE_WORKFLOWS entry {path!r} is not a Workflow subclass")
        classes[cls.__name__] = _with_ttls(cls, overrides)
    return classes


def _with_ttls(cls: type[Workflow], overrides: dict[str, float | None]) -> type[Workflow]:
    changed = {
        cache.attribute: cache.with_ttl(overrides[f"{cls.__name__}.{cache.state_key}"])
        for cache in cls.caches()
        if f"{cls.__name__}.{cache.state_key}" in overrides
    }
    if not changed:
        return cls
    return type(
        cls.__name__, (cls,), {**changed, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
    )


def workflow_classes() -> dict[str, type[Workflow]]:
    """Return the registered workflow classes by name, in the settings' order."""
    ttls = tuple(sorted(getattr(settings, "WFSITE_CACHE_TTL", {}).items()))
    return _load(tuple(settings.WFSITE_WORKFLOWS), ttls)


def workflow_caches(name: str) -> dict[str, Cache]:
    """Return the caches the registered workflow `name` declares, by state key; {} for an unknown one."""
    cls = workflow_classes().get(name)
    return {} if cls is None else {cache.state_key: cache for cache in cls.caches()}


def result_cache_flag(name: str) -> str:
    """Return the run input that turns off the registered workflow's result cache; "" when none does."""
    cls = workflow_classes().get(name)
    cache = None if cls is None else cls.result_cache()
    return (cache.use_cache or "") if cache is not None else ""


def get_workflow_class(name: str) -> type[Workflow]:
    """Return the workflow class registered as `name`."""
    try:
        return workflow_classes()[name]
    except KeyError:
        raise UnknownWorkflowError(
            f"No workflow named {name!r} is registered (see WFSITE_WORKFLOWS)."
        ) from None


def run_parameters(cls: type[Workflow]) -> list[RunParameter]:
    """Describe the parameters of `cls.run()` that a form can offer."""
    hints = typing.get_type_hints(cls.run)
    params = []
    for name, param in inspect.signature(cls.run).parameters.items():
        if name == "self" or param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if name in cls.run_form_exclude:
            continue
        kind, choices = _field_kind(hints.get(name, str))
        required = param.default is inspect.Parameter.empty
        params.append(RunParameter(name, kind, None if required else param.default, required, choices))
    return params


def _field_kind(hint: Any) -> tuple[type, tuple[Any, ...]]:
    if typing.get_origin(hint) is typing.Literal:
        return str, typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return _field_kind(args[0]) if args else (str, ())
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint, tuple(hint)
    if hint in (bool, int, float, str):
        return hint, ()
    return str, ()
