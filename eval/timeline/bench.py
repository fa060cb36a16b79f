"""`python eval/timeline/bench.py`: timeline latency over large synthetic stores (100k turns by default).

The stores are built with eval/bench.py's own functions (real sample minutes ingested by the real model; synthetic
turns recombine real sentences under real speakers and meetings, vectors from the real embeddings plus noise,
written through the real store writer; see that file's docstring), so a timeline runs exactly the code it runs on
a real index: deep dense + keyword retrieval, relevance cut, sentence scoring, question pairing, folding, grouping
and change detection. Topics are the timeline sets' own over the sample corpus (eval/timeline/*.jsonl), each
embedded once by the real model; the reported latency excludes that embedding (≈ 8 ms, measured separately) unless --with-embedding.

    python eval/timeline/bench.py --sizes 100000 --workdir /tmp/tl-bench   # builds once, then reuses
    python eval/timeline/bench.py --sizes 1000 --rounds 1                  # quick

Note: synthetic turns are recombinations of the 134 sample turns, so a topic of the sample has thousands of
on-topic (near-duplicate) turns in a 100k store: more entries, folding and change comparisons than a real
corpus of that size would give (a pessimistic load).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = "corpus/sample"
for p in (str(ROOT), str(ROOT / "eval")):
    if p not in sys.path:
        sys.path.insert(0, p)


def topics(limit: int | None = None) -> list[str]:
    out: list[str] = []
    for f in sorted((ROOT / "eval" / "timeline").glob("*.jsonl")):
        if f.name.startswith("changes"):
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.strip():
                item = json.loads(line)
                # the synthetic stores recombine the sample's turns: a topic of another corpus finds nothing there
                # (an empty timeline, which would pull the median down)
                if item.get("topic") and not item.get("filters") and item.get("corpus", SAMPLE) == SAMPLE:
                    out.append(item["topic"])
    out = list(dict.fromkeys(out))
    return out[:limit] if limit else out


def build(n: int, work: Path, settings, log=print):
    """A flat synthetic store of n turns in work/syn-<n>-flat (reused when it is already there)."""
    import bench as B  # eval/bench.py
    from rag.embedding.embedder import load_embedder
    from rag.store import built_with

    conf = settings.with_overrides(index_dir=work / f"syn-{n}-flat", hnsw_threshold=B.VECTOR_KINDS["flat"],
                                   context_prefix="none")
    if built_with(conf) is not None:
        log(f"reusing {conf.index_dir}")
        return conf
    embedder = load_embedder(settings.model, settings.model_cache, settings.embed_backend, settings.embed_threads)
    log("ingesting the sample corpus with the real model ...")
    _, docs = B.real_ingest(B.ROOT / "corpus" / "sample", settings.with_overrides(index_dir=work / "real"), embedder)
    syn = B.Synthesiser(docs, seed=0)
    log(f"building a synthetic store of {n:,} turns ...")
    t = time.perf_counter()
    B.build_synthetic(syn, n, work, settings, embedder.dimension, embedder.backend, ["flat"])
    log(f"  built in {time.perf_counter() - t:.0f} s")
    return conf


def measure(conf, names: list[str], rounds: int, with_embedding: bool, log=print) -> dict:
    from rag.pipeline import Pipeline
    from rag.timeline import build_timeline

    pipe = Pipeline(conf)
    vecs = {}
    emb_ms = []
    for t in names:
        s = time.perf_counter()
        vecs[t] = pipe.embedder.embed_query(t)
        emb_ms.append((time.perf_counter() - s) * 1000)
    build_timeline(pipe, names[0], query_vector=vecs[names[0]])  # warm-up (SQLite pages, FAISS)
    times, sizes = [], []
    stage_totals: dict[str, list[float]] = {}
    for _ in range(rounds):
        for t in names:
            s = time.perf_counter()
            tl = build_timeline(pipe, t, query_vector=None if with_embedding else vecs[t])
            times.append((time.perf_counter() - s) * 1000)
            sizes.append(len(tl.entries))
            for k, v in tl.timings.items():
                stage_totals.setdefault(k, []).append(v)
    times.sort()
    return {"turns": pipe.store.stats()["turns"], "chunks": pipe.store.stats()["chunks"], "topics": len(names),
            "rounds": rounds, "with_embedding": with_embedding,
            "p50_ms": statistics.median(times), "p95_ms": times[min(len(times) - 1, int(0.95 * (len(times) - 1)))],
            "max_ms": times[-1], "entries_median": statistics.median(sizes), "entries_max": max(sizes),
            "embed_query_ms_p50": statistics.median(emb_ms),
            "stages_ms_p50": {k: round(statistics.median(v), 1) for k, v in stage_totals.items()}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python eval/timeline/bench.py", description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000", help="synthetic store sizes in turns, comma-separated")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/rag-timeline-bench"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--topics", type=int, default=None, help="at most this many topics")
    ap.add_argument("--with-embedding", action="store_true", help="include embedding the topic in the latency")
    ap.add_argument("--build-only", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = ap.parse_args(argv)
    from rag.config import Settings

    settings = Settings()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for n in [int(x) for x in args.sizes.split(",")]:
        conf = build(n, args.workdir, settings, log=lambda s: print(s, file=sys.stderr, flush=True))
        if args.build_only:
            continue
        r = measure(conf, topics(args.topics), args.rounds, args.with_embedding)
        results.append(r)
        print(json.dumps(r, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
