"""The API as a whole: a valid OpenAPI 3 schema, a docs page from packaged files under the site's
CSP, and one JSON error shape for unknown paths and wrong methods."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.conf import settings
from django.contrib.staticfiles import finders
from django.test import Client
from openapi_spec_validator import validate

from tests.api.conftest import error_of

pytestmark = pytest.mark.django_db

EXPECTED_OPERATIONS = {
    ("get", "/api/v1/sessions"),
    ("post", "/api/v1/sessions"),
    ("get", "/api/v1/sessions/{session_id}"),
    ("patch", "/api/v1/sessions/{session_id}"),
    ("delete", "/api/v1/sessions/{session_id}"),
    ("get", "/api/v1/sessions/{session_id}/state"),
    ("put", "/api/v1/sessions/{session_id}/state"),
    ("patch", "/api/v1/sessions/{session_id}/state"),
    ("get", "/api/v1/sessions/{session_id}/caches"),
    ("get", "/api/v1/sessions/{session_id}/caches/{cache}/entries"),
    ("get", "/api/v1/sessions/{session_id}/caches/{cache}/entries/{key}"),
    ("delete", "/api/v1/sessions/{session_id}/caches/{cache}/entries/{key}"),
    ("post", "/api/v1/sessions/{session_id}/runs"),
    ("get", "/api/v1/runs/{run_id}"),
    ("get", "/api/v1/runs/{run_id}/events"),
    ("get", "/api/v1/sessions/{session_id}/history"),
    ("get", "/api/v1/sessions/{session_id}/history/{version}"),
    ("get", "/api/v1/sessions/{session_id}/diff"),
    ("post", "/api/v1/sessions/{session_id}/history/{version}/restore"),
    ("post", "/api/v1/sessions/{session_id}/history/{version}/undo"),
    ("post", "/api/v1/sessions/{session_id}/history/{version}/fork"),
    ("get", "/api/v1/sessions/{session_id}/export"),
    ("post", "/api/v1/imports"),
    ("post", "/api/v1/runs/{run_id}/cancel"),
    ("post", "/api/v1/runs/{run_id}/again"),
}


@pytest.fixture
def schema(client: Client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    return response.json()


def test_the_schema_is_valid_openapi_3(schema: dict[str, Any]) -> None:
    validate(schema)

    assert schema["openapi"].startswith("3.")


def test_the_schema_has_no_key_twice(client: Client) -> None:
    # Browsers' Swagger UI parses the schema with js-yaml, which refuses a duplicated key.
    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [key for key, _ in pairs]
        assert len(keys) == len(set(keys)), keys
        return dict(pairs)

    json.loads(client.get("/api/v1/openapi.json").content, object_pairs_hook=unique)


def test_the_schema_lists_every_operation_with_both_ways_to_authenticate(schema: dict[str, Any]) -> None:
    operations = {(method, path) for path, item in schema["paths"].items() for method in item}

    assert operations == EXPECTED_OPERATIONS
    schemes = schema["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            assert operation.get("security"), (method, path)


def test_operation_ids_are_the_endpoints_names_each_once(schema: dict[str, Any]) -> None:
    ids = [operation["operationId"] for item in schema["paths"].values() for operation in item.values()]

    assert len(ids) == len(set(ids)) == len(EXPECTED_OPERATIONS)
    assert {"state_get", "state_put", "state_patch", "runs_start", "runs_events"} <= set(ids)


def test_writes_document_if_match_and_their_patch_types(schema: dict[str, Any]) -> None:
    state = schema["paths"]["/api/v1/sessions/{session_id}/state"]

    assert set(state["patch"]["requestBody"]["content"]) == {
        "application/merge-patch+json",
        "application/json-patch+json",
    }
    for method in ("put", "patch"):
        assert "If-Match" in {p["name"] for p in state[method]["parameters"]}
    assert "ErrorOut" in schema["components"]["schemas"]
    assert "412" in state["patch"]["responses"]


def test_the_docs_page_uses_packaged_files_and_no_inline_script(client: Client) -> None:
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    assert response["Content-Security-Policy"] == settings.WFSITE_CONTENT_SECURITY_POLICY
    html = response.content.decode()
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html)
    assert sources
    assert all(src.startswith("/static/") for src in sources), sources
    for src in sources:
        assert finders.find(src.removeprefix("/static/")), src
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert all(
        attrs.strip() == 'type="application/json" id="swagger-settings"' or not body.strip()
        for attrs, body in scripts
    )
    assert "cdn" not in html.lower()


def test_an_unknown_api_path_is_a_json_404(client: Client) -> None:
    for path in ("/api/v1/nothing", "/api/v1/sessions/a/b/c/d", "/api/v1/runs/x/events/more"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert error_of(response)["code"] == "not_found"


def test_a_wrong_method_is_a_json_405_naming_the_allowed_ones(client: Client) -> None:
    response = client.put("/api/v1/sessions")

    assert response.status_code == 405
    assert response["Allow"] == "GET, POST"
    assert error_of(response) == {
        "code": "method_not_allowed",
        "message": "This URL answers GET, POST.",
        "details": {"allowed": ["GET", "POST"]},
    }


def test_the_root_says_where_the_schema_and_docs_are(client: Client) -> None:
    response = client.get("/api/v1/")

    assert response.status_code == 200
    assert response.json() == {
        "openapi": "/api/v1/openapi.json",
        "docs": "/api/v1/docs",
        "sessions": "/api/v1/sessions",
    }
