"""Workflow: subclass it, write run(), and its session_state is loaded and saved around each run.

As upstream (phidata 2.7.10): each call of `run()` gets a fresh uuid4 `run_id`, reads the
session's state from storage, runs the subclass's `run()` and writes the state at the end;
`write_to_storage()` saves at once and `read_from_storage()` reloads. Unlike upstream, the state
is also saved when the run raises or its consumer stops early, a write merges onto whatever
others stored meanwhile instead of overwriting it, and a value that is not JSON fails loudly.
"""

from __future__ import annotations

import collections.abc
import uuid
from collections.abc import Mapping
from types import GeneratorType
from typing import Any, ClassVar

from sessions_app.workflow.cache import Cache
from sessions_app.workflow.errors import StateConflictError, StateNotSerializableError
from sessions_app.workflow.events import RunEvent, RunResponse
from sessions_app.workflow.log import logger
from sessions_app.workflow.run_record import RunTracker, WorkflowMemory, unsaved_text
from sessions_app.workflow.state import apply, check_json, copy_json, diff
from sessions_app.workflow.storage import SessionMeta, WorkflowSession, WorkflowStorage


class Workflow:
    """Base class of workflows; see the module docstring for the run lifecycle."""

    name: str | None = None
    description: str | None = None
    # The dashboard's form for run() leaves these out; subclasses may add their own.
    run_form_exclude: ClassVar[frozenset[str]] = frozenset()
    # The most characters a text input of run() may hold, by name, where the workflow has a limit.
    input_limits: ClassVar[Mapping[str, int]] = {}
    # A run may be answered with a cached entry older than its cache's ttl.
    accept_stale: bool = False

    @classmethod
    def caches(cls) -> tuple[Cache, ...]:
        """Return the caches this workflow declares (see `sessions_app.workflow.cache`), in order."""
        found: dict[str, Cache] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                if isinstance(value, Cache):
                    found[value.state_key] = value
        return tuple(found.values())

    @classmethod
    def result_cache(cls) -> Cache | None:
        """Return the cache that holds runs' results: the one marked `result=True`, else the first."""
        caches = cls.caches()
        return next((cache for cache in caches if cache.result), caches[0] if caches else None)

    @classmethod
    def clean_run_inputs(cls, inputs: dict[str, Any]) -> dict[str, Any]:
        """Return run()'s inputs checked and tidied; raise InputError naming a bad one.

        The dashboard calls this before it queues a run, so a bad input is refused at once.
        """
        return inputs

    def __init__(
        self,
        *,
        name: str | None = None,
        description: str | None = None,
        workflow_id: str | None = None,
        workflow_data: dict[str, Any] | None = None,
        user_id: str | None = None,
        user_data: dict[str, Any] | None = None,
        session_id: str | None = None,
        session_name: str | None = None,
        session_state: dict[str, Any] | None = None,
        storage: WorkflowStorage | None = None,
        debug_mode: bool = False,
        **fields: Any,
    ) -> None:
        self.name = name or self.name or type(self).__name__
        self.description = description or self.description
        # Upstream draws a random workflow_id per instance; a stable one (the name) lets sessions
        # be listed by workflow across processes.
        self.workflow_id = workflow_id or self.name
        self.workflow_data = workflow_data
        self.user_id = user_id
        self.user_data = user_data
        self.session_id = session_id or str(uuid.uuid4())
        self.session_name = session_name
        self.session_state: dict[str, Any] = session_state if session_state is not None else {}
        self.storage = storage
        self.debug_mode = debug_mode
        self.memory = WorkflowMemory()
        self.run_id: str | None = None
        self.run_input: dict[str, Any] | None = None
        self.run_response = RunResponse()
        self.cache_hit: bool | None = None
        self.run_usage: dict[str, Any] | None = None
        self._cache_hits: list[tuple[str, str]] = []
        self._next_run_id: str | None = None
        self._set_fields(fields)
        self._session: WorkflowSession | None = None
        self._base_state: dict[str, Any] = {}
        self._base_version = 0
        self._loaded = False
        if type(self).run is not Workflow.run:
            # As upstream: calling instance.run(...) goes through the lifecycle around the subclass's run.
            self.run = self._run_workflow  # type: ignore[method-assign]

    def _set_fields(self, fields: dict[str, Any]) -> None:
        known = set()
        for klass in type(self).__mro__:
            known |= set(getattr(klass, "__annotations__", {})) | set(vars(klass))
        known -= {name for name in known if isinstance(getattr(type(self), name, None), Cache)}
        for key, value in fields.items():
            if key.startswith("_") or key not in known:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument {key!r}")
            setattr(self, key, value)

    def use_run_id(self, run_id: str) -> None:
        """Give the next run this id instead of a fresh uuid4 (its record was made beforehand)."""
        self._next_run_id = run_id

    def record_usage(self, *, prompt_tokens: int, completion_tokens: int, estimated: bool = False) -> None:
        """Add a model call's token counts to this run's usage (`estimated` when the model only guessed)."""
        usage = self.run_usage or {"prompt_tokens": 0, "completion_tokens": 0, "estimated": False}
        usage["prompt_tokens"] += int(prompt_tokens)
        usage["completion_tokens"] += int(completion_tokens)
        usage["estimated"] = bool(usage["estimated"] or estimated)
        self.run_usage = usage

    def _note_cache_hit(self, cache: Cache, key: str) -> None:
        self._cache_hits.append((cache.state_key, key))

    def _cache_hit_outcome(self) -> bool | None:
        """Return whether the run was answered from its result cache, when the workflow did not say."""
        if self.cache_hit is not None:
            return self.cache_hit
        result = self.result_cache()
        if result is not None and any(state_key == result.state_key for state_key, _ in self._cache_hits):
            return True
        return None

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Subclasses implement this: a generator of RunResponse, or a function returning one."""
        logger.error("%s.run() method not implemented.", type(self).__name__)

    # -- storage --------------------------------------------------------------------------------------

    def read_from_storage(self) -> WorkflowSession | None:
        """Load the session; changes not yet saved are kept, replayed onto what is stored."""
        if self.storage is None:
            return None
        session = self.storage.read(session_id=self.session_id)
        stored = session.session_state if session else {}
        pending = diff(self._base_state, self.session_state)
        merged = copy_json(stored)
        # Values given to the constructor win over stored ones, as upstream merges them.
        apply(merged, pending, force=not self._loaded)
        self._base_state, self._base_version = stored, session.version if session else 0
        self.session_state = merged
        self._loaded = True
        self._session = session
        if session is not None:
            self.user_id = self.user_id or session.user_id
            self.session_name = self.session_name or session.session_name
        return session

    def write_to_storage(self) -> WorkflowSession | None:
        """Save session_state now, merged onto any newer writes; raise if it cannot be saved."""
        self._commit(run=None)
        return self._session

    def _meta(self) -> SessionMeta:
        return SessionMeta(
            session_id=self.session_id,
            workflow_id=self.workflow_id,
            user_id=self.user_id,
            workflow_name=self.name,
            session_name=self.session_name,
            caches=type(self).caches(),
        )

    def _commit(self, run: RunTracker | None) -> None:
        if self.storage is None:
            return
        if not isinstance(self.session_state, dict):
            raise StateNotSerializableError((), self.session_state, "session_state must be a dict")
        check_json(self.session_state)
        ops = diff(self._base_state, self.session_state)
        result = self.storage.commit(
            meta=self._meta(),
            base_version=self._base_version,
            ops=ops,
            state=self.session_state,
            run=run.record if run else None,
        )
        if result.merged_state is not None:
            # Update in place so references the run holds into its state stay valid.
            self.session_state.clear()
            self.session_state.update(result.merged_state)
        self._base_state = copy_json(self.session_state)
        self._base_version = result.version
        self._loaded = True

    # -- the run lifecycle ----------------------------------------------------------------------------

    def _run_workflow(self, *args: Any, **kwargs: Any) -> Any:
        self.run_id, self._next_run_id = self._next_run_id or str(uuid.uuid4()), None
        self.run_input = {"args": list(args), "kwargs": kwargs}
        self.run_response = RunResponse(
            run_id=self.run_id, session_id=self.session_id, workflow_id=self.workflow_id
        )
        self.cache_hit, self.run_usage, self._cache_hits = None, None, []
        tracker = RunTracker.start(
            run_id=self.run_id,
            session_id=self.session_id,
            workflow_id=self.workflow_id,
            run_input=self.run_input,
        )
        logger.debug("Workflow run start: %s", self.run_id)
        try:
            self.read_from_storage()
            result = type(self).run(self, *args, **kwargs)
        except BaseException as error:
            self._finish(tracker, error)
            raise
        if isinstance(result, GeneratorType | collections.abc.Iterator):
            self.run_response.content = ""
            return self._stream(result, tracker)
        if isinstance(result, RunResponse):
            self._stamp(result)
        elif result is not None:
            logger.warning("Workflow.run() should only return RunResponse objects, got: %s", type(result))
        self._finish(tracker, None)
        return result if isinstance(result, RunResponse) else None

    def _stamp(self, item: RunResponse) -> None:
        item.run_id, item.session_id, item.workflow_id = self.run_id, self.session_id, self.workflow_id
        if not isinstance(item.content, str):
            return
        if item.event == RunEvent.workflow_completed:
            # The completed event carries the whole result; progress events are not output.
            self.run_response.content = item.content
        elif item.event == RunEvent.run_response:
            self.run_response.content = (self.run_response.content or "") + item.content

    def _stream(
        self, result: collections.abc.Iterator[Any], tracker: RunTracker
    ) -> collections.abc.Iterator[Any]:
        try:
            for item in result:
                if isinstance(item, RunResponse):
                    self._stamp(item)
                    tracker.saw(item)
                else:
                    logger.warning(
                        "Workflow.run() should only yield RunResponse objects, got: %s", type(item)
                    )
                yield item
        except GeneratorExit:
            # The consumer stopped reading: end the subclass's generator, then keep what it changed.
            getattr(result, "close", lambda: None)()
            self._finish(tracker, GeneratorExit())
            raise
        except BaseException as error:
            self._finish(tracker, error)
            raise
        self._finish(tracker, None)

    def _finish(self, tracker: RunTracker, error: BaseException | None) -> None:
        """Save the state and record the run; a failed save fails a successful run loudly."""
        tracker.end(
            error,
            content=self.run_response.content,
            cache_hit=self._cache_hit_outcome(),
            cache_hits=self._cache_hits,
            usage=self.run_usage,
            changed_state=lambda: (
                not isinstance(self.session_state, dict) or bool(diff(self._base_state, self.session_state))
            ),
        )
        self.run_response.metrics = {**(self.run_response.metrics or {}), "time": tracker.record.duration}
        self.memory.add_run({"input": self.run_input, "response": self.run_response.to_dict()})
        if self.storage is None:
            return
        try:
            self._commit(run=tracker)
        except Exception as save_error:
            tracker.failed_to_save(save_error, unsaved_text(self.session_state))
            if isinstance(save_error, StateConflictError):
                save_error.unsaved_state = copy_json(self.session_state)
            self._record_quietly(tracker)
            if error is None:
                raise
            logger.error("Run %s failed and its state could not be saved either: %s", self.run_id, save_error)
            error.add_note(f"The run's state was not saved: {save_error}")
        logger.debug("Workflow run end: %s (%s)", self.run_id, tracker.record.status)

    def _record_quietly(self, tracker: RunTracker) -> None:
        try:
            self.storage.record_run(tracker.record)  # type: ignore[union-attr]
        except Exception:
            logger.exception("Could not record run %s", self.run_id)
