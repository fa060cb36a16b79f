"""`python -m rag fetch kokkai|discussnet …`: the commands behind rag.cli's `fetch` (parsed there, run here)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable


def log(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


def run(args: argparse.Namespace, settings: Callable[[], object]) -> int:
    if args.source == "discussnet":
        return run_discussnet(args, settings)
    from rag.fetch import kokkai

    query = kokkai.KokkaiQuery(since=args.since, until=args.until, house=args.house, meeting=args.meeting,
                               speaker=args.speaker, any=args.any)
    conf = settings()
    out = args.out or Path(conf.fetch_dir) / "kokkai"
    try:
        report = kokkai.fetch_kokkai(
            query, out, base_url=args.base_url or conf.kokkai_base_url,
            delay=kokkai.DEFAULT_DELAY if args.delay is None else args.delay, timeout=args.timeout,
            retries=args.retries, lookback_days=args.lookback_days, ignore_robots=args.ignore_robots,
            progress=not args.no_progress, log=log)
    except KeyboardInterrupt:
        print(f"interrupted: what was fetched is kept in {out}; run the same command again to go on from there",
              file=sys.stderr)
        return 130
    ingested = None
    if args.ingest and kokkai.kokkai_folder(out).files():
        # what was fetched, even when the run stopped early: every file in the folder is a whole meeting
        ingested = kokkai.ingest_fetched(out, settings(), progress=not args.no_progress, log=log)
    if args.json:
        print(json.dumps({"fetch": report.to_dict(), "ingest": ingested.to_dict() if ingested else None},
                         ensure_ascii=False, indent=2))
    else:
        print(report.summary())
        if ingested is not None:
            print(ingested.summary())
    if report.error:
        print(f"error: {report.error} (what was fetched is kept in {out}; run the same command again to go on "
              f"from there)", file=sys.stderr)
        return 2
    if report.nothing_found:
        print(f"kokkai: no meetings match this query ({report.query['described']})", file=sys.stderr)
        return 0 if args.since == "last" else 1
    return 0




def run_discussnet(args: argparse.Namespace, settings: Callable[[], object]) -> int:
    from rag.fetch import discussnet

    tenant = discussnet.tenant_of(args.base_url, args.api_url)
    conf = settings()
    out = args.out or Path(conf.fetch_dir) / "discussnet" / tenant.slug
    try:
        report = discussnet.fetch_discussnet(
            args.base_url, out, since=args.since, until=args.until, council=args.council, all_types=args.all_types,
            body=args.body, api_url=args.api_url, tenant_id=args.tenant_id, recheck=args.recheck,
            delay=discussnet.DEFAULT_DELAY if args.delay is None else args.delay, timeout=args.timeout,
            retries=args.retries, lookback_days=args.lookback_days, ignore_robots=args.ignore_robots,
            progress=not args.no_progress, log=log)
    except KeyboardInterrupt:
        print(f"interrupted: what was fetched is kept in {out}; run the same command again to go on from there",
              file=sys.stderr)
        return 130
    ingested = None
    if args.ingest and discussnet.discussnet_folder(out).files():
        ingested = discussnet.ingest_fetched(out, settings(), progress=not args.no_progress, log=log)
    if args.json:
        print(json.dumps({"fetch": report.to_dict(), "ingest": ingested.to_dict() if ingested else None},
                         ensure_ascii=False, indent=2))
    else:
        print(report.summary())
        if ingested is not None:
            print(ingested.summary())
    if report.error:
        print(f"error: {report.error} (what was fetched is kept in {out}; run the same command again to go on "
              f"from there)", file=sys.stderr)
        return 2
    if report.nothing_found:
        print(f"discussnet: no minutes match this query ({report.query['described']})", file=sys.stderr)
        return 0 if args.since == "last" else 1
    return 0
