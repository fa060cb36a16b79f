"""Speaker-label grammar for Japanese council minutes.

Recognises the label that opens a turn and splits it into name / role / kind:

* verbatim transcripts: a marker (○ ◯ 〇 ◎ ◆ ◇ ● ■) then a label, e.g.
  ``○議長（山田太郎君）``, ``○１８番（鈴木花子君）``, ``○市長（田中　一）``,
  ``○（山田はなこ議長）``, ``○さとう一郎議長``, ``○関谷 博君``, ``○総務部長``;
  the text may follow on the same line (after a space) or on the next lines;
* summary minutes: ``委員:`` / ``事務局：`` inline, or a role word alone on its line
  (``委員長``), including garbled permutations such as ``員長委``.

Everything here is pure string work (no I/O) so that it can be property-tested.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rag.records import SpeakerKind

MARKERS = "○◯〇◎◆◇●■"
SPACES = " \u3000\t\xa0"

# Role words that may stand alone on a line (summary minutes) or before a colon.
ROLE_WORDS = (
    "委員長", "副委員長", "委員", "事務局", "事務局長", "会長", "副会長", "座長", "副座長",
    "部会長", "議長", "副議長", "市長", "副市長", "町長", "村長", "区長", "知事", "説明者",
    "説明員", "理事者", "市側理事者", "幹事", "司会", "オブザーバー", "アドバイザー",
)
_ROLE_SET = set(ROLE_WORDS)
# Garbled permutations (e.g. 員長委 for 委員長): only for words of 3+ characters.
_PERMUTATIONS = {"".join(sorted(w)): w for w in ROLE_WORDS if len(w) >= 3}

# Roles that can follow a personal name without brackets (さとう一郎議長, 岸田内閣総理大臣).
_NAME_ROLE_SUFFIXES = (
    "副委員長", "委員長", "副議長", "議長", "副会長", "会長", "議員", "委員", "副市長", "市長",
    "町長", "村長", "区長", "知事", "内閣総理大臣", "大臣", "座長", "事務総長",
)
# Last characters of an organisational prefix: 総務部長 is a role, not 総務 + 部長.
_ORG_END = set("部局課室所会庁省市区町村県府都道務策画育生設境業理事副特別常任院団署館場係班隊科")

_SECRETARIAT = re.compile(r"事務局|書記|議事課|議事総務|議事主査|議会次長|事務長|議事係|事務総長|事務次長|参事$")
_CHAIR = re.compile(r"(議長|委員長|会長|座長|分科会長|小委員長|司会)$")
_MEMBER = re.compile(r"(^[0-9０-９一二三四五六七八九十]+番$|委員$|議員$|委員[A-ZＡ-Ｚ0-9０-９]$|^[A-ZＡ-Ｚ]委員$|^委員[（(])")
_EXECUTIVE = re.compile(
    r"市長|町長|村長|区長|知事|部長|局長|課長|室長|所長|次長|理事者|理事|大臣|長官|政務官|教育長|管理者|"
    r"参事|審議官|政府参考人|監|係長|主幹|課長補佐|説明員|説明者|参与|総裁|統括官|政府特別補佐人|本部長|センター長"
)
_NAME_HONORIFIC = re.compile(r"(君|さん|氏|様)$")
# Headings printed with a speaker mark (◯議事日程, ◯令和６年５月17日（金）): never a speaker
NOT_A_SPEAKER = re.compile(
    r"^(議事日程|本日の会議に付した事件|会議に付した事件|付議事件|本日の議題|出席議員|欠席議員|出席委員|欠席委員|"
    r"出席者|欠席者|出席説明員|説明のため出席|職務のため出席|出席事務局職員|事務局出席職員|議会事務局職員|会議録署名|"
    r"本日の会議に付した案件|会議に付した案件|"
    r"日程第|議案第|請願第|陳情第|目次|会議の経過|議事の経過|開議の日時|"
    r"(令和|平成|昭和)[0-9０-９元一二三四五六七八九十 \u3000]+年|午[前後][0-9０-９一二三四五六七八九十 \u3000]+時|"
    r"[^ \u3000（(]{2,30}(について|の件|に関する件)$)")


@dataclass(frozen=True)
class LabelInfo:
    label: str  # as printed, without the marker
    name: str | None
    role: str | None
    kind: SpeakerKind
    canonical: str | None = None  # for garbled labels: the role word recognised (員長委 -> 委員長)


def squash(s: str) -> str:
    """Remove half/full-width spaces (関谷 博 -> 関谷博)."""
    return re.sub(r"[ \u3000\t]+", "", s)


def kind_of(role: str | None, name: str | None = None) -> SpeakerKind:
    if not role:
        return SpeakerKind.MEMBER if name else SpeakerKind.UNKNOWN
    r = unicodedata.normalize("NFKC", role)
    r = squash(r)
    if _SECRETARIAT.search(r):
        return SpeakerKind.SECRETARIAT
    if _CHAIR.search(r) or r in ("副委員長", "副議長", "副会長", "副座長"):
        return SpeakerKind.CHAIR
    if _MEMBER.search(r):
        return SpeakerKind.MEMBER
    if _EXECUTIVE.search(r):
        return SpeakerKind.EXECUTIVE
    return SpeakerKind.UNKNOWN


def garbled_role(word: str) -> str | None:
    """員長委 -> 委員長 (a permutation of a known role word), else None."""
    w = squash(word)
    if w in _ROLE_SET or len(w) < 3:
        return None
    return _PERMUTATIONS.get("".join(sorted(w)))


def _looks_like_role(s: str) -> bool:
    s = squash(s)
    if not s:
        return False
    if s in _ROLE_SET or garbled_role(s):
        return True
    if _NAME_HONORIFIC.search(s):
        return False
    return kind_of(s) is not SpeakerKind.UNKNOWN


def _split_name_role(s: str) -> tuple[str | None, str | None]:
    """さとう一郎議長 -> (さとう一郎, 議長); 総務部長 -> (None, 総務部長)."""
    s = s.strip(SPACES)
    if s in _ROLE_SET:
        return None, s
    for suf in _NAME_ROLE_SUFFIXES:
        if s.endswith(suf) and len(s) > len(suf):
            prefix = s[: -len(suf)].strip(SPACES)
            if prefix and prefix[-1] not in _ORG_END and not _looks_like_role(prefix) and len(squash(prefix)) <= 8:
                return squash(prefix), suf
            break
    return None, s


def parse_label(label: str) -> LabelInfo:
    """Split a printed label (marker already removed) into name, role and kind."""
    lab = label.strip(SPACES)
    m = re.fullmatch(r"(?P<pre>[^（(]*?)[ \u3000]?[（(](?P<inner>[^）)]*)[）)]", lab)
    if m:
        pre, inner = m.group("pre").strip(SPACES), m.group("inner").strip(SPACES)
        if not pre:  # （山田はなこ議長）: name first, then role
            if _NAME_HONORIFIC.search(inner):
                return LabelInfo(lab, squash(inner[:-1]), None, SpeakerKind.MEMBER)
            name, role = _split_name_role(inner)
            return LabelInfo(lab, name, role, kind_of(role, name))
        canon = garbled_role(pre)
        role_pre = canon or pre
        if _NAME_HONORIFIC.search(inner):
            name = squash(_NAME_HONORIFIC.sub("", inner))
            return LabelInfo(lab, name or None, pre, kind_of(role_pre, name), canon)
        if _looks_like_role(inner) and not _looks_like_person_role(pre, inner):
            # 市側理事者（情報企画課長）: the bracket says which official
            k = kind_of(role_pre)
            if k is SpeakerKind.UNKNOWN:
                k = kind_of(inner)
            return LabelInfo(lab, None, inner, k, canon)
        return LabelInfo(lab, squash(inner) or None, pre, kind_of(role_pre, inner), canon)
    canon = garbled_role(lab)
    if canon:
        return LabelInfo(lab, None, canon, kind_of(canon), canon)
    if _NAME_HONORIFIC.search(lab) and not _looks_like_role(lab[:-1]):
        return LabelInfo(lab, squash(lab[:-1]) or None, None, SpeakerKind.MEMBER)
    name, role = _split_name_role(lab)
    return LabelInfo(lab, name, role, kind_of(role, name))


def _looks_like_person_role(pre: str, inner: str) -> bool:
    """委員（村本ひろや）: the bracket holds a person, not a role."""
    return False


def is_label_like(label: str) -> bool:
    """Could this string be a speaker label? (used to accept colon / alone-on-line labels)."""
    lab = label.strip(SPACES)
    if not lab or len(lab) > 30:
        return False
    if re.search(r"[。、「」『』！？!?：:，,．]", lab):
        return False
    info = parse_label(lab)
    if info.kind is not SpeakerKind.UNKNOWN:
        return True
    return bool(info.name and _NAME_HONORIFIC.search(lab))


# ------------------------------------------------------------------ matching lines

@dataclass(frozen=True)
class LabelMatch:
    start: int  # offset in the line where the marker (or label) begins
    label_start: int  # where the printed label begins (after the marker)
    label_end: int  # end of the printed label
    end: int  # end of the label segment (incl. a colon after it)
    info: LabelInfo
    style: str  # "marker", "colon", "alone"


_BR_LABEL = re.compile(r"[^\s\u3000（(〔［\[「」。、]{0,30}?[ \u3000]?[（(][^）)\n]{1,40}[）)]")
_KUN_LABEL = re.compile(r"[^\s\u3000〔（(「」。、]{1,8}(?:[ \u3000][^\s\u3000〔（(「」。、]{1,6})?君(?=$|[\s\u3000〔［\[（(])")
_TOKEN_LABEL = re.compile(r"[^\s\u3000〔［\[（(「」。、，,！？!?:：]{1,25}(?=$|[\s\u3000:：]|〔)")
# 塩田　委員長 (a name, a space, a role), 石田（秀）委員長 (a bracketed initial before the role)
_ROLE_AFTER = "|".join(sorted(_NAME_ROLE_SUFFIXES, key=len, reverse=True))
_NAME_SPACE_ROLE = re.compile(rf"[^\s\u3000〔（(「」。、]{{1,8}}[ \u3000]{{1,2}}(?:{_ROLE_AFTER})(?=$|[\s\u3000:：])")
_BR_ROLE_LABEL = re.compile(rf"[^\s\u3000（(〔「」。、]{{1,8}}[（(][^）)\n]{{1,4}}[）)](?:{_ROLE_AFTER})(?=$|[\s\u3000:：])")
_AFTER_LABEL = re.compile(r"[ \u3000]*[:：]")  # 〇河野大臣 ： — a colon after the label belongs to it


def match_marker_label(line: str) -> LabelMatch | None:
    """``○議長（山田太郎君）　本文`` -> the label part. The line must begin (after spaces) with a marker."""
    i = len(line) - len(line.lstrip(SPACES))
    first = i
    numbered = _UTTERANCE_NUMBER.match(line, i)  # DB-Search numbers each utterance: 「2  ◯議長（奈良岡隆君）　…」
    if numbered:
        i = numbered.end()
    if i >= len(line) or line[i] not in MARKERS:
        return None
    j = i + 1
    rest = line[j:]
    if not rest or rest[0] in SPACES + MARKERS + "―─－-" or NOT_A_SPEAKER.match(rest):
        return None
    for rx in (_BR_ROLE_LABEL, _NAME_SPACE_ROLE, _BR_LABEL, _KUN_LABEL, _TOKEN_LABEL):
        m = rx.match(rest)
        if not m:
            continue
        lab = m.group(0).rstrip(SPACES)
        if rx is _BR_LABEL:
            info = parse_label(lab)
            inner = lab[lab.find("（") if "（" in lab else lab.find("("):]
            if info.kind is SpeakerKind.UNKNOWN and not info.name:
                continue
            if re.fullmatch(r"[（(](拍手|笑声|笑|登壇|降壇).*", inner):
                continue
        else:
            if rx is _TOKEN_LABEL and len(lab) > 20 and len(rest) > len(lab):
                continue
            info = parse_label(lab)
            if rx is _TOKEN_LABEL and info.kind is SpeakerKind.UNKNOWN and not (
                len(lab) <= 15 and line.strip(SPACES) == line[i:].strip(SPACES)[: len(lab) + 1]
            ):
                # unknown role: only accept short labels that stand alone on the line
                continue
        end = j + len(lab)
        colon = _AFTER_LABEL.match(line, end)
        return LabelMatch(first, j, end, colon.end() if colon else end, info, "marker")
    return None


_UTTERANCE_NUMBER = re.compile(rf"[0-9０-９]{{1,4}}[ \u3000]{{1,6}}(?=[{MARKERS}])")
_COLON_LABEL = re.compile(r"(?P<lab>[^\s\u3000:：。、「」]{1,20}?)[ \u3000]*[:：]")


def match_colon_label(line: str) -> LabelMatch | None:
    """``委員:本文`` / ``事務局：本文`` (summary minutes)."""
    i = len(line) - len(line.lstrip(SPACES))
    m = _COLON_LABEL.match(line, i)
    if not m:
        return None
    lab = m.group("lab")
    if not is_label_like(lab) or re.search(r"[0-9０-９]", lab) and not re.search(r"番", lab):
        return None
    if not (_looks_like_role(lab) or _NAME_HONORIFIC.search(lab) or "（" in lab or "(" in lab):
        return None
    info = parse_label(lab)
    return LabelMatch(i, i, i + len(lab), m.end(), info, "colon")


_ALONE_EXTRA = re.compile(r"(委員[A-ZＡ-Ｚ0-9０-９]|[A-ZＡ-Ｚ]委員|[^\s\u3000]{1,6}(委員|委員長|会長|議員|部会長)|[^\s\u3000]{1,8}君)")


def match_alone_label(line: str) -> LabelMatch | None:
    """A role word alone on its line (``委員長``; garbled ``員長委``) or ``議長（山田太郎君）``."""
    s = line.strip(SPACES)
    if not s or len(s) > 30:
        return None
    i = line.find(s)
    ok = s in _ROLE_SET or garbled_role(s) is not None or _ALONE_EXTRA.fullmatch(s) is not None
    if not ok and _BR_LABEL.fullmatch(s):
        info = parse_label(s)
        inner = s[s.find("（") if "（" in s else s.find("(") :]
        ok = info.kind is not SpeakerKind.UNKNOWN and not re.fullmatch(r"[（(](拍手|笑声|登壇|降壇)[）)]", inner) and bool(
            re.match(r"[^（(]", s)
        )
    if not ok:
        return None
    return LabelMatch(i, i, i + len(s), i + len(s), parse_label(s), "alone")
