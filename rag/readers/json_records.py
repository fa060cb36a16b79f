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
from dataclasses import replace
from pathlib import PurePath
from typing import Any

from rag.errors import SourceError
from rag.readers.diet import is_diet_api, parse_diet
from rag.readers.encoding import decode
from rag.readers.text import parse_text
from rag.parsing.turns import meeting_id
from rag.records import ParsedDocument, RawDocument, sha256_bytes

TEXT_KEYS = ("text", "speech", "body", "content", "utterance", "raw", "message", "statement", "発言", "発言内容", "本文")
SPEAKER_KEYS = ("speakerLabel", "speaker_label", "speaker", "speakerName", "speaker_name", "name", "title",
                "発言者", "発言者名")
MEETING_KEYS = ("meetingName", "meeting_name", "nameOfMeeting", "meeting", "title", "会議名", "会議の名称", "name")
DATE_KEYS = ("meetingDate", "meeting_date", "date", "heldOn", "held_on", "開催日", "日付", "年月日", "開催年月日")
URL_KEYS = ("sourceUrl", "source_url", "url", "meetingURL", "meeting_url", "link")
BODY_KEYS = ("council", "assembly", "house", "nameOfHouse", "body", "organization", "議会名", "自治体")
# a record's speaker type, where an archive gives one instead of a printed label (summary minutes)
SPEAKER_TYPE_KEYS = ("speakerType", "speaker_type", "speakerKind", "speaker_kind")
TYPE_LABELS = {"member": "委員", "executive": "理事者", "chair": "委員長", "secretariat": "事務局"}
MARK = re.compile(r"^[ \u3000]*[○◯〇◎●◆◇■□△▲]")
_TAG = re.compile(r"<[^>]{1,200}>")
_ISO = re.compile(r"^(\d{4})[-./](\d{1,2})[-./](\d{1,2})")


# a JavaScript data file that wraps the JSON: `window.DB.register({...});`, `export default [...]`, `var x = {...};`
_JS_WRAPPER = re.compile(r"^\s*(?:/\*.*?\*/\s*|//[^\n]*\n\s*)*(?:export\s+default\s+|(?:var|let|const)\s+[\w$]+\s*=\s*|"
                         r"[\w$.]+\s*=\s*|[\w$.]+\s*\(\s*)(?P<json>[\[{].*[\]}])\s*\)?\s*;?\s*$", re.S)


class JsonReader:
    name = "json"
    suffixes = (".json", ".js")
    label = "JSON（国会会議録検索システム API、発言ごとのレコードを持つ会議録アーカイブ）"

    def accepts(self, name: str, head: bytes) -> bool:
        return PurePath(name).suffix.lower() in self.suffixes and not name.endswith(".meta.json")

    def check(self, name: str, head: bytes) -> str | None:
        start = head.lstrip(b"\xef\xbb\xbf \t\r\n")
        if name.lower().endswith(".js"):
            return None if b"{" in head or b"[" in head else "JavaScript のデータファイルではありません"
        return None if start.startswith((b"{", b"[")) else "JSON ではありません"

    def read(self, raw: RawDocument) -> ParsedDocument:
        text, _ = decode(raw.data, raw.name)
        if raw.name.lower().endswith(".js"):
            m = _JS_WRAPPER.match(text)
            if not m:
                raise SourceError(f"{raw.name}: a JavaScript file, but not one that wraps JSON data")
            text = m.group("json")
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            raise SourceError(f"{raw.name}: broken JSON: {e.msg} at line {e.lineno} column {e.colno}") from e
        obj = _diet_pages(obj)
        if is_diet_api(obj):
            return parse_diet(obj, raw.name, raw.origin, sha256_bytes(raw.data), raw.metadata)
        return parse_records(obj, raw)


def _diet_pages(obj: Any) -> Any:
    """Saved Diet API responses in other wrappings, as one response: a list of pages, or the old API's
    data.records.record[].recordData.speechRecord."""
    if isinstance(obj, list) and obj and all(is_diet_api(x) for x in obj if isinstance(x, dict)):
        merged: dict[str, list] = {}
        for page in obj:
            for key in ("meetingRecord", "speechRecord"):
                merged.setdefault(key, []).extend(page.get(key) or [])
        return {k: v for k, v in merged.items() if v}
    records = obj.get("data", {}).get("records", {}).get("record") if isinstance(obj, dict) and isinstance(
        obj.get("data"), dict) and isinstance(obj["data"].get("records"), dict) else None
    if isinstance(records, dict):
        records = [records]
    if isinstance(records, list):
        speeches = [r.get("recordData", {}).get("speechRecord") for r in records if isinstance(r, dict)]
        speeches = [x for x in speeches if isinstance(x, dict) and "speech" in x]
        if speeches:
            return {"speechRecord": speeches}
    return obj


def parse_records(obj: Any, raw: RawDocument) -> ParsedDocument:
    text_key = _text_key(obj)
    records = _all_records(obj, text_key)
    if not records:
        keys = ", ".join(list(obj)[:8]) if isinstance(obj, dict) else type(obj).__name__
        raise SourceError(f"{raw.name}: JSON without minutes: no records with a text field "
                          f"(looked for {', '.join(TEXT_KEYS[:6])}…; top level: {keys})")
    speaker_key = _pick(records, SPEAKER_KEYS, long=False, exclude=text_key)
    type_key = _pick(records, SPEAKER_TYPE_KEYS, long=False, exclude=text_key)
    top = obj if isinstance(obj, dict) else {}
    # records under objects that state different meetings (an archive's threads: 予算委員会 and 議院運営委員会 of
    # one day) are different meetings
    groups: list[tuple[dict, list[dict]]] = []
    owners = _owners(obj)
    for r in records:
        owner = owners.get(id(r), {})
        if groups and (groups[-1][0] is owner or _meeting_of(groups[-1][0]) == _meeting_of(owner)):
            groups[-1][1].append(r)
        else:
            groups.append((owner, [r]))
    parsed = [p for owner, recs in groups
              if (p := _parse_group(owner, top, recs, text_key, speaker_key, type_key, raw)) is not None]
    if not parsed:
        raise SourceError(f"{raw.name}: JSON records hold no text (field {text_key!r} is empty in every record)")
    return parsed[0] if len(parsed) == 1 else merged(parsed, raw.name)


def _meeting_of(owner: dict) -> tuple:
    return tuple(str(owner.get(k)) for k in MEETING_KEYS + ("committee",) + DATE_KEYS + BODY_KEYS if k in owner)


def _parse_group(owner: dict, top: dict, records: list[dict], text_key: str | None, speaker_key: str | None,
                 type_key: str | None, raw: RawDocument) -> ParsedDocument | None:
    parts = []
    for r in records:
        body = _plain(r.get(text_key))
        if not body.strip():
            continue
        speaker = _plain(r.get(speaker_key)).strip() if speaker_key else ""
        if not speaker and type_key and not MARK.match(body):  # no printed label: the role its type names
            speaker = TYPE_LABELS.get(str(r.get(type_key)).lower(), "")
        first_line = body.lstrip().split("\n", 1)[0]
        printed = MARK.match(body) and _squash(speaker)[:4] in _squash(first_line)  # ○議長（佐藤篤）　…
        if speaker and not printed and len(speaker) <= 40 and not speaker.startswith(("（", "(")):
            body = f"○{speaker}\n{body}"
        parts.append(body.strip("\n"))
    if not parts:
        return None
    meta = _meeting_fields(owner, top)
    # the record's own title lines head the text, where the metadata extraction reads titles of any layout
    # (unless the text's own title lines, before its first speaker, already state them)
    head = "\n".join(ln for ln in _until_first_speaker(parts[0][:300]))
    titles = [t for t in _titles(owner, top) if t not in head]
    doc = RawDocument(raw.key, raw.name, raw.origin, raw.data, {**meta, **raw.metadata}, raw.fetched_at)
    return parse_text("\n".join(titles + [""] if titles else []) + "\n\n".join(parts), doc, "json")


def merged(docs: list[ParsedDocument], name: str) -> ParsedDocument:
    """One document of several parsed meeting groups: texts joined, offsets shifted, meetings numbered anew."""
    text, meetings, turns, segments, warnings = "", [], [], [], []
    for d in docs:
        shift = len(text) + (2 if text else 0)
        text = f"{text}\n\n{d.text}" if text else d.text
        ids = {}
        for m in d.meetings:
            ids[m.id] = meeting_id(name, len(meetings))
            meetings.append(replace(m, id=ids[m.id]))
        turns += [replace(t, meeting_id=ids.get(t.meeting_id, t.meeting_id),
                          pieces=[(a + shift, b + shift) for a, b in t.pieces]) for t in d.turns]
        segments += [replace(g, start=g.start + shift, end=g.end + shift,
                             meeting_id=ids.get(g.meeting_id, g.meeting_id)) for g in d.segments]
        warnings += d.warnings
    first = docs[0]
    return ParsedDocument(first.doc, first.source, first.format, text, first.content_hash, meetings, turns,
                          segments, list(dict.fromkeys(warnings)))


def _until_first_speaker(text: str) -> list[str]:
    lines = []
    for ln in text.split("\n"):
        if MARK.match(ln):
            break
        lines.append(ln)
    return lines


def _squash(s: str) -> str:
    return re.sub(r"[\s\u3000]", "", s)


def _dicts(obj: Any):
    """Every object in the JSON, in document order."""
    if isinstance(obj, dict):
        yield obj
        for v in obj.values():
            yield from _dicts(v)
    elif isinstance(obj, list):
        for v in obj:
            yield from _dicts(v)


def _text_key(obj: Any) -> str | None:
    """The field utterances keep their text in: a name like text/speech/body on the most objects, else the
    string field with the most characters per object (40 or more: ids and labels are shorter)."""
    counts: dict[str, int] = {}
    sizes: dict[str, list[int]] = {}
    for d in _dicts(obj):
        for k, v in d.items():
            if isinstance(v, str) and v.strip():
                sizes.setdefault(k, []).append(len(v))
                if k in TEXT_KEYS and len(v) >= 20:
                    counts[k] = counts.get(k, 0) + 1
    if counts:
        return max(counts, key=lambda k: (counts[k], -TEXT_KEYS.index(k)))
    mean = {k: sum(v) / len(v) for k, v in sizes.items() if len(v) >= 2}
    best = max(mean, key=mean.get, default=None)
    return best if best is not None and mean[best] >= 40 else None


def _owners(obj: Any) -> dict[int, dict]:
    """For every object in the JSON (by id), the innermost object that holds it, directly or in a list: where a
    record's meeting-level fields are. One walk, whatever the number of records."""
    out: dict[int, dict] = {}

    def walk(o: Any, parent: dict | None) -> None:
        if isinstance(o, dict):
            out[id(o)] = parent or {}
            for v in o.values():
                walk(v, o)
        elif isinstance(o, list):
            for v in o:
                walk(v, parent)

    walk(obj, None)
    return out


def _all_records(obj: Any, text_key: str | None) -> list[dict]:
    """Every object, anywhere, in document order, whose `text_key` holds text."""
    out: list[dict] = []

    def walk(o: Any) -> None:
        if isinstance(o, dict):
            v = o.get(text_key)
            if isinstance(v, str) and len(v.strip()) >= 2:
                out.append(o)
                return
            for x in o.values():
                walk(x)
        elif isinstance(o, list):
            for x in o:
                walk(x)

    if text_key:
        walk(obj)
    return out


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
    m = _ISO.match(date or "")
    if m:
        meta["date"] = f"{m.group(1)}-{int(m.group(2)):02d}-{int(m.group(3)):02d}"
    url = first(URL_KEYS)
    if url and re.match(r"https?://", url):
        meta["url"] = url
    body = first(BODY_KEYS)
    if body:
        meta["body"] = body
    return meta
