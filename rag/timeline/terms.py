"""What a topic is about, as words to look for: the topic's nouns and its compound nouns.

A staff member types a topic (「システム標準化」) or a whole question (「長崎市はシステム標準化の経費について
どう答えてきたか」). Its content words decide, together with embedding similarity, whether a turn is on the
topic (rag.timeline.core) and whether two figures speak of the same thing (rag.timeline.changes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rag.indexing.tokens import analyse, normalise

# Nouns that say how a topic is asked about, not what it is about
STOP_NOUNS = {
    "答弁", "発言", "質問", "経過", "変遷", "推移", "見解", "考え", "考え方", "方針", "状況", "取組", "取組み", "取り組み",
    "対応", "これまで", "今後", "現在", "過去", "本市", "当市", "本区", "市長", "区長", "町長", "知事", "部長", "課長",
    "局長", "大臣", "議員", "委員", "議会", "執行部", "理事者", "説明", "内容", "件", "点", "こと", "もの", "ため",
    "について", "どう", "いつ", "何", "なに", "ところ", "ほう", "場合", "関係", "一覧", "時系列", "全て", "すべて",
}
_NOUNISH = ("名詞", "接尾辞", "接頭辞")
_ASCII_WORD = re.compile(r"[a-z0-9][a-z0-9.\-]*", re.I)
_WAY = ("方",)  # 働き方改革: a verb's stem + 方 is a noun, part of the compound
# a na-adjective written in kanji or katakana (特別職, スマートシティ) belongs to the compound it starts; one in
# hiragana (きれい, 大きな) does not
_COMPOUNDING = re.compile(r"^[\u4e00-\u9fff\u30a0-\u30ffa-z0-9]+$")


@dataclass(frozen=True)
class TopicTerms:
    parts: tuple[str, ...]  # single nouns (normalised surface, ≥ 2 characters or ASCII), stop nouns left out
    compounds: tuple[str, ...]  # runs of nouns as written (マイナンバーカード, システム標準化), ≥ 2 characters

    def coverage(self, text: str) -> float:
        """Share of the topic's words found in `text` (NFKC, lower case): a compound counts whole, or by the
        share of its parts found, at half weight."""
        if not self.compounds and not self.parts:
            return 0.0
        t = normalise(text)
        scores = []
        for c in self.compounds:
            if c in t:
                scores.append(1.0)
                continue
            inner = [p for p in self.parts if p in c]
            scores.append(0.5 * sum(p in t for p in inner) / len(inner) if inner else 0.0)
        loose = [p for p in self.parts if not any(p in c for c in self.compounds)]
        scores += [1.0 if p in t else 0.0 for p in loose]
        return sum(scores) / len(scores) if scores else 0.0


@lru_cache(maxsize=256)
def topic_terms(topic: str) -> TopicTerms:
    parts: list[str] = []
    compounds: list[str] = []
    run: list[str] = []

    def close() -> None:
        words = [w for w in run]
        while words and (words[0] in STOP_NOUNS or len(words[0]) == 1 and not _ASCII_WORD.fullmatch(words[0])):
            words.pop(0)  # a leading stop word or one-character prefix does not belong to the compound
        while words and words[-1] in STOP_NOUNS:
            words.pop()
        c = "".join(words)
        if len(c) >= 2 and c not in STOP_NOUNS and len(words) > 1:
            compounds.append(c)
        run.clear()

    ms = [(m.surface(), m.part_of_speech()) for m in analyse(topic)]
    i = 0
    while i < len(ms):
        surface, pos = ms[i]
        if pos[0] == "動詞" and i + 1 < len(ms) and ms[i + 1][0] in _WAY and ms[i + 1][1][0] == "接尾辞":
            surface, pos = surface + ms[i + 1][0], ("名詞", "普通名詞")  # 働き方, 進め方: a noun made from a verb
            i += 1
        i += 1
        if pos[0] in _NOUNISH and pos[1] != "数詞" or pos[0] == "形状詞" and _COMPOUNDING.search(surface):
            run.append(surface)
            if pos[0] in ("名詞", "形状詞") and surface not in STOP_NOUNS \
                    and (len(surface) >= 2 or _ASCII_WORD.fullmatch(surface)):
                parts.append(surface)
        else:
            close()
    close()
    return TopicTerms(tuple(dict.fromkeys(parts)), tuple(dict.fromkeys(compounds)))
