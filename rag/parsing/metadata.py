"""What a document says about its meeting: body, meeting name, date, place (and the house, for the Diet).

Read from the title block before the first turn (labelled lines such as 開催日：/会議名：/期日/場所 first,
then title lines), then from the first turns (a chair opening 「ただいまから令和６年度墨田区議会定例会…」).
A field the document does not state stays None: nothing here guesses from a file name or a URL.
The source's own fields (a JSON archive's, the Diet API's, a sidecar) override all of this.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from rag.parsing import dates as D

WS = " \u3000\t\xa0"
_CJK = r"[\u3005\u4e00-\u9fff\u30a0-\u30ffヶケ]"
# 横浜市会, 青森市議会, 北海道議会, 東京都議会, 〇〇町議会, 衆議院
BODY = re.compile(rf"(?P<place>(?:{_CJK}{{1,4}}(?:都|道|府|県))?{_CJK}{{1,6}}?(?:市|区|町|村))(?P<kind>議会|会(?=[{WS}]*(?:会議録|定例会|臨時会|$)))"
                  rf"|(?P<prefecture>{_CJK}{{1,3}}(?:都|道|府|県))議会|(?P<house>衆議院|参議院)")
# 市議会 alone, 本市議会, 全国市議会議長会, 各区議会, 近隣町村議会: not the name of one assembly
_NOT_A_BODY = ("市議会", "区議会", "町議会", "村議会", "本市", "本区", "本町", "当", "全国", "全", "各", "他", "近隣", "県内",
               "市内", "区内", "都内", "道内", "府内", "管内")
# what may precede a body's name in a title line; 月 and 日 only after a numeral (月形町, 日野市, 春日部市 are places)
_BODY_PREFIX = re.compile(r"^.*(?:年度|年|回|号|[0-9０-９一二三四五六七八九十]月|[0-9０-９一二三四五六七八九十]日|の|は|が|、|を|に|で|"
                          r"及び|並びに)")
LABELLED = re.compile(rf"^[{WS}]*(?:[0-9０-９]+[{WS}.．、]*)?(?P<label>開催日|開催日時|会議日|期[{WS}]*日|日[{WS}]*時|開会日|"
                      rf"会議名|会議の名称|名[{WS}]*称|場[{WS}]*所|会[{WS}]*場|開催場所|招集の場所|招集場所)[{WS}]*[:：]?[{WS}]*(?P<value>.*)$")
SESSION = re.compile(r"(令和|平成|昭和)[\s\u3000]*[0-9０-９元一二三四五六七八九十]+[\s\u3000]*年(?:度)?[\s\u3000_]*"
                     r"(?:第[\s\u3000]*[0-9０-９一二三四五六七八九十]+[\s\u3000]*回[\s\u3000]*)?"
                     r"(?:[0-9０-９一二三四五六七八九十]+[\s\u3000]*月[\s\u3000]*)?"
                     r"(?P<body>[^\s\u30000-9０-９第回年]{1,8}?(?:都|道|府|県|市|区|町|村)(?:議会|会)?)?"  # 令和6年第1回山田市議会定例会
                     r"(?:定例会|臨時会|定例議会|臨時議会|緊急議会|議会)")
# 令和８年３月定例会（第３回）: the session's number written after a month-named session
SESSION_NUMBER = re.compile(r"^[\s\u3000]*[（(][\s\u3000]*第[\s\u3000]*[0-9０-９一二三四五六七八九十]+[\s\u3000]*回[\s\u3000]*[）)]")
COMMITTEE = re.compile(r"委員会|分科会|協議会|審議会|懇談会|会議(?!録)|部会")
NUMBER = re.compile(r"[（(]?[\s\u3000]*第[\s\u3000]*[0-9０-９一二三四五六七八九十]+[\s\u3000]*(?:号|日目|日)[\s\u3000]*[）)]?")
CHROME = re.compile(r"閲覧|発言内容|検索|トップ|ホーム|ページ|印刷|ダウンロード|ログイン|メニュー|サイト")
NOT_MEETING_DATE = re.compile(r"更新|掲載|作成|印刷|公開|現在|告示|招集|提出|受理|送付|通知|発行")
OPENING = re.compile(r"開議|開会|開催")
MARKED = re.compile(r"^[○◯〇◎◆◇●■]")


@dataclass
class Stated:
    body: str | None = None
    meeting: str | None = None
    date: str | None = None
    place: str | None = None


def _clean(s: str) -> str:
    return re.sub(rf"[{WS}]+", " ", s).strip(WS)


def _nfkc(s: str) -> str:
    return unicodedata.normalize("NFKC", s)


def find_body(text: str) -> str | None:
    """The first assembly or house named in `text` (令和６年度墨田区議会定例会 -> 墨田区議会)."""
    text = text.replace("\u3000", " ")
    for m in BODY.finditer(text):
        if m.group("house"):
            return m.group("house")
        before = text[m.start() - 1] if m.start() else ""  # the numeral of 12月 when the match begins at 月
        if m.group("prefecture"):
            name = _BODY_PREFIX.sub("", before + m.group("prefecture")) + "議会"
        else:
            name = _BODY_PREFIX.sub("", before + m.group("place")) + m.group("kind")
        name = name[1:] if before and name.startswith(before) else name
        if len(name) >= 3 and not name.startswith(_NOT_A_BODY):
            return name
    return None


_COUNCIL = re.compile(r"^(?:(?:令和|平成)[0-9０-９元]+年度?[ ]*)?第[ ]*[0-9０-９一二三四五六七八九十]+[ ]*回[ 　]*"
                      r"(?P<name>[^ 　]{2,30}?(?:会議|審議会|協議会|懇談会|委員会|部会|分科会))")


def council_of(meeting: str | None) -> str | None:
    """第４回デジタル社会推進会議 -> デジタル社会推進会議: a standing council that is no assembly is its own body."""
    m = _COUNCIL.match(meeting or "")
    return m.group("name") if m else None


def find_meeting(lines: list[str]) -> str | None:
    """The meeting as the title block states it: 会議名：… if labelled, else the session (令和６年第４回定例会)
    with its number (第16号 / 第1日), else a committee's name; page chrome and the body's name left out."""
    for ln in lines:
        m = LABELLED.match(ln)
        if m and re.sub(rf"[{WS}]", "", m.group("label")) in ("会議名", "会議の名称", "名称") and m.group("value").strip():
            return _tidy(m.group("value"))
    for ln in lines[:40]:  # 令和６年度定例会１２月緊急議会　墨田区議会会議録: the meeting, then the body's 会議録
        m = re.search(r"会議録|議事録", ln)
        body = find_body(ln[: m.start()]) if m else None
        if body and ln.find(body) > 0 and re.search(r"会|議", ln[: ln.find(body)]):
            head = _clean(ln[: ln.find(body)])
            if SESSION.search(head.replace(" ", "")) or COMMITTEE.search(head):
                return _tidy(head)
    block = "\n".join(ln for ln in lines[:40] if not CHROME.search(ln) or "|" in ln)
    for part in re.split(r"[|｜]", block):
        if CHROME.search(part) and "会議" not in part:
            continue
        s = SESSION.search(part.replace("\n", " "))
        if s:
            flat = part.replace("\n", " ")
            number = NUMBER.search(flat[s.end():s.end() + 80]) or NUMBER.search(flat)
            session = s.group(0).replace(s.group("body"), "") if s.group("body") else s.group(0)
            numbered = None if "回" in session else SESSION_NUMBER.match(flat[s.end():])
            name = _clean(session) + (_paren(numbered.group(0)) if numbered else "") + (
                _paren(number.group(0)) if number else "")
            return _tidy(name)
    for ln in lines[:40]:
        if CHROME.search(ln) and "|" not in ln:
            continue
        for part in re.split(r"[|｜]", ln):
            part = _clean(part)
            if COMMITTEE.search(part) and len(part) <= 60 and not CHROME.search(part) and not part.endswith("。"):
                return _tidy(_strip_body(part))
    return None


def _paren(number: str) -> str:
    inner = re.sub(r"[（()）\s\u3000]", "", number)
    return f"（{inner}）"


def _strip_body(name: str) -> str:
    """青森市議会 総務常任委員会 -> 総務常任委員会 (an assembly's name is the body, not the meeting)."""
    body = find_body(name)
    if body and body.endswith(("議会", "会", "議院")) and name.startswith(body) and len(name) > len(body) + 2:
        return name[len(body):].strip(WS)
    return name


def _tidy(name: str) -> str:
    """令和 7年第1回定例会（第1日 2月14日） -> 令和7年第1回定例会（第1日）: spaces between numbers and a date
    repeated inside the brackets (the date is its own field) go."""
    name = _clean(name)
    # a Diet title: 第212回国会 参議院 本会議 第9号 令和5年12月6日 -> 本会議 第9号 (the house is the body)
    name = re.sub(r"^第[0-9０-９一二三四五六七八九十百]+回国会[ ]*|^(?:衆議院|参議院)[ ]+", "", name)
    name = re.sub(r"^(?:衆議院|参議院)[ ]+", "", name)
    name = re.sub(r"[ ]+(?:[0-9]{4}-[0-9]{2}-[0-9]{2}|(?:令和|平成|昭和)\S+年\S+月\S+日)$", "", name)
    name = re.sub(r"^(?:[0-9０-９]{4}年|(?:令和|平成|昭和)[0-9０-９元]+年)[0-9０-９]{1,2}月[0-9０-９]{1,2}日[ ]*(?=\S)", "", name)
    name = re.sub(r"(?<=[0-9０-９])[ ]+(?=[年月日回号])|(?<=[年第])[ ]+(?=[0-9０-９])", "", name)
    name = re.sub(r"(?<=[和成])[ ]+(?=[0-9０-９元])", "", name)
    name = re.sub(r"[ ]*[0-9０-９]{1,2}月[0-9０-９]{1,2}日[ ]*(?=[）)])", "", name)
    name = re.sub(r"[（(][ ]*[）)]", "", name)  # brackets that held only the date
    name = re.sub(r"[ ]+本文$", "", name)  # DB-Search titles a record's part: 令和８年 警察委員会 本文
    return name.strip(WS)


_TITLE_DAY = re.compile(r"(?P<era>令和|平成|昭和) ?(?P<y>[0-9]+|元) ?年[^()（）]{0,40}[(（] ?(?P<m>[0-9]{1,2}) ?月 ?(?P<d>[0-9]{1,2}) ?日")


def find_date(lines: list[str]) -> str | None:
    """The meeting day: a labelled date (開催日/期日/日時), else a date on a line that opens the sitting
    (…午前10時開議), else the first date of the title block that is not a publication or notice date."""
    def date_in(s: str) -> str | None:
        iso = re.search(r"(?<![0-9])(20[0-9]{2}|19[0-9]{2})[-/.](0?[1-9]|1[0-2])[-/.](0?[1-9]|[12][0-9]|3[01])(?![0-9])", _nfkc(s))
        if iso:
            return D.iso(D._mk(int(iso.group(1)), int(iso.group(2)), int(iso.group(3))))
        found = D.parse_date(s)
        if found is None:  # 令和６年第１回月形町議会臨時会（１月２３日）: the year in the title, the day in brackets
            m = _TITLE_DAY.search(_nfkc(s))
            year = D.kanji_number(m.group("y")) if m else None
            if m and year:
                found = D.era_to_date(m.group("era"), year, int(m.group("m")), int(m.group("d")))
        return D.iso(found)

    for i, ln in enumerate(lines):
        m = LABELLED.match(ln)
        if m and re.sub(rf"[{WS}]", "", m.group("label")) in ("開催日", "開催日時", "会議日", "期日", "日時", "開会日"):
            for cand in [m.group("value")] + lines[i + 1 : i + 3]:
                d = date_in(cand)
                if d:
                    return d
    for i, ln in enumerate(lines[:60]):
        if OPENING.search(ln) and not NOT_MEETING_DATE.search(ln):
            # 令和五年十一月一日（水曜日）/ 午後零時十一分開議: the date may head the line that opens the sitting
            for cand in (ln, *reversed(lines[max(0, i - 2):i])):
                d = date_in(cand) if not NOT_MEETING_DATE.search(cand) else None
                if d:
                    return d
    for ln in lines[:25]:
        if ln and not NOT_MEETING_DATE.search(ln):
            d = date_in(ln)
            if d:
                return d
    return None


def find_place(lines: list[str]) -> str | None:
    for i, ln in enumerate(lines):
        m = LABELLED.match(ln)
        if m and re.sub(rf"[{WS}]", "", m.group("label")) in ("場所", "会場", "開催場所", "招集の場所", "招集場所"):
            value = _clean(m.group("value")) or (lines[i + 1] if i + 1 < len(lines) else "")
            if value and len(value) <= 40 and not LABELLED.match(value):
                return value
    return None


# the chair opens the sitting by its name: 「ただいまから民生環境協議会を開きます」「只今から予算特別委員会を開会いたします」
_OPENS = re.compile(r"(?:ただいま|ただ今|只今)から[、，]?(?P<name>[^。、，\n「」]{3,40}?)を(?:開会|開き|開催|開議)")


def opened(opening: str) -> str | None:
    """The meeting as the chair names it when opening the sitting (a session or a committee), else None."""
    m = _OPENS.search(opening)
    if not m or m.group("name").startswith(("本日", "会議")):
        return None
    name = m.group("name")
    return find_meeting([name]) or (_tidy(_strip_body(name)) if COMMITTEE.search(name) else None)


def stated(front: str, opening: str = "", closing: str = "") -> Stated:
    """What the title block `front` says about the meeting; the first turns' text `opening` (a chair opens the
    sitting of 〇〇市議会) and the closing signatures `closing` (〇〇市議会議長 …) may name the body."""
    lines = [ln.strip(WS) for ln in front.split("\n")]
    lines = [ln for ln in lines if ln and not MARKED.match(ln)]  # a speaker's label is not the title block
    head = "\n".join(lines[:60])
    meeting = find_meeting(lines) or opened(opening[:400])
    return Stated(
        body=find_body(head) or find_body(opening[:400]) or find_body(closing[-800:]) or council_of(meeting),
        meeting=meeting,
        date=find_date(lines) or (find_date([ln for ln in opening[:300].split("\n") if ln]) if opening else None),
        place=find_place(lines[:60]),
    )
