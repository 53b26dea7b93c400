"""Forms of the state pages, shared by the session pages and the admin: JSON state, actions, import."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from sessions_app.services.transfer_format import SessionFile, transfer_parse
from sessions_app.state.store import check_storable
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.state import Path

JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def import_max_bytes() -> int:
    """Return the largest session file an upload may be."""
    return int(settings.WFSITE_MAX_UPLOAD_BYTES)


def state_text(state: dict[str, Any]) -> str:
    """Pretty-print a state for editing."""
    return json.dumps(state, indent=2, ensure_ascii=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def state_from_text(text: str) -> dict[str, Any]:
    """Parse a state typed as JSON text; raise ValidationError saying where it is wrong."""
    try:
        value = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            f"This is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}). Nothing was saved."
        ) from None
    except ValueError as error:
        raise forms.ValidationError(f"This is not valid JSON: {error}. Nothing was saved.") from None
    if not isinstance(value, dict):
        kind = "null" if value is None else JSON_TYPES.get(type(value), type(value).__name__)
        raise forms.ValidationError(
            f"The state must be a JSON object, {{ … }}, not {kind}. Use {{}} for an empty state. Nothing was saved."
        )
    try:
        check_storable(value)
    except StateNotSerializableError as error:
        raise forms.ValidationError(str(error)) from None
    return value


def path_param(path: Path) -> str:
    """Encode a path for a URL or hidden field: a JSON array of keys and indexes."""
    return json.dumps(list(path), ensure_ascii=False)


def path_parse(text: str) -> Path:
    """Decode what `path_param` made; raise ValidationError for anything else."""
    if not text:
        return ()
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    ok = isinstance(value, list) and all(
        isinstance(part, str) or (isinstance(part, int) and not isinstance(part, bool) and part >= 0)
        for part in value
    )
    if not ok or (value and not isinstance(value[0], str)):
        raise forms.ValidationError("The path must be a JSON array of keys and indexes, starting with a key.")
    return tuple(value)


class StateActionForm(forms.Form):
    """Confirm a clear, delete or restore made on the version the person was shown."""

    base_version = forms.IntegerField(min_value=0, widget=forms.HiddenInput)
    path = forms.CharField(required=False, widget=forms.HiddenInput)

    def clean_path(self) -> Path:
        return path_parse(self.cleaned_data.get("path", ""))


class SessionImportForm(forms.Form):
    """Upload one session exported as JSON."""

    file = forms.FileField(label="Session file (JSON)")

    def clean_file(self) -> SessionFile:
        upload = self.cleaned_data["file"]
        limit = import_max_bytes()
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {filesizeformat(upload.size)}; the largest file that can be imported is "
                f"{filesizeformat(limit)}. Nothing was imported."
            )
        return transfer_parse(upload.read())
