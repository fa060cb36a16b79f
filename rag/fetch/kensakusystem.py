"""kensakusystem.jp (会議録検索システム, the CGI system under https://www.kensakusystem.jp/<body>/), as a fetcher.

    report = fetch_kensakusystem("https://www.kensakusystem.jp/meguro/index.html", out_dir, since="2025-01-01")
    ingest(kensakusystem_folder(out_dir), settings)      # or `python -m rag ingest corpus/fetched/kensakusystem/meguro`

The system, as its own pages drive it (every page Shift_JIS, declared as x-sjis / Shift_JIS):
- The body's top page (index.html, sapphire.html, a Search2.exe search page) links to the browsing tree,
  `cgi-bin3/See.exe?Code=<code>` (the code is the system's, stated in its pages).
- The tree page holds a form `viewtree` (action See.exe, hidden Code and treedepth) and its nodes as
  `onClick="document.viewtree.treedepth.value='令和 8年'"` (newer pages: `data-depth="…"`): tabs of years (their
  image's ALT states the years a tab groups, 令和 2年～令和 5年), and the meetings of the open tab, labelled with
  their year and a trailing space ('令和 8年 企画総務委員会 '). Posting the form with a node's label (in Shift_JIS)
  opens it; a meeting's page lists its sittings as `ResultFrame.exe?Code=…&fileName=R070217A&startPos=0`, the
  file name stating the sitting's date (R = 令和, 07, 02 17).
- ResultFrame.exe is the sitting's page (a frameset: a person reads the minutes there; citations link to it). Its
  frame r_Speakers.exe lists the speeches with a form `download` (action GetPerson.exe: Code, fileName and a
  `downloadPos` per speech); posting every position returns the whole sitting as plain Shift_JIS text
  (開催日：/会議名： lines, then ○ speeches), read by rag.readers.text.

Each sitting is kept as `<fileName>.txt`, the GetPerson.exe response byte for byte, with a sidecar
`<fileName>.meta.json`: the meeting (the tree's meeting name and the sitting's link), the date (from the file name,
else the link), the sitting's page, the body (given, else the system's own title: 目黒区議会/会議録検索システム),
and the system's ids. Incremental, resumable and polite as every municipal fetcher (rag.fetch.common): a sitting
whose listing is unchanged is not fetched again (`recheck` fetches every one to compare).
"""

from __future__ import annotations

import hashlib
import html
import re
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urljoin, urlsplit

from rag.config import PROJECT_ROOT
from rag.fetch import common
from rag.fetch.common import (Got, MunicipalReport, Walk, check_dates, get_page, in_window, keep_minute,
                              logged_minutes, municipal_window, origin, unexpected_page, walk)
from rag.fetch.corpus import FetchedFolder, FetchLog, FetchState, ensure_folder, folder_lock, remove_stale_temps
from rag.fetch.http import (USER_AGENT, FetchError, PoliteClient, Response, check_delay, html_title,
                            looks_like_markup, now_iso)
from rag.parsing import dates as D

DEFAULT_OUT = PROJECT_ROOT / "corpus" / "fetched" / "kensakusystem"
DEFAULT_DELAY = 2.0
DEFAULT_LOOKBACK_DAYS = 90
ENCODING = "cp932"  # Shift_JIS as Windows writes it: what the system's pages are
SITTING = re.compile(r"[RHS]\d{6}[A-Z]\d{0,3}")  # R070217A, R050412B04 (not R080119MOKU, R07060004KETS.html)
MINUTE_FILE = re.compile(SITTING.pattern + r"\.txt")
ACCEPT = "text/html,text/plain;q=0.9,*/*;q=0.5"
_ERA = {"R": 2018, "H": 1988, "S": 1925}
_NODE = re.compile(r"""(?:treedepth\.value\s*=\s*'([^']*)'|data-depth\s*=\s*"([^"]*)")(.{0,400}?)</a>""", re.I | re.S)
_YEAR = re.compile(r"^\s*(令和|平成|昭和)\s*(元|[0-9０-９]{1,2})\s*年")
_LINK = re.compile(r"""<a\b[^>]*?href\s*=\s*["']?([^"'\s>]*ResultFrame\.exe\?[^"'\s>]*)["']?[^>]*>(.{0,400}?)</a>""",
                   re.I | re.S)
_MARK = re.compile(r"^[○◯◎●]", re.M)
_SP = re.compile(r"[\s\u3000]+")


# ---------------------------------------------------------------- the body's addresses


@dataclass(frozen=True)
class Site:
    slug: str  # the body's folder in the system: meguro
    top: str  # the address given: the top page or the tree
    root: str  # https://www.kensakusystem.jp/meguro


def site_of(base_url: str) -> Site:
    parts = urlsplit((base_url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchError(f"--base-url must be the address of a body's kensakusystem.jp minutes system, e.g. "
                         f"https://www.kensakusystem.jp/meguro/index.html (got {base_url!r})")
    path = parts.path or "/"
    if "/cgi-bin" in path.lower():
        path = path[:path.lower().index("/cgi-bin")]
    elif not path.endswith("/"):
        path = path.rsplit("/", 1)[0]
    path = path.rstrip("/")
    slug = path.rsplit("/", 1)[-1] or (parts.hostname or "site")
    return Site(slug, base_url.strip(), f"{parts.scheme}://{parts.netloc}{path}")


# ---------------------------------------------------------------- the pages


def decode(data: bytes) -> str:
    return data.decode(ENCODING, "replace")


def era_year(label: str) -> int | None:
    m = _YEAR.match(label or "")
    if not m:
        return None
    n = 1 if m.group(2) == "元" else D.kanji_number(m.group(2))
    return {"令和": 2018, "平成": 1988, "昭和": 1925}[m.group(1)] + (n or 0)


def _text(fragment: str) -> str:
    return _SP.sub(" ", html.unescape(re.sub(r"<[^>]*>", " ", fragment or ""))).strip()


@dataclass
class Node:
    label: str  # as the system states it, trailing space and all: 令和 8年 企画総務委員会
    text: str  # the link's text, or its image's ALT: 令和 6年～
    year: int | None  # of the label
    meeting: str  # the label after its year ("" for a tab of years)

    @property
    def is_tab(self) -> bool:
        return not self.meeting


def nodes_in(page: str) -> list[Node]:
    """The tree's nodes on a page, in order, once each."""
    out: list[Node] = []
    seen: set[str] = set()
    for m in _NODE.finditer(re.sub(r"<!--.*?-->", "", page, flags=re.S)):
        label = html.unescape(m.group(1) if m.group(1) is not None else m.group(2))
        if not label.strip() or label in seen:
            continue
        seen.add(label)
        inner = m.group(3).split(">", 1)[1] if ">" in m.group(3) else ""  # after the rest of the opening tag
        alt = re.search(r"""alt\s*=\s*["']([^"']*)["']""", inner, re.I)
        text = _text(inner) or (alt.group(1).strip() if alt else "")
        year = era_year(label)
        rest = _YEAR.sub("", label, count=1).strip() if year else label.strip()
        out.append(Node(label, text, year, rest))
    return out


def tab_years(node: Node, newest: bool) -> tuple[int, int]:
    """The years a tab groups: from its ALT (令和 2年～令和 5年, 令和 6年～, 令和 7年), else up to its label's year;
    the newest tab runs on to today."""
    parts = [era_year(p) for p in re.split(r"[～~〜]", node.text)] if node.text else []
    if len(parts) >= 2:
        lo, hi = parts[0] or 0, parts[-1] or 9999
    elif parts and parts[0]:
        lo = hi = parts[0]
    else:
        lo, hi = 0, node.year or 9999
    return lo, 9999 if newest else hi


def form_of(page: str, url: str) -> tuple[str, dict[str, str]] | None:
    """The viewtree form: its absolute action and hidden fields (without treedepth)."""
    m = re.search(r"<form\b[^>]*name\s*=\s*[\"']?viewtree[^>]*>(.*?)</form>", page, re.I | re.S)
    if not m:
        return None
    action = re.search(r"""action\s*=\s*["']([^"']+)["']""", m.group(0)[:300], re.I)
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input\b[^>]*>", m.group(1), re.I):
        name = re.search(r"""name\s*=\s*["']?([^"'\s>]+)""", tag, re.I)
        value = re.search(r"""value\s*=\s*["']([^"']*)["']""", tag, re.I)
        if name and name.group(1) != "treedepth":
            fields[name.group(1)] = html.unescape(value.group(1)) if value else ""
    return urljoin(url, html.unescape(action.group(1)) if action else "See.exe"), fields


def sitting_date(file_name: str, link: str) -> str | None:
    """R070217A -> 2025-02-17; where the file name's month or day is 00, the link's （第1号 2月17日）."""
    m = re.match(r"([RHS])(\d\d)(\d\d)(\d\d)", file_name)
    if not m:
        return None
    year = _ERA[m.group(1)] + int(m.group(2))
    month, day = int(m.group(3)), int(m.group(4))
    if not month or not day:
        md = re.search(r"([0-9０-９]{1,2})\s*月\s*([0-9０-９]{1,2})\s*日", link)
        if not md:
            return None
        month, day = D.kanji_number(md.group(1)) or 0, D.kanji_number(md.group(2)) or 0
    try:
        return date(year, month, day).isoformat()
    except ValueError:
        return None


def meeting_name(label: str, link: str) -> str:
    """'令和 7年 第1回定例会 ' + （第1日 2月17日） -> 令和7年第1回定例会（第1日 2月17日）."""
    year = _YEAR.match(label or "")
    head = _SP.sub("", year.group(0)) if year else ""
    rest = _SP.sub(" ", _YEAR.sub("", label, count=1) if year else label).strip()
    return f"{head}{rest}{_SP.sub(' ', link).strip()}".strip()


def sittings_in(page: str, url: str) -> tuple[list[dict], int]:
    """The sittings a page links to (href, file name, code, link text), and how many other documents it links to
    (tables of contents, resolutions: not minutes)."""
    out: list[dict] = []
    other = 0
    for m in _LINK.finditer(page):
        href = urljoin(url, html.unescape(m.group(1)))
        q = {k.lower(): v[0] for k, v in parse_qs(urlsplit(href).query).items()}
        name = q.get("filename", "")
        if not SITTING.fullmatch(name):
            other += 1
            continue
        out.append({"href": href, "file_name": name, "code": q.get("code", ""), "link": _text(m.group(2))})
    return out, other


def body_of(page: str) -> str | None:
    """The body as the system's own title states it: 目黒区議会/会議録検索システム -> 目黒区議会."""
    m = re.search(r"<title[^>]*>(.*?)</title>", page, re.I | re.S)
    head = _text(m.group(1)).split("/")[0].strip() if m else ""
    return head if head.endswith(("議会", "市会", "区会")) else None


# ---------------------------------------------------------------- results


@dataclass
class KensakuReport(MunicipalReport):
    source = "kensakusystem"
    listed_as = "tree_pages"
    unit = "speeches"

    def headline(self) -> str:
        return super().headline().replace(" tree_pages;", " tree pages;")


def sidecar(site: Site, item: dict, body: str | None) -> dict[str, Any]:
    return common.listing_meta(body, item["meeting"], item.get("date"), item["href"], kensakusystem={
        "site": site.root, "code": item["code"], "file_name": item["file_name"], "tree": item["label"],
        "link": item["link"], "listing_sha256": item["sig"]})


def speeches_in(data: bytes) -> int | None:
    """Speeches (○ marks) in a sitting's text; at least 1 for any text beyond its 開催日/会議名 header."""
    text = decode(data)
    body = re.sub(r"^(開催日|会議名)：.*$", "", text, flags=re.M)
    return len(_MARK.findall(text)) or (1 if body.strip() else 0)


# ---------------------------------------------------------------- the run


def fetch_kensakusystem(base_url: str, out_dir: Path | str | None = None, *, since: str | None = None,
                        until: str | None = None, meeting: str | None = None, body: str | None = None,
                        recheck: bool = False, delay: float = DEFAULT_DELAY, timeout: float = 30.0, retries: int = 4,
                        lookback_days: int = DEFAULT_LOOKBACK_DAYS, ignore_robots: bool = False,
                        progress: bool = False, log: Callable[[str], None] = lambda s: None,
                        on_minute: Callable[[common.MinuteResult, int, int], None] | None = None,
                        sleep: Callable[[float], None] = time.sleep, user_agent: str = USER_AGENT,
                        backoff: float | None = None, today: date | None = None) -> KensakuReport:
    """Fetch a body's minutes from its kensakusystem.jp system into `out_dir` (default
    corpus/fetched/kensakusystem/<body>). Problems before the first request (a bad address or date, robots.txt
    forbidding it, --since last with no earlier run) raise FetchError; a failure during the run stops it with
    `report.error` set, keeping everything fetched before (a rerun goes on from there)."""
    site = site_of(base_url)
    check_dates(since, until)
    check_delay(delay, site.top)
    folder = ensure_folder(Path(out_dir) if out_dir else DEFAULT_OUT / site.slug)
    with folder_lock(folder):
        remove_stale_temps(folder)
        state = FetchState(folder)
        if state.warning:
            log(state.warning)
        words = [_SP.sub("", w) for w in (meeting or "").split()]
        conditions = {"site": site.root, **({"meeting": " ".join(words)} if words else {})}
        described = ", ".join([site.root, f"{since or 'any date'} – {until or 'today'}"]
                              + ([f"meeting={meeting}"] if words else []))
        start, end, since_note, window, run_key = municipal_window(since, until, state, conditions, lookback_days,
                                                                   today or date.today(), described)
        report = KensakuReport(folder, asdict(site), {**conditions, **window, "described": ", ".join(
            [site.root, f"{window['from'] or 'any date'} – {window['until']}"] + ([f"meeting={meeting}"] if words else []))})
        if since_note:
            report.notes.append(since_note)
        client = PoliteClient(origin(site.top), delay=delay, timeout=timeout, retries=retries, user_agent=user_agent,
                              sleep=sleep, backoff=backoff, log=log)
        client.session.headers["Accept"] = ACCEPT
        t0 = time.perf_counter()
        bar = None
        try:
            root = urlsplit(site.root).path
            wanted = [urlsplit(site.top).path or "/"] + [f"{root}/cgi-bin3/{p}" for p in
                                                         ("See.exe", "ResultFrame.exe", "r_Speakers.exe", "GetPerson.exe")]
            note = client.check_robots(wanted, ignore=ignore_robots)  # RobotsDisallowed: stop before anything
            report.notes.append(note)
            log(note)
            bar = _walk(site, client, state, folder, report, run_key, conditions, window, start, end, words, body,
                        recheck, progress, log, on_minute)
        finally:
            if bar is not None:
                bar.close()
            report.requests, report.waited = client.requests, client.waited
            report.seconds = time.perf_counter() - t0
            client.close()
        return report


def _unexpected(resp: Response, wanted: str) -> FetchError:
    return unexpected_page(resp, wanted, "kensakusystem.jp", html_title(resp.data.decode(ENCODING, "replace").encode("utf-8")))


def _walk(site, client, state, folder, report, run_key, conditions, window, start, end, words, body, recheck,
          progress, log, on_minute):
    """The tree: its page, the tabs of years in the range, their meetings, each meeting's sittings; then the
    sittings (see common.walk)."""
    flog = FetchLog(folder)
    logged = logged_minutes(flog)

    def listing(resp: Response, **more: Any) -> None:
        flog.append({"kind": "listing", "url": resp.url, "status": resp.status, "fetched_at": now_iso(),
                     **more, "sha256": hashlib.sha256(resp.data).hexdigest()})

    def wanted(node: Node, newest: bool) -> bool:
        if node.is_tab:
            lo, hi = tab_years(node, newest)
            return lo <= end.year and (start is None or hi >= start.year)
        if words and not any(w in _SP.sub("", node.meeting) for w in words):
            return False
        return node.year is None or ((start is None or node.year >= start.year) and node.year <= end.year)

    def steps_from(run: dict, page: str) -> list:
        nodes = nodes_in(page)
        tabs = [n for n in nodes if n.is_tab]
        more = []
        for n in nodes:
            if n.label not in run["seen"]:
                run["seen"].append(n.label)
                if wanted(n, bool(tabs) and n is tabs[0]):
                    more.append(asdict(n))
        return more

    def begin(run: dict) -> list:
        resp = get_page(client, site.top)
        page = decode(resp.data)
        listing(resp, page="top")
        if form_of(page, resp.url) is None:  # a top page: its link to the tree
            link = re.search(r"""href\s*=\s*["']([^"']*See\.exe\?[^"']*)["']""", page, re.I)
            if not link:
                raise _unexpected(resp, "a page linking to the minutes tree (See.exe)")
            resp = get_page(client, urljoin(resp.url, html.unescape(link.group(1))))
            page = decode(resp.data)
            listing(resp, page="tree")
        form = form_of(page, resp.url)
        if form is None:
            raise _unexpected(resp, "the minutes tree (a viewtree form)")
        run["tree"] = {"action": form[0], "fields": form[1], "body": body_of(page)}
        run["seen"] = []
        report.system["tree"] = form[0]
        steps = steps_from(run, page)
        if not steps and not nodes_in(page):
            raise _unexpected(resp, "the minutes tree (its years and meetings)")
        return steps

    def step(run: dict, node: dict) -> tuple[list, list[dict]]:
        n = Node(**node)
        tree = run["tree"]
        form = {**tree["fields"], "treedepth": n.label.encode(ENCODING, "replace")}
        resp = get_page(client, tree["action"], form)
        page = decode(resp.data)
        sittings, other = sittings_in(page, resp.url)
        if form_of(page, resp.url) is None and not sittings:
            raise _unexpected(resp, f"the tree's page of {n.label.strip()!r}")
        found = []
        for s in sittings:
            d = sitting_date(s["file_name"], s["link"])
            if not in_window(d, start, end):
                continue
            sig = common.listing_sha256({"tree": n.label, "link": s["link"], "file_name": s["file_name"]})
            found.append({"key": s["file_name"], **s, "label": n.label, "date": d,
                          "meeting": meeting_name(n.label, s["link"]), "sig": sig})
        if other:
            report.notes.append(f"{n.label.strip()}: {other} linked documents that are not sittings' minutes (tables "
                                f"of contents, resolutions) left out")
        listing(resp, treedepth=n.label, sittings=len(sittings), in_range=len(found))
        return steps_from(run, page), found

    def keep(item: dict) -> common.MinuteResult:
        return _keep_sitting(site, client, item, folder, body or state.runs[run_key]["tree"].get("body"), recheck,
                             logged, flog, report.query)

    w = Walk(f"kensakusystem {site.slug}", begin, step, keep, steps="page", minutes="sitting",
             requests=lambda: client.requests)
    return walk(w, state, flog, folder, report, run_key, conditions, window, start, end, progress, log, on_minute)


def _keep_sitting(site: Site, client: PoliteClient, item: dict, folder: Path, body: str | None, recheck: bool,
                  logged: set, flog: FetchLog, query: dict) -> common.MinuteResult:
    """One sitting: its page (a frameset), the speakers' frame, then the download of every speech as text."""
    name = f"{item['file_name']}.txt"
    res = common.MinuteResult(item["meeting"], item.get("date"), 0, "new", None, item["href"], name=item["file_name"])
    entry: dict[str, Any] = {"kind": "meeting", "file": name, "file_name": item["file_name"],
                             "meeting": item["meeting"], "date": item.get("date"), "page_url": item["href"],
                             "query": query}

    def fetch() -> Got:
        frames = get_page(client, item["href"])
        src = re.search(r"""<frame\b[^>]*src\s*=\s*["']([^"']*r_Speakers\.exe[^"']*)["']""", decode(frames.data), re.I)
        if not src:
            raise _unexpected(frames, "the sitting's page (a frameset with its speakers' frame)")
        speakers = get_page(client, urljoin(frames.url, html.unescape(src.group(1))))
        action, form = download_form(decode(speakers.data), speakers.url)
        if not form["downloadPos"]:
            return Got(b"", 0, {"speakers_url": speakers.url},
                       "the system lists no speeches for this sitting: not saved, tried again next time")
        resp = get_page(client, action, form)
        if looks_like_markup(resp.data, resp.content_type):
            raise _unexpected(resp, "the sitting's text (GetPerson.exe answers plain text)")
        return Got(resp.data, speeches_in(resp.data) or 0,
                   {"url": resp.url, "form": {k: v for k, v in form.items() if k != "downloadPos"},
                    "speeches_asked": len(form["downloadPos"]), "status_code": resp.status},
                   "the system's text of this sitting is empty: not saved, tried again next time")

    return keep_minute(res, folder / name, sidecar(site, item, body), item["sig"],
                       lambda old: (old.get("kensakusystem") or {}).get("listing_sha256"), recheck, logged, flog,
                       entry, fetch, speeches_in, lambda a, b: a == b)


def download_form(page: str, url: str) -> tuple[str, dict[str, Any]]:
    """GetPerson.exe and its fields from the speakers' frame: Code, fileName and every speech's downloadPos
    (without the form, the positions of its r_TextFrame.exe links, as the page's own script would send them)."""
    m = re.search(r"<form\b[^>]*name\s*=\s*[\"']?download[^>]*>", page, re.I)
    action = re.search(r"""action\s*=\s*["']([^"']+)["']""", m.group(0), re.I) if m else None

    def hidden(field_name: str) -> str | None:
        tag = re.search(rf"<input\b[^>]*name\s*=\s*[\"']{field_name}[\"'][^>]*>", page, re.I)
        value = re.search(r"""value\s*=\s*["']([^"']*)["']""", tag.group(0), re.I) if tag else None
        return value.group(1) if value else None

    code, file_name = hidden("Code"), hidden("fileName")
    positions = [v for tag in re.findall(r"<input\b[^>]*name\s*=\s*[\"']downloadPos[\"'][^>]*>", page, re.I)
                 for v in re.findall(r"""value\s*=\s*["']([^"']*)["']""", tag, re.I) if v]
    if not positions:
        for params in re.findall(r"""r_TextFrame\.exe\?([^"'\s>]+)""", page, re.I):
            seg = params.split("/")
            if len(seg) >= 3:
                code, file_name = code or seg[0], file_name or seg[1]
                if seg[2] not in ("0", "") and seg[2] not in positions:
                    positions.append(seg[2])
    target = urljoin(url, html.unescape(action.group(1))) if action else re.sub(r"r_Speakers\.exe.*$", "GetPerson.exe",
                                                                                  url)
    return target, {"Code": code or "", "fileName": file_name or "", "downloadPos": positions}


# ---------------------------------------------------------------- indexing


def kensakusystem_folder(out_dir: Path | str, only: set[str] | None = None) -> FetchedFolder:
    """The fetched sittings as a Source for rag.ingest.ingest (the same keys as `python -m rag ingest DIR`)."""
    return FetchedFolder(Path(out_dir), lambda name: bool(MINUTE_FILE.fullmatch(name)), only)
