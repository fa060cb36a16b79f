"""A polite HTTP client for fetchers: one request at a time, a delay between requests, timeouts, retries
with back-off on 5xx / 429 / timeouts (honouring Retry-After), an identifying User-Agent, robots.txt.

    client = PoliteClient(base_url, delay=3.0)
    client.check_robots(["/api/meeting"], ignore=False)   # RobotsDisallowed when robots.txt says no
    page = client.get_json("/api/meeting", {"from": "2024-04-01", ...}, api_error=...)

Every failure a user can act on is a FetchError with a one-line message. `sleep` is injectable so tests
can see the waits (Retry-After, back-off, the delay) without spending them.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
import urllib.robotparser
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable
from urllib.parse import quote, urlencode, urljoin, urlsplit

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from rag import __version__
from rag.errors import RagError

USER_AGENT = (f"minutes-rag/{__version__} (question answering over Japanese council minutes; "
              f"one request at a time) python-requests/{requests.__version__}")
RETRY_STATUSES = (429, 500, 502, 503, 504)
MIN_DELAY = 1.0  # seconds between requests to anything but this machine
LOOPBACK = ("127.0.0.1", "localhost", "::1")


class FetchError(RagError):
    """A fetch that cannot go on: one line saying why (what was fetched before it is kept)."""


class RobotsDisallowed(FetchError):
    """robots.txt of the site disallows a path the fetcher needs."""


class Retryable(Exception):
    """A failure worth another try (5xx, 429, timeout, broken connection, cut-off body, a busy API)."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Response:
    url: str
    status: int
    content_type: str
    data: bytes
    headers: dict[str, str]


def is_loopback(url: str) -> bool:
    return (urlsplit(url).hostname or "") in LOOPBACK


def check_delay(delay: float, base_url: str) -> None:
    """Below MIN_DELAY only for a server on this machine (a local mirror or a test server)."""
    if delay < 0:
        raise FetchError(f"--delay must not be negative (got {delay})")
    if delay < MIN_DELAY and not is_loopback(base_url):
        raise FetchError(f"--delay must be at least {MIN_DELAY:g} s for {urlsplit(base_url).hostname or base_url} "
                         f"(got {delay:g}); shorter delays are allowed only for a server on 127.0.0.1")


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, when.timestamp() - now())


def html_title(data: bytes) -> str:
    m = re.search(rb"<title[^>]*>(.*?)</title>", data[:20000], re.I | re.S)
    if not m:
        return ""
    text = m.group(1).decode("utf-8", "replace")
    return re.sub(r"\s+", " ", text).strip()[:80]


def looks_like_markup(data: bytes, content_type: str) -> str | None:
    """'HTML' or 'XML' when the body is markup rather than JSON, else None."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if "html" in content_type or head.startswith((b"<!doctype html", b"<html")) or b"<html" in head[:200]:
        return "HTML"
    if head.startswith(b"<"):
        return "XML"
    return None


def describe_body(data: bytes, content_type: str) -> str:
    """A few words about an error body for a one-line message."""
    kind = looks_like_markup(data, content_type)
    if kind == "HTML":
        title = html_title(data)
        return f"an HTML page{f' ({title!r})' if title else ''}"
    if not data.strip():
        return "an empty body"
    return f"{len(data)} bytes of {content_type or 'unknown type'}"


class PoliteClient:
    def __init__(self, base_url: str, *, delay: float = 3.0, timeout: float = 30.0, retries: int = 4,
                 user_agent: str = USER_AGENT, max_retry_after: float = 300.0, backoff: float | None = None,
                 sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                 log: Callable[[str], None] = lambda s: None):
        self.base_url = base_url.rstrip("/")
        self.delay = float(delay)
        self.timeout = float(timeout)
        self.retries = max(0, int(retries))
        self.user_agent = user_agent
        self.max_retry_after = max_retry_after
        # back-off after a failure: base * 2^(attempt-1), base = the delay (at least 1 s for remote servers)
        self.backoff = backoff if backoff is not None else max(self.delay, 0.0 if is_loopback(base_url) else MIN_DELAY)
        self.sleep = sleep
        self.clock = clock
        self.log = log
        self.requests = 0  # HTTP requests sent (retries included)
        self.waited = 0.0  # seconds asked of `sleep` (delays, back-off, Retry-After)
        self._last: float | None = None
        self.session = requests.Session()
        self.session.headers.update({"User-Agent": user_agent, "Accept": "application/json"})

    def close(self) -> None:
        self.session.close()

    # ------------------------------------------------------------ pacing and retries
    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.waited += seconds
            self.sleep(seconds)

    def _pace(self) -> None:
        """One request at a time, `delay` seconds apart (measured from the end of the previous one)."""
        if self._last is not None and self.delay > 0:
            self._wait(self.delay - (self.clock() - self._last))

    def _backoff_wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = getattr(exc, "retry_after", None)
        backoff = min(60.0, self.backoff * (2 ** (state.attempt_number - 1)))
        return after if after else backoff  # Retry-After as the server asks, else exponential back-off

    def url(self, path: str, params: dict[str, Any] | None = None) -> str:
        base = path if re.match(r"https?://", path) else self.base_url + "/" + path.lstrip("/")
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        # %20 for spaces (the API splits words on spaces), UTF-8 percent-encoding for Japanese
        return base + ("?" + urlencode(clean, quote_via=quote) if clean else "")

    def _once(self, url: str, check: Callable[[Response], None] | None,
              form: dict[str, Any] | None = None) -> Response:
        self._pace()
        self.requests += 1
        try:
            timeout = (min(self.timeout, 10.0), self.timeout)
            if form is None:
                r = self.session.get(url, timeout=timeout, allow_redirects=True)
            else:  # a form POST (application/x-www-form-urlencoded), as a search page's own script sends it
                r = self.session.post(url, data=form, timeout=timeout, allow_redirects=True)
            data = r.content  # read it all here, inside the timeout
        except requests.Timeout:
            raise Retryable(f"timed out after {self.timeout:g} s waiting for {url}") from None
        except requests.exceptions.ChunkedEncodingError as e:
            raise Retryable(f"the connection broke in the middle of the response from {url} ({_short(e)})") from None
        except requests.ConnectionError as e:
            raise Retryable(f"could not connect to {urlsplit(url).netloc} ({_short(e)})") from None
        except requests.RequestException as e:
            raise FetchError(f"request to {url} failed: {_short(e)}") from None
        finally:
            self._last = self.clock()
        resp = Response(r.url, r.status_code, r.headers.get("Content-Type", ""), data, dict(r.headers))
        if r.status_code in RETRY_STATUSES:
            after = parse_retry_after(r.headers.get("Retry-After"))
            if after is not None and after > self.max_retry_after:
                raise FetchError(f"HTTP {r.status_code} from {url}: the server asks to wait {after:.0f} s "
                                 f"(Retry-After); try again later")
            raise Retryable(f"HTTP {r.status_code} ({describe_body(data, resp.content_type)}) from {url}", after)
        if check is not None:
            check(resp)
        return resp

    def get(self, path: str, params: dict[str, Any] | None = None,
            check: Callable[[Response], None] | None = None, form: dict[str, Any] | None = None) -> Response:
        """GET (or, with `form`, a form POST) with pacing and retries. `check(resp)` may raise Retryable (try
        again) or FetchError (stop)."""
        url = self.url(path, params)
        attempts = self.retries + 1

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.log(f"retrying ({state.attempt_number}/{attempts - 1}) after: {exc}")

        retrying = Retrying(stop=stop_after_attempt(attempts), wait=self._backoff_wait,
                            retry=retry_if_exception_type(Retryable), sleep=self._wait,
                            before_sleep=before_sleep, reraise=True)
        try:
            return retrying(self._once, url, check, form)
        except Retryable as e:
            if attempts == 1:
                raise FetchError(str(e)) from None
            what = "keeps timing out" if str(e).startswith("timed out") else "keeps failing"
            raise FetchError(f"the server {what}: {e}; gave up after {attempts} attempts") from None

    def get_json(self, path: str, params: dict[str, Any] | None = None,
                 api_error: Callable[[Any, Response], str | None] | None = None,
                 busy: Callable[[Any], bool] | None = None,
                 form: dict[str, Any] | None = None) -> tuple[Any, Response]:
        """GET (or, with `form`, POST) a JSON document. One-line FetchErrors for: an HTML (or XML) page where
        JSON was expected, cut-off JSON (retried first), other broken JSON, an error the API states in its JSON
        (`api_error` returns its message; `busy` says whether it is worth retrying)."""
        holder: dict[str, Any] = {}

        def check(resp: Response) -> None:
            holder["obj"] = decode_json(resp, api_error, busy)

        resp = self.get(path, params, check, form)
        return holder["obj"], resp

    # ------------------------------------------------------------ robots.txt
    def check_robots(self, paths: list[str], ignore: bool = False) -> str:
        """Whether robots.txt of the host lets this User-Agent fetch `paths`. RobotsDisallowed (with the
        rule) when it does not, unless `ignore`; returns a one-line note of what was found."""
        robots_url = robots_url_of(self.base_url)
        try:
            resp = self.get(robots_url, None)
        except FetchError as e:
            return f"robots.txt could not be read ({e}); going on"
        if resp.status in (401, 403):
            rules = None
            note = f"robots.txt answers HTTP {resp.status}: the whole site is off limits to robots"
        elif resp.status >= 400:
            return f"no robots.txt at {robots_url} (HTTP {resp.status}): no restrictions"
        else:
            rules = urllib.robotparser.RobotFileParser(robots_url)
            rules.parse(resp.data.decode("utf-8", "replace").splitlines())
            rules.modified()
            note = ""
            crawl_delay = rules.crawl_delay(self.user_agent)
            if crawl_delay is not None and float(crawl_delay) > self.delay:
                self.delay = float(crawl_delay)  # the site's own pace, where slower than ours
                self.log(f"robots.txt asks for {self.delay:g} s between requests (Crawl-delay): waiting that long")
        blocked = [p for p in paths
                   if rules is None or not rules.can_fetch(self.user_agent, urljoin(self.base_url + "/", p.lstrip("/")))]
        if not blocked:
            return f"robots.txt at {robots_url} allows {', '.join(paths)}"
        why = note or f"{robots_url} disallows {', '.join(blocked)} for this User-Agent ({self.user_agent.split()[0]})"
        if ignore:
            return f"{why}; ignored at the user's request (--ignore-robots: the user's own responsibility)"
        raise RobotsDisallowed(f"{why}; stopping. Fetch only if the site allows it; --ignore-robots overrides this "
                               f"for your own use, at your own responsibility")


def robots_url_of(base_url: str) -> str:
    """robots.txt lives at the root of the host, whatever path the base URL has: an absolute URL."""
    parts = urlsplit(base_url)
    return f"{parts.scheme}://{parts.netloc}/robots.txt"


def decode_json(resp: Response, api_error: Callable[[Any, Response], str | None] | None = None,
                busy: Callable[[Any], bool] | None = None) -> Any:
    url, data = resp.url, resp.data
    markup = looks_like_markup(data, resp.content_type)
    if markup == "HTML":
        title = html_title(data)
        raise FetchError(f"expected JSON from {url} but got an HTML page (HTTP {resp.status}"
                         f"{', ' + repr(title) if title else ''}): a maintenance or error page?")
    if markup == "XML":
        raise FetchError(f"expected JSON from {url} but got XML (HTTP {resp.status}): does the server pass "
                         f"recordPacking=json on?")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FetchError(f"the response from {url} is not UTF-8 text (byte {e.start})") from None
    if not text.strip():
        raise Retryable(f"an empty response (HTTP {resp.status}) from {url}")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        if e.msg.startswith("Unterminated") or e.pos >= len(text.rstrip()) - 1:
            declared = resp.headers.get("Content-Length")
            raise Retryable(f"the JSON from {url} is cut off after {len(data)} bytes"
                            f"{f' (Content-Length {declared})' if declared else ''}: {e.msg}") from None
        raise FetchError(f"the response from {url} is not valid JSON: {e.msg} at line {e.lineno} column {e.colno}") from None
    message = api_error(obj, resp) if api_error else None
    if message:
        if busy is not None and busy(obj):
            raise Retryable(message)
        raise FetchError(message)
    if resp.status >= 400:
        raise FetchError(f"HTTP {resp.status} from {url}: {describe_body(data, resp.content_type)}")
    return obj


def _short(e: BaseException) -> str:
    s = str(e).splitlines()[0] if str(e) else type(e).__name__
    return s[:160]


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")
