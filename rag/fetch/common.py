"""What every fetcher's query shares: dates given on the command line, and `--since last` (from the last
successful fetch of the same query, kept in the folder's state, minus a look-back for minutes published late).
What the municipal fetchers share besides: the report of a run, keeping a minute beside a sidecar of what the
listing states (incremental), and the walk over a listing then its minutes (resumable, with a progress bar)."""

from __future__ import annotations

import hashlib
import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from rag.fetch.corpus import FetchLog, FetchState, write_atomic
from rag.fetch.http import FetchError, PoliteClient, Response, html_title, now_iso


def query_key(obj: Any) -> str:
    """A stable key for a query's conditions (the state file's keys)."""
    return json.dumps(obj, ensure_ascii=False, sort_keys=True)


def parse_day(value: str, what: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except (ValueError, AttributeError):
        raise FetchError(f"{what} must be a date YYYY-MM-DD (got {value!r})") from None


def resolve_window(since: str, until: str | None, state: FetchState, conditions: dict[str, Any], lookback_days: int,
                   today: date, first_date: str, described: str) -> tuple[date, date, str]:
    """(from, until, a note on how they were chosen) for --since DATE|last and --until DATE (default today).
    `described` names the query in the message when there is no earlier fetch to go on from."""
    end = parse_day(until, "--until") if until else today
    note = ""
    if since == "last":
        last = state.queries.get(query_key(conditions))
        if not last:
            raise FetchError(f"--since last: no earlier successful fetch of this query in {state.path.parent} "
                             f"({described}); give --since YYYY-MM-DD the first time")
        covered = parse_day(last["until"], "the saved end date")
        start = max(covered - timedelta(days=max(0, lookback_days)), parse_day(first_date, "first date"))
        note = (f"since last: the last successful fetch of this query ({last.get('finished_at', '?')}) covered "
                f"meetings up to {covered}; starting {lookback_days} days earlier, at {start}, for minutes published late")
    else:
        start = parse_day(since, "--since")
    if start > end:
        raise FetchError(f"--since {start} is after --until {end}")
    return start, end, note


def remember_success(state: FetchState, conditions: dict[str, Any], since: date, until: date, finished_at: str) -> None:
    """Record a finished fetch of the query for a later --since last (the end date only moves forward)."""
    qkey = query_key(conditions)
    prev = state.queries.get(qkey, {})
    covered = max(until.isoformat(), prev.get("until", ""))
    state.queries[qkey] = {"conditions": conditions, "from": since.isoformat(), "until": covered,
                           "finished_at": finished_at}


# ---------------------------------------------------------------- what the municipal fetchers share
# (DiscussNet, kensakusystem, VOICES: a listing walked step by step, then one document a minute, each kept with a
# sidecar of what the listing states; incremental, resumable, with a progress bar)


def read_json(path: Path) -> Any:
    """A JSON file, or None when it is missing or unreadable."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None


def dump_json(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def sidecar_path(path: Path) -> Path:
    from rag.sources.folder import sidecar_of

    return sidecar_of(path)


def listing_sha256(obj: Any) -> str:
    """What a listing says of a minute, as a hash: when it changes, the minute is fetched again."""
    return hashlib.sha256(query_key(obj).encode("utf-8")).hexdigest()


def listing_meta(body: str | None, meeting: str, day: str | None, url: str, **system: Any) -> dict[str, Any]:
    """A minute's sidecar: what the listing states, as the reader takes it (body, meeting, date and url override
    what the text states), and the system's own ids under its name."""
    return {**({"body": body} if body else {}), "meeting": meeting, **({"date": day} if day else {}), "url": url,
            **system}


@dataclass
class MinuteResult:
    """One minute of a municipal system: what became of it in this run."""
    meeting: str | None  # from the listing
    date: str | None
    records: int  # the minute's parts as the system counts them (records, speakers)
    status: str  # new, changed, unchanged, empty (nothing to keep: not saved)
    file: str | None
    url: str  # the page a person opens
    note: str = ""
    name: str = ""  # the minute's id in the system, for a line when it has no file

    def line(self, unit: str = "records") -> str:
        tail = self.note if self.status == "empty" else f"{self.records} {unit}"
        return f"{self.status:>9}  {' '.join(filter(None, (self.meeting, self.date)))} ({tail})  {self.file or self.name}"


@dataclass
class MunicipalReport:
    """A run of a municipal fetcher. `system` states the addresses; `listed`, the listing's steps walked."""
    out_dir: Path
    system: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    minutes: list[Any] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    listed: int = 0
    days: int = 0  # minutes in the range the listing holds
    requests: int = 0
    seconds: float = 0.0
    waited: float = 0.0
    error: str | None = None
    resumed: bool = False

    source = "municipal"  # the fetcher's name, as on the command line
    listed_as = "steps"  # what `listed` counts, in the headline and the JSON
    unit = "records"  # what a minute's `records` counts

    def with_status(self, status: str) -> list[Any]:
        return [m for m in self.minutes if m.status == status]

    new = property(lambda self: self.with_status("new"))
    changed = property(lambda self: self.with_status("changed"))
    unchanged = property(lambda self: self.with_status("unchanged"))
    empty = property(lambda self: self.with_status("empty"))
    ok = property(lambda self: self.error is None)
    nothing_found = property(lambda self: self.error is None and not self.minutes)

    def label(self) -> str:
        return str(self.system.get("slug", ""))

    def headline(self) -> str:
        counts = (f"{len(self.new)} new, {len(self.changed)} changed, {len(self.unchanged)} unchanged, "
                  f"{len(self.empty)} without minutes")
        return (f"{self.source} {self.label()}: {len(self.minutes)} days of minutes ({counts}) from {self.listed} "
                f"{self.listed_as}; {self.requests} requests in {self.seconds:.1f} s -> {self.out_dir}")

    def summary(self, unchanged: bool = False) -> str:
        lines = [self.headline()]
        lines += ["  " + m.line(self.unit) for m in self.minutes if unchanged or m.status != "unchanged"]
        if self.nothing_found:
            lines.append(f"  no minutes match this query ({self.query.get('described', '')})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        counts = {s: len(self.with_status(s)) for s in ("new", "changed", "unchanged", "empty")}
        return {"source": self.source, "out_dir": str(self.out_dir), self.system_key: self.system,
                "query": self.query, "minutes": [asdict(m) for m in self.minutes], **counts,
                self.listed_as: self.listed, "days": self.days, "requests": self.requests,
                "seconds": round(self.seconds, 3), "waited": round(self.waited, 3), "resumed": self.resumed,
                "notes": self.notes, "error": self.error}

    system_key = "system"


@dataclass
class Got:
    """A minute as fetched: the bytes as the system sent them, how many parts it holds (0: nothing to keep), and
    its provenance for the log."""
    data: bytes
    records: int
    entry: dict[str, Any]
    empty_note: str = "the system holds nothing for this minute: not saved, tried again next time"


def keep_minute(res: MinuteResult, path: Path, meta: dict[str, Any], sig: str, saved_sig: Callable[[dict], Any],
                recheck: bool, logged: set, flog: FetchLog, entry: dict[str, Any], fetch: Callable[[], Got],
                records_in: Callable[[bytes], int | None], same: Callable[[bytes, bytes], bool]) -> MinuteResult:
    """Keep one minute: skipped when the listing states what it stated when the minute was saved (`saved_sig` of
    the old sidecar equals `sig`), else fetched, and saved when new or changed (`same` compares the saved bytes
    with the fetched); the sidecar follows `meta`. Logged to `flog` (with `entry`) when new or changed."""
    name = path.name
    side = sidecar_path(path)
    old_meta = read_json(side) if side.exists() else None
    saved = path.read_bytes() if path.exists() else None
    have = records_in(saved) if saved is not None else None
    if not recheck and have is not None and isinstance(old_meta, dict) and saved_sig(old_meta) == sig:
        res.status, res.file, res.records = "unchanged", name, have
        if old_meta != meta:  # what we add (the body given this time) changed: the sidecar, not the minutes
            write_atomic(side, dump_json(meta))
    else:
        got = fetch()
        entry.update(got.entry)
        res.records = got.records
        if not got.records:
            res.status, res.note = "empty", got.empty_note
            if path.exists():
                res.note += f"; the copy fetched earlier is kept ({name})"
        else:
            res.file = name
            if saved is not None and have is not None and same(saved, got.data):
                res.status = "unchanged"
            else:
                res.status = "changed" if path.exists() else "new"
                write_atomic(path, got.data)  # the response as the system sent it
            if old_meta != meta:
                write_atomic(side, dump_json(meta))
    if res.status == "unchanged" and name not in logged:
        res.status = "new"  # kept by an interrupted run that could not log it: its provenance, now
    if res.status in ("new", "changed"):
        logged.add(name)
    entry.update({"status": res.status, "fetched_at": now_iso(), "records": res.records})
    if res.file:
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    flog.append(entry)
    return res


def logged_minutes(flog: FetchLog) -> set:
    return {e.get("file") for e in flog.entries() if e.get("kind") == "meeting" and e.get("status") in ("new", "changed")}


@dataclass
class Walk:
    """How one fetcher walks its system: `begin(run)` asks for the first listing and returns the listing steps it
    leads to; `step(run, s)` takes one step and returns (further steps, minutes found: dicts with a unique "key");
    `keep(item)` keeps one minute (a MinuteResult). `steps`/`minutes` name them on the progress bar."""
    name: str  # on the progress bar: discussnet hakodate
    begin: Callable[[dict], list]
    step: Callable[[dict, Any], tuple[list, list[dict]]]
    keep: Callable[[dict], Any]
    steps: str = "step"
    minutes: str = "day"
    requests: Callable[[], int] = lambda: 0  # requests sent so far (a minute that cost none need not save the state)


def walk(w: Walk, state: FetchState, flog: FetchLog, folder: Path, report: MunicipalReport, run_key: str,
         conditions: dict[str, Any], window: dict[str, Any], start: date | None, end: date, progress: bool,
         log: Callable[[str], None], on_minute: Callable[[Any, int, int], None] | None):
    """The listing, step by step, then the minutes; the state is saved as it goes, so an interrupted run goes on
    where it stopped. Returns the progress bar (closed by the caller). FetchErrors go to report.error."""
    bar = None
    run = None
    try:
        run = state.runs.get(run_key)
        if run and (run.get("pending") or run.get("todo")):
            report.resumed = True
            note = (f"resuming the interrupted fetch of {run.get('started_at', '?')}: {len(run.get('pending') or [])} "
                    f"listing {w.steps}s still to walk, {len(run.get('todo') or [])} {w.minutes}s still to fetch")
            report.notes.append(note)
            log(note)
        else:
            run = {"conditions": conditions, **window, "started_at": now_iso(), "pending": None, "todo": [],
                   "listed": 0, "days": 0}
            state.runs[run_key] = run
        run_event(flog, report.query, "resume" if report.resumed else "start", "started")
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=0, unit=w.steps, desc=f"{w.name}: listing", dynamic_ncols=True, file=sys.stderr)
        if run.get("pending") is None:
            run["pending"] = list(w.begin(run))
            state.save()
        # the listing, one step at a time (a step may lead to further steps: a tree)
        while run["pending"]:
            if bar is not None:
                bar.total = run["listed"] + len(run["pending"])
                bar.n = run["listed"]
                bar.refresh()
            more, found = w.step(run, run["pending"][0])
            have = {t["key"] for t in run["todo"]}
            added = []
            for t in found:
                if t["key"] not in have:
                    have.add(t["key"])
                    added.append(t)
            run["todo"] += added
            run["pending"] = run["pending"][1:] + list(more)
            run["listed"] += 1
            run["days"] += len(added)
            state.save()
        # the minutes
        total = len(run["todo"])
        if bar is not None:
            bar.reset(total=total)
            bar.unit = w.minutes
            bar.set_description(w.name)
        unsaved = 0
        while run["todo"]:
            item = run["todo"][0]
            asked = w.requests()
            res = w.keep(item)
            report.minutes.append(res)
            run["todo"].pop(0)
            unsaved += 1
            if w.requests() > asked or unsaved >= 50:  # where to go on from (a skip costs nothing to redo)
                state.save()
                unsaved = 0
            if res.status == "empty":
                log(f"{item.get('meeting') or item['key']} {item.get('date') or ''}: {res.note}")
            _ = bar.update(1) if bar is not None else None
            _ = on_minute(res, len(report.minutes), total) if on_minute else None
        # done: remember it for --since last, forget the run
        state.runs.pop(run_key, None)
        remember_success(state, conditions, start or parse_day(FIRST_DATE, "first date"), end, now_iso())
        state.save()
        run_event(flog, report.query, "done", "ok", minutes=len(report.minutes))
    except (OSError, FetchError) as e:
        fault = isinstance(e, OSError) and not isinstance(e, FetchError)
        report.error = f"cannot write to {folder}: {e.strerror or e}" if fault else str(e)
        run_event(flog, report.query, "error", "error", message=report.error)
    except BaseException as e:  # KeyboardInterrupt, a bug: the state saved after the last step stands
        run_event(flog, report.query, "interrupted", "interrupted", message=f"{type(e).__name__}: {e}"[:200])
        if bar is not None:
            bar.close()
        raise
    finally:
        if run:
            report.listed, report.days = run.get("listed", 0), run.get("days", 0)
    return bar


def run_event(flog: FetchLog, query: dict, event: str, status: str, **more: Any) -> None:
    flog.append({"kind": "run", "event": event, "fetched_at": now_iso(), "query": query, "status": status, **more})


FIRST_DATE = "1900-01-01"


def check_dates(since: str | None, until: str | None) -> None:
    """--since (a date or 'last') and --until are dates, before any request."""
    if since and since != "last":
        parse_day(since, "--since")
    if until:
        parse_day(until, "--until")


def municipal_window(since: str | None, until: str | None, state: FetchState, conditions: dict[str, Any],
                     lookback_days: int, today: date, described: str) -> tuple[date | None, date, str, dict, str]:
    """(from or None: any date, until, a note, the window as saved, the run's key) for a municipal fetch."""
    if since:
        start, end, note = resolve_window(since, until, state, conditions, lookback_days, today, FIRST_DATE, described)
    else:
        start, end, note = None, parse_day(until, "--until") if until else today, ""
    window = {"from": start.isoformat() if start else None, "until": end.isoformat()}
    return start, end, note, window, query_key({"conditions": conditions, **window})


def in_window(day: str | None, start: date | None, end: date) -> bool:
    """A minute dated `day` (ISO) falls in the window (undated: kept, the caller decides)."""
    return not day or ((start is None or day >= start.isoformat()) and day <= end.isoformat())


def get_page(client: PoliteClient, url: str, form: dict[str, Any] | None = None) -> Response:
    """A page of a minutes system (a form posted when given); an error status fails with the page's title."""
    def check(resp: Response) -> None:
        if resp.status >= 400:
            raise FetchError(f"HTTP {resp.status} from {resp.url}"
                             f"{f' ({html_title(resp.data)!r})' if html_title(resp.data) else ''}")

    return client.get(url, None, check, form)


def unexpected_page(resp: Response, wanted: str, system: str, title: str = "") -> FetchError:
    """The error for a page that is not what the system should have sent (`title`: the page's, when decoded)."""
    title = title or html_title(resp.data)
    return FetchError(f"unexpected page from {resp.url} (HTTP {resp.status}{', ' + repr(title) if title else ''}) "
                      f"where {wanted} was expected: a maintenance or error page, or is this not a {system} "
                      f"minutes system?")
