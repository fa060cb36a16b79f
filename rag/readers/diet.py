"""National Diet minutes API JSON (kokkai.ndl.go.jp/api): meeting-level and speech-level records.

Each speech becomes a Turn; the document text is the concatenation of the speeches (with the
printed label ``○岸田内閣総理大臣　`` kept in the text as a SPEAKER_LABEL segment) so that offsets work.
speechOrder 0 (会議録情報: the front matter) becomes a FRONT_MATTER segment.
"""

from __future__ import annotations

import re
from typing import Any

from rag.parsing import labels as L
from rag.parsing.turns import AGENDA, SEPARATOR, STAGE_INLINE, STAGE_LINE, is_procedural, meeting_id
from rag.errors import SourceError
from rag.records import Meeting, ParsedDocument, Segment, SegmentKind, SpeakerKind, Turn, sha256_bytes

WS = " \u3000\t"


def is_diet_api(obj: Any) -> bool:
    """A response of the Diet minutes API (meeting- or speech-level, or its error shape)."""
    return isinstance(obj, dict) and (
        isinstance(obj.get("meetingRecord"), list) or isinstance(obj.get("speechRecord"), list)
        or ("message" in obj and "details" in obj))


def _meetings_from(obj: Any, name: str) -> list[dict]:
    if not isinstance(obj, dict):
        raise SourceError(f"{name}: not Diet API JSON (top level is not an object)")
    if "message" in obj and not obj.get("meetingRecord") and not obj.get("speechRecord"):
        raise SourceError(f"{name}: Diet API error response: {str(obj.get('message'))[:120]}")
    if isinstance(obj.get("meetingRecord"), list):
        return [m for m in obj["meetingRecord"] if isinstance(m, dict)]
    if isinstance(obj.get("speechRecord"), list):
        groups: dict[str, dict] = {}
        for sp in obj["speechRecord"]:
            if not isinstance(sp, dict):
                continue
            key = sp.get("issueID") or f"{sp.get('nameOfHouse')}|{sp.get('nameOfMeeting')}|{sp.get('issue')}|{sp.get('date')}"
            g = groups.setdefault(
                key,
                {k: sp.get(k) for k in ("issueID", "nameOfHouse", "nameOfMeeting", "issue", "date", "meetingURL", "session")}
                | {"speechRecord": []},
            )
            g["speechRecord"].append(sp)
        return list(groups.values())
    raise SourceError(f"{name}: not Diet API JSON (no meetingRecord or speechRecord list)")


def _kind(sp: dict, label: str) -> SpeakerKind:
    role = (sp.get("speakerRole") or "").strip()
    pos = (sp.get("speakerPosition") or "").strip()
    if role in ("議長", "副議長", "委員長", "会長", "分科会長", "小委員長", "仮議長", "委員長代理") or re.search(r"(議長|委員長|会長)$", label):
        return SpeakerKind.CHAIR
    if role in ("証人", "参考人", "公述人"):
        return SpeakerKind.UNKNOWN
    if role in ("政府特別補佐人", "政府参考人", "説明員") or re.search(r"大臣|長官|政務官|副大臣|局長|総裁|長$", pos):
        return SpeakerKind.EXECUTIVE
    if "事務総長" in pos or "事務局" in pos:
        return SpeakerKind.SECRETARIAT
    if sp.get("speakerGroup"):
        return SpeakerKind.MEMBER
    k = L.kind_of(pos or label)
    return k if k is not SpeakerKind.UNKNOWN else (SpeakerKind.MEMBER if label.endswith("君") else SpeakerKind.UNKNOWN)


def parse_diet(obj: Any, doc_name: str, origin: str, content_hash: str, meta: dict | None = None) -> ParsedDocument:
    meta = meta or {}
    recs = _meetings_from(obj, doc_name)
    if not recs:
        raise SourceError(f"{doc_name}: Diet API JSON with no records")
    parts: list[str] = []
    pos = 0
    meetings: list[Meeting] = []
    turns: list[Turn] = []
    segments: list[Segment] = []
    warnings: list[str] = []

    def add(s: str) -> tuple[int, int]:
        nonlocal pos
        start = pos
        parts.append(s)
        pos += len(s)
        return start, pos

    for mi, rec in enumerate(recs):
        mid = meeting_id(doc_name, mi)
        name = " ".join(x for x in (rec.get("nameOfMeeting"), rec.get("issue")) if x) or None
        meetings.append(
            Meeting(
                id=mid,
                doc=doc_name,
                source=rec.get("meetingURL") or meta.get("url") or origin,
                body=rec.get("nameOfHouse") or meta.get("body"),
                name=name or meta.get("meeting"),
                date=rec.get("date") or meta.get("date"),
                place=meta.get("place"),
                content_hash=content_hash,
            )
        )
        speeches = [s for s in rec.get("speechRecord") or [] if isinstance(s, dict)]
        speeches.sort(key=lambda s: int(s.get("speechOrder") or 0))
        order = 0
        agenda: str | None = None
        for sp in speeches:
            speech = (sp.get("speech") or "").replace("\r\n", "\n").replace("\r", "\n")
            if not speech.strip():
                continue
            s0, e0 = add(speech)
            add("\n\n")
            if int(sp.get("speechOrder") or 0) == 0:
                segments.append(Segment(SegmentKind.FRONT_MATTER, s0, e0, speech, mid, "会議録情報"))
                continue
            # the printed label: ○岸田内閣総理大臣　…
            first_nl = speech.find("\n")
            head = speech if first_nl < 0 else speech[:first_nl]
            m = re.match(r"[ \u3000]*([○◯〇◎])?([^\u3000\n]{1,40}?)(?:\u3000|$)", head)
            label = (m.group(2) if m else "").strip(WS) or (sp.get("speaker") or "不明")
            if m and m.group(2):
                lab_s, lab_e = s0 + m.start(1 if m.group(1) else 2), s0 + m.end(2)
                segments.append(Segment(SegmentKind.SPEAKER_LABEL, lab_s, lab_e, speech[lab_s - s0 : lab_e - s0], mid))
                body_start = lab_e
            else:
                body_start = s0
            pieces: list[tuple[int, int]] = []
            new_agenda = _speech_pieces(speech, s0, body_start, e0, pieces, segments, mid)
            if not pieces:
                agenda = new_agenda or agenda
                continue
            order += 1
            full = "".join(parts)
            t = Turn(
                meeting_id=mid,
                order=order,
                speaker=label,
                text="\n".join(full[a:b] for a, b in pieces),
                pieces=pieces,
                speaker_name=L.squash(sp.get("speaker") or "") or None,
                speaker_role=(sp.get("speakerPosition") or sp.get("speakerRole") or None),
                speaker_group=sp.get("speakerGroup") or None,
                kind=_kind(sp, label),
                url=sp.get("speechURL") or None,
                agenda=agenda,
            )
            agenda = new_agenda or agenda
            if agenda and agenda not in meetings[-1].agenda:
                meetings[-1].agenda.append(agenda)
            t.procedural = is_procedural(t)
            turns.append(t)
    text = "".join(parts)
    if not turns:
        warnings.append("no speeches found")
    segments.sort(key=lambda g: g.start)
    return ParsedDocument(doc_name, origin, "diet-json", text, content_hash, meetings, turns, segments, warnings)


def _speech_pieces(speech: str, s0: int, start: int, end: int, pieces: list, segments: list, mid: str) -> str | None:
    """Speech lines -> pieces; separators, stage directions and agenda lines (日程第一…) -> segments.
    Returns the last agenda heading seen (it applies to the following speeches)."""
    agenda = None
    pos = start
    for line in speech[start - s0 : end - s0].split("\n"):
        a, b = pos, pos + len(line)
        pos = b + 1
        st = line.strip(WS)
        if not st:
            continue
        ls = a + (len(line) - len(line.lstrip(WS)))
        le = a + len(line.rstrip(WS))
        if SEPARATOR.match(st):
            segments.append(Segment(SegmentKind.SEPARATOR, ls, le, st, mid))
            continue
        if STAGE_LINE.match(st):
            segments.append(Segment(SegmentKind.STAGE_DIRECTION, ls, le, st, mid))
            continue
        if a != start and st.startswith("日程第") and AGENDA.match(st) and not st.endswith("。"):
            segments.append(Segment(SegmentKind.AGENDA_HEADING, ls, le, st, mid))
            agenda = st
            continue
        cur = ls
        for m in STAGE_INLINE.finditer(line):
            x, y = a + m.start(), a + m.end()
            _piece(speech, s0, cur, x, pieces)
            segments.append(Segment(SegmentKind.STAGE_DIRECTION, x, y, speech[x - s0 : y - s0], mid))
            cur = y
        _piece(speech, s0, cur, le, pieces)
    return agenda


def _piece(speech: str, s0: int, a: int, b: int, pieces: list) -> None:
    while a < b and speech[a - s0] in WS:
        a += 1
    while b > a and speech[b - 1 - s0] in WS:
        b -= 1
    if a < b:
        pieces.append((a, b))
