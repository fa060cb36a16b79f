"""Japanese dates: era (令和/平成/昭和/大正) and western, Arabic/full-width/kanji numerals, 元年."""

from __future__ import annotations

import datetime as _dt
import re

ERAS = {"令和": 2018, "平成": 1988, "昭和": 1925, "大正": 1911, "明治": 1867}
# first day of each era (a date before it is not valid in that era)
ERA_START = {
    "令和": _dt.date(2019, 5, 1),
    "平成": _dt.date(1989, 1, 8),
    "昭和": _dt.date(1926, 12, 25),
    "大正": _dt.date(1912, 7, 30),
    "明治": _dt.date(1868, 1, 25),
}
_KANJI_DIGITS = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_NUM = r"(?:[0-9０-９]+|[〇零一二三四五六七八九十百千]+)"
_SP = r"[ \u3000]*"

ERA_DATE = re.compile(
    rf"(?P<era>令和|平成|昭和|大正|明治){_SP}(?P<y>元|{_NUM}){_SP}年{_SP}(?P<m>{_NUM}){_SP}月{_SP}(?P<d>{_NUM}){_SP}日"
)
WEST_DATE = re.compile(rf"(?P<y>[0-9０-９]{{4}}|[〇一二三四五六七八九]{{4}}){_SP}年{_SP}(?P<m>{_NUM}){_SP}月{_SP}(?P<d>{_NUM}){_SP}日")
# …～8月23日 (continuation of a range in the same year)
_RANGE_END = re.compile(rf"{_SP}[～〜~\-－―ー]{_SP}(?:(?P<m>{_NUM}){_SP}月{_SP})?(?P<d>{_NUM}){_SP}日")


def kanji_number(s: str) -> int | None:
    """二十八 -> 28, 十 -> 10, 二〇二四 -> 2024, 元 -> 1, ２８ -> 28."""
    if not s:
        return None
    if s == "元":
        return 1
    t = s.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    if t.isdigit():
        return int(t)
    if all(c in _KANJI_DIGITS for c in s):  # positional: 二〇二四
        n = 0
        for c in s:
            n = n * 10 + _KANJI_DIGITS[c]
        return n
    total, cur = 0, 0
    units = {"十": 10, "百": 100, "千": 1000}
    for c in s:
        if c in _KANJI_DIGITS:
            cur = cur * 10 + _KANJI_DIGITS[c] if cur else _KANJI_DIGITS[c]
        elif c in units:
            total += (cur or 1) * units[c]
            cur = 0
        else:
            return None
    return total + cur


def _mk(y: int | None, m: int | None, d: int | None) -> _dt.date | None:
    if y is None or m is None or d is None:
        return None
    try:
        return _dt.date(y, m, d)
    except ValueError:
        return None


def era_to_date(era: str, year: int, month: int, day: int) -> _dt.date | None:
    if era not in ERAS or year < 1:
        return None
    d = _mk(ERAS[era] + year, month, day)
    if d is None or d < ERA_START[era]:
        return None
    return d


def parse_date(s: str) -> _dt.date | None:
    """The first Japanese date in `s` (era or western), or None."""
    found = find_dates(s)
    return found[0][2] if found else None


def find_dates(s: str) -> list[tuple[int, int, _dt.date]]:
    """All dates in `s` as (start, end, date), in order of appearance."""
    out: list[tuple[int, int, _dt.date]] = []
    for m in ERA_DATE.finditer(s):
        d = era_to_date(m.group("era"), kanji_number(m.group("y")) or 0, kanji_number(m.group("m")) or 0, kanji_number(m.group("d")) or 0)
        if d:
            out.append((m.start(), m.end(), d))
    for m in WEST_DATE.finditer(s):
        if any(a <= m.start() < b for a, b, _ in out):
            continue
        d = _mk(kanji_number(m.group("y")), kanji_number(m.group("m")), kanji_number(m.group("d")))
        if d:
            out.append((m.start(), m.end(), d))
    out.sort(key=lambda x: x[0])
    return out


def find_date_range(s: str) -> tuple[_dt.date, _dt.date] | None:
    """令和5年8月22日（火）～8月23日（水） -> (2023-08-22, 2023-08-23)."""
    for start, end, d in find_dates(s):
        tail = s[end:]
        tail = re.sub(r"^[ \u3000]*[（(][^）)]{1,4}[）)]", "", tail)
        m = _RANGE_END.match(tail)
        if m:
            month = kanji_number(m.group("m")) if m.group("m") else d.month
            e = _mk(d.year, month, kanji_number(m.group("d")))
            if e and e >= d:
                return d, e
    return None


def iso(d: _dt.date | None) -> str | None:
    return d.isoformat() if d else None


# a year, with its month when given: 令和6年12月, 令和5年度, 平成23年, 2022年12月 (no day needed)
YEAR_MONTH = re.compile(
    rf"(?:(?P<era>令和|平成|昭和|大正|明治){_SP}(?P<ey>元|{_NUM})|(?P<wy>[0-9０-９]{{4}}|[〇一二三四五六七八九]{{4}})){_SP}年(?:{_SP}度)?"
    rf"(?:{_SP}(?P<m>{_NUM}){_SP}月)?"
)
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december")
# December 2022, Dec. 2022, (fiscal) 2022
ENGLISH_YEAR_MONTH = re.compile(
    rf"\b(?:(?P<mon>{'|'.join(_MONTHS)}|{'|'.join(m[:3] for m in _MONTHS)}|sept)\.?\s+)?"
    rf"(?P<y>(?:19|20)[0-9]{{2}})\b", re.I)


def find_year_months(s: str) -> list[tuple[int, int, int, int | None]]:
    """Every year mentioned in `s` as (start, end, year, month), the month when one follows:
    令和6年12月 -> 2024, 12; 令和5年度 -> 2023, None."""
    out: list[tuple[int, int, int, int | None]] = []
    for m in YEAR_MONTH.finditer(s):
        if m.group("era"):
            n = kanji_number(m.group("ey"))
            year = ERAS[m.group("era")] + n if n else None
        else:
            year = kanji_number(m.group("wy"))
        month = kanji_number(m.group("m")) if m.group("m") else None
        if year:
            out.append((m.start(), m.end(), year, month if month and 1 <= month <= 12 else None))
    return out


def find_english_year_months(s: str) -> list[tuple[int, int, int, int | None]]:
    """(start, end, year, month): December 2022 -> 2022, 12; fiscal 2021 -> 2021, None."""
    out: list[tuple[int, int, int, int | None]] = []
    for m in ENGLISH_YEAR_MONTH.finditer(s):
        mon = m.group("mon")
        month = [x[:3] for x in _MONTHS].index(mon[:3].lower()) + 1 if mon else None
        out.append((m.start(), m.end(), int(m.group("y")), month))
    return out
