"""API tokens: a person makes, names and revokes their own; a request's `Bearer` token finds its user.

A token reads `wfs_<random>`; only its SHA-256 digest is stored (`ApiToken`), so the text is
shown once, when it is made. Looking a token up is one indexed query; its last use is written at
most once a minute, so a busy client does not turn every read into a write.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from sessions_app.models import ApiToken, field_max_length

TOKEN_PREFIX = "wfs_"
PREFIX_SHOWN = len(TOKEN_PREFIX) + 6
MAX_NAME = field_max_length(ApiToken, "name")
MAX_TOKENS = 50
LAST_USED_EVERY = timedelta(minutes=1)


class TokenRefusedError(Exception):
    """The bearer token is unknown, revoked, or its user may not log in; the message says which."""


@dataclass(frozen=True)
class NewToken:
    """A token just made: its row, and its text, which is shown this once and never stored."""

    token: ApiToken
    text: str


def token_digest(text: str) -> str:
    """Return the stored form of a token's text."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def _person(user: Any) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise PermissionDenied("Log in to manage API tokens.")


@transaction.atomic
def api_token_create(*, user: Any, name: str) -> NewToken:
    """Make a token for `user` named `name`; its text is in the result only."""
    _person(user)
    name = name.strip() if isinstance(name, str) else ""
    if not name or len(name) > MAX_NAME:
        raise ValidationError({"name": [f"Name the token: 1 to {MAX_NAME} characters."]})
    active = ApiToken.objects.active().filter(user=user)
    if active.count() >= MAX_TOKENS:
        raise ValidationError(f"You have {MAX_TOKENS} tokens; revoke one you no longer use first.")
    if active.filter(name=name).exists():
        raise ValidationError({"name": [f"You already have a token named {name!r}; pick another name."]})
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user, name=name, prefix=text[:PREFIX_SHOWN], digest=token_digest(text)
    )
    return NewToken(token=token, text=text)


@transaction.atomic
def api_token_revoke(*, token: ApiToken, actor: Any) -> None:
    """Revoke a token: requests carrying it are refused from now on. Only its owner (or an admin) may."""
    _person(actor)
    if token.user_id != actor.pk and not actor.has_perm("sessions_app.delete_apitoken"):
        raise PermissionDenied("Only the token's owner may revoke it.")
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())
    token.refresh_from_db(fields=["revoked_at"])


def api_token_authenticate(*, text: str, now: datetime | None = None) -> Any:
    """Return the user a bearer token belongs to, or raise TokenRefusedError saying why not."""
    if not text.startswith(TOKEN_PREFIX):
        raise TokenRefusedError("That is not a wfsite API token (they start with wfs_).")
    token = ApiToken.objects.select_related("user").filter(digest=token_digest(text)).first()
    if token is None:
        raise TokenRefusedError("No such API token; make one on your API tokens page.")
    if token.revoked_at is not None:
        raise TokenRefusedError(f"This API token ({token.name!r}) was revoked.")
    if not token.user.is_active:
        raise TokenRefusedError("This API token's user may not log in.")
    now = now or timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
