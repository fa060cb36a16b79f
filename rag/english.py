"""English questions about Japanese minutes: place names in romaji and council terms, in Japanese.

"What did Hakodate's mayor say about disaster response?" names 函館 and asks about 市長 and 災害対応/防災.
Places are resolved against Japanese names the caller offers (the index's bodies, the places in the
retrieved turns) by romanising them (pykakasi, Hepburn) and looking for the romaji as a word of the
question; council terms come from a curated glossary (glossary_en_ja.tsv). Both feed the keyword side
of retrieval and the answer's constraints, so that an English question meets the minutes in Japanese.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Iterable

GLOSSARY_FILE = Path(__file__).with_name("glossary_en_ja.tsv")
_SUFFIXES = ("議会", "市会", "会")
_PLACE_END = ("都", "道", "府", "県", "市", "区", "町", "村")
HOUSES = {"衆議院": ("house of representatives", "lower house", "shugiin", "shuugiin"),
          "参議院": ("house of councillors", "house of councilors", "upper house", "sangiin")}


@functools.lru_cache(maxsize=1)
def glossary() -> list[tuple[str, list[str]]]:
    """(English phrase, Japanese terms), longest phrase first."""
    out = []
    for line in GLOSSARY_FILE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            en, ja = line.split("\t")
            out.append((en.strip().lower(), ja.strip().split("|")))
    return sorted(out, key=lambda x: -len(x[0]))


def council_terms(question: str) -> list[str]:
    """Japanese terms of the glossary phrases the question uses (each phrase once, longest first)."""
    q = " " + re.sub(r"[^a-z0-9]+", " ", question.lower()) + " "
    terms: list[str] = []
    for en, ja in glossary():
        if f" {en} " in q:
            terms += ja
            q = q.replace(f" {en} ", " ")
    return list(dict.fromkeys(terms))


@functools.lru_cache(maxsize=1)
def _kakasi():
    import pykakasi

    return pykakasi.kakasi()


@functools.lru_cache(maxsize=1 << 18)  # every speaker of an index is read for each English question naming a person:
def romaji(name: str) -> str:  # a cache smaller than their number would miss every time (~90 µs a conversion)
    """函館 -> hakodate (Hepburn, long vowels as written: 大阪 -> oosaka)."""
    return "".join(x["hepburn"] for x in _kakasi().convert(name)).lower()


def place_stem(name: str) -> str:
    """函館市議会 -> 函館, 横浜市会 -> 横浜, 北海道議会 -> 北海道 (a stem of at least two characters)."""
    for suffix in _SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix) + 1:
            name = name[: -len(suffix)]
            break
    if name.endswith(_PLACE_END) and len(name) >= 3 and name != "北海道":
        name = name[:-1]
    return name


def _spellings(stem: str) -> set[str]:
    r = romaji(stem)
    # Hepburn as places are usually written in English: Ōsaka/Oosaka -> Osaka, Kyōto -> Kyoto, Tōkyō -> Tokyo
    plain = re.sub(r"ou", "o", re.sub(r"oo", "o", re.sub(r"uu", "u", r)))
    return {r, plain}


def places_named(question: str, candidates: Iterable[str]) -> list[str]:
    """Which of the Japanese place or body names `candidates` the English question names."""
    q = " " + re.sub(r"[^a-z]+", " ", question.lower().replace("'s", " ")) + " "
    out: list[str] = []
    for name in dict.fromkeys(c for c in candidates if c):
        if name in HOUSES:
            if any(f" {alias} " in q for alias in HOUSES[name]):
                out.append(name)
            continue
        stem = place_stem(name)
        if len(stem) < 2:
            continue
        if any(len(s) >= 4 and f" {s} " in q for s in _spellings(stem)):
            out.append(name)
    return out


def speakers_named(question: str, names: Iterable[str]) -> list[str]:
    """Which of the Japanese speaker names `names` the English question names in romaji: a capitalised word of at
    least four letters, not the question's first, that begins the name's romaji (Kawabata -> 川端, Okubo -> 大久保智子,
    Yukita -> ゆきた; a surname said alone matches the full name)."""
    words = {w.lower() for w in re.findall(r"(?<=[a-z,;:'\s])\s*\b([A-Z][a-z]{3,})\b", question) if not w.isupper()}
    if not words:
        return []
    out: list[str] = []
    for name in dict.fromkeys(n for n in names if n):
        flat = re.sub(r"[\s\u3000・]", "", name)
        if len(flat) < 2 or not re.fullmatch(r"[一-龥々ぁ-んァ-ヶー]+", flat):
            continue
        if any(r.startswith(w) for r in _spellings(flat) for w in words):
            out.append(flat)
    return out
