"""The Diet's minutes API (国会会議録検索システム 検索用API, https://kokkai.ndl.go.jp/api.html) as a fetcher.

    report = fetch_kokkai(KokkaiQuery(since="2024-04-01", house="衆議院", meeting="本会議"), out_dir)
    ingest(kokkai_folder(out_dir), settings)          # or `python -m rag ingest corpus/fetched/kokkai`

- Meeting-level endpoint `/api/meeting?recordPacking=json` (every speech of each meeting, with text), at most
  10 meetings a request, walking `startRecord` / `nextRecordPosition` until it is null.
- A query that matches more than the API's 1,000 meetings per search is split into date windows (the range
  bisected until each window holds at most 1,000).
- One request at a time, `delay` seconds apart (default 3 s: the API asks for a few seconds between
  requests and no parallel requests), timeouts, retries with back-off on 5xx / 429 (Retry-After honoured)
  and on the API's "busy" error (19001), an identifying User-Agent, robots.txt (rag.fetch.http).
- Each meeting is kept as `<issueID>.json`: a meetingRecord response holding just that meeting, so the
  folder can be indexed offline. A meeting already fetched is left alone unless its record changed;
  provenance goes to `fetch-log.jsonl`; the position is saved after every page, so a rerun after an
  interruption goes on where it stopped; `since="last"` starts from the last successful fetch of the same
  query (minus a look-back: minutes are published weeks after the meeting).
- The API's terms: show 出典: 国会会議録検索システム wherever its text is shown (ATTRIBUTION).

Keeping an index current (cron, every night at 3:00):
    0 3 * * * cd /path/to/minutes-rag && .venv/bin/python -m rag fetch kokkai --since last --ingest --no-progress >> fetch.log 2>&1
(the first run needs a date: `--since 2024-04-01`).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Callable

from rag.answering.base import ATTRIBUTION, attribution_note, is_kokkai  # noqa: F401  (re-exported)
from rag.config import PROJECT_ROOT
from rag.fetch.common import parse_day as _date, query_key as _key, remember_success, resolve_window
from rag.fetch.corpus import (FetchedFolder, FetchLog, FetchState, ensure_folder, folder_lock, remove_stale_temps,
                              write_atomic)
from rag.fetch.http import USER_AGENT, FetchError, PoliteClient, Response, check_delay, now_iso

OFFICIAL_BASE = "https://kokkai.ndl.go.jp"
ENDPOINT = "/api/meeting"
DEFAULT_OUT = PROJECT_ROOT / "corpus" / "fetched" / "kokkai"
DEFAULT_DELAY = 3.0  # seconds between requests (the API's terms: "wait a few seconds")
MAX_PAGE = 10  # maximumRecords allowed by /api/meeting
SEARCH_LIMIT = 1000  # meetings one search may match (split into date windows above it)
DEFAULT_LOOKBACK_DAYS = 60  # --since last starts this many days before the last fetch's end
HOUSES = ("衆議院", "参議院", "両院", "両院協議会")
ISSUE_ID = re.compile(r"[0-9A-Za-z]{21}")
ISSUE_FILE = re.compile(r"[0-9A-Za-z]{21}\.json")
FIRST_DATE = "1947-05-20"  # the first Diet session


# ---------------------------------------------------------------- the query


@dataclass(frozen=True)
class KokkaiQuery:
    since: str  # YYYY-MM-DD, or "last": from the last successful fetch of the same query
    until: str | None = None  # YYYY-MM-DD (default: today)
    house: str | None = None  # nameOfHouse: 衆議院, 参議院, 両院, 両院協議会
    meeting: str | None = None  # nameOfMeeting (space-separated names: any of them)
    speaker: str | None = None
    any: str | None = None  # words anywhere in the speeches (space-separated: all of them)

    def conditions(self) -> dict[str, str]:
        """The search conditions without the dates: what makes 'the same query' for --since last."""
        c = {"nameOfHouse": self.house, "nameOfMeeting": self.meeting, "speaker": self.speaker, "any": self.any}
        return {k: v.strip() for k, v in c.items() if v and v.strip()}

    def describe(self, since: str | None = None, until: str | None = None) -> str:
        parts = [f"{since or self.since} – {until or self.until or 'today'}"]
        parts += [f"{k}={v}" for k, v in self.conditions().items()]
        return ", ".join(parts)


def validate(query: KokkaiQuery) -> None:
    if query.house and query.house not in HOUSES:  # the API silently ignores a house it does not know
        raise FetchError(f"--house must be one of {', '.join(HOUSES)} (got {query.house!r})")
    if query.since != "last":
        _date(query.since, "--since")
    if query.until:
        _date(query.until, "--until")


def resolve_dates(query: KokkaiQuery, state: FetchState, lookback_days: int, today: date) -> tuple[date, date, str]:
    """(from, until, a note on how they were chosen)."""
    return resolve_window(query.since, query.until, state, query.conditions(), lookback_days, today, FIRST_DATE,
                          query.describe("?"))


# ---------------------------------------------------------------- results


@dataclass
class MeetingResult:
    issue_id: str
    house: str | None
    meeting: str | None  # nameOfMeeting + issue: 本会議 第1号
    date: str | None
    speeches: int  # speech records (the 会議録情報 header not counted)
    status: str  # new, changed, unchanged, empty (no speeches: not saved)
    file: str | None  # file name in the folder
    url: str | None  # meetingURL
    note: str = ""

    def line(self) -> str:
        what = " ".join(x for x in (self.house, self.meeting, self.date) if x)
        tail = f"{self.speeches} speeches" if self.status != "empty" else self.note
        return f"{self.status:>9}  {what} ({tail})  {self.file or self.issue_id}"


@dataclass
class FetchReport:
    out_dir: Path
    query: dict[str, Any] = field(default_factory=dict)
    meetings: list[MeetingResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # robots.txt, resume, since last, splits, warnings
    requests: int = 0
    pages: int = 0
    windows: int = 1  # date windows searched (more than one when the query was split)
    matched: int = 0  # meetings the searches reported (numberOfRecords over the windows walked)
    seconds: float = 0.0
    waited: float = 0.0  # of which spent waiting (delays, back-off)
    error: str | None = None  # why the run stopped early (what was fetched before is kept)
    resumed: bool = False

    def _with(self, status: str) -> list[MeetingResult]:
        return [m for m in self.meetings if m.status == status]

    @property
    def new(self) -> list[MeetingResult]:
        return self._with("new")

    @property
    def changed(self) -> list[MeetingResult]:
        return self._with("changed")

    @property
    def unchanged(self) -> list[MeetingResult]:
        return self._with("unchanged")

    @property
    def empty(self) -> list[MeetingResult]:
        return self._with("empty")

    @property
    def speeches(self) -> int:
        return sum(m.speeches for m in self.meetings)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def nothing_found(self) -> bool:
        return self.ok and not self.meetings

    def headline(self) -> str:
        return (f"kokkai: {len(self.meetings)} meetings ({len(self.new)} new, {len(self.changed)} changed, "
                f"{len(self.unchanged)} unchanged, {len(self.empty)} without speeches), {self.speeches} speeches; "
                f"{self.requests} requests in {self.seconds:.1f} s -> {self.out_dir}")

    def summary(self, unchanged: bool = False) -> str:
        lines = [self.headline()]
        lines += ["  " + m.line() for m in self.meetings if unchanged or m.status != "unchanged"]
        if self.nothing_found:
            lines.append(f"  no meetings match this query ({self.query.get('described', '')})")
        lines.append(ATTRIBUTION)
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"source": "kokkai", "out_dir": str(self.out_dir), "query": self.query,
                "meetings": [asdict(m) for m in self.meetings], "new": len(self.new), "changed": len(self.changed),
                "unchanged": len(self.unchanged), "empty": len(self.empty), "speeches": self.speeches,
                "requests": self.requests, "pages": self.pages, "windows": self.windows, "matched": self.matched,
                "seconds": round(self.seconds, 3), "waited": round(self.waited, 3), "resumed": self.resumed,
                "notes": self.notes, "error": self.error, "attribution": ATTRIBUTION}


# ---------------------------------------------------------------- the API's JSON


def api_error(obj: Any, resp: Response) -> str | None:
    """The API's own error ({"message": "(19011)…", "details": [...]}) as one line, else None."""
    if not isinstance(obj, dict) or "message" not in obj or "numberOfRecords" in obj:
        return None
    details = obj.get("details")
    detail = "; ".join(str(d) for d in details) if isinstance(details, list) else str(details or "")
    msg = f"the Diet API refused the request (HTTP {resp.status}): {obj.get('message')}"
    return (msg + (f" — {detail}" if detail else "")).replace("\n", " ")


def api_busy(obj: Any) -> bool:
    return str(obj.get("message", "")).startswith("(19001)")  # 混雑: worth another try


def check_page(obj: Any, url: str) -> tuple[int, int, int | None, list[dict]]:
    """(numberOfRecords, startRecord, nextRecordPosition, meetingRecord) of a page, or a FetchError."""
    if not isinstance(obj, dict) or not isinstance(obj.get("numberOfRecords"), int):
        keys = ", ".join(list(obj)[:6]) if isinstance(obj, dict) else type(obj).__name__
        raise FetchError(f"unexpected JSON from {url}: no numberOfRecords (top level: {keys})")
    n = obj["numberOfRecords"]
    start = obj.get("startRecord") if isinstance(obj.get("startRecord"), int) else 1
    nxt = obj.get("nextRecordPosition")
    if nxt is not None and not isinstance(nxt, int):
        raise FetchError(f"unexpected JSON from {url}: nextRecordPosition is {nxt!r}")
    records = obj.get("meetingRecord")
    if records is None:
        if "speechRecord" in obj:
            raise FetchError(f"{url} answered with speech records, not meeting records: is it the /api/meeting endpoint?")
        records = []
    if not isinstance(records, list):
        raise FetchError(f"unexpected JSON from {url}: meetingRecord is not a list")
    if n and start <= n and not records:
        raise FetchError(f"{url} reports {n} meetings but the page from record {start} holds none")
    return n, start, nxt, [r for r in records if isinstance(r, dict)]


def meeting_name(rec: dict) -> str | None:
    return " ".join(str(x) for x in (rec.get("nameOfMeeting"), rec.get("issue")) if x) or None


def speech_count(rec: dict) -> int:
    return sum(1 for s in rec.get("speechRecord") or [] if isinstance(s, dict) and _order(s) > 0)


def _order(s: dict) -> int:
    try:
        return int(s.get("speechOrder") or 0)
    except (TypeError, ValueError):
        return 0


def single_meeting(rec: dict) -> bytes:
    """A meetingRecord response holding just this meeting (compact, as the API writes it)."""
    doc = {"numberOfRecords": 1, "numberOfReturn": 1, "startRecord": 1, "nextRecordPosition": None,
           "meetingRecord": [rec]}
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _saved_record(path: Path) -> dict | None:
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
        return obj["meetingRecord"][0]
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None


def keep_meeting(rec: dict, folder: Path) -> MeetingResult:
    """Save one meeting record as <issueID>.json unless it is already there unchanged."""
    iid = str(rec.get("issueID") or "")
    res = MeetingResult(iid, rec.get("nameOfHouse"), meeting_name(rec), rec.get("date"), speech_count(rec), "new",
                        None, rec.get("meetingURL"))
    path = folder / f"{iid}.json"
    speeches = rec.get("speechRecord")
    if not isinstance(speeches, list) or not [s for s in speeches if isinstance(s, dict)]:
        res.status = "empty"
        res.note = "the API lists no speeches for it (speechRecord is empty): not saved, tried again next time"
        if path.exists():
            res.note += f"; the copy fetched earlier is kept ({path.name})"
        return res
    res.file = path.name
    if path.exists():
        if _saved_record(path) == rec:
            res.status = "unchanged"
            return res
        res.status = "changed"
    write_atomic(path, single_meeting(rec))
    return res


# ---------------------------------------------------------------- the run


def _split(window: dict) -> list[dict]:
    a, b = date.fromisoformat(window["from"]), date.fromisoformat(window["until"])
    mid = a + (b - a) // 2
    # newest first, as the API orders its results
    return [{"from": (mid + timedelta(days=1)).isoformat(), "until": b.isoformat(), "next": 1},
            {"from": a.isoformat(), "until": mid.isoformat(), "next": 1}]


def fetch_kokkai(query: KokkaiQuery, out_dir: Path | str = DEFAULT_OUT, *, base_url: str = OFFICIAL_BASE,
                 delay: float = DEFAULT_DELAY, timeout: float = 30.0, retries: int = 4, page_size: int = MAX_PAGE,
                 search_limit: int = SEARCH_LIMIT, lookback_days: int = DEFAULT_LOOKBACK_DAYS,
                 ignore_robots: bool = False, progress: bool = False, log: Callable[[str], None] = lambda s: None,
                 on_meeting: Callable[[MeetingResult, int, int], None] | None = None,
                 on_page: Callable[[dict], None] | None = None, sleep: Callable[[float], None] = time.sleep,
                 user_agent: str = USER_AGENT, backoff: float | None = None, today: date | None = None) -> FetchReport:
    """Fetch the meetings matching `query` into `out_dir`. Problems before the first request (a bad date, a
    robots.txt that forbids it, --since last with no earlier run) raise FetchError; a failure during the run
    stops it with `report.error` set, keeping everything fetched before (a rerun goes on from there)."""
    validate(query)
    if not 1 <= page_size <= MAX_PAGE:
        raise FetchError(f"page size must be 1–{MAX_PAGE} for {ENDPOINT} (got {page_size})")
    check_delay(delay, base_url)
    folder = ensure_folder(Path(out_dir))
    with folder_lock(folder):
        return _fetch(query, folder, base_url, delay, timeout, retries, page_size, search_limit, lookback_days,
                      ignore_robots, progress, log, on_meeting, on_page, sleep, user_agent, backoff, today)


def _fetch(query, folder, base_url, delay, timeout, retries, page_size, search_limit, lookback_days, ignore_robots,
           progress, log, on_meeting, on_page, sleep, user_agent, backoff, today) -> FetchReport:
    remove_stale_temps(folder)  # a killed run's half-written temporary files (the real files are whole)
    state = FetchState(folder)
    if state.warning:
        log(state.warning)
    since, until, since_note = resolve_dates(query, state, lookback_days, today or date.today())
    conditions = query.conditions()
    run_key = _key({"conditions": conditions, "from": since.isoformat(), "until": until.isoformat()})
    described = query.describe(since.isoformat(), until.isoformat())
    report = FetchReport(folder, {"endpoint": ENDPOINT, "base_url": base_url, "from": since.isoformat(),
                                  "until": until.isoformat(), **conditions, "described": described})
    if since_note:
        report.notes.append(since_note)
    flog = FetchLog(folder)
    client = PoliteClient(base_url, delay=delay, timeout=timeout, retries=retries, user_agent=user_agent,
                          sleep=sleep, backoff=backoff, log=log)
    t0 = time.perf_counter()
    bar = None
    try:
        robots = client.check_robots([ENDPOINT], ignore=ignore_robots)  # RobotsDisallowed: stop before anything
        report.notes.append(robots)
        log(robots)
        bar = _walk(query, client, state, flog, folder, report, run_key, since, until, conditions, page_size,
                    search_limit, progress, log, on_meeting, on_page)
    finally:
        if bar is not None:
            bar.close()
        report.requests = client.requests
        report.waited = client.waited
        report.seconds = time.perf_counter() - t0
        client.close()
    return report


def _walk(query, client, state, flog, folder, report, run_key, since, until, conditions, page_size, search_limit,
          progress, log, on_meeting, on_page):
    """The paging loop; returns the progress bar (closed by the caller). Mid-run FetchErrors go to report.error."""
    # meetings whose provenance is logged; one saved by a run killed before it could log it is logged when seen
    logged = {e.get("issueID") for e in flog.entries() if e.get("kind") == "meeting" and e.get("status") in
              ("new", "changed")}
    bar = None
    try:
        run = state.runs.get(run_key)
        if run and run.get("windows"):
            report.resumed = True
            w = run["windows"][0]
            note = (f"resuming the interrupted fetch of {run.get('started_at', '?')}: {len(run['windows'])} date "
                    f"window(s) left, going on at record {w['next']} of {w['from']} – {w['until']}")
            report.notes.append(note)
            log(note)
        else:
            run = {"conditions": conditions, "from": since.isoformat(), "until": until.isoformat(),
                   "started_at": now_iso(), "windows": [{"from": since.isoformat(), "until": until.isoformat(),
                                                         "next": 1}]}
            state.runs[run_key] = run
            state.save()
        flog.append({"kind": "run", "event": "resume" if report.resumed else "start", "fetched_at": now_iso(),
                     "query": report.query, "status": "started"})
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=0, unit="meeting", desc="kokkai", dynamic_ncols=True, file=sys.stderr)
        total = 0
        seen_ids: set[str] = set()
        counted: set[tuple[str, str]] = set()
        while run["windows"]:
            w = run["windows"][0]
            params = {"from": w["from"], "until": w["until"], **conditions, "startRecord": w["next"],
                      "maximumRecords": page_size, "recordPacking": "json"}
            obj, resp = client.get_json(ENDPOINT, params, api_error=api_error, busy=api_busy)
            fetched_at = now_iso()
            n, start, nxt, records = check_page(obj, resp.url)
            report.pages += 1
            if w["next"] == 1 and n > search_limit and w["from"] < w["until"]:
                halves = _split(w)
                run["windows"][0:1] = halves
                report.windows += 1
                note = (f"{w['from']} – {w['until']} matches {n} meetings, more than the API's {search_limit} per "
                        f"search: split into {halves[1]['from']} – {halves[1]['until']} and "
                        f"{halves[0]['from']} – {halves[0]['until']}")
                report.notes.append(note)
                log(note)
                state.save()
                flog.append({"kind": "page", "url": resp.url, "status": resp.status, "fetched_at": fetched_at,
                             "query": params, "numberOfRecords": n, "records": 0, "note": "split"})
                continue
            if (w["from"], w["until"]) not in counted:  # the first page of a window this run walks
                counted.add((w["from"], w["until"]))
                if n > search_limit:
                    note = (f"{w['from']} alone matches {n} meetings, more than the API's {search_limit} per search "
                            f"(a single day cannot be split): fetching as many as the API gives")
                    report.notes.append(note)
                    log(note)
                report.matched += n
                total += max(0, n - w["next"] + 1)
                if bar is not None:
                    bar.total = total
                    bar.refresh()
            for rec in records:
                iid = str(rec.get("issueID") or "")
                if not ISSUE_ID.fullmatch(iid):
                    note = f"a meeting record without a valid issueID ({iid[:40]!r}) in {resp.url}: skipped"
                    report.notes.append(note)
                    log(note)
                    continue
                if iid in seen_ids:  # the same meeting again (results shifted between pages): keep the first
                    continue
                seen_ids.add(iid)
                res = keep_meeting(rec, folder)
                if res.status == "unchanged" and iid not in logged:
                    res.status = "new"  # kept by an interrupted run that could not log it: its provenance, now
                if res.status in ("new", "changed"):
                    logged.add(iid)
                report.meetings.append(res)
                flog.append({"kind": "meeting", "issueID": iid, "file": res.file, "status": res.status,
                             "url": resp.url, "meetingURL": res.url, "fetched_at": fetched_at, "query": report.query,
                             "speeches": res.speeches,
                             **({"sha256": hashlib.sha256((folder / res.file).read_bytes()).hexdigest()}
                                if res.file else {})})
                if res.status == "empty":
                    log(f"meeting {iid} ({' '.join(x for x in (res.house, res.meeting, res.date) if x)}): {res.note}")
                if bar is not None:
                    bar.update(1)
                if on_meeting:
                    on_meeting(res, len(report.meetings), total)
            if nxt is None or nxt > n:
                run["windows"].pop(0)
            elif nxt <= start:
                raise FetchError(f"{resp.url}: nextRecordPosition {nxt} does not move past startRecord {start}")
            else:
                w["next"] = nxt
            state.save()  # where to go on from, after every page
            flog.append({"kind": "page", "url": resp.url, "status": resp.status, "fetched_at": fetched_at,
                         "query": params, "numberOfRecords": n, "records": len(records),
                         "sha256": hashlib.sha256(resp.data).hexdigest()})
            if on_page:
                on_page({"url": resp.url, "numberOfRecords": n, "startRecord": start, "next": nxt,
                         "records": len(records), "meetings": len(report.meetings)})
        # done: remember it for --since last, forget the run (and older unfinished runs of the query it covers)
        state.runs.pop(run_key, None)
        for key, other in list(state.runs.items()):
            if other.get("conditions") == conditions and since.isoformat() <= other.get("from", "") \
                    and other.get("until", "9999") <= until.isoformat():
                state.runs.pop(key)
        remember_success(state, conditions, since, until, now_iso())
        state.save()
        flog.append({"kind": "run", "event": "done", "fetched_at": now_iso(), "query": report.query, "status": "ok",
                     "meetings": len(report.meetings)})
    except OSError as e:  # the folder: disk full, permissions (what was written before stays whole)
        report.error = f"cannot write to {folder}: {e.strerror or e}"
        flog.append({"kind": "run", "event": "error", "fetched_at": now_iso(), "query": report.query,
                     "status": "error", "message": report.error})
    except FetchError as e:
        report.error = str(e)
        flog.append({"kind": "run", "event": "error", "fetched_at": now_iso(), "query": report.query,
                     "status": "error", "message": str(e)})
    except BaseException as e:  # KeyboardInterrupt, a bug: the state saved after the last page stands
        flog.append({"kind": "run", "event": "interrupted", "fetched_at": now_iso(), "query": report.query,
                     "status": "interrupted", "message": f"{type(e).__name__}: {e}"[:200]})
        if bar is not None:
            bar.close()
        raise
    return bar


# ---------------------------------------------------------------- indexing and attribution


def kokkai_folder(out_dir: Path | str = DEFAULT_OUT, only: set[str] | None = None) -> FetchedFolder:
    """The fetched meetings as a Source for rag.ingest.ingest (the same keys as `python -m rag ingest DIR`)."""
    return FetchedFolder(Path(out_dir), lambda name: bool(ISSUE_FILE.fullmatch(name)), only)


def ingest_fetched(out_dir: Path | str, settings, embedder=None, progress: bool = False,
                   log: Callable[[str], None] = lambda s: None):
    """Index every meeting kept in `out_dir` (those already indexed unchanged are skipped)."""
    from rag.ingest import ingest

    return ingest(kokkai_folder(out_dir), settings, embedder=embedder, progress=progress, log=log)



