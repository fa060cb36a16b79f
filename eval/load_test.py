"""Load test: N concurrent gradio_client sessions asking questions of a running app.

    .venv/bin/python -m rag serve --index /tmp/uiidx --port 7861 &
    .venv/bin/python eval/load_test.py --url http://127.0.0.1:7861/ --sessions 8 --questions 3

Each session is its own gradio_client.Client (its own session hash and state), asks
--questions questions from eval/questions.jsonl (different ones per session) through the
same "/ask" endpoint the browser uses, one after another. Prints per-question latency
p50/p95/max, the error count and the wall time; exit status 1 if any question failed.
Only talks to loopback addresses unless --allow-remote is given.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:7860/")
    ap.add_argument("--sessions", type=int, default=8)
    ap.add_argument("--questions", type=int, default=3, help="questions per session (bounded: at most 20)")
    ap.add_argument("--set", type=Path, default=ROOT / "eval" / "questions.jsonl")
    ap.add_argument("--auth", default="", help="user:password when the app has RAG_AUTH")
    ap.add_argument("--allow-remote", action="store_true")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args(argv)
    if not 1 <= args.questions <= 20 or not 1 <= args.sessions <= 32:
        ap.error("--questions must be 1..20 and --sessions 1..32")
    if urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1") and not args.allow_remote:
        ap.error("refusing to load-test a non-loopback address without --allow-remote")

    from gradio_client import Client

    questions = [json.loads(line)["question"] for line in args.set.read_text(encoding="utf-8").splitlines() if line.strip()]
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    start_gate = threading.Barrier(args.sessions)

    def session(i: int) -> None:
        try:
            client = Client(args.url, auth=auth, verbose=False)
        except Exception as e:  # noqa: BLE001
            with lock:
                errors.append(f"session {i}: connect: {type(e).__name__}: {e}")
            start_gate.abort()
            return
        try:
            start_gate.wait(timeout=120)
        except threading.BrokenBarrierError:
            pass
        chat: list = []
        for j in range(args.questions):
            q = questions[(i * args.questions + j) % len(questions)]
            t0 = time.perf_counter()
            try:
                chat, cards, *_ = client.predict(q, chat, None, None, "", "", None, [], api_name="/ask")
                ok = 'class="cite-card"' in cards or "cite-empty" in cards
                if not ok:
                    raise RuntimeError("no citation block in the reply")
            except Exception as e:  # noqa: BLE001
                with lock:
                    errors.append(f"session {i} q{j}: {type(e).__name__}: {e}"[:300])
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)
        client.close() if hasattr(client, "close") else None

    wall0 = time.perf_counter()
    threads = [threading.Thread(target=session, args=(i,), daemon=True) for i in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - wall0
    figures = {
        "url": args.url, "sessions": args.sessions, "questions_per_session": args.questions,
        "answered": len(latencies), "errors": len(errors),
        "p50_s": round(percentile(latencies, 50), 2), "p95_s": round(percentile(latencies, 95), 2),
        "max_s": round(max(latencies), 2) if latencies else None,
        "mean_s": round(statistics.fmean(latencies), 2) if latencies else None,
        "wall_s": round(wall, 1), "throughput_qps": round(len(latencies) / wall, 2) if wall else None,
    }
    if args.json:
        print(json.dumps(figures, ensure_ascii=False))
    else:
        print(f"{args.sessions} sessions x {args.questions} questions against {args.url}")
        print(f"answered {figures['answered']}, errors {figures['errors']}")
        print(f"latency p50 {figures['p50_s']} s, p95 {figures['p95_s']} s, max {figures['max_s']} s, "
              f"mean {figures['mean_s']} s")
        print(f"wall {figures['wall_s']} s, throughput {figures['throughput_qps']} questions/s")
    for e in errors[:10]:
        print("error:", e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
