"""Forms: a new session, and a run's inputs built from any workflow's run() signature."""

from __future__ import annotations

import enum
import uuid
from typing import Any, cast

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError

from sessions_app.models import WorkflowRun, WorkflowSession, field_max_length
from sessions_app.registry import RunParameter, run_parameters, workflow_classes
from sessions_app.workflow import Workflow

MAX_SESSION_ID = field_max_length(WorkflowSession, "session_id")
MAX_NAME = field_max_length(WorkflowSession, "name")


class SessionCreateForm(forms.Form):
    """A new session: any id the engine accepts (a random one when left empty), a workflow, a name."""

    session_id = forms.CharField(
        label="Session id",
        required=False,
        max_length=MAX_SESSION_ID,
        # Ids are kept exactly as typed: " a" and "a" are different sessions to the engine.
        strip=False,
        help_text="Leave empty for a random id.",
    )
    workflow = forms.ChoiceField(label="Workflow")
    name = forms.CharField(label="Name", required=False, max_length=MAX_NAME)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        names = list(workflow_classes())
        cast(forms.ChoiceField, self.fields["workflow"]).choices = [(name, name) for name in names]
        if names:
            self.fields["workflow"].initial = names[0]

    def clean_session_id(self) -> str:
        session_id: str = self.cleaned_data["session_id"]
        # Blank means "make one up"; whitespace alone is not an id anyone means to type.
        return session_id if session_id.strip() else str(uuid.uuid4())


ACCEPT_STALE = "accept_stale"


class RunForm(forms.Form):
    """The inputs of one workflow's run(): str, bool, int, float, Enum and Literal parameters.

    Where the workflow declares a result cache, its first key input asks the server as it is
    typed whether the key is cached (`cache_check_url`), and where a cache expires, a checkbox
    lets a stale entry answer anyway (an option of the run, not an input of run()).
    """

    def __init__(
        self,
        *args: Any,
        workflow_class: type[Workflow],
        cache_check_url: str | None = None,
        recheck_on: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.parameters = {param.name: param for param in run_parameters(workflow_class)}
        for param in self.parameters.values():
            self.fields[param.name] = parameter_field(
                param, max_length=text_limit(workflow_class, param.name)
            )
        cache = workflow_class.result_cache()
        self.cache_field = cache.key_inputs[0] if cache is not None else None
        self.checks_cache = bool(cache_check_url) and self.cache_field in self.fields
        if self.checks_cache and self.cache_field is not None:
            self.fields[self.cache_field].widget.attrs.update(
                {
                    "hx-get": cache_check_url,
                    # `recheck_on`: a trigger that says the cache may have changed (the session page's live signal).
                    "hx-trigger": "input changed delay:300ms" + (f", {recheck_on}" if recheck_on else ""),
                    "hx-include": "closest form",
                    "hx-target": "#cache-status",
                    "hx-swap": "outerHTML",
                    "hx-sync": "this:replace",
                    "aria-describedby": "cache-status",
                    "autocomplete": "off",
                }
            )
        if any(c.ttl is not None for c in workflow_class.caches()) and ACCEPT_STALE not in self.fields:
            self.fields[ACCEPT_STALE] = forms.BooleanField(
                label="Accept a stale cached entry",
                required=False,
                help_text="Use a cached entry even when it is older than its cache's time to live.",
            )

    def inputs(self) -> dict[str, Any]:
        """Return the cleaned inputs for `run_start`, leaving out optional fields left empty."""
        inputs: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name not in self.parameters:
                continue
            param = self.parameters[name]
            if value in (None, "") and not param.required:
                continue
            inputs[name] = value
        return inputs

    def accept_stale(self) -> bool:
        """Return whether the person lets a stale cached entry answer the run."""
        return ACCEPT_STALE not in self.parameters and bool(self.cleaned_data.get(ACCEPT_STALE))


def add_service_error(form: forms.Form, error: ValidationError) -> None:
    """Show a service's ValidationError on the fields it names, and the rest above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for field, errors in error.error_dict.items():
        form.add_error(field if field in form.fields else None, errors)


def text_limit(workflow_class: type[Workflow], name: str) -> int:
    """Return the most characters a text input may hold: the workflow's own limit where it has one."""
    return int(workflow_class.input_limits.get(name, settings.WFSITE_MAX_INPUT_CHARS))


def parameter_field(param: RunParameter, *, max_length: int | None = None) -> forms.Field:
    """Return the form field for one run() parameter, its default as the initial value."""
    label = param.name.replace("_", " ").capitalize()
    initial = param.default.value if isinstance(param.default, enum.Enum) else param.default
    common: dict[str, Any] = {"label": label, "required": param.required, "initial": initial}
    if param.choices:
        return _choice_field(param, common)
    if param.kind is bool:
        return forms.BooleanField(**{**common, "required": False})
    if param.kind is int:
        return forms.IntegerField(**common)
    if param.kind is float:
        return forms.FloatField(**common)
    if max_length is None:
        return forms.CharField(**common)
    too_long = f"The {label.lower()} is %(show_value)d characters long; the limit is %(limit_value)d."
    field = forms.CharField(
        **common,
        max_length=max_length,
        help_text=f"At most {max_length} characters.",
        error_messages={"max_length": too_long},
    )
    # No maxlength attribute: the browser would silently cut a pasted text; the error says why instead.
    field.widget.attrs.pop("maxlength", None)
    return field


def _choice_field(param: RunParameter, common: dict[str, Any]) -> forms.Field:
    values = [choice.value if isinstance(choice, enum.Enum) else choice for choice in param.choices]
    by_text = {str(value): value for value in values}
    labels = [(str(value), str(value)) for value in values]
    if not param.required and param.default is None:
        labels.insert(0, ("", "—"))
    return forms.TypedChoiceField(
        **common, choices=labels, coerce=lambda text: by_text[text], empty_value=None
    )


class RunFilterForm(forms.Form):
    """The runs list's filters, from its query string; a value that does not parse is ignored (and said)."""

    q = forms.CharField(required=False, max_length=200, label="Search inputs")
    status = forms.ChoiceField(required=False, label="Status")
    workflow = forms.ChoiceField(required=False, label="Workflow")
    by = forms.CharField(required=False, max_length=150, label="Started by")
    cache = forms.ChoiceField(
        required=False, label="Cache", choices=[("", "Hits and misses"), ("hit", "Hits"), ("miss", "Misses")]
    )
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["status"]).choices = [
            ("", "Any status"),
            *WorkflowRun.Status.choices,
        ]
        cast(forms.ChoiceField, self.fields["workflow"]).choices = [("", "All workflows")] + [
            (n, n) for n in workflow_classes()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", "The end of the range is before its start.")
        return data
