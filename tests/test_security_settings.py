"""Production settings pass `check --deploy`; development defaults still work; every page has a CSP."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
STRONG_KEY = secrets.token_urlsafe(60)
PRINT = """
import json
from django.conf import settings
names = ["DEBUG", "SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE", "SECURE_HSTS_SECONDS",
         "SECURE_HSTS_INCLUDE_SUBDOMAINS", "SECURE_HSTS_PRELOAD", "SECURE_PROXY_SSL_HEADER", "SECRET_KEY"]
print(json.dumps({name: getattr(settings, name) for name in names}))
"""


def clean_env(tmp_path: Path, **env: str) -> dict[str, str]:
    """Return this environment without the site's knobs, plus `env` and a scratch database."""
    kept = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECURE_", "WFSITE_", "SESSION_", "CSRF_"))
        and k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "DJANGO_SETTINGS_MODULE"}
    }
    return {
        **kept,
        "DJANGO_SETTINGS_MODULE": "wfsite.settings",
        "DATABASE_URL": f"sqlite:///{tmp_path}/deploy.sqlite3",
        **env,
    }


def production(tmp_path: Path, **env: str) -> dict[str, str]:
    return clean_env(
        tmp_path, **{"DEBUG": "false", "SECRET_KEY": STRONG_KEY, "ALLOWED_HOSTS": "wfsite.example", **env}
    )


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def read_settings(env: dict[str, str]) -> dict[str, object]:
    done = run([sys.executable, "-c", "import django; django.setup();" + PRINT], env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_check_deploy_is_clean_under_the_production_settings(tmp_path: Path) -> None:
    done = run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], production(tmp_path)
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert "WARNINGS" not in done.stdout + done.stderr
    assert "System check identified no issues" in done.stdout


def test_production_turns_on_https_protections(tmp_path: Path) -> None:
    out = read_settings(production(tmp_path))

    assert out["DEBUG"] is False
    assert out["SECURE_SSL_REDIRECT"] is True
    assert out["SESSION_COOKIE_SECURE"] is True
    assert out["CSRF_COOKIE_SECURE"] is True
    assert out["SECURE_HSTS_SECONDS"] == 31_536_000
    assert out["SECURE_HSTS_INCLUDE_SUBDOMAINS"] is True
    assert out["SECURE_HSTS_PRELOAD"] is True
    assert out["SECURE_PROXY_SSL_HEADER"] is None


def test_https_knobs_can_be_overridden_for_a_tls_proxy(tmp_path: Path) -> None:
    out = read_settings(
        production(
            tmp_path,
            SECURE_SSL_REDIRECT="false",
            SECURE_PROXY_SSL_HEADER="HTTP_X_FORWARDED_PROTO,https",
            SECURE_HSTS_SECONDS="3600",
            SECURE_HSTS_PRELOAD="false",
        )
    )

    assert out["SECURE_SSL_REDIRECT"] is False
    assert out["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert out["SECURE_HSTS_SECONDS"] == 3600
    assert out["SECURE_HSTS_PRELOAD"] is False


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SECRET_KEY": "short-but-set"}, "SECRET_KEY is 13 characters long; use at least 50"),
        ({"SECRET_KEY": "django-insecure-local-development-only-" + "x" * 20}, "the development default"),
        ({"SECRET_KEY": "django-insecure-" + STRONG_KEY}, "the development default"),
        ({"SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO"}, "must be a header and a value"),
        ({"SECURE_HSTS_SECONDS": "a year"}, "SECURE_HSTS_SECONDS must be a whole number"),
        ({"WFSITE_RUN_RATE_LIMIT": "20 per minute"}, "WFSITE_RUN_RATE_LIMIT must look like 20/60"),
    ],
)
def test_weak_or_bad_production_settings_are_refused(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    done = run([sys.executable, "-c", "import django; django.setup()"], production(tmp_path, **env))

    assert done.returncode != 0
    assert message in done.stderr


def test_debug_defaults_still_work_over_plain_http(tmp_path: Path) -> None:
    out = read_settings(clean_env(tmp_path))

    assert out["DEBUG"] is True
    assert str(out["SECRET_KEY"]).startswith("django-insecure-")
    assert out["SECURE_SSL_REDIRECT"] is False
    assert out["SESSION_COOKIE_SECURE"] is False
    assert out["CSRF_COOKIE_SECURE"] is False
    assert out["SECURE_HSTS_SECONDS"] == 0


def test_the_suite_runs_with_the_debug_defaults(client: Client) -> None:
    response = client.get("/accounts/login/")

    assert response.status_code == 200  # no redirect to https
    assert not django_settings.SECURE_SSL_REDIRECT


# -- headers --------------------------------------------------------------------------------------


def test_pages_send_the_content_security_policy_and_browser_protections(client: Client) -> None:
    response = client.get("/accounts/login/")

    csp = response["Content-Security-Policy"]
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "connect-src 'self'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
    ):
        assert directive in csp
    assert "unsafe-eval" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"


@pytest.mark.django_db
def test_errors_and_redirects_carry_the_policy_too(client: Client) -> None:
    assert "Content-Security-Policy" in client.get("/sessions/")  # the login redirect
    assert "Content-Security-Policy" in client.get("/no-such-page/")


@pytest.mark.django_db
def test_https_redirect_and_proxy_header_when_turned_on(settings: Any) -> None:
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    client = Client()  # a new client loads the middleware with these settings

    plain = client.get("/accounts/login/")
    proxied = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")

    assert plain.status_code == 301
    assert plain["Location"] == "https://testserver/accounts/login/"
    assert proxied.status_code == 200


# -- templates keep to the policy -----------------------------------------------------------------

INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
EVENT_HANDLER = re.compile(r"<[^>]*\s(on[a-z]+|hx-on[:\w-]*)\s*=", re.IGNORECASE)


@pytest.mark.parametrize("path", sorted((ROOT / "templates").rglob("*.html")), ids=lambda p: p.name)
def test_templates_have_no_inline_scripts_or_event_handlers(path: Path) -> None:
    text = path.read_text()
    # json_script's <script type="application/json"> is data, not code; CSP allows it.
    scripts = [tag for tag in INLINE_SCRIPT.findall(text) if "application/json" not in tag]

    assert not scripts, f"{path}: inline <script> is blocked by script-src 'self'; move it to static/js/"
    assert not EVENT_HANDLER.search(text), f"{path}: on*= / hx-on need 'unsafe-inline' / 'unsafe-eval'"
