"""Forms of the state pages, shared by the session pages and the admin: JSON state, actions, import."""

from __future__ import annotations

import json
import re
from typing import Any

from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat

from sessions_app.limits import max_state_depth
from sessions_app.services.transfer_format import SessionFile, transfer_parse
from sessions_app.state.codec import json_text, parse_json
from sessions_app.state.store import check_storable
from sessions_app.state.values import json_depth
from sessions_app.workflow.errors import StateNotSerializableError
from sessions_app.workflow.state import Path
from sessions_app.workflow.text import has_surrogates

JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "true or false"}


def import_max_bytes() -> int:
    """Return the largest session file an upload may be."""
    return int(settings.WFSITE_MAX_UPLOAD_BYTES)


def state_text(state: dict[str, Any]) -> str:
    """Pretty-print a state for editing; one stored before the nesting limit comes compact, in full."""
    if json_depth(state, stop=max_state_depth()) > max_state_depth():
        return json_text(
            state
        )  # the pretty-printer recurses; saving this text is refused until it is flatter
    return json.dumps(state, indent=2, ensure_ascii=False)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def state_from_text(text: str) -> dict[str, Any]:
    """Parse a state typed as JSON text; raise ValidationError saying where it is wrong."""
    try:
        value = parse_json(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise forms.ValidationError(
            f"This is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno}). Nothing was saved."
        ) from None
    except ValueError as error:
        raise forms.ValidationError(f"This is not valid JSON: {error}. Nothing was saved.") from None
    except RecursionError:  # the parser's own limit, about a thousand levels
        raise forms.ValidationError(
            f"This JSON nests far deeper than the {max_state_depth()} levels a state may have "
            "(WFSITE_MAX_STATE_DEPTH). Nothing was saved."
        ) from None
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


# A JSON string literal; what is left of a flat array without them holds one "[" and no "{".
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"')
PATH_ERROR = "The path must be a JSON array of keys and indexes, starting with a key."


def path_parse(text: str) -> Path:
    """Decode what `path_param` made; raise ValidationError for anything else."""
    if not text:
        return ()
    outside = _STRING_LITERAL.sub('""', text)
    # Checked before parsing: a path is flat, and JSON nested 1,000 deep would exhaust the parser.
    if outside.count("[") > 1 or "{" in outside:
        raise forms.ValidationError(PATH_ERROR + " It may not hold arrays or objects.")
    try:
        value = json.loads(text)
    except ValueError:  # not JSON, or an integer longer than Python reads
        value = None
    ok = isinstance(value, list) and all(
        isinstance(part, str) or (isinstance(part, int) and not isinstance(part, bool) and part >= 0)
        for part in value
    )
    if not ok or (value and not isinstance(value[0], str)):
        raise forms.ValidationError(PATH_ERROR)
    if len(value) > max_state_depth():
        raise forms.ValidationError(
            f"The path has {len(value)} parts; no state nests deeper than {max_state_depth()} "
            "(WFSITE_MAX_STATE_DEPTH)."
        )
    if any(isinstance(part, str) and has_surrogates(part) for part in value):
        raise forms.ValidationError("The path holds a lone surrogate, which no key can hold.")
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


class ForkForm(forms.Form):
    """Fork a session from a version: the new session's id and name, both optional."""

    session_id = forms.CharField(
        required=False,
        strip=False,
        max_length=255,
        label="New session id",
        help_text="Leave empty to have one made from this session's id.",
    )
    name = forms.CharField(required=False, max_length=200, label="Name")
