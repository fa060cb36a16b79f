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
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit

from rag.config import PROJECT_ROOT
from rag.fetch import common
from rag.fetch.common import (Got, MunicipalReport, Walk, check_dates, in_window, keep_minute,
                              logged_minutes, municipal_window, origin, sidecar_path, walk)
from rag.fetch.corpus import FetchedFolder, FetchLog, FetchState, ensure_folder, folder_lock, remove_stale_temps
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
    return common.listing_sha256({"council": council, "name": schedule.get("name"),
                                  "member_list": schedule.get("member_list"), "page_no": schedule.get("page_no")})


# ---------------------------------------------------------------- results


@dataclass
class MinuteResult(common.MinuteResult):
    council_id: int = 0
    schedule_id: int = 0


@dataclass
class DiscussNetReport(MunicipalReport):
    source = "discussnet"
    listed_as = "councils"
    system_key = "tenant"

    @property
    def tenant(self) -> dict[str, Any]:
        return self.system

    @property
    def councils(self) -> int:
        return self.listed


# ---------------------------------------------------------------- keeping a day


def sidecar(tenant: Tenant, tenant_id: int, item: dict, body: str | None, api: str) -> dict[str, Any]:
    """What the listing states of a day, as the reader takes it (body, meeting, date, url override the text)."""
    return common.listing_meta(body, item["meeting"], item.get("date"),
                               tenant.page_url(item["council_id"], item["schedule_id"]), discussnet={
        "tenant": tenant.slug, "tenant_id": tenant_id, "council_id": item["council_id"],
        "schedule_id": item["schedule_id"], "council": item["council"], "council_type": item["council_type"],
        "schedule": item["schedule"], "view_year": item["view_year"], "api": api, "listing_sha256": item["sig"]})


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
    check_dates(since, until)
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
    start, end, since_note, window, run_key = municipal_window(since, until, state, conditions, lookback_days,
                                                               today or date.today(), described)
    report = DiscussNetReport(folder, asdict(tenant), {**conditions, **window, "described": (
        ", ".join([tenant.site, f"{window['from'] or 'any date'} – {window['until']}"]
                  + ([f"council={council}"] if council else [])))})
    if since_note:
        report.notes.append(since_note)
    flog = FetchLog(folder)
    # clients on the hosts' roots (requests go to absolute addresses; robots.txt paths are from the root)
    api_host = PoliteClient(origin(tenant.api), delay=delay, timeout=timeout, retries=retries, user_agent=user_agent,
                            sleep=sleep, backoff=backoff, log=log)
    same_host = urlsplit(tenant.api).netloc == urlsplit(tenant.tenant_js).netloc
    js_host = api_host if same_host else PoliteClient(origin(tenant.tenant_js), delay=delay, timeout=timeout, retries=retries,
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
    """The tenant and its councils, each council's days in the range, then the days (see common.walk)."""
    logged = logged_minutes(flog)

    def begin(run: dict) -> list:
        tid = tenant_id if tenant_id is not None else _tenant_id(js_host, tenant, flog)
        obj, resp = api_host.get_json(f"{tenant.api}/{COUNCILS}", form={"tenant_id": tid})
        every = councils_in(obj, resp.url)
        flog.append({"kind": "listing", "url": resp.url, "form": {"tenant_id": tid}, "status": resp.status,
                     "fetched_at": now_iso(), "councils": len(every), "sha256": hashlib.sha256(resp.data).hexdigest()})
        if not every:
            report.notes.append(f"the system lists no councils for tenant_id {tid} at {resp.url}")
        run["tenant_id"] = tid
        report.tenant["tenant_id"] = tid
        return [asdict(c) for c in _wanted_councils(every, council, all_types, start, end, report.notes)]

    def step(run: dict, council_dict: dict) -> tuple[list, list[dict]]:
        c = Council(**council_dict)
        tid = report.tenant["tenant_id"] = run["tenant_id"]
        form = {"tenant_id": tid, "council_id": c.id}
        obj, resp = api_host.get_json(f"{tenant.api}/{SCHEDULES}", form=form)
        days = schedules_in(obj, resp.url)
        found = []
        for s in days:
            d = schedule_date(str(s.get("name") or ""), str(s.get("member_list") or ""), c.view_year)
            if not in_window(d, start, end):
                continue
            if not d and c.view_year.isdigit() and ((start and int(c.view_year) < start.year)
                                                    or int(c.view_year) > end.year):
                continue
            found.append({"key": f"{c.id}_{s['schedule_id']}", "council_id": c.id, "schedule_id": s["schedule_id"],
                          "council": c.name, "council_type": c.type_name, "view_year": c.view_year,
                          "schedule": str(s.get("name") or ""), "date": d,
                          "meeting": meeting_name(c.name, str(s.get("name") or "")), "sig": listing_sha256(c.name, s)})
        flog.append({"kind": "listing", "url": resp.url, "form": form, "status": resp.status,
                     "fetched_at": now_iso(), "council": c.name, "schedules": len(days), "in_range": len(found),
                     "sha256": hashlib.sha256(resp.data).hexdigest()})
        return [], found

    def keep(item: dict) -> MinuteResult:
        tid = report.tenant["tenant_id"] = state.runs[run_key]["tenant_id"]
        return _keep_day(tenant, api_host, tid, item, folder, body, recheck, logged, flog, report.query)

    w = Walk(f"discussnet {tenant.slug}", begin, step, keep, steps="council", minutes="day",
             requests=lambda: api_host.requests)
    return walk(w, state, flog, folder, report, run_key, conditions, window, start, end, progress, log, on_minute)


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
    url = tenant.page_url(item["council_id"], item["schedule_id"])
    res = MinuteResult(item["meeting"], item.get("date"), 0, "new", None, url, name=name[:-5],
                       council_id=item["council_id"], schedule_id=item["schedule_id"])
    entry: dict[str, Any] = {"kind": "meeting", "file": name, "council_id": item["council_id"],
                             "schedule_id": item["schedule_id"], "meeting": item["meeting"], "date": item.get("date"),
                             "page_url": url, "query": query}

    def fetch() -> Got:
        form = {"tenant_id": tid, "council_id": item["council_id"], "schedule_id": item["schedule_id"]}
        obj, resp = client.get_json(f"{tenant.api}/{MINUTE}", form=form)
        return Got(resp.data, len(minutes_in(obj, resp.url)), {"url": resp.url, "form": form, "status_code": resp.status},
                   "the system holds no minutes for this day (tenant_minutes is empty): not saved, tried again next time")

    return keep_minute(res, folder / name, sidecar(tenant, tid, item, body, tenant.api), item["sig"],
                       lambda old: (old.get("discussnet") or {}).get("listing_sha256"), recheck, logged, flog, entry,
                       fetch, _records_in, lambda a, b: _loads(a) == _loads(b))


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8-sig"))
    except ValueError:
        return None


def _records_in(data: bytes) -> int | None:
    obj = _loads(data)
    return len(obj.get("tenant_minutes") or []) if isinstance(obj, dict) else None


# ---------------------------------------------------------------- indexing


def discussnet_folder(out_dir: Path | str, only: set[str] | None = None) -> FetchedFolder:
    """The fetched days as a Source for rag.ingest.ingest (the same keys as `python -m rag ingest DIR`)."""
    return FetchedFolder(Path(out_dir), lambda name: bool(MINUTE_FILE.fullmatch(name)), only)


def ingest_fetched(out_dir: Path | str, settings, embedder=None, progress: bool = False,
                   log: Callable[[str], None] = lambda s: None):
    """Index every day kept in `out_dir` (those already indexed unchanged are skipped)."""
    from rag.ingest import ingest

    return ingest(discussnet_folder(out_dir), settings, embedder=embedder, progress=progress, log=log)
