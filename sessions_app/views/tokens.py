"""The API tokens page: a person lists, makes, names and revokes their own tokens for the JSON API.

A new token's text is shown once, on the page that answers its creation, and never again (only
its digest is stored). Any logged-in person may keep tokens; what a token may do is what its
person's role allows.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from sessions_app.forms import add_service_error
from sessions_app.models import ApiToken
from sessions_app.services.api_tokens import MAX_NAME, api_token_create, api_token_revoke
from sessions_app.views import LoggedInRequest


class TokenForm(forms.Form):
    """A new token's name."""

    name = forms.CharField(
        label="Name", max_length=MAX_NAME, help_text="Say what will use it, e.g. “nightly export”."
    )


def _page(
    request: LoggedInRequest, form: TokenForm, *, new_token: str = "", status: int = 200
) -> HttpResponse:
    tokens = ApiToken.objects.filter(user=request.user).order_by("revoked_at", "-created_at")
    context = {"form": form, "tokens": tokens, "new_token": new_token}
    response = render(request, "tokens/tokens.html", context, status=status)
    if new_token:
        response["Cache-Control"] = "no-store"  # the one page that shows the token stays out of caches
    return response


@require_http_methods(["GET", "POST"])
def api_tokens(request: LoggedInRequest) -> HttpResponse:
    """List the person's tokens (GET), or make one and show its text this once (POST)."""
    if request.method != "POST":
        return _page(request, TokenForm())
    form = TokenForm(request.POST)
    if form.is_valid():
        try:
            made = api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ValidationError as error:
            add_service_error(form, error)
        else:
            return _page(request, TokenForm(), new_token=made.text, status=201)
    return _page(request, form, status=422)


@require_http_methods(["GET", "POST"])
def api_token_revoke_view(request: LoggedInRequest, token_id: int) -> HttpResponse:
    """Ask to confirm revoking one of the person's tokens (GET), or revoke it (POST)."""
    token = ApiToken.objects.filter(pk=token_id, user=request.user).first()
    if token is None:
        raise Http404("You have no token with this id.")
    if request.method == "POST":
        api_token_revoke(token=token, actor=request.user)
        messages.success(
            request, f"Revoked the token “{token.name}”; requests carrying it are refused from now on."
        )
        return redirect("api_tokens")
    return render(request, "tokens/revoke.html", {"token": token})
