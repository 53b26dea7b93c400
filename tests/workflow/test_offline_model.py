from __future__ import annotations

import re

import pytest

from sessions_app.workflow import offline_model
from sessions_app.workflow.llm import Model
from sessions_app.workflow.offline_model import OfflineModel, compose_post

ODD_TOPICS = [
    "",
    "   ",
    "Tea",
    "日本語のトピック 🍵",
    "x" * 200_000,
    "lone \ud800 surrogate, NUL \x00 and\nnew # lines",
    "- [link](javascript:alert(1)) <script>alert(1)</script> {t} {0} %s",
]


@pytest.mark.parametrize("topic", ODD_TOPICS)
def test_offline_post_is_structured_markdown_of_realistic_length(topic: str) -> None:
    post = compose_post(topic)

    assert 3_000 <= len(post) <= 6_000
    assert post.startswith("# ")
    assert len(re.findall(r"^## ", post, flags=re.MULTILINE)) >= 4
    takeaways = post.split("## Key takeaways\n\n", 1)[1]
    assert len(re.findall(r"^- ", takeaways, flags=re.MULTILINE)) >= 3
    assert "written by the offline demo model" in post
    post.encode("utf-8")  # no lone surrogates reach the stored text


def test_offline_post_is_deterministic_per_topic() -> None:
    assert compose_post("The history of tea") == compose_post("The history of tea")
    assert compose_post("The history of tea") != compose_post("The history of coffee")
    # Spelling variants of case and spacing get the same post, showing the topic as typed.
    assert compose_post("the  History of TEA").replace("the History of TEA", "The history of tea") == (
        compose_post("The history of tea")
    )


def test_offline_post_templates_vary_between_topics() -> None:
    shapes = {re.sub(r"Topic \d+", "T", compose_post(f"Topic {n}")) for n in range(20)}

    assert len(shapes) > 5


def test_offline_post_inserts_the_topic_as_written_on_one_line() -> None:
    post = compose_post("<b>Bold</b> & *stars*\r\nsecond line")

    assert "# " in post.splitlines()[0]
    assert "<b>Bold</b> & *stars* second line" in post.splitlines()[0]
    assert "\r" not in post


def test_offline_stream_chunks_join_into_the_post_and_topic_falls_back_to_prompt() -> None:
    model = OfflineModel(delay=0)

    chunks = list(model.stream(system="sys", prompt="ignored", topic="Tea"))

    assert "".join(chunks) == compose_post("Tea")
    assert len(chunks) > 300
    assert "".join(model.stream(system="sys", prompt="Coffee")) == compose_post("Coffee")
    assert model.id == "offline"
    assert isinstance(model, Model)


def test_offline_stream_waits_the_configured_delay_per_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(offline_model.time, "sleep", waits.append)

    chunks = list(OfflineModel(delay=0.05).stream(system="", prompt="", topic="Tea"))
    assert waits == [0.05] * len(chunks)

    waits.clear()
    list(OfflineModel(delay=0).stream(system="", prompt="", topic="Tea"))
    assert waits == []


def test_offline_default_pace_is_realistic() -> None:
    chunks = list(OfflineModel(delay=0).stream(system="", prompt="", topic="Tea"))

    assert 5 <= len(chunks) * offline_model.DEFAULT_DELAY <= 30


@pytest.mark.parametrize("delay", [-1.0, float("nan"), float("inf")])
def test_offline_model_rejects_invalid_delay(delay: float) -> None:
    with pytest.raises(ValueError, match="delay"):
        OfflineModel(delay=delay)
