"""JSON minutes of any shape: the Diet minutes API, and archives with one record per utterance.

Public minutes archives and scrapers (DiscussNet/SSP exports, DB-Search scrapes, open-data dumps)
publish JSON as a list of records, each with a text field and often a speaker field, under
meeting-level fields (title, date, URL). They are recognised by those fields, not by site: the
longest list of objects that carry text is the utterance list; its text field is the one named like
text/body/speech/content (else the longest string field); the speaker field is named like speaker/
name/title. Each record becomes `○SPEAKER` + its text unless the text already opens with a speaker
mark, and the result is segmented like any minutes text. Meeting-level fields become the document's
metadata (a sidecar still overrides them).
"""

from __future__ import annotations

import json
import re
from pathlib import PurePath
from typing import Any

from rag.errors import SourceError
from rag.readers.diet import is_diet_api, parse_diet
from rag.readers.encoding import decode
from rag.readers.text import parse_text
from rag.records import ParsedDocument, RawDocument, sha256_bytes

TEXT_KEYS = ("text", "speech", "body", "content", "utterance", "message", "statement", "発言", "発言内容", "本文")
SPEAKER_KEYS = ("speakerLabel", "speaker_label", "speaker", "speakerName", "speaker_name", "name", "title",
                "発言者", "発言者名")
MEETING_KEYS = ("meetingName", "meeting_name", "nameOfMeeting", "meeting", "title", "会議名", "name")
DATE_KEYS = ("meetingDate", "meeting_date", "date", "heldOn", "held_on", "開催日", "日付")
URL_KEYS = ("sourceUrl", "source_url", "url", "meetingURL", "meeting_url", "link")
BODY_KEYS = ("council", "assembly", "body", "nameOfHouse", "organization", "議会名", "自治体")
MARK = re.compile(r"^[ \u3000]*[○◯〇◎●◆◇■□△▲]")
_TAG = re.compile(r"<[^>]{1,200}>")
_ISO = re.compile(r"^(\d{4})-(\d{2})-(\d{2})")


class JsonReader:
    name = "json"
    suffixes = (".json",)
    label = "JSON（国会会議録検索システム API、発言ごとのレコードを持つ会議録アーカイブ）"

    def accepts(self, name: str, head: bytes) -> bool:
        return PurePath(name).suffix.lower() == ".json" and not name.endswith(".meta.json")

    def check(self, name: str, head: bytes) -> str | None:
        if not head.lstrip(b"\xef\xbb\xbf \t\r\n").startswith((b"{", b"[")):
            return "JSON ではありません"
        return None

    def read(self, raw: RawDocument) -> ParsedDocument:
        text, _ = decode(raw.data, raw.name)
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise SourceError(f"{raw.name}: broken JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
        if is_diet_api(obj):
            return parse_diet(obj, raw.name, raw.origin, sha256_bytes(raw.data), raw.metadata)
        return parse_records(obj, raw)


def parse_records(obj: Any, raw: RawDocument) -> ParsedDocument:
    found = _record_list(obj)
    if found is None:
        keys = ", ".join(list(obj)[:8]) if isinstance(obj, dict) else type(obj).__name__
        raise SourceError(f"{raw.name}: JSON without minutes: no list of records with a text field "
                          f"(looked for {', '.join(TEXT_KEYS[:5])}…; top level: {keys})")
    owner, records = found
    text_key = _pick(records, TEXT_KEYS, long=True)
    speaker_key = _pick(records, SPEAKER_KEYS, long=False, exclude=text_key)
    parts = []
    for r in records:
        body = _plain(r.get(text_key))
        if not body.strip():
            continue
        speaker = _plain(r.get(speaker_key)).strip() if speaker_key else ""
        if speaker and not MARK.match(body) and len(speaker) <= 40 and not speaker.startswith(("（", "(")):
            body = f"○{speaker}\n{body}"
        parts.append(body.strip("\n"))
    if not parts:
        raise SourceError(f"{raw.name}: JSON records hold no text (field {text_key!r} is empty in every record)")
    owner = owner if isinstance(owner, dict) else {}
    top = obj if isinstance(obj, dict) else {}
    meta = _meeting_fields(owner, top)
    # the record's own title lines head the text, where the metadata extraction reads titles of any layout
    titles = [t for t in _titles(owner, top) if not any(t in p[:300] for p in parts[:1])]
    doc = RawDocument(raw.key, raw.name, raw.origin, raw.data, {**meta, **raw.metadata}, raw.fetched_at)
    return parse_text("\n".join(titles + [""] if titles else []) + "\n\n".join(parts), doc, "json")


def _record_list(obj: Any, depth: int = 0) -> tuple[Any, list[dict]] | None:
    """(the object holding it, the longest list of dicts that carry a text field), searched 3 levels deep."""
    best: tuple[Any, list[dict]] | None = None

    def consider(owner: Any, value: Any) -> None:
        nonlocal best
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value[:50]):
            if _pick(value, TEXT_KEYS, long=True) and (best is None or len(value) > len(best[1])):
                best = (owner, value)

    consider(None, obj)
    if depth < 3 and isinstance(obj, dict):
        for v in obj.values():
            consider(obj, v)
            if isinstance(v, (dict, list)) and not (isinstance(v, list) and v and isinstance(v[0], dict)):
                deeper = _record_list(v, depth + 1)
                if deeper and (best is None or len(deeper[1]) > len(best[1])):
                    best = deeper
    return best


def _pick(records: list[dict], names: tuple[str, ...], long: bool, exclude: str | None = None) -> str | None:
    """The field of the records to use: the first of `names` present with string values; for text, else
    the string field with the most characters."""
    sample = records[:200]
    present = {k for r in sample for k, v in r.items() if isinstance(v, str) and v.strip()} - {exclude}
    for n in names:
        if n in present:
            return n
    if not long or not present:
        return None
    total = {k: sum(len(r.get(k) or "") for r in sample if isinstance(r.get(k), str)) for k in present}
    key, size = max(total.items(), key=lambda kv: kv[1])
    return key if size / max(1, len(sample)) >= 40 else None  # a text field is long: ids and labels are not


def _plain(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    if "<" in value and _TAG.search(value):
        value = re.sub(r"(?i)<br\s*/?>", "\n", value)
        value = _TAG.sub("", value)
        import html

        value = html.unescape(value)
    return value.replace("\r\n", "\n").replace("\r", "\n")


def _titles(owner: dict, top: dict) -> list[str]:
    """Meeting title and committee name as the JSON states them, each once."""
    out: list[str] = []
    for src in (owner, top):
        for k in MEETING_KEYS + ("committee",):
            v = src.get(k)
            if isinstance(v, dict):
                v = next((v[s] for s in ("currentName", "name", "dbsrName", "title") if isinstance(v.get(s), str)), None)
            if isinstance(v, str) and v.strip() and len(v) <= 120 and not any(v.strip() in o for o in out):
                out.append(v.strip())
    return out


def _meeting_fields(owner: dict, top: dict) -> dict[str, Any]:
    """Meeting-level metadata the JSON states (the object holding the records first, then the top level)."""
    def first(keys: tuple[str, ...]) -> str | None:
        for src in (owner, top):
            for k in keys:
                v = src.get(k)
                if isinstance(v, str) and v.strip():
                    return v.strip()
                if isinstance(v, dict):  # {"committee": {"name": …}} style
                    for sub in ("name", "currentName", "dbsrName", "title"):
                        if isinstance(v.get(sub), str) and v[sub].strip():
                            return v[sub].strip()
        return None

    meta: dict[str, Any] = {}
    date = first(DATE_KEYS)
    if date and _ISO.match(date):
        meta["date"] = _ISO.match(date).group(0)
    url = first(URL_KEYS)
    if url and re.match(r"https?://", url):
        meta["url"] = url
    body = first(BODY_KEYS)
    if body:
        meta["body"] = body
    return meta
