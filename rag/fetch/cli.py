"""`python -m rag fetch kokkai|discussnet|kensakusystem|dbsearch …`: the commands behind rag.cli's `fetch` (parsed
there, run here)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

MUNICIPAL = ("discussnet", "kensakusystem", "dbsearch")


def log(s: str) -> None:
    print(s, file=sys.stderr, flush=True)


def interrupted(out: Path) -> int:
    print(f"interrupted: what was fetched is kept in {out}; run the same command again to go on from there",
          file=sys.stderr)
    return 130


def run(args: argparse.Namespace, settings: Callable[[], object]) -> int:
    if args.source in MUNICIPAL:
        return run_municipal(args, settings)
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
        return interrupted(out)
    # with --ingest, what was fetched, even when the run stopped early: every file in the folder is a whole meeting
    return finish(args, report, out, kokkai.kokkai_folder(out), settings, "kokkai: no meetings match")


def finish(args: argparse.Namespace, report: Any, out: Path, folder: Any, settings: Callable[[], object],
           nothing: str) -> int:
    """Index what was fetched (--ingest), print the result, and the exit code: 2 on an error, 1 when nothing
    matched (0 with --since last, where nothing new is the usual answer)."""
    ingested = None
    if args.ingest and folder.files():
        from rag.ingest import ingest

        ingested = ingest(folder, settings(), progress=not args.no_progress, log=log)
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
        print(f"{nothing} this query ({report.query['described']})", file=sys.stderr)
        return 0 if args.since == "last" else 1
    return 0


def _system(source: str) -> tuple[Any, Callable, Callable, Callable[[argparse.Namespace], str],
                                  Callable[[argparse.Namespace], dict]]:
    """(module, fetch function, folder as a Source, the folder's name under the fetch dir, the source's own flags)."""
    if source == "discussnet":
        from rag.fetch import discussnet as m

        return (m, m.fetch_discussnet, m.discussnet_folder, lambda a: m.tenant_of(a.base_url, a.api_url).slug,
                lambda a: {"council": a.council, "all_types": a.all_types, "api_url": a.api_url,
                           "tenant_id": a.tenant_id})
    if source == "dbsearch":
        from rag.fetch import dbsearch as m

        return (m, m.fetch_dbsearch, m.dbsearch_folder, lambda a: m.site_of(a.base_url).slug,
                lambda a: {"all_documents": a.all_documents})
    from rag.fetch import kensakusystem as m

    return (m, m.fetch_kensakusystem, m.kensakusystem_folder, lambda a: m.site_of(a.base_url).slug,
            lambda a: {"meeting": a.meeting})


def run_municipal(args: argparse.Namespace, settings: Callable[[], object]) -> int:
    module, fetch, folder, slug, own = _system(args.source)
    name = slug(args)
    conf = settings()
    out = args.out or Path(conf.fetch_dir) / args.source / name
    try:
        report = fetch(args.base_url, out, since=args.since, until=args.until, body=args.body, recheck=args.recheck,
                       delay=module.DEFAULT_DELAY if args.delay is None else args.delay, timeout=args.timeout,
                       retries=args.retries, lookback_days=args.lookback_days, ignore_robots=args.ignore_robots,
                       progress=not args.no_progress, log=log, **own(args))
    except KeyboardInterrupt:
        return interrupted(out)
    return finish(args, report, out, folder(out), settings, f"{args.source}: no minutes match")
