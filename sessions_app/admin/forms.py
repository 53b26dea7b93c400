"""The admin's session form: the state as pretty-printed JSON, saved by compare-and-swap.

The form carries the version its text was made from (`base_version`). Validation takes the
session's row lock, which the admin's transaction holds until `save_model` has written, and
works out the edit with `services.state.state_edit_ops`: when the state moved on since, the
form is refused, keeping the typed text, and shows what changed (`stale`); resubmitted with
`resolve` = "merge" the admin's own changes are replayed onto the latest state (true conflicts
are listed per path), with "replace" the text replaces the latest version the admin was shown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.db import transaction
from django.template.defaultfilters import filesizeformat

from sessions_app.models import StateChange, WorkflowSession
from sessions_app.selectors.diffs import DiffRow, preview
from sessions_app.selectors.history import changes_since, version_diff
from sessions_app.services.state import StateConflictError, StateStaleError, state_edit_ops
from sessions_app.state.changes import path_text
from sessions_app.state.store import state_load, state_snapshot
from sessions_app.state.versions import VersionUnavailableError, state_at_version
from sessions_app.views.state_pages.forms import state_from_text, state_text
from sessions_app.workflow.state import MISSING, get_at

STALE = (
    "Someone else changed the state after you opened this page: you started from version {base}, "
    "it is now version {latest}. Nothing was saved and your text is kept below. See what changed "
    "above, choose how to save, then save again."
)
CONFLICT = (
    "Your edit and the newer changes both changed {where}. Nothing was saved and your text is kept "
    "below. Change your text, or choose “Replace” to save it as it is over version {latest}."
)
UNAVAILABLE = (
    "{error} So your edit cannot be applied on top of the newer changes; nothing was saved. Choose "
    "“Replace” to save your text as it is over version {latest}, or reload the page."
)


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
    resolve = forms.ChoiceField(
        required=False,
        widget=forms.RadioSelect,
        choices=[
            ("merge", "Apply my changes on top of the latest version (keeps what changed meanwhile)"),
            ("replace", "Replace the latest version with my text as it is (undoes what changed meanwhile)"),
        ],
    )
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
        cleaned = super().clean()
        new_state, base = cleaned.get("state"), cleaned.get("base_version")
        if new_state is None or base is None or self.instance.pk is None:
            return cleaned
        resolve, seen = cleaned.get("resolve") or "", cleaned.get("seen_version")
        if resolve == "replace" and seen is not None:
            base = seen
        on_top = resolve == "merge"
        rows = WorkflowSession.objects.all()
        if transaction.get_connection().in_atomic_block:  # the admin's: held until save_model is done
            rows = rows.select_for_update(no_key=True)
        locked = rows.get(pk=self.instance.pk)
        latest = state_load(locked)
        try:
            state_edit_ops(
                session=locked, latest=latest, new_state=new_state, base_version=base, on_top=on_top
            )
        except StateStaleError:
            self._refuse(locked, base, STALE.format(base=base, latest=locked.version))
        except StateConflictError as error:
            self.conflicts = self._conflicts(locked, latest, new_state, base, error.paths)
            where = ", ".join(row.path for row in self.conflicts[:5])
            self._refuse(locked, base, CONFLICT.format(where=where, latest=locked.version))
        except VersionUnavailableError as error:
            self._refuse(locked, base, UNAVAILABLE.format(error=error, latest=locked.version))
        else:
            self.edit = (base, on_top)
        return cleaned

    def _refuse(self, locked: WorkflowSession, base: int, message: str) -> None:
        try:
            rows: list[DiffRow] | None = version_diff(session=locked, before=base, after=locked.version).rows
        except VersionUnavailableError:
            rows = None
        self.stale = Stale(base, locked.version, rows, changes_since(session=locked, version=base))
        self.add_error("state", message)
        # Shown again with the latest version as the one reviewed, and merging as the default.
        self.data = self.data.copy()
        self.data["seen_version"] = str(locked.version)
        self.data["resolve"] = self.data.get("resolve") or "merge"

    @staticmethod
    def _conflicts(
        locked: WorkflowSession, latest: dict[str, Any], mine: dict[str, Any], base: int, paths: list[Any]
    ) -> list[ConflictRow]:
        opened = state_at_version(session=locked, version=base)

        def show(state: dict[str, Any], path: Any) -> str:
            value = get_at(state, path)
            return "(absent)" if value is MISSING else preview(value)

        return [ConflictRow(path_text(p), show(opened, p), show(latest, p), show(mine, p)) for p in paths]
