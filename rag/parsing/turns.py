"""The shared turn segmenter: document text -> meetings, turns and non-speech segments.

Line-based state machine. Every non-blank line ends up either in a turn (as one or more
pieces: inline stage directions such as ``(拍手)`` are cut out) or in a Segment
(front/back matter, speaker label, stage direction, procedure, agenda heading,
separator, other), so that nothing is lost and nothing is counted twice.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from rag.parsing import dates as D
from rag.parsing import labels as L
from rag.parsing import metadata as M
from rag.records import Meeting, ParsedDocument, Segment, SegmentKind, SpeakerKind, Turn

WS = " \u3000\t\xa0"

BACK_MATTER = re.compile(
    r"^(お問い?合わせ先|お問合せ先|このページに関する(お問い?合わせ|アンケート)|著作権について|このページの(先頭|上)へ|"
    r"ページの先頭へ|ページトップへ|Copyright|copyright|COPYRIGHT|©|（C）|\(C\)|より良いホームページにするために|"
    r"このページの情報は役に立ちましたか|本文ここまで|ここからフッター)"
)
FRONT_START = re.compile(r"^(ここから本文です|本文ここから)")
SESSION = re.compile(r"^調査概要[\s\u3000]*[【\[［](?P<place>[^】\]］]{1,20})[】\]］]")
AGENDA = re.compile(
    r"^(議題[\s\u3000]*[0-9０-９一二三四五六七八九十]+|日程第[\s\u3000]*[0-9０-９一二三四五六七八九十]+|"
    r"[(（][0-9０-９]{1,2}[)）]|[0-9０-９]{1,2}[\s\u3000]+(?=\S)|[0-9０-９]{1,2}[.．](?![0-9０-９])|-[\s\u3000]*[(（][0-9０-９]{1,2}[)）]|"
    r"[アイウエオカキクケコ][\s\u3000]+(?=\S))"
)
# DiscussNet-style text marks an agenda heading with △ (△日程第１一般質問). A △ before a digit is a minus sign
# in a budget table (△５００万円), so only a △ before words counts.
MARKED_HEADING = re.compile(r"^△[\s\u3000]*(?=[^\s\u30000-9０-９,，.．])")
PROCEDURE = re.compile(
    r"^(休憩|再開|散会|閉会|開会|閉議|開議|延会|以上|特になし。?|"
    r"午[前後][0-9０-９一二三四五六七八九十\s\u3000]+時.{0,10}(開議|散会|休憩|再開|開会|閉会|延会)|"
    r"[<＜〈][\s\u3000]*質[\s\u3000]*疑[\s\u3000]*[>＞〉]|[0-9０-９]+[\s\u3000]*質疑等.*|[(（]?休憩[（(].*)$"
)
SEPARATOR = re.compile(
    r"^(<PAGE=\"?[0-9]+\"?>|[―─－\-=＝◇◆・～〜~＿_*＊━－\s\u3000]+|[-－―]\s*[0-9０-９]+\s*[-－―]|[0-9０-９]+\s*/\s*[0-9０-９]+|"
    r"[－―─-]+\s*[◇◆○]\s*[－―─-]+|"
    r"[0-9０-９]{1,4}[:：])$"  # DB-Search's text download numbers each utterance on a line of its own: 「12:」
)
_STAGE_WORDS = r"(拍手|笑声|笑い|登壇|降壇|議場騒然|休憩|退席|退場|着席|起立|挙手|速記|発言する者|呼ぶ者|言う者|者あり|「[^」]*」)"
STAGE_LINE = re.compile(rf"^([〔［\[][^〕］\]]*[〕］\]]|[（(][^）)]*{_STAGE_WORDS}[^）)]*[）)])$")
# numbered items of a title block that are not agenda items
ROSTER = re.compile(r"出席|欠席|職員|説明|期日|日時|場所|署名|議員|委員|会期|招集")
# how the house voted, printed as a stage direction: evidence of the chair's turn it falls in, kept in it
VOTE_DIRECTION = re.compile(r"起立|挙手|異議なし|異議あり|賛成|反対")
STAGE_INLINE = re.compile(rf"〔[^〕\n]{{1,80}}〕|［[^］\n]{{0,40}}{_STAGE_WORDS}[^］\n]{{0,40}}］|[（(][^）)\n]{{0,40}}{_STAGE_WORDS}[^）)\n]{{0,40}}[）)]")
PROCEDURAL_TEXT = re.compile(
    r"([0-9０-９一二三四五六七八九十]+番|議員。$|君。$|ただいまから|これより|開きます|休憩(いた|し)|再開(いた|し)|散会|閉会|"
    r"異議(は)?ありませんか|ご?御?異議なし|を議題と|決定(しました|いたしました)|可決|暫時)"
)


def meeting_id(doc: str, index: int) -> str:
    return hashlib.sha1(f"{doc}#{index}".encode("utf-8")).hexdigest()[:16]


@dataclass
class _Line:
    start: int
    end: int  # end of the line content (without "\n")
    text: str

    @property
    def s(self) -> str:
        return self.text.strip(WS)

    @property
    def s_start(self) -> int:
        return self.start + (len(self.text) - len(self.text.lstrip(WS)))

    @property
    def s_end(self) -> int:
        return self.start + len(self.text.rstrip(WS))


@dataclass
class _OpenTurn:
    match: L.LabelMatch
    meeting: int
    agenda: str | None
    pieces: list[tuple[int, int]] = field(default_factory=list)


def split_lines(text: str) -> list[_Line]:
    out, pos = [], 0
    for raw in text.split("\n"):
        out.append(_Line(pos, pos + len(raw), raw))
        pos += len(raw) + 1
    return out


class Segmenter:
    def __init__(self, text: str, doc: str, source: str, fmt: str, content_hash: str, meta: dict[str, Any] | None = None):
        self.text = text
        self.doc = doc
        self.source = source
        self.fmt = fmt
        self.content_hash = content_hash
        self.meta = meta or {}
        self.lines = split_lines(text)
        self.turns: list[Turn] = []
        self.segments: list[Segment] = []
        self.warnings: list[str] = []

    # ------------------------------------------------------------ helpers
    def _seg(self, kind: SegmentKind, s: int, e: int, meeting: int | None, note: str | None = None) -> None:
        while s < e and self.text[s] in WS + "\n":
            s += 1
        while e > s and self.text[e - 1] in WS + "\n":
            e -= 1
        if s >= e:
            return
        mid = self._mid(meeting)
        prev = self.segments[-1] if self.segments else None
        if (
            prev
            and prev.kind == kind
            and kind in (SegmentKind.FRONT_MATTER, SegmentKind.BACK_MATTER, SegmentKind.OTHER, SegmentKind.SEPARATOR)
            and prev.meeting_id == mid
            and prev.note == note
            and not self.text[prev.end : s].strip()
        ):
            prev.end = e
            prev.text = self.text[prev.start : e]
            return
        self.segments.append(Segment(kind, s, e, self.text[s:e], mid, note))

    def _mid(self, meeting: int | None) -> str | None:
        if meeting is None or not self.meeting_ids:
            return None
        return self.meeting_ids[min(meeting, len(self.meeting_ids) - 1)]

    def _speech(self, s: int, e: int, turn: _OpenTurn) -> None:
        """Add the speech in [s, e) to the turn, cutting out inline stage directions."""
        seg_text = self.text[s:e]
        pos = s
        for m in STAGE_INLINE.finditer(seg_text):
            if VOTE_DIRECTION.search(m.group(0)):
                continue  # how the house voted stays in the turn
            a, b = s + m.start(), s + m.end()
            self._piece(pos, a, turn)
            self._seg(SegmentKind.STAGE_DIRECTION, a, b, turn.meeting)
            pos = b
        self._piece(pos, e, turn)

    def _piece(self, s: int, e: int, turn: _OpenTurn) -> None:
        while s < e and self.text[s] in WS:
            s += 1
        while e > s and self.text[e - 1] in WS:
            e -= 1
        if s < e:
            turn.pieces.append((s, e))

    # ------------------------------------------------------------ label styles
    def _choose_styles(self) -> set[str]:
        marker = colon = alone = 0
        for ln in self.lines:
            if L.match_marker_label(ln.text):
                marker += 1
            elif L.match_colon_label(ln.text):
                colon += 1
            elif L.match_alone_label(ln.text):
                alone += 1
        styles = {"marker"} if marker else set()
        if colon >= 2 or (colon and not marker):
            styles.add("colon")
        if marker < 2 and alone:
            styles.add("alone")
        return styles

    def _label(self, ln: _Line, prev_blank: bool, styles: set[str]) -> L.LabelMatch | None:
        if "marker" in styles:
            m = L.match_marker_label(ln.text)
            if m:
                return m
        if "colon" in styles:
            m = L.match_colon_label(ln.text)
            if m:
                return m
        if "alone" in styles:
            m = L.match_alone_label(ln.text)
            if m:
                return m
        return None

    # ------------------------------------------------------------ main
    def run(self) -> ParsedDocument:
        styles = self._choose_styles()
        session_lines = [i for i, ln in enumerate(self.lines) if SESSION.match(ln.s)]
        n_meetings = max(1, len(session_lines))
        self.meeting_ids = [meeting_id(self.doc, i) for i in range(n_meetings)]
        places: list[str | None] = [SESSION.match(self.lines[i].s).group("place") for i in session_lines] or [None]

        meeting = 0
        seen_session = 0
        state = "front"  # front, body, back
        cur: _OpenTurn | None = None
        agenda: str | None = None
        open_turns: list[_OpenTurn] = []
        headings: list[list[tuple[str, bool]]] = [[] for _ in range(n_meetings)]  # (heading, after_first_turn)
        turns_in_meeting = [0] * n_meetings
        prev_blank = True

        def close() -> None:
            nonlocal cur
            if cur is not None:
                open_turns.append(cur)
                cur = None

        for idx, ln in enumerate(self.lines):
            s = ln.s
            if not s:
                prev_blank = True
                continue
            if SESSION.match(s):
                close()
                if seen_session:
                    meeting += 1
                seen_session += 1
                agenda = None
                state = "body"
                self._seg(SegmentKind.AGENDA_HEADING, ln.s_start, ln.s_end, meeting, "session")
                prev_blank = False
                continue
            lab = self._label(ln, prev_blank, styles)
            if lab is not None:
                close()
                state = "body"
                cur = _OpenTurn(lab, meeting, agenda)
                turns_in_meeting[meeting] += 1
                self._seg(SegmentKind.SPEAKER_LABEL, ln.start + lab.start, ln.start + lab.end, meeting)
                if lab.info.canonical:
                    self.warnings.append(
                        f"line {idx + 1}: garbled label {lab.info.label!r} read as {lab.info.canonical}"
                    )
                rest_s, rest_e = ln.start + lab.end, ln.end
                # stage directions glued to the label: ○山田太郎君〔登壇〕
                self._speech(rest_s, rest_e, cur)
                prev_blank = False
                continue
            if state != "back" and BACK_MATTER.match(s) and (state == "body" or idx > len(self.lines) // 2):
                close()
                state = "back"
            if state == "back":
                self._seg(SegmentKind.BACK_MATTER, ln.s_start, ln.s_end, meeting)
                prev_blank = False
                continue
            if SEPARATOR.match(s):
                self._seg(SegmentKind.SEPARATOR, ln.s_start, ln.s_end, meeting)
                prev_blank = False
                continue
            if STAGE_LINE.match(s):
                if cur is not None and VOTE_DIRECTION.search(s):  # 〔賛成者起立〕 within the chair's turn
                    self._piece(ln.s_start, ln.s_end, cur)
                else:
                    self._seg(SegmentKind.STAGE_DIRECTION, ln.s_start, ln.s_end, meeting)
                prev_blank = False
                continue
            if PROCEDURE.match(s) and len(s) <= 40:
                close()
                self._seg(SegmentKind.PROCEDURE, ln.s_start, ln.s_end, meeting)
                prev_blank = False
                continue
            if state == "front" and AGENDA.match(s) and ROSTER.search(s):  # ７　出席事務局職員: the title block
                self._seg(SegmentKind.FRONT_MATTER, ln.s_start, ln.s_end, meeting)
                prev_blank = False
                continue
            marked = MARKED_HEADING.match(s) is not None and len(s) <= 90 and not s.endswith("。")
            if marked or (
                AGENDA.match(s)
                and (len(s) <= 90 or (len(s) <= 140 and s[0] in "アイウエオカキクケコ"))
                and not s.endswith("。")
                and (cur is None or prev_blank)
            ):
                close()
                agenda = MARKED_HEADING.sub("", s) if marked else s
                headings[meeting].append((agenda, turns_in_meeting[meeting] > 0))
                self._seg(SegmentKind.AGENDA_HEADING, ln.s_start, ln.s_end, meeting)
                prev_blank = False
                continue
            if cur is not None:
                self._speech(ln.start, ln.end, cur)
            elif state == "front":
                self._seg(SegmentKind.FRONT_MATTER, ln.s_start, ln.s_end, meeting)
            else:
                self._seg(SegmentKind.OTHER, ln.s_start, ln.s_end, meeting, "narrative")
            prev_blank = False
        close()

        if not open_turns:
            return self._fallback()

        # ---- turns
        order = [0] * n_meetings
        for ot in open_turns:
            order[ot.meeting] += 1
            info = ot.match.info
            text = "\n".join(self.text[a:b] for a, b in ot.pieces)
            t = Turn(
                meeting_id=self.meeting_ids[ot.meeting],
                order=order[ot.meeting],
                speaker=info.label,
                text=text,
                pieces=list(ot.pieces),
                speaker_name=info.name,
                speaker_role=info.role,
                kind=info.kind,
                agenda=ot.agenda,
            )
            t.procedural = is_procedural(t)
            self.turns.append(t)

        declared_agendas(self.turns)
        meetings = self._meetings(n_meetings, places, headings)
        self.segments.sort(key=lambda g: g.start)
        return ParsedDocument(
            doc=self.doc,
            source=self.source,
            format=self.fmt,
            text=self.text,
            content_hash=self.content_hash,
            meetings=meetings,
            turns=self.turns,
            segments=self.segments,
            warnings=self.warnings,
        )

    # ------------------------------------------------------------ meetings
    def _front_text(self) -> str:
        """The title block: what comes before the first turn (the first lines, when a turn opens the text)."""
        first = min((t.start for t in self.turns), default=len(self.text))
        return self.text[:first] if first > 0 else self.text[:600]

    def _meetings(self, n: int, places: list[str | None], headings: list[list[tuple[str, bool]]]) -> list[Meeting]:
        meta = self.meta
        front = self._front_text()
        opening = "\n".join(t.text[:200] for t in self.turns[:4])  # a chair opens: 「ただいまから…市議会定例会を」
        found = M.stated(front, opening, self.text[-800:])
        name = meta.get("meeting") or meta.get("name") or found.meeting
        out = []
        session_dates: list[str | None] = [None] * n
        if n > 1:
            rng = D.find_date_range(front)
            if rng and (rng[1] - rng[0]).days + 1 == n:
                import datetime as _dt

                session_dates = [(rng[0] + _dt.timedelta(days=i)).isoformat() for i in range(n)]
        sessions_meta = meta.get("sessions") or []
        for i in range(n):
            agenda: list[str] = []
            seen: set[str] = set()  # 日程第１　一般質問 in the 議事日程 and △日程第１一般質問 as a heading are one item
            for item in [t.agenda for t in self.turns if t.meeting_id == self.meeting_ids[i]] + [
                    h for h, after in headings[i] if after]:
                key = re.sub(r"[\s\u3000]", "", item or "")
                if key and key not in seen:
                    seen.add(key)
                    agenda.append(item)
            date = session_dates[i] if n > 1 else None
            date = date or meta.get("date") or (found.date if n == 1 else None)
            place = places[i] if i < len(places) else None
            sm = sessions_meta[i] if i < len(sessions_meta) and isinstance(sessions_meta[i], dict) else {}
            m = Meeting(
                id=self.meeting_ids[i],
                doc=self.doc,
                source=meta.get("url") or meta.get("source") or self.source,
                body=sm.get("body") or meta.get("body") or found.body,
                name=sm.get("meeting") or sm.get("name") or name,
                date=sm.get("date") or date,
                agenda=agenda,
                place=sm.get("place") or place or ((meta.get("place") or found.place) if n == 1 else None),
                content_hash=self.content_hash,
            )
            out.append(m)
        return out

    # ------------------------------------------------------------ fallback
    def _fallback(self) -> ParsedDocument:
        """No speaker labels: one turn per paragraph, speaker 不明."""
        self.warnings.append("no speaker labels found: fell back to paragraphs (speaker 不明)")
        keep = [g for g in self.segments if g.kind not in (SegmentKind.FRONT_MATTER, SegmentKind.OTHER)]
        self.segments = []
        taken = [(g.start, g.end) for g in keep]
        mid = self.meeting_ids[0]
        turns: list[Turn] = []
        para: list[tuple[int, int]] = []

        def covered(s: int, e: int) -> bool:
            return any(a <= s and e <= b for a, b in taken)

        def flush() -> None:
            if para:
                turns.append(
                    Turn(mid, len(turns) + 1, "不明", "\n".join(self.text[a:b] for a, b in para), list(para), kind=SpeakerKind.UNKNOWN)
                )
                para.clear()

        for ln in self.lines:
            if not ln.s:
                flush()
                continue
            if covered(ln.s_start, ln.s_end):
                flush()
                continue
            para.append((ln.s_start, ln.s_end))
        flush()
        self.turns = turns
        self.segments = sorted(keep, key=lambda g: g.start)
        meetings = self._meetings(1, [None], [[]])
        return ParsedDocument(self.doc, self.source, self.fmt, self.text, self.content_hash, meetings, turns, self.segments, self.warnings)


# the chair puts an item before the house: 「日程第１、会期の決定を議題といたします」「…補正予算、委員会審査報告を議題に
#供します」; what follows (explanation, questions, the vote, 「よって、本案は可決されました」) is about that item
_TAKES_UP = re.compile(r"を(?:一括して|一括)?議題(?:に供し|とい|と|に)")
_LEAD_WORDS = re.compile(r"^(?:[、，,\s\u3000]|次に|直ちに|これより|それでは|最初に|まず|ここで|引き続き)+")
_BARE_ITEM = re.compile(r"^(?:追加)?日程(?:[（(][^）)]*[）)](?:の日程)?)?第[0-9０-９一二三四五六七八九十]+$|^本(?:動議|件|案)$")


def taken_up(t: Turn) -> str | None:
    """The item a chair's turn puts before the house (the last one when it takes up several), or None."""
    if t.kind is not SpeakerKind.CHAIR:
        return None
    found = list(_TAKES_UP.finditer(t.text))
    if not found:
        return None
    m = found[-1]
    start = max(t.text.rfind("。", 0, m.start()) + 1, m.start() - 200)
    item = _LEAD_WORDS.sub("", re.sub(r"\s+", " ", t.text[start:m.start()])).strip()
    if not item or _BARE_ITEM.match(item.replace(" ", "")):
        # 「次に、追加日程第２を議題に供します。\n追加日程第２　第44号議案…」: the item is read out after
        rest = t.text[m.end():].split("\n")[1:3]
        named = [ln.strip() for ln in rest if ln.strip() and not _BARE_ITEM.match(re.sub(r"\s", "", ln))]
        if named and len(named[0]) <= 120 and not named[0].endswith("。"):
            item = f"{item} {named[0]}".strip()
    return item or None


def declared_agendas(turns: list[Turn]) -> None:
    """Each turn's agenda is the item the chair last took up in its meeting, until an agenda heading of the
    text starts the next one; turns outside any declared item keep the heading they follow."""
    meeting: str | None = None
    heading: str | None = None
    declared: str | None = None
    for t in turns:
        if t.meeting_id != meeting or t.agenda != heading:
            meeting, heading, declared = t.meeting_id, t.agenda, None
        declared = taken_up(t) or declared
        if declared:
            t.agenda = declared


def is_procedural(t: Turn) -> bool:
    txt = t.text.strip()
    if re.fullmatch(r"[～〜~].*[～〜~]", txt, flags=re.S):
        return True
    if t.kind is SpeakerKind.CHAIR and len(txt) <= 60 and PROCEDURAL_TEXT.search(txt):
        return True
    return False


def segment_text(
    text: str, doc: str, source: str, fmt: str, content_hash: str, meta: dict[str, Any] | None = None, warnings: list[str] | None = None
) -> ParsedDocument:
    seg = Segmenter(text, doc, source, fmt, content_hash, meta)
    pd = seg.run()
    if warnings:
        pd.warnings[:0] = warnings
    return pd
