"""Write a deterministic demo blog post for a topic, with no key and no network.

The same topic (compared after Unicode normalisation, case folding and whitespace collapsing) always
gives the same post; a hash of it picks the title and one variant of every section. The topic is
untrusted and goes into the Markdown as written (escaping is the renderer's job), except that control
characters and runs of whitespace become one space, so a topic cannot add lines to the post, and it is
cut to 120 characters, so a huge topic cannot make a huge post. No template starts a line with the topic.
"""

from __future__ import annotations

import hashlib
import math
import re
import time
import unicodedata
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

DEFAULT_DELAY = 0.02
MAX_TOPIC_CHARS = 120
UNTITLED = "an untitled topic"

T = TypeVar("T")

# A word and the whitespace after it: roughly one token, and the chunks join back into the exact text.
_CHUNK = re.compile(r"\S+\s*|\s+")

_TITLES = (
    "{t}: A Practical Guide",
    "Understanding {t}",
    "What Everyone Should Know About {t}",
    "{t}, Explained Without the Hype",
    "A Field Guide to {t}",
    "Getting Started with {t}",
)

_INTROS = (
    "Few subjects reward a careful look as much as {t}. It is easy to collect opinions about it and hard "
    "to collect understanding, so this post takes the slow road: where the idea comes from, how it works "
    "in practice, what tends to go wrong, and what to do on Monday morning.",
    "If you have heard about {t} and wondered whether it deserves your attention, this post is for you. "
    "We will skip the jargon where we can, define it where we cannot, and end with a short list of things "
    "worth remembering.",
    "Conversations about {t} come up more often every year, usually in a hurry and rarely with context. "
    "Here is the context: a plain account of the basics, the trade-offs people argue about, and the "
    "habits that separate a good first attempt from a frustrating one.",
)

# Each section is (heading, paragraph, paragraph); one variant per section is chosen by the topic's hash.
_SECTIONS: tuple[tuple[tuple[str, str, str], ...], ...] = (
    (
        (
            "Where {t} comes from",
            "Every idea has a history, and {t} is no exception. It grew out of practical problems that "
            "people kept running into, long before anyone gave it a name. Knowing that history helps, because the "
            "original problems explain most of the shape the idea has today.",
            "The early versions were rough. They worked for the people who built them and few others. Over "
            "time the useful parts were kept, the awkward parts were smoothed away, and what remains is "
            "simpler to explain than it first appears.",
        ),
        (
            "A short background",
            "Before going further it is worth setting the scene. {t} did not arrive fully formed; it is the "
            "sum of many small improvements, each made by someone who needed a better answer than the one "
            "they had.",
            "That is good news for newcomers. Because the idea was assembled from understandable pieces, it "
            "can be taken apart the same way, one piece at a time, without needing to grasp everything at "
            "once.",
        ),
    ),
    (
        (
            "Why it matters",
            "The main reason to care about {t} is leverage. A modest investment of time tends to pay back "
            "across many situations, because the same principles show up again and again once you know to "
            "look for them.",
            "There is also a cost to ignoring it. Teams and individuals who skip the fundamentals often end "
            "up rediscovering them under pressure, which is the most expensive way to learn anything.",
        ),
        (
            "The case for paying attention",
            "It would be easy to treat {t} as a passing trend. The evidence points the other way: the "
            "questions it answers are old and durable, even if the vocabulary around them keeps changing.",
            "Paying attention early also means you get to form your own view, rather than inheriting one "
            "from whoever spoke loudest. That independence is worth more than any single technique.",
        ),
    ),
    (
        (
            "How it works",
            "At its core, {t} rests on a handful of ideas. First, start from a clear goal and work "
            "backwards. Second, prefer small steps that can be checked over large leaps that cannot. Third, write down "
            "what you learn so the next attempt starts further ahead.",
            "None of these is surprising on its own. The value comes from applying them together and "
            "consistently, especially on the days when cutting a corner looks tempting.",
        ),
        (
            "The key ideas",
            "Strip away the details and {t} comes down to three questions: what are we trying to achieve, "
            "how will we know we achieved it, and what is the smallest thing we can try next?",
            "Those questions sound simple, and they are. The difficulty lies in asking them honestly, "
            "accepting answers that are inconvenient, and adjusting course before the cost of being wrong "
            "grows large.",
        ),
    ),
    (
        (
            "Common pitfalls",
            "The most frequent mistake with {t} is doing too much at once. Ambitious plans feel productive "
            "but hide problems until they are expensive. A close second is copying someone else's approach "
            "without understanding the situation it was designed for.",
            "A quieter pitfall is neglecting maintenance. Whatever you build around {t} will need care over "
            "time, and a plan that ignores that care is really a plan to start over later.",
        ),
        (
            "Misconceptions worth clearing up",
            "One persistent myth is that {t} is only for specialists. In practice the basics are accessible "
            "to anyone willing to spend an afternoon on them, and the advanced parts build directly on those "
            "basics.",
            "Another myth is that there is a single correct way to do it. There are good and bad approaches, "
            "but the right one depends on constraints that differ from one situation to the next.",
        ),
    ),
    (
        (
            "Getting started",
            "Begin with one small, real problem where {t} applies. Keep the scope narrow enough to finish in "
            "a week, and decide in advance what a good outcome would look like.",
            "When you are done, look back honestly. Note what worked, what surprised you and what you would "
            "change. That short review is where most of the learning happens, and it makes the second "
            "attempt noticeably better than the first.",
        ),
        (
            "Putting it into practice",
            "Reading about {t} only goes so far; the understanding that lasts comes from trying it. Pick a "
            "modest project, set a deadline, and resist the urge to polish before the basics work.",
            "Share what you build with someone whose judgement you trust. A second pair of eyes catches the "
            "assumptions you stopped noticing, and explaining your choices out loud is a test of whether you "
            "really understand them.",
        ),
    ),
    (
        (
            "Looking ahead",
            "The story of {t} is still being written. Tools will improve and fashions will change, but the "
            "underlying questions will stay recognisable, which is exactly why the fundamentals repay the "
            "time spent on them.",
            "Stay curious, keep notes, and revisit your assumptions every so often. The people who get the "
            "most out of any field are rarely the ones who learned the most at the start; they are the ones "
            "who kept learning.",
        ),
    ),
)

_TAKEAWAYS = (
    "Start small with {t}: one real problem, a narrow scope and a clear definition of done.",
    "Learn the history; it explains why {t} looks the way it does today.",
    "Prefer steps you can check over leaps you cannot.",
    "Write down what you learn so the next attempt starts further ahead.",
    "Be wary of copying an approach without understanding the problem it was built for.",
    "Plan for maintenance from the beginning, not as an afterthought.",
    "There is rarely one correct way; let your constraints choose between good options.",
    "Ask for feedback early, from someone whose judgement you trust.",
)

_FOOTER = (
    "*This post was written by the offline demo model, a built-in stand-in that needs no API key and no "
    "network. It follows templates picked by the topic, so it is illustrative rather than researched. "
    "Configure an OpenAI-compatible model to get real writing.*"
)


def display_topic(topic: str) -> str:
    """Return the topic as it appears in the post: one line, printable, at most 120 characters."""
    text = "".join(" " if unicodedata.category(char) in {"Cc", "Cs"} else char for char in topic)
    text = " ".join(text.split())
    if len(text) > MAX_TOPIC_CHARS:
        text = text[: MAX_TOPIC_CHARS - 1].rstrip() + "…"
    return text or UNTITLED


def topic_key(topic: str) -> bytes:
    """Return the bytes that identify a topic, so spelling variants of case and spacing agree."""
    normal = " ".join(unicodedata.normalize("NFKC", topic).casefold().split())
    # Lone surrogates are valid in a Python str but not in UTF-8; keep them distinct, never crash.
    return normal.encode("utf-8", "surrogatepass")


def compose_post(topic: str) -> str:
    """Return the whole offline post for a topic."""
    key = topic_key(topic)
    shown = display_topic(topic)
    parts = [f"# {_pick(key, 'title', _TITLES)}", _pick(key, "intro", _INTROS)]
    for index, variants in enumerate(_SECTIONS):
        heading, first, second = _pick(key, f"section-{index}", variants)
        parts.extend([f"## {heading}", first, second])
    parts.append("## Key takeaways")
    parts.append("\n".join(f"- {line}" for line in _pick_several(key, "takeaways", _TAKEAWAYS, 5)))
    parts.extend(["---", _FOOTER])
    return "\n\n".join(parts).replace("{t}", shown) + "\n"


def _digest(key: bytes, slot: str) -> int:
    return int.from_bytes(hashlib.sha256(slot.encode() + b"\0" + key).digest()[:8], "big")


def _pick(key: bytes, slot: str, options: Sequence[T]) -> T:
    return options[_digest(key, slot) % len(options)]


def _pick_several(key: bytes, slot: str, options: Sequence[T], count: int) -> list[T]:
    """Pick `count` distinct options, keeping their original order so the list reads naturally."""
    ranked = sorted(range(len(options)), key=lambda index: _digest(key, f"{slot}-{index}"))
    return [options[index] for index in sorted(ranked[:count])]


def estimate_tokens(text: str) -> int:
    """Estimate the tokens of a text: about four characters each, at least one for any text."""
    return max(1, round(len(text) / 4)) if text else 0


class OfflineModel:
    """Stream a deterministic Markdown post for the topic at a configurable pace."""

    id = "offline"
    last_usage: dict[str, Any] | None = None

    def __init__(self, delay: float = DEFAULT_DELAY) -> None:
        if not (math.isfinite(delay) and delay >= 0):
            raise ValueError(f"delay must be a finite number of seconds, 0 or more, not {delay!r}")
        self.delay = delay

    def __repr__(self) -> str:
        return f"OfflineModel(delay={self.delay!r})"

    def stream(self, *, system: str, prompt: str, topic: str | None = None) -> Iterator[str]:
        """Yield the post for `topic` (or, without one, for `prompt`) one word at a time.

        Afterwards `last_usage` holds token counts estimated the way OpenAI's tokenizer averages
        English (about four characters a token), marked as estimates.
        """
        self.last_usage = None
        text = compose_post(prompt if topic is None else topic)
        for match in _CHUNK.finditer(text):
            if self.delay:
                time.sleep(self.delay)
            yield match.group()
        self.last_usage = {
            "prompt_tokens": estimate_tokens(system) + estimate_tokens(prompt),
            "completion_tokens": estimate_tokens(text),
            "estimated": True,
        }
