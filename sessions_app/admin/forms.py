"""The admin's session form: the state as pretty-printed JSON, saved by compare-and-swap.

The form carries the version its text was made from (`base_version`). Validation takes the
session's row lock, which the admin's transaction holds until `save_model` has written, and
works out the edit with `services.state.state_edit_ops`: when the state moved on since, the
form is refused, keeping the typed text, and shows what changed (`stale`) and, on that same first
refusal, every value both sides changed (`conflicts`), so one choice settles it. Resubmitted with
`resolve` = "merge" the admin's own changes are replayed onto the latest state; "mine" or
"theirs" replays them too and settles each value changed on both sides the way chosen (only over
the version the admin was shown); "replace" makes the text replace the version the admin was shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from django import forms
from django.conf import settings
from django.db import transaction
from django.http import QueryDict
from django.template.defaultfilters import filesizeformat

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.selectors.diffs import DiffRow, edit_diff, preview
from sessions_app.selectors.history import changes_since, version_diff
from sessions_app.services.state import StateConflictError, StateStaleError, state_edit_ops
from sessions_app.state.changes import path_text
from sessions_app.state.store import state_load, state_snapshot
from sessions_app.state.versions import VersionUnavailableError, state_at_version
from sessions_app.views.state_pages.forms import state_from_text, state_text
from sessions_app.workflow.state import MISSING, Op, Path, apply, copy_json, get_at

STALE = (
    "Someone else changed the state after you opened this page: you started from version {base}, "
    "it is now version {latest}. Nothing was saved and your text is kept below. See what changed "
    "above, choose how to save, then save again."
)
CONFLICT = (
    "Your edit and the newer changes both changed {where}. Nothing was saved and your text is kept "
    "below. Choose above whether to keep your values or the newer ones there (the rest of your edit "
    "is applied either way), or to replace version {latest} with your text as it is; then save again."
)
UNAVAILABLE = (
    "{error} So your edit cannot be applied on top of the newer changes; nothing was saved. Choose "
    "“Replace” to save your text as it is over version {latest}, or reload the page."
)


MERGE = [("merge", "Apply my changes on top of the latest version (keeps what changed meanwhile)")]
SETTLE = [
    ("mine", "Apply my changes on top of the latest version; where both changed a value, keep mine"),
    (
        "theirs",
        "Apply my changes on top of the latest version; where both changed a value, keep the newer one",
    ),
]
REPLACE = [("replace", "Replace the latest version with my text as it is (undoes what changed meanwhile)")]


@dataclass(frozen=True)
class Stale:
    """What changed between the version the admin edited and the latest one."""

    base: int
    latest: int
    rows: list[DiffRow] | None
    changes: list[StateChange]


@dataclass(frozen=True)
class ConflictRow:
    """A path both sides changed: as it was, as it is now, and as the admin has it."""

    path: str
    base: str
    theirs: str
    mine: str


class SessionStateForm(forms.ModelForm):
    """Edit a session's name and its whole state as JSON."""

    state = forms.CharField(
        label="State (JSON)",
        strip=False,
        widget=forms.Textarea(
            attrs={"rows": 24, "class": "vLargeTextField state-json", "spellcheck": "false"}
        ),
        help_text="A JSON object. Saving records the change in the history, where it can be undone.",
    )
    base_version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    resolve = forms.ChoiceField(required=False, widget=forms.RadioSelect, choices=[*MERGE, *SETTLE, *REPLACE])
    seen_version = forms.IntegerField(min_value=0, required=False, widget=forms.HiddenInput)

    class Meta:
        model = WorkflowSession
        fields = ["name"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stale: Stale | None = None
        self.conflicts: list[ConflictRow] = []
        self.edit: tuple[int, bool] | None = None  # (base_version, on_top) for the save
        found = state_snapshot(self.instance.session_id) if self.instance.pk else None
        self.loaded_state: dict[str, Any] = found[1] if found else {}
        if found is not None:
            text = state_text(found[1])
            self.fields["state"].initial = text
            self.fields["base_version"].initial = found[0].version
            self._warn_if_large(len(text.encode()))

    def _warn_if_large(self, size: int) -> None:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and size > limit * 0.8:
            self.fields["state"].help_text += (
                f" This state is {filesizeformat(size)} as text, near the {filesizeformat(limit)} a form may "
                "send (DATA_UPLOAD_MAX_MEMORY_SIZE): clear or delete cached entries below, or upload a "
                "session file, instead of saving it here."
            )

    def clean_state(self) -> dict[str, Any]:
        return state_from_text(self.cleaned_data["state"])

    def clean(self) -> dict[str, Any]:
        super().clean()
        cleaned = self.cleaned_data
        new_state, base = cleaned.get("state"), cleaned.get("base_version")
        if new_state is None or base is None or self.instance.pk is None:
            return cleaned
        resolve, seen = cleaned.get("resolve") or "", cleaned.get("seen_version")
        if resolve == "replace" and seen is not None:
            base = seen
        locked = self._locked()
        latest = state_load(locked)
        refuse = partial(self._refuse, locked, latest, new_state, base)
        try:
            if resolve in ("mine", "theirs") and seen == locked.version:
                # The conflicts were shown against this very version: settle them as chosen.
                cleaned["state"] = self._settled(locked, latest, new_state, base, keep_mine=resolve == "mine")
                self.edit = (locked.version, False)
                return cleaned
            on_top = resolve in ("merge", "mine", "theirs")
            state_edit_ops(
                session=locked, latest=latest, new_state=new_state, base_version=base, on_top=on_top
            )
        except StateStaleError:
            paths = self._conflict_paths(locked, latest, new_state, base)
            refuse(
                paths,
                self._conflict_text(paths, locked)
                if paths
                else STALE.format(base=base, latest=locked.version),
            )
        except StateConflictError as error:
            refuse(error.paths, self._conflict_text(error.paths, locked))
        except VersionUnavailableError as error:
            refuse([], UNAVAILABLE.format(error=error, latest=locked.version))
        else:
            self.edit = (base, on_top)
        return cleaned

    def _locked(self) -> WorkflowSession:
        rows = WorkflowSession.objects.all()
        if transaction.get_connection().in_atomic_block:  # the admin's: held until save_model is done
            rows = rows.select_for_update(no_key=True)
        return rows.get(pk=self.instance.pk)

    @staticmethod
    def _conflict_text(paths: list[Path], locked: WorkflowSession) -> str:
        where = ", ".join(path_text(p) for p in paths[:5]) + (
            f" and {len(paths) - 5} more" if len(paths) > 5 else ""
        )
        return CONFLICT.format(where=where, latest=locked.version)

    @staticmethod
    def _mine_ops(locked: WorkflowSession, mine: dict[str, Any], base: int) -> list[Op]:
        return edit_diff(state_at_version(session=locked, version=base), mine)

    def _conflict_paths(
        self, locked: WorkflowSession, latest: dict[str, Any], mine: dict[str, Any], base: int
    ) -> list[Path]:
        """Return every path that applying the edit on top would refuse, so the first refusal shows them all."""
        if base > locked.version:
            return []
        try:
            apply(copy_json(latest), self._mine_ops(locked, mine, base))
        except StateConflictError as error:
            return list(error.paths)
        except VersionUnavailableError:
            return []
        return []

    def _settled(
        self,
        locked: WorkflowSession,
        latest: dict[str, Any],
        mine: dict[str, Any],
        base: int,
        *,
        keep_mine: bool,
    ) -> dict[str, Any]:
        """Return the latest state with the edit replayed on it, each conflict settled as chosen."""
        ops = self._mine_ops(locked, mine, base)
        if not keep_mine:
            conflicted = set(self._conflict_paths(locked, latest, mine, base))
            ops = [op for op in ops if op.path not in conflicted]
        # Forced: the conflicts are settled, and a change whose place the newer version removed is dropped.
        return apply(copy_json(latest), ops, force=True)

    def _refuse(
        self,
        locked: WorkflowSession,
        latest: dict[str, Any],
        mine: dict[str, Any],
        base: int,
        paths: list[Path],
        message: str,
    ) -> None:
        try:
            rows: list[DiffRow] | None = version_diff(session=locked, before=base, after=locked.version).rows
        except VersionUnavailableError:
            rows = None
        self.stale = Stale(base, locked.version, rows, changes_since(session=locked, version=base))
        self.conflicts = self._conflicts(locked, latest, mine, base, paths) if paths else []
        self.add_error("state", message)
        # Shown again with the latest version as the one reviewed, and only the choices that can settle it.
        self.data = data = cast(QueryDict, self.data).copy()
        data["seen_version"] = str(locked.version)
        resolve = cast(forms.ChoiceField, self.fields["resolve"])
        if self.conflicts:
            resolve.choices = [*SETTLE, *REPLACE]
            data["resolve"] = ""
        else:
            resolve.choices = [*MERGE, *REPLACE]
            previous = data.get("resolve")
            data["resolve"] = previous if previous in ("merge", "replace") else "merge"

    @staticmethod
    def _conflicts(
        locked: WorkflowSession, latest: dict[str, Any], mine: dict[str, Any], base: int, paths: list[Any]
    ) -> list[ConflictRow]:
        opened = state_at_version(session=locked, version=base)

        def show(state: dict[str, Any], path: Any) -> str:
            value = get_at(state, path)
            return "(absent)" if value is MISSING else preview(value)

        return [ConflictRow(path_text(p), show(opened, p), show(latest, p), show(mine, p)) for p in paths]
