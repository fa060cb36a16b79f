"""Fetchers: bring minutes in from where they are published. A fetcher keeps the raw responses in a corpus
folder (with provenance) and the folder is a Source for `rag.ingest.ingest`.

    rag.fetch.kokkai   the Diet's minutes API (国会会議録検索システム): fetch_kokkai(KokkaiQuery(...), out_dir)
    rag.fetch.discussnet  a body's DiscussNet SSP minutes system: fetch_discussnet(base_url, out_dir, since=...)
    rag.fetch.kensakusystem  a body's kensakusystem.jp minutes system: fetch_kensakusystem(base_url, out_dir, ...)
    rag.fetch.dbsearch  a body's DB-Search minutes system (*.dbsr.jp): fetch_dbsearch(base_url, out_dir, since=...)
    rag.fetch.http     the polite HTTP client every fetcher uses (delay, retries, timeouts, robots.txt)
    rag.fetch.corpus   the corpus folder: atomic files, fetch-log.jsonl, resumable state, FetchedFolder
    rag.fetch.common   dates and --since last, shared by the fetchers; the municipal fetchers' report, sidecar and walk

gijiroku.com VOICES is not fetched yet.
"""

from rag.fetch.http import FetchError, RobotsDisallowed

__all__ = ["FetchError", "RobotsDisallowed"]
