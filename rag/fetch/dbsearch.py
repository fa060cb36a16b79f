"""DB-Search (大和速記情報センターの会議録検索システム, https://<body>.dbsr.jp/ and bodies' own hosts), as a fetcher.

    report = fetch_dbsearch("https://www.town.otofuke.hokkaido.dbsr.jp/index.php", out_dir, since="2024-01-01")
    ingest(dbsearch_folder(out_dir), settings)      # or `python -m rag ingest corpus/fetched/dbsearch/otofuke`

The system, as its own pages drive it (every page UTF-8 HTML, the session in a cookie):
- Every page (the top page index.php, a search page index.php/<n>?Template=search-detail) holds a search form
  posting to `index.php/<n>` (its action, sometimes with ?Template=list): hidden Template=list, QueryType=new and,
  on newer versions, a `_token` (also in <meta name="csrf-token">). Posting it with an empty Phrase and
  TermStartYear/TermEndYear answers the first page of the documents of those years, newest first.
- A results page links each document as `index.php/<n>?Template=document&Id=1673` (Template=view&DocumentID=…
  on some versions; Template=doc-one-frame&VoiceType=onehit&DocumentID=… on the newest), its title as the link's
  text (令和６年第４回定例会（第５号）　本文; a sitting has parts: 表紙, 名簿, 日程, 本文) and its date just after
  (2024-12-17, 開催日：2025年02月25日). The next page: a button `name="Page" value="2" aria-label="次のページ"` in
  the page's form (posted with the form's hidden fields), or a link `?Template=list&Page=2` whose text is 次.
- A document's page (Template=document / view) is the whole minute as HTML; a frame document
  (doc-one-frame / doc-all-frame) is a frameset whose frame `?Template=doc-page` holds the whole minute's text
  (asked for as doc-all-frame with VoiceType=all, as the page's own 全文表示 does). rag.readers.html reads both.

Each document is kept as `<Id>.html`, the document page (or its page frame) byte for byte, with a sidecar
`<Id>.meta.json`: the meeting (the listing's title), the date (the listing's), the document's page as listed
(citations link to it), the body (given, else the system's own title: 音更町議会会議録検索 -> 音更町議会) and the
system's ids. Only a sitting's 本文 (and documents whose title names no other part) are fetched; the parts that
hold no speeches (表紙, 名簿, 日程, 目次, 資料, 審議結果 …) are left out unless `all_documents`. Incremental,
resumable and polite as every municipal fetcher (rag.fetch.common): a document whose listing is unchanged is not
fetched again (`recheck` fetches every one to compare).
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
from urllib.parse import urljoin, urlsplit, urlunsplit

from rag.config import PROJECT_ROOT
from rag.fetch import common
from rag.fetch.common import (Got, MunicipalReport, Walk, check_dates, get_page, in_window, keep_minute,
                              logged_minutes, municipal_window, origin, unexpected_page, walk)
from rag.fetch.corpus import FetchedFolder, FetchLog, FetchState, ensure_folder, folder_lock, remove_stale_temps
from rag.fetch.http import USER_AGENT, FetchError, PoliteClient, Response, check_delay, now_iso

DEFAULT_OUT = PROJECT_ROOT / "corpus" / "fetched" / "dbsearch"
DEFAULT_DELAY = 2.0
DEFAULT_LOOKBACK_DAYS = 90
MINUTE_FILE = re.compile(r"\d+\.html")
ACCEPT = "text/html,application/xhtml+xml;q=0.9,*/*;q=0.5"
MAX_PAGES = 2000  # results pages of one search: a guard against a page that always links to a next one
_DOC = re.compile(r"""<a\b[^>]*?href\s*=\s*["']([^"']*[?&](?:amp;)?"""
                  r"""Template=(view|document|doc-one-frame|doc-all-frame)\b[^"']*?)["'][^>]*>(.*?)</a>""", re.I | re.S)
_ID = re.compile(r"[?&](?:Document)?Id=(\d+)", re.I)
_ISO = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_JA = re.compile(r"(\d{4})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
_SPEECHES = ("voice__text", "page-text__voice", "voice-block")
_SPEECH = re.compile(r"""class\s*=\s*["'](?:voice__text|page-text__voice|voice-block)\b""", re.I)
_MARK = re.compile(r"(?:^|[\s>])[○◯◎]", re.M)
_SP = re.compile(r"[\s\u3000]+")
# the parts of a sitting that hold no speeches: the last word of a document's title
_NOT_MINUTES = re.compile(r"[［〔\[(（]?(表紙|名簿|議事日程|日程|会期日程|目次|資料|署名|審議結果|議決結果|付録|議案|通告|"
                          r"索引|一般質問一覧|発言者一覧|会議結果)(・(名簿|日程))?[］〕\])）]?$")


# ---------------------------------------------------------------- the body's addresses


@dataclass(frozen=True)
class Site:
    slug: str  # the body's folder: otofuke
    top: str  # the address given: any page of the system
    root: str  # https://www.town.otofuke.hokkaido.dbsr.jp (and a path before index.php, if any)


def site_of(base_url: str) -> Site:
    parts = urlsplit((base_url or "").strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise FetchError(f"--base-url must be the address of a body's DB-Search minutes system, e.g. "
                         f"https://www.town.otofuke.hokkaido.dbsr.jp/index.php (got {base_url!r})")
    path = parts.path or "/"
    low = path.lower()
    if "/index.php" in low:
        path = path[:low.index("/index.php")]
    else:
        path = re.sub(r"/\d+$", "", path.rstrip("/"))  # the newer hosts: /<n>?Template=…
    host = (parts.hostname or "site").lower()
    labels = [x for x in host.split(".") if x]
    if host.endswith(".dbsr.jp"):
        labels = [x for x in labels[:-2] if x not in ("www", "city", "town", "village", "vill", "pref", "ku")]
        slug = labels[0] if labels else host
    else:
        slug = ".".join(x for x in labels if x != "www") or host
    return Site(slug, base_url.strip(), f"{parts.scheme}://{parts.netloc}{path.rstrip('/')}")


# ---------------------------------------------------------------- the pages


def decode(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _text(fragment: str) -> str:
    return _SP.sub(" ", html.unescape(re.sub(r"<[^>]*>", " ", fragment or ""))).strip()


def _attr(tag: str, name: str) -> str | None:
    m = re.search(rf"""\b{name}\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", tag, re.I)
    return html.unescape(next(g for g in m.groups() if g is not None)) if m else None


def _hidden(form: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for tag in re.findall(r"<input\b[^>]*>", form, re.I):
        if (_attr(tag, "type") or "").lower() == "hidden" and _attr(tag, "name"):
            fields[_attr(tag, "name")] = _attr(tag, "value") or ""
    return fields


def search_form(page: str, url: str) -> tuple[str, dict[str, str]] | None:
    """The search form of a page: its absolute action (index.php/<n>, ?Template=list) and the fields a search
    sends (its hidden fields, the csrf token, an empty phrase), or None."""
    best = None
    for m in re.finditer(r"(<form\b[^>]*>)(.*?)</form>", page, re.I | re.S):
        action = _attr(m.group(1), "action") or ""
        if (_attr(m.group(1), "method") or "get").lower() != "post" or not re.search(r"/\d+(?:\?|$)", action):
            continue
        fields = _hidden(m.group(2))
        score = ("template=list" in action.lower() or fields.get("Template", "").lower() == "list",
                 "Phrase" in m.group(2))
        if best is None or score > best[0]:
            phrase = re.search(r"""name\s*=\s*["'](Phrase(?:\[\])?)["']""", m.group(2))
            best = (score, action, fields, phrase.group(1) if phrase else "Phrase")
    if best is None or not any(best[0]):
        return None
    _, action, fields, phrase = best
    token = re.search(r"""<meta\s+name=["']csrf-token["']\s+content=["']([^"']+)["']""", page, re.I)
    if token and "_token" not in fields:
        fields["_token"] = token.group(1)
    if "template=" not in action.lower():
        fields.setdefault("Template", "list")
    fields.setdefault("QueryType", "new")
    return urljoin(url, action), {**fields, phrase: ""}


def list_date(fragment: str) -> str | None:
    """The first date in what follows a document's link: 2024-12-17, 開催日：2025年02月25日."""
    m = _ISO.search(fragment) or _JA.search(fragment)
    if not m:
        return None
    try:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3))).isoformat()
    except ValueError:
        return None


def documents_in(page: str, url: str) -> list[dict]:
    """The documents a results page links to, in order, once each: id, href (absolute, without #fragment), the
    Template it opens with, title (whitespace as one space), date (from what follows the link)."""
    out: list[dict] = []
    seen: set[str] = set()
    found = list(_DOC.finditer(page))
    for i, m in enumerate(found):
        href = html.unescape(m.group(1))
        doc_id = _ID.search(href)
        if not doc_id or doc_id.group(1) in seen:
            continue
        seen.add(doc_id.group(1))
        after = page[m.end(): found[i + 1].start() if i + 1 < len(found) else m.end() + 600][:600]
        parts = urlsplit(urljoin(url, href))
        out.append({"id": doc_id.group(1), "href": urlunsplit(parts._replace(fragment="")),
                    "template": m.group(2).lower(), "title": _text(m.group(3)), "date": list_date(_text(after))})
    return out


def next_page(page: str, url: str) -> tuple[str, dict[str, str] | None, int] | None:
    """How to ask for the next results page: (url, form or None for a GET, its number), or None on the last."""
    for m in re.finditer(r"<button\b[^>]*>", page, re.I):
        tag = m.group(0)
        if _attr(tag, "aria-label") == "次のページ" and (_attr(tag, "aria-disabled") or "false") != "true" \
                and (_attr(tag, "name") or "") == "Page" and (_attr(tag, "value") or "").isdigit():
            forms = [f for f in re.finditer(r"(<form\b[^>]*>)(.*?)</form>", page, re.I | re.S)
                     if f.start() < m.start() < f.end()]
            if forms:
                f = forms[-1]
                fields = {**_hidden(f.group(2)), "Page": _attr(tag, "value")}
                return urljoin(url, _attr(f.group(1), "action") or url), fields, int(_attr(tag, "value"))
    for m in re.finditer(r"""<a\b[^>]*href\s*=\s*["']([^"']*[?&](?:amp;)?Page=(\d+)[^"']*)["'][^>]*>(.*?)</a>""",
                         page, re.I | re.S):
        if _text(m.group(3)).startswith("次"):
            return urljoin(url, html.unescape(m.group(1))), None, int(m.group(2))
    return None


def page_request(page: str, url: str, number: int) -> tuple[str, dict[str, str] | None] | None:
    """How to ask for results page `number`, as the page's own next-page control asks for its page."""
    nxt = next_page(page, url)
    if nxt is None:
        return None
    target, form, _ = nxt
    if form is not None:
        return target, {**form, "Page": str(number)}
    return re.sub(r"([?&]Page=)\d+", rf"\g<1>{number}", target), None


def is_minutes(title: str) -> bool:
    """A sitting's 本文, or a document whose title names no part without speeches (表紙, 名簿, 日程 …)."""
    t = _SP.sub(" ", title).strip()
    return "本文" in t.rsplit(" ", 1)[-1] or not _NOT_MINUTES.search(t.replace(" ", ""))


def body_of(page: str) -> str | None:
    """The body as the system's own title states it: トップページ | 音更町議会会議録検索 -> 音更町議会."""
    m = re.search(r"<title[^>]*>(.*?)</title>", page, re.I | re.S)
    for part in reversed(_text(m.group(1)).split("|") if m else []):
        name = re.sub(r"(会議録検索システム|会議録検索|会議録)$", "", part.strip())
        if name.endswith(("議会", "市会", "区会")):
            return name
    return None


def speeches_in(data: bytes) -> int | None:
    """Speeches in a document page: its voice blocks, else its ○ marks; at least 1 for a page with text."""
    page = decode(data)
    n = max([len(re.findall(rf"""class\s*=\s*["']{c}["'\s]""", page)) for c in _SPEECHES])
    if n:
        return n
    text = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.I | re.S)
    return len(_MARK.findall(re.sub(r"<[^>]*>", "\n", text))) or (1 if _text(text) else 0)


def frame_url(href: str) -> str:
    """A frame document's whole text: doc-all-frame with every speech (VoiceType=all), as 全文表示 asks."""
    url = re.sub(r"Template=doc-one-frame", "Template=doc-all-frame", href, flags=re.I)
    return re.sub(r"VoiceType=[A-Za-z]+", "VoiceType=all", url)


# ---------------------------------------------------------------- results


@dataclass
class DbSearchReport(MunicipalReport):
    source = "dbsearch"
    listed_as = "result_pages"
    unit = "speeches"

    def headline(self) -> str:
        return super().headline().replace(" result_pages;", " results pages;")


def sidecar(site: Site, item: dict, body: str | None) -> dict[str, Any]:
    return common.listing_meta(body, item["meeting"], item.get("date"), item["href"], dbsearch={
        "site": site.root, "id": item["id"], "template": item["template"], "title": item["title"],
        "listing_sha256": item["sig"]})


# ---------------------------------------------------------------- the run


def fetch_dbsearch(base_url: str, out_dir: Path | str | None = None, *, since: str | None = None,
                   until: str | None = None, body: str | None = None, all_documents: bool = False,
                   recheck: bool = False, delay: float = DEFAULT_DELAY, timeout: float = 30.0, retries: int = 4,
                   lookback_days: int = DEFAULT_LOOKBACK_DAYS, ignore_robots: bool = False, progress: bool = False,
                   log: Callable[[str], None] = lambda s: None,
                   on_minute: Callable[[common.MinuteResult, int, int], None] | None = None,
                   sleep: Callable[[float], None] = time.sleep, user_agent: str = USER_AGENT,
                   backoff: float | None = None, today: date | None = None) -> DbSearchReport:
    """Fetch a body's minutes from its DB-Search system into `out_dir` (default corpus/fetched/dbsearch/<body>).
    Problems before the first request (a bad address or date, robots.txt forbidding it, --since last with no
    earlier run) raise FetchError; a failure during the run stops it with `report.error` set, keeping everything
    fetched before (a rerun goes on from there)."""
    site = site_of(base_url)
    check_dates(since, until)
    check_delay(delay, site.top)
    folder = ensure_folder(Path(out_dir) if out_dir else DEFAULT_OUT / site.slug)
    with folder_lock(folder):
        remove_stale_temps(folder)
        state = FetchState(folder)
        if state.warning:
            log(state.warning)
        conditions = {"site": site.root, **({"all_documents": True} if all_documents else {})}
        extra = ["all documents"] if all_documents else []
        described = ", ".join([site.root, f"{since or 'any date'} – {until or 'today'}"] + extra)
        start, end, since_note, window, run_key = municipal_window(since, until, state, conditions, lookback_days,
                                                                   today or date.today(), described)
        report = DbSearchReport(folder, asdict(site), {**conditions, **window, "described": ", ".join(
            [site.root, f"{window['from'] or 'any date'} – {window['until']}"] + extra)})
        if since_note:
            report.notes.append(since_note)
        client = PoliteClient(origin(site.top), delay=delay, timeout=timeout, retries=retries, user_agent=user_agent,
                              sleep=sleep, backoff=backoff, log=log)
        client.session.headers["Accept"] = ACCEPT
        t0 = time.perf_counter()
        bar = None
        try:
            root = urlsplit(site.root).path
            top = urlsplit(site.top)
            wanted = [top.path or "/"] + ([f"{root}/index.php/"] if "/index.php" in site.top.lower() else [])
            note = client.check_robots(list(dict.fromkeys(wanted)), ignore=ignore_robots)  # RobotsDisallowed: stop
            report.notes.append(note)
            log(note)
            bar = _walk(site, client, state, folder, report, run_key, conditions, window, start, end, body,
                        all_documents, recheck, progress, log, on_minute)
        finally:
            if bar is not None:
                bar.close()
            report.requests, report.waited = client.requests, client.waited
            report.seconds = time.perf_counter() - t0
            client.close()
        return report


def _unexpected(resp: Response, wanted: str) -> FetchError:
    return unexpected_page(resp, wanted, "DB-Search")


def _is_results(page: str) -> bool:
    """A DB-Search page (it links its templates), whether or not it lists documents."""
    return bool(re.search(r"[?&](?:amp;)?Template=", page, re.I))


def _walk(site, client, state, folder, report, run_key, conditions, window, start, end, body, all_documents,
          recheck, progress, log, on_minute):
    """The search: the top page's form, posted for the years of the window, then each next results page; then
    the documents (see common.walk)."""
    flog = FetchLog(folder)
    logged = logged_minutes(flog)
    first: dict[str, str] = {}  # this session's first results page (its next-page control), once searched

    def listing(resp: Response, **more: Any) -> None:
        flog.append({"kind": "listing", "url": resp.url, "status": resp.status, "fetched_at": now_iso(),
                     **more, "sha256": hashlib.sha256(resp.data).hexdigest()})

    def search(run: dict) -> Response:
        s = run["search"]
        form = dict(s["fields"])
        if start is not None:
            form.update({"TermStartYear": str(start.year), "TermEndYear": str(end.year)})
        resp = get_page(client, s["action"], form)
        page = decode(resp.data)
        if not _is_results(page):
            raise _unexpected(resp, "the search's results page")
        first.update(url=resp.url, page=page)
        listing(resp, page=1, form={k: v for k, v in form.items() if k != "_token"})
        return resp

    def begin(run: dict) -> list:
        resp = get_page(client, site.top)
        page = decode(resp.data)
        listing(resp, page="top")
        form = search_form(page, resp.url)
        if form is None:
            raise _unexpected(resp, "a page of the system with its search form (posting to index.php/<n>)")
        run["search"] = {"action": form[0], "fields": form[1], "body": body_of(page)}
        report.system["search"] = form[0]
        return [{"page": 1}]

    def step(run: dict, s: dict) -> tuple[list, list[dict]]:
        n = s["page"]
        if n == 1 or not first:  # page 1, or a run resumed in a new session: search again first
            resp = search(run)
        if n > 1:
            req = page_request(first["page"], first["url"], n)
            if req is None:
                raise FetchError(f"results page {n} cannot be asked for: the first results page has no next-page "
                                 f"control any more (the system's results changed?); run again")
            resp = get_page(client, req[0], req[1])
            if not _is_results(decode(resp.data)):
                raise _unexpected(resp, f"results page {n}")
            listing(resp, page=n)
        page = decode(resp.data)
        docs = documents_in(page, resp.url)
        found, other = [], 0
        for d in docs:
            if not in_window(d["date"], start, end):
                continue
            if not all_documents and not is_minutes(d["title"]):
                other += 1
                continue
            sig = common.listing_sha256({"title": d["title"], "date": d["date"], "id": d["id"]})
            found.append({"key": d["id"], **d, "meeting": d["title"], "sig": sig})
        if other:
            report.notes.append(f"results page {n}: {other} documents that hold no speeches (表紙, 名簿, 日程 …) "
                                f"left out (all_documents / --all-documents keeps them)")
        nxt = next_page(page, resp.url)
        more = [{"page": n + 1}] if nxt and docs and n < MAX_PAGES else []
        days = [d["date"] for d in docs]
        if days and start is not None and all(days) and max(days) < f"{start.year}-01-01" \
                and days == sorted(days, reverse=True):
            more = []  # the server listed years before those asked for, newest first: the rest is older still
        return more, found

    def keep(item: dict) -> common.MinuteResult:
        return _keep_document(client, site, item, folder, body or state.runs[run_key]["search"].get("body"),
                              recheck, logged, flog, report.query)

    w = Walk(f"dbsearch {site.slug}", begin, step, keep, steps="page", minutes="document",
             requests=lambda: client.requests)
    return walk(w, state, flog, folder, report, run_key, conditions, window, start, end, progress, log, on_minute)


def _keep_document(client: PoliteClient, site: Site, item: dict, folder: Path, body: str | None, recheck: bool,
                   logged: set, flog: FetchLog, query: dict) -> common.MinuteResult:
    """One document: its page, or for a frame document its frameset then the frame holding the whole text."""
    name = f"{item['id']}.html"
    res = common.MinuteResult(item["meeting"], item.get("date"), 0, "new", None, item["href"], name=item["id"])
    entry: dict[str, Any] = {"kind": "meeting", "file": name, "id": item["id"], "meeting": item["meeting"],
                             "date": item.get("date"), "page_url": item["href"], "query": query}

    def fetch() -> Got:
        framed = item["template"].startswith("doc-")
        resp = get_page(client, frame_url(item["href"]) if framed else item["href"])
        page = decode(resp.data)
        more: dict[str, Any] = {}
        if re.search(r"<frameset\b", page, re.I):
            src = re.search(r"""<frame\b[^>]*src\s*=\s*["']([^"']*Template=doc-page\d*[^"']*)["']""", page, re.I)
            if not src:
                raise _unexpected(resp, "the document's frameset (with its doc-page frame)")
            more["frameset_url"] = resp.url
            resp = get_page(client, urljoin(resp.url, html.unescape(src.group(1))))
        n = speeches_in(resp.data) or 0
        if not _SPEECH.search(decode(resp.data)) and not re.search(
                r"""class\s*=\s*["'][^"']*(?:command__|view__|page-text)""", decode(resp.data), re.I):
            raise _unexpected(resp, "the document's page (its speeches)")
        return Got(resp.data, n, {"url": resp.url, "status_code": resp.status, **more},
                   "the system's page of this document holds no text: not saved, tried again next time")

    return keep_minute(res, folder / name, sidecar(site, item, body), item["sig"],
                       lambda old: (old.get("dbsearch") or {}).get("listing_sha256"), recheck, logged, flog, entry,
                       fetch, speeches_in, _same)


def _same(a: bytes, b: bytes) -> bool:
    """The same document: the same bytes apart from what changes on every request (the csrf token, session ids
    in links and forms, cache-busting versions)."""
    def norm(data: bytes) -> bytes:
        data = re.sub(rb"""(csrf-token["']\s+content=["']|name=["']_token["']\s+value=["'])[^"']*""", rb"\1", data)
        data = re.sub(rb"index\.php/\d+", b"index.php/N", data)
        return re.sub(rb"\?ver=\d+", b"", data)
    return a == b or norm(a) == norm(b)


# ---------------------------------------------------------------- indexing


def dbsearch_folder(out_dir: Path | str, only: set[str] | None = None) -> FetchedFolder:
    """The fetched documents as a Source for rag.ingest.ingest (the same keys as `python -m rag ingest DIR`)."""
    return FetchedFolder(Path(out_dir), lambda name: bool(MINUTE_FILE.fullmatch(name)), only)
