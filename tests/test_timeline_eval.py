"""Guard over the timeline sets: `python -m rag eval eval/timeline/<set>.jsonl` through the real pipeline, with floors
at what was measured (eval/timeline/README.md). A timeline for every topic of the three sets (sample: 15, dev: 17,
held-out: 14) plus a cut sweep; the dev corpus is indexed once for the session (conftest's dev_corpus_index).
The held-out floors guard what was measured once on it (2026-12-01); they are not a target to tune against.

Set RAG_SKIP_EVAL_GUARD=1 to leave it out of a quick local run (as tests/test_evaluation.py's guard).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(os.environ.get("RAG_SKIP_EVAL_GUARD") == "1", reason="RAG_SKIP_EVAL_GUARD=1")

# measured (eval/timeline/README.md), floors a little below
FLOORS = {
    # recall 0.827, precision 0.923, macro recall 0.870 (topic words weighted by their rarity across the index and found
    # under their other spellings, exchanges and committees' agenda items followed, bill-reading sentences never key
    # sentences, turns holding only the topic's common or procedural words, passing mentions in long speeches and
    # lists of business lowered; cut 0.905)
    "sample": {"recall": 0.80, "precision": 0.90, "recall_macro": 0.85},
    # 17 topics (td11-td14 written 2026-12-01, td15-td17 in issue #15's third round): recall 0.858, precision 0.846,
    # macro recall 0.926; after the fourth round (long turns holding only fragments of the topic's compounds lowered),
    # on that round's index: recall 0.847, precision 0.876, macro recall 0.915
    "dev": {"recall": 0.83, "precision": 0.82, "recall_macro": 0.90},
    # measured once at the end of issue #15's third round: recall 0.817, precision 0.645, macro recall 0.820; at the end
    # of the fourth round: recall 0.817, precision 0.677, macro recall 0.821
    "holdout": {"recall": 0.79, "precision": 0.615, "recall_macro": 0.79},
}


@pytest.fixture(scope="session")
def dev_index(dev_corpus_index):
    return Path(dev_corpus_index.index_dir)  # conftest: built once for this and tests/test_evaluation_dev.py


def _eval(set_name: str, index: Path, out: Path, model_cache: Path) -> dict:
    env = {**os.environ, "RAG_MODEL_CACHE": str(model_cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    r = subprocess.run([sys.executable, "-m", "rag", "eval", f"eval/timeline/{set_name}.jsonl", "--index", str(index),
                        "--out", str(out)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "recall" in r.stdout and "date order ok" in r.stdout, r.stdout
    return json.loads((out / "report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("set_name", ["sample", "dev", "holdout"])
def test_timeline_set_floors(set_name, request, tmp_path, model_cache_dir):
    index = request.getfixturevalue("evaluation_index" if set_name == "sample" else "dev_index")
    report = _eval(set_name, index, tmp_path / "run", model_cache_dir)
    o = report["overall"]
    for key, floor in FLOORS[set_name].items():
        assert o[key] >= floor, (key, o[key], floor, report["topics"])
    assert o["date_order_ok"], [t["id"] for t in report["topics"] if not t["date_order_ok"]]
    # every change marker the timelines emit is labelled (eval/timeline/changes.jsonl), and they are right
    assert o["changes_unlabelled"] == 0, [c["change"] for c in report["changes"] if c["label"] is None]
    if o["changes_labelled"]:
        assert o["change_precision"] >= 0.8, report["changes"]
    assert report["pairs"]["precision"] >= 0.95 and report["pairs"]["recall"] >= 0.9
    assert (tmp_path / "run" / "report.md").read_text(encoding="utf-8").startswith("# Timeline evaluation")
