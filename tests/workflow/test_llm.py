from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sessions_app.workflow import llm
from sessions_app.workflow.llm import (
    Model,
    ModelConfigError,
    ModelError,
    OfflineModel,
    OpenAICompatibleModel,
    model_display_name,
    model_from_env,
)

from .fake_openai_server import FakeOpenAIServer, Script

# The OpenAI-compatible model, through the real openai client and a fake server


@pytest.fixture
def server() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as fake:
        yield fake


def make_model(url: str, **options: float) -> OpenAICompatibleModel:
    settings: dict[str, float] = {"timeout": 0.3, "max_retries": 2, "backoff": 0.01, **options}
    return OpenAICompatibleModel(
        base_url=url,
        model="llama3.1",
        timeout=settings["timeout"],
        max_retries=int(settings["max_retries"]),
        backoff=settings["backoff"],
    )


def collect(model: OpenAICompatibleModel) -> tuple[list[str], ModelError | None]:
    """Return the chunks received before any ModelError, and the error."""
    chunks: list[str] = []
    try:
        for chunk in model.stream(system="Be brief.", prompt="Write about tea.", topic="tea"):
            chunks.append(chunk)
    except ModelError as err:
        return chunks, err
    return chunks, None


def test_streams_tokens_with_system_and_user_messages(server: FakeOpenAIServer) -> None:
    model = make_model(server.base_url)

    chunks, error = collect(model)

    assert error is None
    assert chunks == ["Hello", " from", " the", " fake", " server."]
    body = server.bodies[0]
    assert body["model"] == "llama3.1"
    assert body["stream"] is True
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write about tea."},
    ]
    assert server.headers[0]["authorization"] == "Bearer not-needed"
    assert model.id == f"openai-compatible:llama3.1 @ {server.base_url}"
    assert isinstance(model, Model)


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_transient_statuses_then_succeeds(server: FakeOpenAIServer, status: int) -> None:
    server.script = Script(fail_first=2, fail_status=status)

    chunks, error = collect(make_model(server.base_url))

    assert error is None
    assert "".join(chunks) == "Hello from the fake server."
    assert server.request_count == 3


def test_gives_up_after_bounded_retries_with_a_readable_error(server: FakeOpenAIServer) -> None:
    server.script = Script(fail_first=99, fail_status=500)

    chunks, error = collect(make_model(server.base_url, max_retries=3))

    assert chunks == []
    assert server.request_count == 4
    assert str(error) == (
        f"The model server at {server.base_url} failed: HTTP 500: scripted failure 4 (gave up after 4 tries)"
    )


def test_retries_a_stalled_server_after_the_timeout(server: FakeOpenAIServer) -> None:
    server.script = Script(stall_first=1, stall_seconds=3)
    started = time.monotonic()

    chunks, error = collect(make_model(server.base_url, timeout=0.3))

    assert error is None
    assert "".join(chunks) == "Hello from the fake server."
    assert server.request_count == 2
    assert time.monotonic() - started < 2


def test_a_server_that_always_stalls_times_out_with_a_readable_error(server: FakeOpenAIServer) -> None:
    server.script = Script(stall_first=99, stall_seconds=3)

    chunks, error = collect(make_model(server.base_url, timeout=0.2, max_retries=1))

    assert chunks == []
    assert server.request_count == 2
    assert server.base_url in str(error)
    assert "no answer within the 0.2 s timeout (WFSITE_MODEL_TIMEOUT)" in str(error)
    assert "gave up after 2 tries" in str(error)


def test_waits_grow_exponentially_or_follow_retry_after(
    server: FakeOpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []
    monkeypatch.setattr(llm.time, "sleep", waits.append)
    server.script = Script(fail_first=3, fail_status=502)

    collect(make_model(server.base_url, max_retries=3, backoff=0.5))
    assert waits == [0.5, 1.0, 2.0]

    waits.clear()
    server.script = Script(fail_first=99, fail_status=429, retry_after="7")
    collect(make_model(server.base_url, max_retries=2, backoff=0.5))
    assert waits == [7.0, 7.0]

    waits.clear()
    server.script = Script(fail_first=99, fail_status=429, retry_after="86400")
    collect(make_model(server.base_url, max_retries=1))
    assert waits == [llm.MAX_WAIT]


def test_a_stall_mid_stream_is_not_retried_and_keeps_the_text_already_sent(server: FakeOpenAIServer) -> None:
    server.script = Script(stall_after=2, stall_seconds=3)

    chunks, error = collect(make_model(server.base_url, timeout=0.3))

    assert chunks == ["Hello", " from"]
    assert server.request_count == 1
    assert str(error) == (
        f"The stream from {server.base_url} broke after 10 characters: "
        "no answer within the 0.3 s timeout (WFSITE_MODEL_TIMEOUT)"
    )


def test_garbage_mid_stream_is_a_readable_error_without_retry(server: FakeOpenAIServer) -> None:
    server.script = Script(garbage_after=1)

    chunks, error = collect(make_model(server.base_url))

    assert chunks == ["Hello"]
    assert server.request_count == 1
    assert server.base_url in str(error)
    assert "broke after 5 characters" in str(error)
    assert "not a valid chat completion chunk" in str(error)


def test_garbage_before_any_text_is_not_retried(server: FakeOpenAIServer) -> None:
    server.script = Script(garbage_after=0)

    chunks, error = collect(make_model(server.base_url))

    assert chunks == []
    assert server.request_count == 1
    assert str(error).startswith(f"The model server at {server.base_url} failed: the server sent output")


def test_an_error_event_mid_stream_is_reported(server: FakeOpenAIServer) -> None:
    server.script = Script(error_event_after=2)

    chunks, error = collect(make_model(server.base_url))

    assert chunks == ["Hello", " from"]
    assert "the server reported an error: scripted mid-stream failure" in str(error)


def test_a_stream_that_ends_without_finishing_is_an_error(server: FakeOpenAIServer) -> None:
    server.script = Script(truncate_after=3)

    chunks, error = collect(make_model(server.base_url))

    assert chunks == ["Hello", " from", " the"]
    assert "ended the stream before saying the completion was finished" in str(error)


@pytest.mark.parametrize("chunks", [[], ["", ""], [" ", "\n\n"]])
def test_an_empty_completion_is_a_readable_error(server: FakeOpenAIServer, chunks: list[str]) -> None:
    server.script = Script(chunks=chunks)

    _, error = collect(make_model(server.base_url))

    assert server.request_count == 1
    assert str(error) == (
        f"The model server at {server.base_url} failed: "
        "the server returned an empty completion for model 'llama3.1'"
    )


@pytest.mark.parametrize(
    ("status", "hint"),
    [
        (401, "rejected the API key (HTTP 401: scripted HTTP 401); check OPENAI_API_KEY"),
        (403, "rejected the API key (HTTP 403"),
        (404, "HTTP 404 for model 'llama3.1' (scripted HTTP 404); check WFSITE_MODEL and OPENAI_BASE_URL"),
        (400, "HTTP 400: scripted HTTP 400"),
    ],
)
def test_client_errors_are_not_retried(server: FakeOpenAIServer, status: int, hint: str) -> None:
    server.script = Script(always_status=status)

    _, error = collect(make_model(server.base_url))

    assert server.request_count == 1
    assert server.base_url in str(error)
    assert hint in str(error)


def test_connection_refused_is_a_readable_error_without_retry() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}/v1"
    started = time.monotonic()

    _, error = collect(make_model(url, backoff=5))

    assert time.monotonic() - started < 2
    assert str(error).startswith(f"The model server at {url} failed: the connection failed (")
    assert "is the server running at that address?" in str(error)


def test_a_consumer_that_stops_early_closes_the_stream(server: FakeOpenAIServer) -> None:
    server.script = Script(chunk_delay=0.05)
    stream = make_model(server.base_url).stream(system="", prompt="hi")

    assert next(stream) == "Hello"
    stream.close()

    assert server.request_count == 1


# Choosing a model from the environment


def test_model_from_env_defaults_to_the_offline_model() -> None:
    model = model_from_env({})

    assert isinstance(model, OfflineModel)
    assert model.delay == 0.02
    assert isinstance(
        model_from_env({"WFSITE_MODEL_PROVIDER": " Offline ", "WFSITE_OFFLINE_DELAY": "0"}), Model
    )


def test_model_from_env_reads_os_environ_when_given_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFSITE_MODEL_PROVIDER", "offline")
    monkeypatch.setenv("WFSITE_OFFLINE_DELAY", "0.5")

    model = model_from_env()

    assert isinstance(model, OfflineModel)
    assert model.delay == 0.5


def test_model_from_env_builds_an_openai_compatible_model() -> None:
    model = model_from_env(
        {
            "WFSITE_MODEL_PROVIDER": "openai",
            "OPENAI_BASE_URL": "http://127.0.0.1:11434/v1/",
            "OPENAI_API_KEY": "sk-test",
            "WFSITE_MODEL": "llama3.1",
            "WFSITE_MODEL_TIMEOUT": "30",
            "WFSITE_MODEL_MAX_RETRIES": "5",
            "WFSITE_MODEL_BACKOFF": "0.25",
        }
    )

    assert isinstance(model, OpenAICompatibleModel)
    assert model.id == "openai-compatible:llama3.1 @ http://127.0.0.1:11434/v1"
    assert (model.timeout, model.max_retries, model.backoff) == (30.0, 5, 0.25)
    assert model._client.api_key == "sk-test"


def test_model_from_env_openai_defaults() -> None:
    model = model_from_env({"WFSITE_MODEL_PROVIDER": "openai"})

    assert isinstance(model, OpenAICompatibleModel)
    assert model.id == "openai-compatible:gpt-4o-mini @ https://api.openai.com/v1"
    assert (model.timeout, model.max_retries, model.backoff) == (120.0, 3, 1.0)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("WFSITE_MODEL_PROVIDER", "gpt", "is not a known provider"),
        ("WFSITE_OFFLINE_DELAY", "fast", "is not a number"),
        ("WFSITE_OFFLINE_DELAY", "nan", "must be 0 or more"),
        ("WFSITE_MODEL_TIMEOUT", "abc", "is not a number"),
        ("WFSITE_MODEL_TIMEOUT", "0", "must be more than 0"),
        ("WFSITE_MODEL_MAX_RETRIES", "2.5", "is not a whole number"),
        ("WFSITE_MODEL_MAX_RETRIES", "-1", "must be 0 or more and at most 10"),
        ("WFSITE_MODEL_MAX_RETRIES", "11", "at most 10"),
        ("WFSITE_MODEL_BACKOFF", "-0.5", "must be 0 or more"),
        ("OPENAI_BASE_URL", "localhost:11434", "must start with http:// or https://"),
    ],
)
def test_invalid_settings_raise_an_error_naming_the_variable(name: str, value: str, reason: str) -> None:
    env = {"WFSITE_MODEL_PROVIDER": "openai", name: value}
    if name == "WFSITE_OFFLINE_DELAY":
        env["WFSITE_MODEL_PROVIDER"] = "offline"

    with pytest.raises(ModelConfigError, match=reason) as caught:
        model_from_env(env)

    assert str(caught.value).startswith(f"{name}=")
    assert isinstance(caught.value, ModelError)


def test_the_model_modules_import_without_django() -> None:
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    code = (
        "import sys; import sessions_app.workflow.llm, sessions_app.workflow.search; "
        "assert not [m for m in sys.modules if m.split('.')[0] == 'django'], 'django was imported'"
    )
    root = Path(__file__).resolve().parents[2]

    subprocess.run([sys.executable, "-c", code], cwd=root, env=env, check=True, timeout=60)


def test_the_servers_token_counts_are_kept_as_the_models_usage(server: FakeOpenAIServer) -> None:
    model = OpenAICompatibleModel(base_url=server.base_url, model="m", max_retries=0)
    assert "".join(model.stream(system="s", prompt="p")) == "Hello from the fake server."
    assert server.bodies[-1]["stream_options"] == {"include_usage": True}
    assert model.last_usage == {"prompt_tokens": 12, "completion_tokens": 5, "estimated": False}
    server.script.usage = None
    list(model.stream(system="s", prompt="p"))
    assert model.last_usage is None  # a server that does not count leaves no usage behind


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({}, "Offline demo model"),
        (
            {"WFSITE_MODEL_PROVIDER": "openai"},
            "OpenAI-compatible server at api.openai.com (model gpt-4o-mini)",
        ),
        (
            {
                "WFSITE_MODEL_PROVIDER": "openai",
                "OPENAI_BASE_URL": "http://user:secret@127.0.0.1:11434/v1",
                "WFSITE_MODEL": "llama3.1",
            },
            "OpenAI-compatible server at 127.0.0.1:11434 (model llama3.1)",
        ),
    ],
)
def test_a_model_is_named_in_words_from_its_id(env: dict[str, str], name: str) -> None:
    assert model_display_name(model_from_env(env).id) == name
    assert "secret" not in model_display_name(model_from_env(env).id)


def test_an_unknown_model_id_is_shown_as_it_is() -> None:
    assert model_display_name("my-own-model") == "my-own-model"
