"""Model providers for the workflows: the offline demo model (default) and OpenAI-compatible servers.

`model_from_env()` picks one from these environment variables (the Django side may pass a mapping
built from settings instead):

- `WFSITE_MODEL_PROVIDER`: `offline` (default) or `openai` (any OpenAI-compatible server).
- `WFSITE_OFFLINE_DELAY`: seconds the offline model waits per chunk; default 0.02, 0 for none.
- `OPENAI_BASE_URL`: server URL; default `https://api.openai.com/v1`. Ollama is
  `http://127.0.0.1:11434/v1`, vLLM `http://127.0.0.1:8000/v1`, llama.cpp `http://127.0.0.1:8080/v1`.
- `OPENAI_API_KEY`: the key; local servers ignore it, so a placeholder is sent when it is unset.
- `WFSITE_MODEL`: model name; default `gpt-4o-mini`.
- `WFSITE_MODEL_TIMEOUT`: seconds to wait for the connection and then for each streamed chunk
  (not for the whole answer); default 120.
- `WFSITE_MODEL_MAX_RETRIES`: retries after the first try on timeouts, HTTP 408, 429 and 5xx,
  0 to 10; default 3. Waits double from `WFSITE_MODEL_BACKOFF` seconds (default 1), or follow the
  server's Retry-After, capped at 30 s. Nothing is retried once text has been streamed, because
  the caller already has it; auth errors, refused connections and malformed output are not
  retried either, because trying again would not help.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator, Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import openai
from openai.types.chat import ChatCompletionMessageParam

from sessions_app.workflow.log import logger as engine_logger
from sessions_app.workflow.offline_model import DEFAULT_DELAY, OfflineModel
from sessions_app.workflow.text import replace_surrogates

__all__ = [
    "Model",
    "ModelConfigError",
    "ModelError",
    "OfflineModel",
    "OpenAICompatibleModel",
    "model_display_name",
    "model_from_env",
]

logger = engine_logger.getChild("llm")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
DEFAULT_MODEL = "gpt-4o-mini"
PLACEHOLDER_KEY = "not-needed"
OPENAI_ID_PREFIX = "openai-compatible:"
MAX_WAIT = 30.0


class ModelError(Exception):
    """Report a model failure in words a person can act on; `str(err)` is shown to them."""


class ModelConfigError(ModelError):
    """Report an invalid model setting, naming the variable."""


@runtime_checkable
class Model(Protocol):
    """Stream the text of one answer.

    A model may set `last_usage` after a stream ends: `{"prompt_tokens", "completion_tokens",
    "estimated"}`, which a workflow records on its run (`Workflow.record_usage`).
    """

    id: str

    def stream(self, *, system: str, prompt: str, topic: str | None = None) -> Iterator[str]:
        """Yield the answer's text in chunks; raise ModelError on failure."""
        ...


class _BadOutput(Exception):
    """Mark output the server sent that is not a usable chat completion."""


class OpenAICompatibleModel:
    """Stream chat completions from an OpenAI-compatible server, retrying only what is safe to retry."""

    def __init__(
        self,
        *,
        base_url: str = DEFAULT_BASE_URL,
        model: str = DEFAULT_MODEL,
        api_key: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 3,
        backoff: float = 1.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff = backoff
        self.id = f"{OPENAI_ID_PREFIX}{model} @ {self.base_url}"
        self.last_usage: dict[str, Any] | None = None
        # Our own loop retries, so the client's hidden retries must not multiply the attempts.
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key or PLACEHOLDER_KEY, timeout=timeout, max_retries=0
        )

    def __repr__(self) -> str:
        return f"OpenAICompatibleModel({self.id!r})"

    def stream(self, *, system: str, prompt: str, topic: str | None = None) -> Iterator[str]:
        """Yield the answer's text as it arrives; raise ModelError with a readable reason on failure."""
        messages: list[ChatCompletionMessageParam] = [
            {"role": "system", "content": system},
            {"role": "user", "content": prompt},
        ]
        attempt = 0
        self.last_usage = None
        while True:
            attempt += 1
            streamed = 0
            try:
                for text in self._one_try(messages):
                    streamed += len(text)
                    yield text
                return
            except (openai.OpenAIError, _BadOutput, ValueError) as err:
                if streamed:
                    raise ModelError(
                        f"The stream from {self.base_url} broke after {streamed} characters: {self._why(err)}"
                    ) from err
                if not _is_transient(err) or attempt > self.max_retries:
                    raise ModelError(self._failure(err, attempt)) from err
                wait = _wait_before_retry(err, attempt, self.backoff)
                logger.warning("%s; retrying in %.2f s (try %d)", self._why(err), wait, attempt + 1)
                time.sleep(wait)

    def _one_try(self, messages: list[ChatCompletionMessageParam]) -> Iterator[str]:
        """Yield the text of one streamed completion; raise _BadOutput if it is malformed or empty."""
        finish_reason: str | None = None
        # Leading whitespace is held back, so a blank answer fails as empty rather than as broken.
        leading, started, replaced = "", False, 0
        with self._client.chat.completions.create(
            model=self.model, messages=messages, stream=True, stream_options={"include_usage": True}
        ) as events:
            for event in events:
                self._note_usage(event)
                text, finish_reason = _read_chunk(event, finish_reason)
                # A server may send "\ud800" escapes: text no page or database can hold.
                text, count = replace_surrogates(text)
                replaced += count
                if started and text:
                    yield text
                elif not started and text.strip():
                    started = True
                    yield leading + text
                elif not started:
                    leading += text
        if replaced:
            logger.warning(
                "%s sent %d lone surrogate(s) (invalid Unicode); each was replaced by U+FFFD",
                self.id,
                replaced,
            )
        if not started:
            raise _BadOutput(f"returned an empty completion for model {self.model!r}")
        if finish_reason is None:
            raise _BadOutput("ended the stream before saying the completion was finished")
        if finish_reason == "length":
            logger.warning("%s stopped at its token limit; the text may be cut short", self.id)

    def _note_usage(self, event: object) -> None:
        """Keep the token counts a server reports (in the last chunk, when asked to include them)."""
        usage = getattr(event, "usage", None)
        prompt, completion = getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None)
        if isinstance(prompt, int) and isinstance(completion, int):
            self.last_usage = {"prompt_tokens": prompt, "completion_tokens": completion, "estimated": False}

    def _failure(self, err: BaseException, attempt: int) -> str:
        tries = f" (gave up after {attempt} tries)" if attempt > 1 else ""
        return f"The model server at {self.base_url} failed: {self._why(err)}{tries}"

    def _why(self, err: BaseException) -> str:
        """Say what went wrong in one sentence, without the client's internal wording."""
        if isinstance(err, openai.APITimeoutError):
            return f"no answer within the {self.timeout:g} s timeout (WFSITE_MODEL_TIMEOUT)"
        if isinstance(err, openai.APIConnectionError):
            cause = err.__cause__ or err
            return f"the connection failed ({cause}); is the server running at that address?"
        if isinstance(err, openai.AuthenticationError | openai.PermissionDeniedError):
            return (
                f"the server rejected the API key (HTTP {err.status_code}: {_server_message(err)}); "
                "check OPENAI_API_KEY"
            )
        if isinstance(err, openai.NotFoundError):
            return (
                f"HTTP 404 for model {self.model!r} ({_server_message(err)}); "
                "check WFSITE_MODEL and OPENAI_BASE_URL"
            )
        if isinstance(err, openai.APIStatusError):
            return f"HTTP {err.status_code}: {_server_message(err)}"
        if isinstance(err, openai.APIError):
            return f"the server reported an error: {err.message}"
        if isinstance(err, _BadOutput):
            return f"the server {err}"
        if isinstance(err, ValueError):
            return f"the server sent output that is not a valid chat completion chunk ({_clip(str(err))})"
        return f"{type(err).__name__}: {_clip(str(err))}"


def _read_chunk(event: object, finish_reason: str | None) -> tuple[str, str | None]:
    """Return one chunk's text and the finish reason so far; raise _BadOutput on the wrong shape."""
    try:
        choices = event.choices  # type: ignore[attr-defined]
        if not choices:
            return "", finish_reason  # usage-only chunks carry no choices
        choice = choices[0]
        text = choice.delta.content if choice.delta is not None else None
        finish_reason = choice.finish_reason or finish_reason
    except (AttributeError, TypeError, IndexError, KeyError) as err:
        raise _BadOutput(f"sent a chunk that is not a chat completion chunk: {_clip(repr(event))}") from err
    if text is not None and not isinstance(text, str):
        raise _BadOutput(f"sent chunk content that is not text: {_clip(repr(text))}")
    return text or "", finish_reason


def _is_transient(err: BaseException) -> bool:
    if isinstance(err, openai.APITimeoutError):
        return True
    if isinstance(err, openai.APIStatusError):
        return err.status_code in {408, 429} or err.status_code >= 500
    return False


def _wait_before_retry(err: BaseException, attempt: int, backoff: float) -> float:
    """Return seconds to wait: the server's Retry-After if it sent one, else exponential backoff."""
    wait = backoff * 2.0 ** (attempt - 1)
    if isinstance(err, openai.APIStatusError):
        # An absent Retry-After, or one given as an HTTP date, leaves the backoff as a fine stand-in.
        with contextlib.suppress(ValueError):
            wait = float(err.response.headers.get("retry-after", ""))
    return min(max(wait, 0.0), MAX_WAIT)


def _server_message(err: openai.APIStatusError) -> str:
    body = err.body
    if isinstance(body, Mapping) and isinstance(body.get("message"), str):
        return _clip(body["message"])
    try:
        return _clip(err.response.text) or err.response.reason_phrase
    except Exception:  # a streamed body that was never read cannot be shown
        return err.response.reason_phrase


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def model_display_name(model_id: str) -> str:
    """Name a model by its `Model.id` in words: "Offline demo model", "OpenAI-compatible server at <host>"."""
    if model_id == OfflineModel.id:
        return "Offline demo model"
    if model_id.startswith(OPENAI_ID_PREFIX):
        name, _, url = model_id.removeprefix(OPENAI_ID_PREFIX).rpartition(" @ ")
        # The URL's host and port, without the scheme, path or any credentials in it.
        host = urlsplit(url).netloc.rpartition("@")[2] or url
        return f"OpenAI-compatible server at {host}" + (f" (model {name})" if name else "")
    return model_id  # a workflow's own model: its id is all that is known


def model_from_env(environ: Mapping[str, str] | None = None) -> Model:
    """Build the model the environment (or the given mapping) asks for."""
    env = os.environ if environ is None else environ
    raw = env.get("WFSITE_MODEL_PROVIDER") or ""
    provider = raw.strip().lower() or "offline"
    if provider == "offline":
        return OfflineModel(delay=_number(env, "WFSITE_OFFLINE_DELAY", DEFAULT_DELAY))
    if provider in {"openai", "openai-compatible"}:
        return OpenAICompatibleModel(
            base_url=_base_url(env),
            model=env.get("WFSITE_MODEL", "").strip() or DEFAULT_MODEL,
            api_key=env.get("OPENAI_API_KEY", "").strip() or None,
            timeout=_number(env, "WFSITE_MODEL_TIMEOUT", 120.0, positive=True),
            max_retries=int(_number(env, "WFSITE_MODEL_MAX_RETRIES", 3, integer=True, maximum=10)),
            backoff=_number(env, "WFSITE_MODEL_BACKOFF", 1.0, maximum=MAX_WAIT),
        )
    raise ModelConfigError(
        f"WFSITE_MODEL_PROVIDER={raw!r} is not a known provider; use 'offline' or 'openai'."
    )


def _base_url(env: Mapping[str, str]) -> str:
    url = env.get("OPENAI_BASE_URL", "").strip() or DEFAULT_BASE_URL
    if not url.startswith(("http://", "https://")):
        raise ModelConfigError(f"OPENAI_BASE_URL={url!r} must start with http:// or https://.")
    return url


def _number(
    env: Mapping[str, str],
    name: str,
    default: float,
    *,
    positive: bool = False,
    integer: bool = False,
    maximum: float = math.inf,
) -> float:
    """Read a number of seconds or a count, raising ModelConfigError that names the variable."""
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(int(raw)) if integer else float(raw)
    except ValueError:
        kind = "a whole number" if integer else "a number"
        raise ModelConfigError(f"{name}={raw!r} is not {kind}.") from None
    low_ok = value > 0 if positive else value >= 0
    if not (math.isfinite(value) and low_ok and value <= maximum):
        low = "more than 0" if positive else "0 or more"
        high = "" if maximum == math.inf else f" and at most {maximum:g}"
        raise ModelConfigError(f"{name}={raw!r} must be {low}{high}.")
    return value
