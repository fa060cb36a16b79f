"""What a topic is about, as words to look for: the topic's nouns and its compound nouns.

A staff member types a topic (「システム標準化」) or a whole question (「長崎市はシステム標準化の経費について
どう答えてきたか」). Its content words decide, together with embedding similarity, whether a turn is on the
topic (rag.timeline.core) and whether two figures speak of the same thing (rag.timeline.changes).
"""

from __future__ import annotations

import math
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
# Nouns that name a step of council procedure, not a subject: every agenda item is appointed, amended, approved,
# reported or ended (常任委員の選任, 村税条例の改正, 以上で質疑を終了いたします). In a topic (「監査委員の選任」) such a
# word, however rare in the index, does not say which matter a turn is about: a turn holding it and none of the topic's
# other specific words holds only common ones (TopicTerms.mentions; rag.timeline.core.word_penalty).
PROCEDURE_WORDS = frozenset({
    "選任", "任命", "選挙", "同意", "承認", "認定", "改正", "一部改正", "制定", "廃止", "設置", "指定", "締結", "変更",
    "決定", "報告", "提出", "議決", "可決", "採決", "審査", "審議", "専決処分", "終了", "上程", "議題",
})
_NOUNISH = ("名詞", "接尾辞", "接頭辞")
_ASCII_WORD = re.compile(r"[a-z0-9][a-z0-9.\-]*", re.I)
_WAY = ("方",)  # 働き方改革: a verb's stem + 方 is a noun, part of the compound
# a na-adjective written in kanji or katakana (特別職, スマートシティ) belongs to the compound it starts; one in
# hiragana (きれい, 大きな) does not
_COMPOUNDING = re.compile(r"^[\u4e00-\u9fff\u30a0-\u30ffa-z0-9]+$")

# Words council minutes write in more than one way for the same thing: loanword and native term (デジタルデバイド /
# デジタル格差), the official name and the everyday one (個人番号カード / マイナンバーカード), okurigana (引上げ /
# 引き上げ), kana or kanji (子ども / 子供). General council and local-government vocabulary, one group a line, each
# word interchangeable with the others of its group; not a list of the evaluation sets' topics. A topic word holding
# one of them (デジタルデバイド対策) is also found in a turn by the others (デジタル格差対策), and a group word the
# topic holds but the analyser split (デジタル + デバイド) is a word of the topic itself (TopicTerms.variants).
VARIANT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("デジタルデバイド", "デジタル・デバイド", "デジタル格差", "情報格差"),
    ("マイナンバーカード", "個人番号カード"),
    ("マイナ保険証", "マイナンバー保険証"),
    ("LGBT", "性的少数者", "性的マイノリティ"),
    ("物価高騰", "物価高", "物価上昇"),
    ("生成AI", "生成系AI", "生成型AI"),
    ("AI", "人工知能"),
    ("DX", "デジタルトランスフォーメーション", "デジタル・トランスフォーメーション"),
    ("ICT", "情報通信技術"),
    ("デジタル人材", "DX人材", "ICT人材", "IT人材"),
    ("電子申請", "オンライン申請"),
    ("SDGs", "持続可能な開発目標"),
    ("期末手当", "ボーナス"),
    ("行方不明", "所在不明"),
    ("障害者", "障がい者", "障碍者"),
    ("子ども", "子供", "こども"),
    ("空き家", "空家"),
    ("ごみ", "ゴミ"),
    ("引上げ", "引き上げ"),
    ("引下げ", "引き下げ"),
    ("取組", "取り組み", "取組み"),
    ("申込", "申し込み", "申込み"),
    ("見直し", "見直"),
)


@dataclass(frozen=True)
class TopicTerms:
    parts: tuple[str, ...]  # single nouns (normalised surface, ≥ 2 characters or ASCII), stop nouns left out
    compounds: tuple[str, ...]  # runs of nouns as written (マイナンバーカード, システム標準化), ≥ 2 characters
    # other spellings of a unit (VARIANT_GROUPS): デジタルデバイド対策 -> (デジタル格差対策, 情報格差対策, …)
    variants: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def units(self) -> tuple[str, ...]:
        return self.compounds + self.parts

    def spellings(self, unit: str) -> tuple[str, ...]:
        """The unit and its other spellings (VARIANT_GROUPS)."""
        for u, alts in self.variants:
            if u == unit:
                return (unit,) + alts
        return (unit,)

    def found(self, unit: str, text: str) -> bool:
        """Whether `text` (normalised) holds the unit in any of its spellings."""
        return any(s in text for s in self.spellings(unit))

    def count(self, unit: str, text: str) -> int:
        """How often `text` (normalised) names the unit, in any of its spellings (a spelling inside another counts
        once: 物価高 inside 物価高騰)."""
        n = 0
        for i, s in enumerate(self.spellings(unit)):
            n += text.count(s)
            for longer in self.spellings(unit)[:i] + self.spellings(unit)[i + 1:]:
                if s in longer and s != longer:
                    n -= text.count(longer)
        return max(n, 0)

    def coverage(self, text: str, weights: dict[str, float] | None = None, normalised: bool = False) -> float:
        """Share of the topic's words found in `text` (NFKC, lower case): a compound counts whole, or by the
        share of its parts found, at half weight. With `weights` (pool_weights), each word counts by its weight.
        `normalised`: the text is normalise()d already."""
        if not self.compounds and not self.parts:
            return 0.0
        t = text if normalised else normalise(text)
        w = weights or {}
        num = den = 0.0
        for c in self.compounds:
            wc = w.get(c, 1.0)
            den += wc
            if self.found(c, t):
                num += wc
                continue
            inner = [p for p in self.parts if p in c]
            total = sum(w.get(p, 1.0) for p in inner)
            if total > 0:
                num += 0.5 * wc * sum(w.get(p, 1.0) for p in inner if self.found(p, t)) / total
        for p in self.parts:
            if not any(p in c for c in self.compounds):
                den += w.get(p, 1.0)
                num += w.get(p, 1.0) if self.found(p, t) else 0.0
        return num / den if den > 0 else 0.0

    def index_weights(self, df: dict[str, int], n: int) -> dict[str, float]:
        """Each topic word's weight from how many of the index's `n` chunks hold it (`df`, per word: for a word the
        keyword analyser splits, its rarest token's count, an upper bound): ln((n + 1) / (df + 0.5)). Across the
        whole index, a compound is rarer than its parts and weighs more on its own; a common word (活用, システム,
        長崎市 in 長崎市's minutes) weighs little."""
        return {u: math.log((n + 1) / (df.get(u, 0) + 0.5)) for u in self.units}

    def mentions(self, text: str, weights: dict[str, float], floor: float, normalised: bool = False
                 ) -> tuple[bool, int]:
        """Whether `text` holds any of the topic's words, and how often it names the topic by a specific one (a word
        weighing at least `floor` and not a PROCEDURE_WORDS word: the most frequent such word's count). A turn that
        holds only the topic's common words (改正 and 条例 of 「手数料条例の改正」, found in every bill's title; 選任 of
        「監査委員の選任」, said of every appointment) is not thereby about it."""
        t = text if normalised else normalise(text)
        found = False
        most = 0
        for u in self.units:
            n = self.count(u, t)
            if n:
                found = True
                if self.specific(u, weights, floor):
                    most = max(most, n)
        return found, most

    def whole_words(self, weights: dict[str, float], floor: float) -> tuple[str, ...]:
        """The words that name the topic whole rather than by a fragment: its compounds (会計年度任用職員), the
        VARIANT_GROUPS words inside them (物価高騰 in 物価高騰対策) and its specific words that belong to no compound
        (クラウド of 「データセンター・クラウドへの移行」). Empty for a topic without compounds (「監査委員の選任」
        reads as 監査 and 選任: no fragment to tell from the whole)."""
        if not self.compounds:
            return ()
        grouped = [p for p in self.parts if any(p in c for c in self.compounds)
                   and any(g == p for g, _ in _variant_words(p))]
        alone = [p for p in self.parts if not any(p in c for c in self.compounds) and self.specific(p, weights, floor)]
        return tuple(dict.fromkeys(self.compounds + tuple(grouped) + tuple(alone)))

    def fragments_only(self, text: str, weights: dict[str, float], floor: float, normalised: bool = False) -> bool:
        """Whether `text` holds some of the topic's words but none whole (whole_words): 職員 and 会計 of
        「会計年度任用職員」 in a budget speech's 職員費 and 会計, 定額 of 「定額減税」 inside 既定額. Words are looked
        for across the minutes' line breaks (能登半島地震 written 「能\\n登半島地震」 in a PDF's text)."""
        whole = self.whole_words(weights, floor)
        if not whole:
            return False
        t = (text if normalised else normalise(text)).replace("\r", "").replace("\n", "")
        return any(self.found(u, t) for u in self.units) and not any(self.found(u, t) for u in whole)

    @staticmethod
    def specific(unit: str, weights: dict[str, float], floor: float) -> bool:
        """Whether a topic word tells turns apart: it weighs at least `floor` and names no step of procedure."""
        return weights.get(unit, 0.0) >= floor and unit not in PROCEDURE_WORDS

    def pool_weights(self, texts: list[str], normalised: bool = False) -> dict[str, float]:
        """Each topic word's weight from how many of `texts` (the topic's candidate turns) hold it: ln((N + 1) /
        (df + 0.5)). A word most candidates share (活用 in 「RPAの活用」, システム in 「システム標準化」 over minutes
        that are all about systems) says little about whether a turn is on the topic; a rare one (RPA) says much.
        Compounds weigh as much as the rarest word."""
        norm = texts if normalised else [normalise(x) for x in texts]
        n = len(norm)
        w = {u: math.log((n + 1) / (sum(self.found(u, x) for x in norm) + 0.5)) for u in self.units}
        # a compound is what the topic is about: it counts at least as much as any single word, however common it is
        # among candidates that were found by searching for it (in a large index, nearly all of them hold it)
        top = max(w.values(), default=0.0)
        for c in self.compounds:
            w[c] = top
        return w


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
    text = normalise(topic)
    for g, _ in _variant_words(text):
        # a group word the topic holds inside a compound (デジタルデバイド in デジタルデバイド対策, which the analyser
        # may also have split: デジタル + デバイド): a word of the topic in its own right
        if g not in parts and g not in compounds and g not in STOP_NOUNS and any(g in c for c in compounds):
            parts.append(g)
    variants = []
    for u in list(dict.fromkeys(compounds)) + list(dict.fromkeys(parts)):
        alts = [u.replace(g, o) for g, group in _variant_words(u) for o in group if o != g]
        alts = [a for a in dict.fromkeys(alts) if a != u]
        if alts:
            variants.append((u, tuple(alts)))
    return TopicTerms(tuple(dict.fromkeys(parts)), tuple(dict.fromkeys(compounds)), tuple(variants))


_VARIANTS = tuple(tuple(normalise(w) for w in group) for group in VARIANT_GROUPS)


def _variant_words(text: str) -> list[tuple[str, tuple[str, ...]]]:
    """The VARIANT_GROUPS words `text` (normalised) holds, each with its group: of a group, the longest word found (物価高騰,
    not 物価高 inside it); a word inside another group's word found there is left out (ai inside 生成ai)."""
    found = []
    for group in _VARIANTS:
        here = [g for g in group if g in text and (len(g) >= 2 or _ASCII_WORD.fullmatch(g))]
        if here:
            found.append((max(here, key=len), group))
    return [(g, grp) for g, grp in found if not any(g != h and g in h for h, _ in found)]
