"""The corpus folder a fetcher keeps: raw responses, a provenance log, and the state that makes runs
incremental and resumable.

    FOLDER/<id>.json          one raw document per file, written atomically (never half a file)
    FOLDER/fetch-log.jsonl    provenance, one JSON object a line: URL, fetched_at, query, status
    FOLDER/.fetch-state.json  unfinished runs (where to go on) and the last successful run of each query

`python -m rag ingest FOLDER` rebuilds an index from the folder offline (the dot-file is ignored there,
the log is listed as "not a minutes format"). `FetchedFolder` is the same folder as a Source, with the
same document keys as that route (so the two never index a meeting twice) and `fetched_at` from the log.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from rag.errors import SourceError
from rag.fetch.http import FetchError
from rag.records import RawDocument
from rag.sources.base import Skipped

STATE_FILE = ".fetch-state.json"
LOG_FILE = "fetch-log.jsonl"
LOCK_FILE = ".fetch-lock"


def write_atomic(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """One fetch at a time into a folder (a cron job and the UI, say): the second says so and stops."""
    try:
        import fcntl
    except ImportError:  # not on this platform: go on unlocked
        yield
        return
    with open(Path(folder) / LOCK_FILE, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise FetchError(f"another fetch is writing to {folder} right now; try again when it has finished") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class FetchState:
    """`.fetch-state.json`: {"version": 1, "runs": {run key: run}, "queries": {query key: last success}}."""

    def __init__(self, folder: Path):
        self.path = Path(folder) / STATE_FILE
        self.data: dict[str, Any] = {"version": 1, "runs": {}, "queries": {}}
        self.warning: str | None = None
        if self.path.exists():
            try:
                loaded = json.loads(self.path.read_text(encoding="utf-8"))
                if not isinstance(loaded, dict):
                    raise ValueError("not a JSON object")
                self.data.update(loaded)
            except (OSError, ValueError) as e:
                # never lose a fetch over its bookkeeping: set the broken file aside, start afresh
                aside = self.path.with_name(STATE_FILE + ".broken")
                os.replace(self.path, aside)
                self.warning = f"{self.path.name} was unreadable ({e}); moved to {aside.name}, starting afresh"

    @property
    def runs(self) -> dict[str, Any]:
        return self.data.setdefault("runs", {})

    @property
    def queries(self) -> dict[str, Any]:
        return self.data.setdefault("queries", {})

    def save(self) -> None:
        write_atomic(self.path, json.dumps(self.data, ensure_ascii=False, indent=1).encode("utf-8"))


class FetchLog:
    def __init__(self, folder: Path):
        self.path = Path(folder) / LOG_FILE

    def append(self, entry: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
            f.flush()

    def entries(self) -> Iterator[dict[str, Any]]:
        if not self.path.exists():
            return
        with open(self.path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash: the rest of the log still counts
                if isinstance(obj, dict):
                    yield obj


def remove_stale_temps(folder: Path) -> int:
    """Temporary files a killed run left behind (call while holding folder_lock)."""
    n = 0
    for p in Path(folder).glob(".*.tmp"):
        try:
            p.unlink()
            n += 1
        except OSError:
            pass
    return n


def ensure_folder(folder: Path) -> Path:
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise FetchError(f"{folder} is a file, not a folder for fetched minutes")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise FetchError(f"cannot create {folder}: {e.strerror or e}") from None
    return folder


class FetchedFolder:
    """The documents a fetcher kept in a folder, as a Source: files whose name `match`es, with their
    `fetched_at` from the log. Keys and metadata are those of `python -m rag ingest FOLDER`."""

    def __init__(self, folder: Path, match: Callable[[str], bool] = lambda name: bool(re.fullmatch(r".+\.json", name)),
                 only: set[str] | None = None):
        self.folder = Path(folder)
        self.match = match
        self.only = only  # file names; None = every matching file

    def files(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(p for p in self.folder.iterdir()
                      if p.is_file() and self.match(p.name) and (self.only is None or p.name in self.only))

    def documents(self) -> Iterator[RawDocument | Skipped]:
        from rag.sources.folder import file_document

        fetched: dict[str, str] = {}
        for e in FetchLog(self.folder).entries():
            if e.get("kind") == "meeting" and e.get("file") and e.get("fetched_at"):
                fetched[e["file"]] = e["fetched_at"]
        for p in self.files():
            try:
                raw = file_document(p)
            except SourceError as e:
                yield Skipped(str(p), str(e))
                continue
            raw.fetched_at = fetched.get(p.name)
            yield raw
