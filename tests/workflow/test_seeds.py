"""The three upstream documents' code, run as written on our engine."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from sessions_app.workflow import RunEvent
from tests.workflow.conftest import FakeWriter

ROOT = Path(__file__).resolve().parents[2]
SEEDS_DIR = ROOT.parent / "shared" / "seeds"
SEED_MODULES = ["seed_000", "seed_001", "seed_002"]


def load_seed(name: str, post: str) -> ModuleType:
    module = importlib.import_module(f"tests.workflow.seeds.{name}")
    module.BlogPostGenerator.writer = FakeWriter(post)
    return module


@pytest.fixture(params=SEED_MODULES)
def seed(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # The seeds use a relative db_file, "tmp/workflows.db".
    monkeypatch.chdir(tmp_path)
    return load_seed(request.param, "# Post about AI agents\n\nBody.")


def test_first_run_generates_and_caches(seed: ModuleType, tmp_path: Path) -> None:
    workflow = seed.create_workflow()
    events = list(workflow.run(topic="AI agents"))

    assert events == []  # the seed's "... generate the blog post" step yields nothing of its own
    assert workflow.session_state == {
        "blog_posts": [{"topic": "AI agents", "blog_post": "# Post about AI agents\n\nBody."}]
    }
    assert (tmp_path / "tmp" / "workflows.db").exists()


def test_second_run_same_topic_yields_cached_post(seed: ModuleType) -> None:
    list(seed.create_workflow().run(topic="AI agents"))
    seed.BlogPostGenerator.writer = FakeWriter("a different post that must not be used")

    workflow = seed.create_workflow()
    events = list(workflow.run(topic="AI agents"))

    assert len(events) == 1
    assert events[0].event == RunEvent.workflow_completed
    assert events[0].content == "# Post about AI agents\n\nBody."
    assert events[0].run_id == workflow.run_id
    assert events[0].session_id == "my-session-id"
    assert len(workflow.session_state["blog_posts"]) == 1


def test_each_run_gets_a_new_run_id_and_is_recorded(seed: ModuleType) -> None:
    workflow = seed.create_workflow()
    list(workflow.run(topic="AI agents"))
    first = workflow.run_id
    list(workflow.run(topic="AI agents"))

    assert first != workflow.run_id
    runs = workflow.storage.get_runs("my-session-id")
    assert [(r.run_id, r.status, r.cache_hit) for r in runs] == [
        (first, "succeeded", False),
        (workflow.run_id, "succeeded", True),
    ]
    assert runs[1].output == "# Post about AI agents\n\nBody."
    assert runs[1].input == {"args": [], "kwargs": {"topic": "AI agents"}}
    assert all(r.ended_at >= r.started_at for r in runs)


@pytest.mark.parametrize("name", SEED_MODULES)
def test_new_process_sees_the_cache(name: str, tmp_path: Path) -> None:
    script = f"""
import json, sys
from tests.workflow.test_seeds import load_seed
seed = load_seed({name!r}, sys.argv[1])
events = list(seed.create_workflow().run(topic="AI agents"))
print(json.dumps([[e.event, e.content] for e in events]))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}

    def run(post: str) -> list[list[str]]:
        done = subprocess.run(
            [sys.executable, "-c", script, post],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    assert run("first post") == []
    assert run("second post") == [["WorkflowCompleted", "first post"]]


def _code_blocks(text: str) -> list[str]:
    """Pull the Python snippets out of a seed document, fenced or not."""
    text = re.sub(r"^```\w*$", "", text, flags=re.MULTILINE)
    blocks = [
        re.search(r"# Create the workflow\n.*?\n\)\n", text, re.DOTALL),
        re.search(r"class BlogPostGenerator\(Workflow\):.*?append\(.*?\)\n", text, re.DOTALL),
    ]
    return [b.group(0) for b in blocks if b]


def _squash(code: str) -> str:
    return "\n".join(line.strip() for line in code.splitlines() if line.strip())


@pytest.mark.parametrize("name", SEED_MODULES)
def test_seed_modules_hold_the_documents_code_verbatim(name: str) -> None:
    number = name.removeprefix("seed_")
    documents = sorted(SEEDS_DIR.glob(f"{number}_*.txt"))
    if not documents:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{SEEDS_DIR} is missing: CI must run with shared/ beside the clone")
        pytest.skip(f"{SEEDS_DIR} is not beside this checkout")
    blocks = _code_blocks(documents[0].read_text())
    module_code = _squash((ROOT / "tests/workflow/seeds" / f"{name}.py").read_text())

    assert len(blocks) == 2
    for block in blocks:
        assert _squash(block) in module_code
