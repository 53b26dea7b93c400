"""With DEBUG off the app itself serves static files: hashed names, compressed, cached for a year."""

from __future__ import annotations

import gzip
import re
import secrets
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import Message

import pytest
from django.test import Client

from tests.site_processes import BASE_DIR, SiteProcesses

YEAR = "max-age=315360000"


@pytest.fixture(scope="module")
def production_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Collect the static files and serve the ASGI app with DEBUG off, as the README's release does."""
    directory = tmp_path_factory.mktemp("production")
    site = SiteProcesses.create(
        directory,
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        STATIC_ROOT=str(directory / "static"),
    )
    try:
        site.manage("collectstatic", "--no-input")
        site.start_web()
        yield site.base_url
    finally:
        site.stop()


def get(url: str, **headers: str) -> tuple[int, Message, bytes]:
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        # Header names are case-insensitive (uvicorn's httptools writer sends them lowercased).
        return response.status, response.headers, response.read()


def test_debug_off_serves_hashed_gzipped_files_through_the_asgi_app(production_site: str) -> None:
    _, _, page = get(f"{production_site}/accounts/login/")
    href = re.search(rb'href="(/static/css/site\.[0-9a-f]{12}\.css)"', page)
    assert href is not None, "the page links the hashed stylesheet"

    status, headers, body = get(production_site + href[1].decode(), **{"Accept-Encoding": "gzip"})

    assert status == 200
    assert headers["Content-Encoding"] == "gzip"
    assert YEAR in headers["Cache-Control"]
    assert "immutable" in headers["Cache-Control"]
    assert headers["Content-Type"].startswith("text/css")
    assert gzip.decompress(body) == (BASE_DIR / "static" / "css" / "site.css").read_bytes()


def test_a_client_without_gzip_gets_the_plain_file(production_site: str) -> None:
    _, _, page = get(f"{production_site}/accounts/login/")
    script = re.search(rb'src="(/static/vendor/htmx/htmx\.min\.[0-9a-f]{12}\.js)"', page)
    assert script is not None

    status, headers, body = get(production_site + script[1].decode())

    assert status == 200
    assert "Content-Encoding" not in headers
    assert body == (BASE_DIR / "static" / "vendor" / "htmx" / "htmx.min.js").read_bytes()


def test_with_debug_on_files_are_served_without_collectstatic(client: Client) -> None:
    # The test settings are DEBUG-on ones (the storage was chosen at import): no manifest needed.
    response = client.get("/static/css/site.css")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == (BASE_DIR / "static" / "css" / "site.css").read_bytes()
