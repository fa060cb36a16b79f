"""DiscussNet SSP (会議録検索システム by 会議録研究所), the most common minutes system of local assemblies, as a
fetcher.

    report = fetch_discussnet("https://ssp.kaigiroku.net/tenant/hakodate/", out_dir, since="2024-01-01")
    ingest(discussnet_folder(out_dir), settings)      # or `python -m rag ingest corpus/fetched/discussnet/hakodate`

The system, as its own search pages drive it:
- The body's address names its tenant: `https://ssp.kaigiroku.net/tenant/<name>/…` (hosted: "saas"), the
  same layout on the body's own server (`http://giji.city.yokohama.lg.jp/tenant/yokohama/…`: "self-hosted"),
  or DiscussVision Smart's `https://smart.discussvision.net/smart/tenant/<name>/WebView/…` ("smart").
- `<tenant>/js/tenant.js` (smart: `<tenant>/WebView/js/tenant.js`) states the numeric tenant_id, as
  `dnp.params.tenant_id = 537` or as `document.write('<input … name="tenant_id" value="396">')`.
- The JSON API lives at `/dnp/search/` of the host serving the tenant (for smart.discussvision.net: of
  ssp.kaigiroku.net); each call is a form POST:
    councils/index        tenant_id                          -> councils[].view_years[].council_type[].councils[]
    minutes/get_schedule  tenant_id, council_id              -> council_schedules[] (one per day: 02月22日－01号)
    minutes/get_minute    tenant_id, council_id, schedule_id -> tenant_minutes[] (the whole day's minutes)
- A person reads that day at `<tenant>/MinuteView.html?council_id=…&schedule_id=…`: the link citations carry.

What is fetched: the council types under the minutes branch of the tree (council_type_path /0/1/: 本会議,
委員会 …; the /0/2/ branch holds 資料 such as agendas and vote lists; `all_types` takes those too), narrowed
by `council` (words in the council or its type names) and by date: a council is listed when its view_year
can hold meetings in the range, a day is fetched when its date (from the listing: the schedule's name and
the era date in its member_list) is in the range.

Each day is kept as `<council_id>_<schedule_id>.json`, the get_minute response byte for byte (read by
rag.readers.json_records), with a sidecar `<council_id>_<schedule_id>.meta.json` holding what the listing
states: meeting (council name and number), date, the page's URL, the body (when given), and the system's
ids. Incremental: a day whose listing entry is unchanged since it was saved is not fetched again; one whose
listing changed is fetched and replaced when its minutes changed (`recheck` fetches every day to compare).
Resumable: the listing and the days still to fetch are kept in `.fetch-state.json` as the run goes.
Politeness as for every fetcher (rag.fetch.http): one request at a time, `delay` seconds apart (default
2 s, at least 1 s), retries with back-off, an identifying User-Agent, robots.txt honoured.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from rag.config import PROJECT_ROOT
from rag.fetch.common import parse_day, query_key, remember_success, resolve_window
from rag.fetch.corpus import (FetchedFolder, FetchLog, FetchState, ensure_folder, folder_lock, remove_stale_temps,
                              write_atomic)
from rag.fetch.http import USER_AGENT, FetchError, PoliteClient, Response, check_delay, now_iso
from rag.parsing import dates as D

SSP_HOST = "https://ssp.kaigiroku.net"
SMART_HOST = "smart.discussvision.net"
COUNCILS = "councils/index"
SCHEDULES = "minutes/get_schedule"
MINUTE = "minutes/get_minute"
DEFAULT_OUT = PROJECT_ROOT / "corpus" / "fetched" / "discussnet"
DEFAULT_DELAY = 2.0
DEFAULT_LOOKBACK_DAYS = 90  # --since last: minutes of a local assembly appear one to three months after the day
MINUTES_BRANCH = "/0/1/"  # council_type_path of the minutes (the /0/2/ branch holds 資料)
MINUTE_FILE = re.compile(r"\d+_\d+\.json")
FIRST_DATE = "1900-01-01"
_TENANT_PATH = re.compile(r"^(?P<prefix>.*?)/(?P<smart>smart/)?tenant/(?P<slug>[A-Za-z0-9_.-]+)(?:/|$)")
_SP = re.compile(r"[\s\u3000]+")


# ---------------------------------------------------------------- the tenant's addresses


@dataclass(frozen=True)
class Tenant:
    kind: str  # saas (ssp.kaigiroku.net), self-hosted (the body's own server), smart (DiscussVision Smart)
    slug: str  # the tenant's name in its address: hakodate
    tenant_js: str  # where the numeric tenant_id is stated
    api: str  # the JSON API: …/dnp/search
    site: str  # the tenant's pages: …/tenant/hakodate

    def page_url(self, council_id: int | str, schedule_id: int | str) -> str:
        """The page a person opens to read that day's minutes."""
        return f"{self.site}/MinuteView.html?" + urlencode({"council_id": council_id, "schedule_id": schedule_id})


def tenant_of(base_url: str, api_url: str | None = None) -> Tenant:
    """The tenant's addresses from the address of its minutes system (any page under /tenant/<name>/)."""
    parts = urlsplit((base_url or "").strip())
    m = _TENANT_PATH.match(parts.path or "")
    if parts.scheme not in ("http", "https") or not parts.netloc or not m:
        raise FetchError(f"--base-url must be the address of a body's DiscussNet minutes system, with /tenant/<name>/ "
                         f"in it, e.g. https://ssp.kaigiroku.net/tenant/hakodate/ (got {base_url!r})")
    origin = f"{parts.scheme}://{parts.netloc}"
    prefix, slug = m.group("prefix").rstrip("/"), m.group("slug")
    host = (parts.hostname or "").lower()
    if m.group("smart") or host == SMART_HOST:
        # the video site's tenant.js; the minutes themselves are served by the SSP system
        minutes = SSP_HOST if host == SMART_HOST else origin + prefix
        tenant = Tenant("smart", slug, f"{origin}{prefix}/smart/tenant/{slug}/WebView/js/tenant.js",
                        f"{minutes}/dnp/search", f"{minutes}/tenant/{slug}")
    else:
        kind = "saas" if origin.lower() == SSP_HOST else "self-hosted"
        tenant = Tenant(kind, slug, f"{origin}{prefix}/tenant/{slug}/js/tenant.js", f"{origin}{prefix}/dnp/search",
                        f"{origin}{prefix}/tenant/{slug}")
    if api_url:
        api = api_url.strip().rstrip("/")
        if not re.match(r"https?://[^/]+", api):
            raise FetchError(f"--api-url must be an http(s) address such as https://ssp.kaigiroku.net/dnp/search "
                             f"(got {api_url!r})")
        tenant = Tenant(tenant.kind, tenant.slug, tenant.tenant_js, api, tenant.site)
    return tenant


def tenant_id_in(script: str) -> int | None:
    """The numeric tenant_id a tenant.js states (comments, which may hold examples, are not read)."""
    code = re.sub(r"/\*.*?\*/", "", script, flags=re.S)
    code = re.sub(r"(?m)^\s*//.*$", "", code)
    m = re.search(r"tenant_id\s*=\s*[\"']?(\d+)", code)
    if m:
        return int(m.group(1))
    found = re.findall(r"name\s*=\s*[\"']tenant_id[\"'][^>]*?value\s*=\s*[\"'](\d+)", code)
    return int(found[-1]) if found else None


# ---------------------------------------------------------------- the listing


@dataclass
class Council:
    id: int
    name: str
    view_year: str
    types: list[str]  # council_type_name1..5 that are set: 全会議 / 本会議 / 定例会
    path: str  # council_type_path: /0/1/3/6/

    @property
    def type_name(self) -> str:
        return " ".join(t for t in self.types[1:] if t) or " ".join(self.types)


def councils_in(obj: Any, url: str) -> list[Council]:
    if not isinstance(obj, dict) or not isinstance(obj.get("councils"), list):
        raise FetchError(f"unexpected JSON from {url}: no councils list (top level: {_keys(obj)})")
    out: list[Council] = []
    for group in obj["councils"]:
        for vy in (group or {}).get("view_years") or []:
            for ct in (vy or {}).get("council_type") or []:
                types = [ct.get(f"council_type_name{i}") for i in range(1, 6)]
                for c in (ct or {}).get("councils") or []:
                    if isinstance(c, dict) and isinstance(c.get("council_id"), int):
                        out.append(Council(c["council_id"], str(c.get("name") or "").strip(),
                                           str(vy.get("view_year") or ""), [t for t in types if t],
                                           str(ct.get("council_type_path") or "")))
    return out


def schedules_in(obj: Any, url: str) -> list[dict]:
    if not isinstance(obj, dict) or not isinstance(obj.get("council_schedules"), list):
        raise FetchError(f"unexpected JSON from {url}: no council_schedules list (top level: {_keys(obj)})")
    return [s for s in obj["council_schedules"] if isinstance(s, dict) and isinstance(s.get("schedule_id"), int)]


def minutes_in(obj: Any, url: str) -> list[dict]:
    if not isinstance(obj, dict) or not isinstance(obj.get("tenant_minutes"), list):
        raise FetchError(f"unexpected JSON from {url}: no tenant_minutes list (top level: {_keys(obj)})")
    return [m for m in obj["tenant_minutes"] if isinstance(m, dict)]


def _keys(obj: Any) -> str:
    return ", ".join(list(obj)[:6]) if isinstance(obj, dict) else type(obj).__name__


def _squash(s: str) -> str:
    return _SP.sub("", s or "")


def _plain(html_text: str) -> str:
    import html

    return html.unescape(re.sub(r"<[^>]{1,200}>", "", html_text or ""))


def schedule_date(name: str, member_list: str, view_year: str) -> str | None:
    """The day's date: its month and day from the schedule's name (02月22日－01号) with the year of the era
    date in its member list that falls on that day, else the council's view_year; without a month and day in
    the name, the first date of the member list."""
    md = re.search(r"([0-9０-９]{1,2})\s*月\s*([0-9０-９]{1,2})\s*日", name or "")
    found = [d for _, _, d in D.find_dates(_plain(member_list)[:3000])]
    if md:
        month, day = D.kanji_number(md.group(1)), D.kanji_number(md.group(2))
        for d in found:
            if (d.month, d.day) == (month, day):
                return d.isoformat()
        if view_year.isdigit():
            try:
                return date(int(view_year), month or 0, day or 0).isoformat()
            except ValueError:
                pass
    return found[0].isoformat() if found else None


def meeting_name(council: str, schedule: str) -> str:
    """令和　６年第１回　２月定例会 + 02月22日－01号 -> 令和６年第１回 ２月定例会（第１号）."""
    name = re.sub(r"(令和|平成|昭和)[\s\u3000]+", r"\1", council.strip())
    name = _SP.sub(" ", name)
    m = re.search(r"[－\-―ー]\s*([0-9０-９]+)\s*号", schedule or "")
    if m:
        n = str(D.kanji_number(m.group(1)) or m.group(1))
        return f"{name}（第{n.translate(str.maketrans('0123456789', '０１２３４５６７８９'))}号）"
    return f"{name} {schedule.strip()}".strip()


def listing_sha256(council: str, schedule: dict) -> str:
    """What the listing says of a day (not its hit or post-it counts): when it changes, the day is fetched again."""
    keep = {"council": council, "name": schedule.get("name"), "member_list": schedule.get("member_list"),
            "page_no": schedule.get("page_no")}
    return hashlib.sha256(query_key(keep).encode("utf-8")).hexdigest()


# ---------------------------------------------------------------- results


@dataclass
class MinuteResult:
    council_id: int
    schedule_id: int
    meeting: str | None  # from the listing: council name and number
    date: str | None
    records: int  # tenant_minutes entries
    status: str  # new, changed, unchanged, empty (no minutes: not saved)
    file: str | None
    url: str  # the page a person opens
    note: str = ""

    def line(self) -> str:
        what = " ".join(x for x in (self.meeting, self.date) if x)
        tail = f"{self.records} records" if self.status != "empty" else self.note
        return f"{self.status:>9}  {what} ({tail})  {self.file or f'{self.council_id}_{self.schedule_id}'}"


@dataclass
class DiscussNetReport:
    out_dir: Path
    tenant: dict[str, Any] = field(default_factory=dict)
    query: dict[str, Any] = field(default_factory=dict)
    minutes: list[MinuteResult] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    councils: int = 0  # councils listed (their days asked for)
    days: int = 0  # days in the range the listing holds
    requests: int = 0
    seconds: float = 0.0
    waited: float = 0.0
    error: str | None = None
    resumed: bool = False

    def _with(self, status: str) -> list[MinuteResult]:
        return [m for m in self.minutes if m.status == status]

    @property
    def new(self) -> list[MinuteResult]:
        return self._with("new")

    @property
    def changed(self) -> list[MinuteResult]:
        return self._with("changed")

    @property
    def unchanged(self) -> list[MinuteResult]:
        return self._with("unchanged")

    @property
    def empty(self) -> list[MinuteResult]:
        return self._with("empty")

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def nothing_found(self) -> bool:
        return self.ok and not self.minutes

    def headline(self) -> str:
        return (f"discussnet {self.tenant.get('slug', '')}: {len(self.minutes)} days of minutes ({len(self.new)} new, "
                f"{len(self.changed)} changed, {len(self.unchanged)} unchanged, {len(self.empty)} without minutes) "
                f"from {self.councils} councils; {self.requests} requests in {self.seconds:.1f} s -> {self.out_dir}")

    def summary(self, unchanged: bool = False) -> str:
        lines = [self.headline()]
        lines += ["  " + m.line() for m in self.minutes if unchanged or m.status != "unchanged"]
        if self.nothing_found:
            lines.append(f"  no minutes match this query ({self.query.get('described', '')})")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"source": "discussnet", "out_dir": str(self.out_dir), "tenant": self.tenant, "query": self.query,
                "minutes": [asdict(m) for m in self.minutes], "new": len(self.new), "changed": len(self.changed),
                "unchanged": len(self.unchanged), "empty": len(self.empty), "councils": self.councils,
                "days": self.days, "requests": self.requests, "seconds": round(self.seconds, 3),
                "waited": round(self.waited, 3), "resumed": self.resumed, "notes": self.notes, "error": self.error}


# ---------------------------------------------------------------- keeping a day


def sidecar_path(path: Path) -> Path:
    from rag.sources.folder import sidecar_of

    return sidecar_of(path)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, ValueError):
        return None


def sidecar(tenant: Tenant, tenant_id: int, item: dict, body: str | None, api: str) -> dict[str, Any]:
    """What the listing states of a day, as the reader takes it (body, meeting, date, url override the text)."""
    meta: dict[str, Any] = {}
    if body:
        meta["body"] = body
    meta["meeting"] = item["meeting"]
    if item.get("date"):
        meta["date"] = item["date"]
    meta["url"] = tenant.page_url(item["council_id"], item["schedule_id"])
    meta["discussnet"] = {"tenant": tenant.slug, "tenant_id": tenant_id, "council_id": item["council_id"],
                          "schedule_id": item["schedule_id"], "council": item["council"],
                          "council_type": item["council_type"], "schedule": item["schedule"],
                          "view_year": item["view_year"], "api": api, "listing_sha256": item["sig"]}
    return meta


def _dump(obj: Any) -> bytes:
    return (json.dumps(obj, ensure_ascii=False, indent=1) + "\n").encode("utf-8")


# ---------------------------------------------------------------- the run


def fetch_discussnet(base_url: str, out_dir: Path | str | None = None, *, since: str | None = None,
                     until: str | None = None, council: str | None = None, all_types: bool = False,
                     body: str | None = None, api_url: str | None = None, tenant_id: int | None = None,
                     recheck: bool = False, delay: float = DEFAULT_DELAY, timeout: float = 30.0, retries: int = 4,
                     lookback_days: int = DEFAULT_LOOKBACK_DAYS, ignore_robots: bool = False, progress: bool = False,
                     log: Callable[[str], None] = lambda s: None,
                     on_minute: Callable[[MinuteResult, int, int], None] | None = None,
                     sleep: Callable[[float], None] = time.sleep, user_agent: str = USER_AGENT,
                     backoff: float | None = None, today: date | None = None) -> DiscussNetReport:
    """Fetch a body's minutes from its DiscussNet SSP system into `out_dir` (default
    corpus/fetched/discussnet/<tenant>). Problems before the first request (a bad address or date, robots.txt
    forbidding it, --since last with no earlier run) raise FetchError; a failure during the run stops it with
    `report.error` set, keeping everything fetched before (a rerun goes on from there)."""
    tenant = tenant_of(base_url, api_url)
    if since and since != "last":
        parse_day(since, "--since")
    if until:
        parse_day(until, "--until")
    check_delay(delay, tenant.api)
    check_delay(delay, tenant.tenant_js)
    folder = ensure_folder(Path(out_dir) if out_dir else DEFAULT_OUT / tenant.slug)
    with folder_lock(folder):
        return _fetch(tenant, folder, since, until, council, all_types, body, tenant_id, recheck, delay, timeout,
                      retries, lookback_days, ignore_robots, progress, log, on_minute, sleep, user_agent, backoff,
                      today)


def _fetch(tenant, folder, since, until, council, all_types, body, tenant_id, recheck, delay, timeout, retries,
           lookback_days, ignore_robots, progress, log, on_minute, sleep, user_agent, backoff, today):
    remove_stale_temps(folder)
    state = FetchState(folder)
    if state.warning:
        log(state.warning)
    conditions = {"tenant": tenant.site, "api": tenant.api, **({"council": council.strip()} if council and
                                                                council.strip() else {}),
                  **({"all_types": True} if all_types else {})}
    described = ", ".join([f"{tenant.site}", f"{since or 'any date'} – {until or 'today'}"]
                          + ([f"council={council}"] if council else []))
    if since:
        start, end, since_note = resolve_window(since, until, state, conditions, lookback_days, today or date.today(),
                                                FIRST_DATE, described)
    else:
        start, end, since_note = None, parse_day(until, "--until") if until else (today or date.today()), ""
    window = {"from": start.isoformat() if start else None, "until": end.isoformat()}
    run_key = query_key({"conditions": conditions, **window})
    report = DiscussNetReport(folder, asdict(tenant), {**conditions, **window, "described": (
        ", ".join([tenant.site, f"{window['from'] or 'any date'} – {window['until']}"]
                  + ([f"council={council}"] if council else [])))})
    if since_note:
        report.notes.append(since_note)
    flog = FetchLog(folder)
    # clients on the hosts' roots (requests go to absolute addresses; robots.txt paths are from the root)
    api_host = PoliteClient(_origin(tenant.api), delay=delay, timeout=timeout, retries=retries, user_agent=user_agent,
                            sleep=sleep, backoff=backoff, log=log)
    same_host = urlsplit(tenant.api).netloc == urlsplit(tenant.tenant_js).netloc
    js_host = api_host if same_host else PoliteClient(_origin(tenant.tenant_js), delay=delay, timeout=timeout, retries=retries,
                                                      user_agent=user_agent, sleep=sleep, backoff=backoff, log=log)
    t0 = time.perf_counter()
    bar = None
    try:
        api_path = urlsplit(tenant.api).path.rstrip("/")
        api_paths = [f"{api_path}/{p}" for p in (COUNCILS, SCHEDULES, MINUTE)]
        js_paths = [urlsplit(tenant.tenant_js).path] if tenant_id is None else []
        checks = [(api_host, js_paths + api_paths)] if same_host else [(api_host, api_paths), (js_host, js_paths)]
        for client, wanted in checks:
            if wanted:
                note = client.check_robots(wanted, ignore=ignore_robots)  # RobotsDisallowed: stop before anything
                report.notes.append(note)
                log(note)
        if tenant.kind == "smart" and urlsplit(tenant.api).netloc != urlsplit(tenant.tenant_js).netloc:
            note = (f"{SMART_HOST} is DiscussVision's video site: the tenant_id its tenant.js states is looked up in "
                    f"the minutes system at {tenant.api}, where it may name another body; check the bodies in the "
                    f"result, or give the body's own minutes address (…/tenant/<name>/) instead")
            report.notes.append(note)
            log(note)
        bar = _walk(tenant, api_host, js_host, state, flog, folder, report, run_key, conditions, window, start, end,
                    council, all_types, body, tenant_id, recheck, progress, log, on_minute)
    finally:
        if bar is not None:
            bar.close()
        report.requests = api_host.requests + (0 if js_host is api_host else js_host.requests)
        report.waited = api_host.waited + (0 if js_host is api_host else js_host.waited)
        report.seconds = time.perf_counter() - t0
        api_host.close()
        if js_host is not api_host:
            js_host.close()
    return report


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _wanted_councils(all_councils: list[Council], council: str | None, all_types: bool, start: date | None,
                     end: date, notes: list[str]) -> list[Council]:
    out = all_councils
    if not all_types:
        minutes = [c for c in out if c.path.startswith(MINUTES_BRANCH)]
        if minutes:
            if len(minutes) < len(out):
                notes.append(f"{len(out) - len(minutes)} councils outside the minutes branch ({MINUTES_BRANCH}: "
                             f"資料 such as agendas and vote lists) not fetched (--all-types takes them too)")
            out = minutes
        else:
            notes.append(f"no council types under {MINUTES_BRANCH} in this system's tree: taking every council")
    if council and council.strip():
        words = [_squash(w) for w in council.split()]
        out = [c for c in out if any(w in _squash(" ".join([c.name, *c.types])) for w in words)]

    def in_range(c: Council) -> bool:
        if not c.view_year.isdigit():
            return True
        y = int(c.view_year)  # a council's days fall in its view_year, or early in the next year
        return (start is None or y >= start.year - 1) and y <= end.year

    return [c for c in out if in_range(c)]


def _walk(tenant, api_host, js_host, state, flog, folder, report, run_key, conditions, window, start, end, council,
          all_types, body, tenant_id, recheck, progress, log, on_minute):
    """Listing, then the days; returns the progress bar (closed by the caller). FetchErrors go to report.error."""
    logged = {e.get("file") for e in flog.entries() if e.get("kind") == "meeting" and e.get("status") in
              ("new", "changed")}
    bar = None
    run = None
    try:
        run = state.runs.get(run_key)
        if run and (run.get("councils") or run.get("todo")):
            report.resumed = True
            note = (f"resuming the interrupted fetch of {run.get('started_at', '?')}: {len(run.get('councils') or [])} "
                    f"councils still to list, {len(run.get('todo') or [])} days still to fetch")
            report.notes.append(note)
            log(note)
        else:
            run = {"conditions": conditions, **window, "started_at": now_iso(), "tenant_id": None, "councils": None,
                   "todo": [], "listed": 0, "days": 0}
            state.runs[run_key] = run
        flog.append({"kind": "run", "event": "resume" if report.resumed else "start", "fetched_at": now_iso(),
                     "query": report.query, "status": "started"})
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=0, unit="council", desc=f"discussnet {tenant.slug}: listing", dynamic_ncols=True,
                       file=sys.stderr)
        # the tenant and its councils
        if run.get("councils") is None:
            tid = tenant_id if tenant_id is not None else _tenant_id(js_host, tenant, flog)
            obj, resp = api_host.get_json(f"{tenant.api}/{COUNCILS}", form={"tenant_id": tid})
            every = councils_in(obj, resp.url)
            flog.append({"kind": "listing", "url": resp.url, "form": {"tenant_id": tid}, "status": resp.status,
                         "fetched_at": now_iso(), "councils": len(every), "sha256": hashlib.sha256(resp.data).hexdigest()})
            chosen = _wanted_councils(every, council, all_types, start, end, report.notes)
            if not every:
                report.notes.append(f"the system lists no councils for tenant_id {tid} at {resp.url}")
            run.update({"tenant_id": tid, "councils": [asdict(c) for c in chosen]})
            state.save()
        tid = run["tenant_id"]
        report.tenant["tenant_id"] = tid
        if bar is not None:
            bar.total = run["listed"] + len(run["councils"])
            bar.update(run["listed"])
        # each council's days in the range
        while run["councils"]:
            c = Council(**run["councils"][0])
            form = {"tenant_id": tid, "council_id": c.id}
            obj, resp = api_host.get_json(f"{tenant.api}/{SCHEDULES}", form=form)
            days = schedules_in(obj, resp.url)
            have = {(t["council_id"], t["schedule_id"]) for t in run["todo"]}
            added = 0
            for s in days:
                d = schedule_date(str(s.get("name") or ""), str(s.get("member_list") or ""), c.view_year)
                if d and ((start and d < start.isoformat()) or d > end.isoformat()):
                    continue
                if not d and c.view_year.isdigit() and ((start and int(c.view_year) < start.year)
                                                        or int(c.view_year) > end.year):
                    continue
                if (c.id, s["schedule_id"]) in have:
                    continue
                run["todo"].append({"council_id": c.id, "schedule_id": s["schedule_id"], "council": c.name,
                                    "council_type": c.type_name, "view_year": c.view_year,
                                    "schedule": str(s.get("name") or ""), "date": d,
                                    "meeting": meeting_name(c.name, str(s.get("name") or "")),
                                    "sig": listing_sha256(c.name, s)})
                added += 1
            run["councils"].pop(0)
            run["listed"] += 1
            run["days"] += added
            state.save()
            flog.append({"kind": "listing", "url": resp.url, "form": form, "status": resp.status,
                         "fetched_at": now_iso(), "council": c.name, "schedules": len(days), "in_range": added,
                         "sha256": hashlib.sha256(resp.data).hexdigest()})
            if bar is not None:
                bar.update(1)
        # the days
        total = len(run["todo"])
        if bar is not None:
            bar.reset(total=total)
            bar.unit = "day"
            bar.set_description(f"discussnet {tenant.slug}")
        unsaved = 0
        while run["todo"]:
            item = run["todo"][0]
            asked = api_host.requests
            res = _keep_day(tenant, api_host, tid, item, folder, body, recheck, logged, flog, report.query)
            report.minutes.append(res)
            run["todo"].pop(0)
            unsaved += 1
            if api_host.requests > asked or unsaved >= 50:  # where to go on from (a day skipped costs nothing to redo)
                state.save()
                unsaved = 0
            if res.status == "empty":
                log(f"{item['meeting']} {item.get('date') or ''}: {res.note}")
            if bar is not None:
                bar.update(1)
            if on_minute:
                on_minute(res, len(report.minutes), total)
        # done: remember it for --since last, forget the run
        state.runs.pop(run_key, None)
        remember_success(state, conditions, start or parse_day(FIRST_DATE, "first date"), end, now_iso())
        state.save()
        flog.append({"kind": "run", "event": "done", "fetched_at": now_iso(), "query": report.query, "status": "ok",
                     "minutes": len(report.minutes)})
    except OSError as e:
        report.error = f"cannot write to {folder}: {e.strerror or e}"
        flog.append({"kind": "run", "event": "error", "fetched_at": now_iso(), "query": report.query,
                     "status": "error", "message": report.error})
    except FetchError as e:
        report.error = str(e)
        flog.append({"kind": "run", "event": "error", "fetched_at": now_iso(), "query": report.query,
                     "status": "error", "message": str(e)})
    except BaseException as e:  # KeyboardInterrupt, a bug: the state saved after the last step stands
        flog.append({"kind": "run", "event": "interrupted", "fetched_at": now_iso(), "query": report.query,
                     "status": "interrupted", "message": f"{type(e).__name__}: {e}"[:200]})
        if bar is not None:
            bar.close()
        raise
    finally:
        if run:
            report.councils, report.days = run.get("listed", 0), run.get("days", 0)
    return bar


def _tenant_id(client: PoliteClient, tenant: Tenant, flog: FetchLog) -> int:
    def check(resp: Response) -> None:
        if resp.status >= 400:
            raise FetchError(f"HTTP {resp.status} from {resp.url}: is this a DiscussNet minutes system? (its "
                             f"tenant.js, which states the tenant's number, should be there; --tenant-id gives "
                             f"the number directly)")

    resp = client.get(tenant.tenant_js, None, check)
    tid = tenant_id_in(resp.data.decode("utf-8", "replace"))
    flog.append({"kind": "listing", "url": resp.url, "status": resp.status, "fetched_at": now_iso(),
                 "tenant_id": tid, "sha256": hashlib.sha256(resp.data).hexdigest()})
    if tid is None:
        raise FetchError(f"{resp.url} states no tenant_id: is this a DiscussNet minutes system? (--tenant-id gives "
                         f"the number directly)")
    return tid


def _keep_day(tenant: Tenant, client: PoliteClient, tid: int, item: dict, folder: Path, body: str | None,
              recheck: bool, logged: set, flog: FetchLog, query: dict) -> MinuteResult:
    """One day: skipped when the listing is as it was when it was saved, else fetched, saved when new or changed."""
    name = f"{item['council_id']}_{item['schedule_id']}.json"
    path = folder / name
    side = sidecar_path(path)
    url = tenant.page_url(item["council_id"], item["schedule_id"])
    res = MinuteResult(item["council_id"], item["schedule_id"], item["meeting"], item.get("date"), 0, "new", None, url)
    meta = sidecar(tenant, tid, item, body, tenant.api)
    old_meta = _read_json(side) if side.exists() else None
    saved = _read_json(path) if path.exists() else None
    entry: dict[str, Any] = {"kind": "meeting", "file": name, "council_id": item["council_id"],
                             "schedule_id": item["schedule_id"], "meeting": item["meeting"], "date": item.get("date"),
                             "page_url": url}
    if (not recheck and isinstance(saved, dict) and isinstance(old_meta, dict)
            and (old_meta.get("discussnet") or {}).get("listing_sha256") == item["sig"]):
        res.status, res.file = "unchanged", name
        res.records = len(saved.get("tenant_minutes") or [])
        if old_meta != meta:  # what we add (the body given this time) changed: the sidecar, not the minutes
            write_atomic(side, _dump(meta))
    else:
        form = {"tenant_id": tid, "council_id": item["council_id"], "schedule_id": item["schedule_id"]}
        obj, resp = client.get_json(f"{tenant.api}/{MINUTE}", form=form)
        records = minutes_in(obj, resp.url)
        entry.update({"url": resp.url, "form": form, "status_code": resp.status})
        res.records = len(records)
        if not records:
            res.status = "empty"
            res.note = "the system holds no minutes for this day (tenant_minutes is empty): not saved, tried again next time"
            if path.exists():
                res.note += f"; the copy fetched earlier is kept ({name})"
        else:
            res.file = name
            if saved == obj:
                res.status = "unchanged"
            else:
                res.status = "changed" if path.exists() else "new"
                write_atomic(path, resp.data)  # the response as the system sent it
            if old_meta != meta:
                write_atomic(side, _dump(meta))
    if res.status == "unchanged" and name not in logged:
        res.status = "new"  # kept by an interrupted run that could not log it: its provenance, now
    if res.status in ("new", "changed"):
        logged.add(name)
    entry.update({"status": res.status, "fetched_at": now_iso(), "query": query, "records": res.records})
    if res.file:
        entry["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    flog.append(entry)
    return res


# ---------------------------------------------------------------- indexing


def discussnet_folder(out_dir: Path | str, only: set[str] | None = None) -> FetchedFolder:
    """The fetched days as a Source for rag.ingest.ingest (the same keys as `python -m rag ingest DIR`)."""
    return FetchedFolder(Path(out_dir), lambda name: bool(MINUTE_FILE.fullmatch(name)), only)


def ingest_fetched(out_dir: Path | str, settings, embedder=None, progress: bool = False,
                   log: Callable[[str], None] = lambda s: None):
    """Index every day kept in `out_dir` (those already indexed unchanged are skipped)."""
    from rag.ingest import ingest

    return ingest(discussnet_folder(out_dir), settings, embedder=embedder, progress=progress, log=log)
