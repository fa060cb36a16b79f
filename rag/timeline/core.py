"""Every turn on a topic, in date order: deep retrieval, a calibrated relevance cut, key sentences, the question
each reply answers, the turns around it, near-duplicates folded, grouped by meeting.

Recall first: the topic is searched deep (DEPTH chunks by embedding similarity and DEPTH by BM25, filters applied
before ranking, as everywhere in rag.store), every turn either search found is scored, and what is about the topic
is kept by a relevance cut measured on eval/timeline/ (see rag.evaluation.timeline and eval/timeline/README.md)
rather than by a top-k.

Relevance of a turn = its best sentence's score against the topic (the extractive answerer's own sentence scoring:
embedding similarity + the topic's character bigrams found + what the topic asks for) + W_COVER × the share of the
topic's words found in the turn under any of their spellings (rag.timeline.terms; each word weighted by its rarity
across the index, so that 活用 in 「RPAの活用」 counts for little) + W_KEYWORD × its BM25 score over the topic's best,
less a penalty for a turn that holds only the topic's common or procedural words, names it once in a long speech or
holds only fragments of its compounds in a long one (word_penalty), or lists the meeting's business
(listing_penalty). A turn is kept when its relevance reaches RELEVANCE_CUT (BROAD_CUT for a broader, less precise
list); an entry at or above EXCHANGE_FROM also brings in the other side of its exchange (the member's question it
answers, the officials' replies to it) when that reaches EXCHANGE_FLOOR: follow-ups rarely name the topic (follow_exchanges); and a committee's agenda item whose statements
are mostly such entries brings in its other statements (follow_agenda). Tried and measured without gain
(eval/timeline/README.md): a per-topic background level, gap detection, pseudo-relevance feedback, mean-centred
vectors, the question/answer partner's relevance as a score, filling every gap between two entries of a meeting,
and a logistic model over all of these.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from rag.answering.base import citation, standard_form
from rag.answering.extractive import _ASKING, ExtractiveAnswerer  # the answerer's sentence scoring, reused
from rag.indexing.tokens import bigrams, normalise, tokenize
from rag.language import is_english
from rag.records import Citation, Filters, Hit, Meeting, SpeakerKind, Turn
from rag.retrieval import RRF_K, english_terms
from rag.timeline.terms import TopicTerms, topic_terms

DEPTH = 200  # chunks taken from each of the dense and the keyword search
W_COVER = 0.08  # weight of the topic's words found in the turn (each by its rarity among the candidates)
W_KEYWORD = 0.03  # weight of the turn's BM25 score over the topic's best BM25 score
RELEVANCE_CUT = 0.905  # calibrated on eval/timeline/ (rag.evaluation.timeline sweeps it; eval/timeline/README.md)
BROAD_CUT = 0.87  # 「広めに探す」: more recall, less precision (same measurement)
MAX_QUOTES = 2  # key sentences quoted per turn
QUOTE_NEAR = 0.03  # a further key sentence must score within this of the turn's best one
QUESTION_LOOKBACK = 8  # turns searched back for the member's question a reply answers
NEIGHBOURS = 2  # turns listed either side of an entry
EXCHANGE_FROM = 0.955  # an entry this relevant brings in its exchange partners (the question it answers, its replies)
EXCHANGE_FLOOR = 0.80  # … when they are at least this relevant themselves (measured on eval/timeline/, like the cut)
EXCHANGE_REACH = 4  # turns looked at either side for a partner
# an agenda item (a bill under deliberation in committee) most of whose statements are clear entries is on the topic:
# its other questions and answers are too, though they rarely name it (follow_agenda)
AGENDA_SHARE = 0.4  # share of the item's statements (members' and officials' turns) at or above EXCHANGE_FROM
AGENDA_MIN = 3  # … and at least this many of them
AGENDA_REACH = 30  # turns looked at before the item's first and after its last clear entry
STATEMENT_LENGTH = 20  # characters: shorter turns (「賛成です。」) are not statements
# a committee deliberates one bill under one heading; a plenary's 質疑 on a bill asks of several subjects at once
_COMMITTEE = re.compile(r"委員会|分科会|審査会")
FOLD_COSINE = 0.95  # best quotes this close are compared as texts for near-duplicates
FOLD_JACCARD = 0.7  # share of character bigrams two turns must share to be folded into one entry
ANSWERING = (SpeakerKind.EXECUTIVE, SpeakerKind.SECRETARIAT)
ASKING_KINDS = (SpeakerKind.MEMBER, SpeakerKind.UNKNOWN, SpeakerKind.CHAIR)
# a sentence that only guides the reading of a bill (「議案書の４ページをお開き願います」「議案の朗読をいたさせます」)
# names the documents, not what they are about: it is never a turn's key sentence, and so never its relevance
_NAVIGATION = re.compile(r"お開き(?:願|くだ|いただ|を)|朗読")
NAVIGATION_PENALTY = 0.2
# a turn that holds only the topic's common words (each in more than GENERIC_SHARE of the index's chunks: 改正, 条例
# of 「手数料条例の改正」, found in every bill's title and in the chair's agenda calls) is not thereby about the topic:
# its relevance is lowered by GENERIC_PENALTY (a turn holding none of the topic's words is judged as before, by its
# sentences' similarity: the follow-ups of an exchange). Only with index-wide word weights (index_weights).
GENERIC_SHARE = 0.06
GENERIC_PENALTY = 0.08
# a long turn (a policy speech, a many-bill explanation: over PASSING_LENGTH characters) that names the topic by its
# specific words only once mentions it in passing: its relevance is lowered by PASSING_PENALTY
PASSING_LENGTH = 5000
PASSING_PENALTY = 0.05
# a long turn (a budget speech, a many-bill explanation: over FRAGMENT_LENGTH characters) that holds the topic's words
# only as fragments of its compounds — 職員 (職員費) and 会計 (特別会計) but never 会計年度任用職員, 定額 inside 既定額 —
# speaks of other business in the topic's vocabulary: its relevance is lowered by FRAGMENT_PENALTY
# (TopicTerms.fragments_only; a short turn is left to its sentences: follow-ups name the topic by a part)
FRAGMENT_LENGTH = 2500
FRAGMENT_PENALTY = 0.05
# a list of the meeting's business rather than a statement: the front matter of the minutes (議事日程, 出席議員,
# 会議に付した事件, 説明のため出席した者) and the chair's or secretariat's 諸般の報告 / 庶務報告 (documents received,
# reports filed) name every bill and report of the session; lowered by LISTING_PENALTY
_LISTING = re.compile(r"議事日程|出席議員|会議に付した事件|付議(?:案件|事件)|説明のため(?:会議に)?出席した者|諸般の報告|庶務報告")
LISTING_KINDS = (SpeakerKind.UNKNOWN, SpeakerKind.CHAIR, SpeakerKind.SECRETARIAT)
LISTING_PENALTY = 0.1


@dataclass
class QuestionRef:
    """The member's question a reply answers: the turn and the asking sentence quoted from it."""

    key: str
    turn: Turn
    meeting: Meeting
    start: int
    end: int

    def citation(self, n: int = 0) -> Citation:
        return citation(n, Hit(self.key, self.turn, self.meeting, 0.0), self.start, self.end)


@dataclass
class Entry:
    """One statement on the topic: a turn, its key sentences and what surrounds it."""

    key: str
    turn: Turn
    meeting: Meeting
    relevance: float
    quotes: list[tuple[int, int]]  # (start, end) in turn.text, in text order
    quote_vectors: list[np.ndarray] = field(default_factory=list, repr=False)
    scored: list[Any] = field(default_factory=list, repr=False)  # the turn's sentences as scored, best first
    sentence_vectors: dict[tuple[int, int], np.ndarray] = field(default_factory=dict, repr=False)
    features: dict[str, float] = field(default_factory=dict)
    question: QuestionRef | None = None
    neighbours: list[tuple[str, int, str]] = field(default_factory=list)  # (turn key, order, speaker)
    folded: list[tuple[str, Turn, Meeting]] = field(default_factory=list)  # near-duplicates shown as this entry
    id: str = ""  # e1, e2 … in timeline order
    changes: list[str] = field(default_factory=list)  # ids of the changes this entry takes part in
    via: str | None = None  # kept as the exchange partner of this entry's turn (follow_exchanges), not by the cut
    partner_of: list[str] = field(default_factory=list)  # clear entries whose exchange this turn is in (entries_at)

    @property
    def hit(self) -> Hit:
        return Hit(self.key, self.turn, self.meeting, self.relevance)

    @property
    def date(self) -> str | None:
        return self.meeting.date

    def quote_text(self, i: int = 0) -> str:
        s, e = self.quotes[i]
        return self.turn.text[s:e]

    def citations(self) -> list[Citation]:
        return [citation(i + 1, self.hit, s, e) for i, (s, e) in enumerate(self.quotes)]


def sort_key(meeting: Meeting, order: int = 0) -> tuple:
    """Date order, undated meetings last; ties by body, meeting name, document, then turn order."""
    return (meeting.date is None, meeting.date or "", meeting.body or "", meeting.name or "", meeting.doc, meeting.id,
            order)


@dataclass
class Candidate:
    key: str
    turn: Turn
    meeting: Meeting
    fused: float = 0.0
    dense: float | None = None
    keyword: float | None = None
    chunk: tuple[int, int] = (0, 0)
    sentences: list[Any] = field(default_factory=list)  # the answerer's scored sentences, best first
    vectors: dict[tuple[int, int], np.ndarray] = field(default_factory=dict)
    cover: float = 0.0
    keyword_share: float = 0.0  # BM25 score over the best BM25 score among the topic's candidates
    penalty: float = 0.0  # only the topic's common words, or a passing mention in a long turn (word_penalty)

    @property
    def best(self) -> float:
        return self.sentences[0].score if self.sentences else (self.dense or 0.0)

    @property
    def relevance(self) -> float:
        return self.best + W_COVER * self.cover + W_KEYWORD * self.keyword_share - self.penalty


class Searcher:
    """Deep retrieval of a topic's candidate turns, each scored; shared by the timeline and similar questions."""

    def __init__(self, store, embed_query: Callable[[str], np.ndarray]):
        self.store = store
        self.embed_query = embed_query
        self.weights: dict[str, float] = {}  # the last topic's word weights over its candidates (terms.pool_weights)
        self.floor: float | None = None  # the weight below which a topic word is common (None: pool weights)

    def candidates(self, topic: str, filters: Filters | None, depth: int = DEPTH,
                   query_vector: np.ndarray | None = None, timings: dict[str, float] | None = None
                   ) -> tuple[list[Candidate], np.ndarray, TopicTerms]:
        timings = timings if timings is not None else {}
        t0 = time.perf_counter()
        qvec = query_vector if query_vector is not None else self.embed_query(topic)
        t1 = time.perf_counter()
        timings["embed"] = (t1 - t0) * 1000
        dense = self.store.search_dense(qvec, depth, filters)
        keyword_text = topic
        if is_english(topic):
            keyword_text = " ".join(english_terms(topic, self.store.facets()["bodies"]))
        keyword = self.store.search_keyword(tokenize(keyword_text, self.store.manifest.tokenizer), depth, filters) \
            if keyword_text else []
        t2 = time.perf_counter()
        timings["search"] = (t2 - t1) * 1000
        fused: dict[str, float] = {}
        best_chunk: dict[str, tuple[float, Any]] = {}
        dense_of = {c.key: s for c, s in dense}
        kw_of = {c.key: s for c, s in keyword}
        for ranking in (dense, keyword):
            for rank, (chunk, _) in enumerate(ranking):
                f = 1.0 / (RRF_K + rank + 1)
                fused[chunk.turn_key] = fused.get(chunk.turn_key, 0.0) + f
                if chunk.turn_key not in best_chunk or f > best_chunk[chunk.turn_key][0]:
                    best_chunk[chunk.turn_key] = (f, chunk)
        found = self.store.turns(list(fused))
        stored = self.store.sentences(list(found))
        t3 = time.perf_counter()
        timings["load"] = (t3 - t2) * 1000
        terms = topic_terms(topic)
        norm = {key: normalise(turn.text) for key, (turn, _) in found.items()}
        weighed = index_weights(self.store, terms)
        weights = weighed[0] if weighed else terms.pool_weights(list(norm.values()), normalised=True)
        self.weights = weights
        self.floor = common_floor(weighed[1]) if weighed else None
        cands = []
        for key, (turn, meeting) in found.items():
            chunk = best_chunk[key][1]
            c = Candidate(key, turn, meeting, fused[key], dense_of.get(chunk.key), kw_of.get(chunk.key),
                          (chunk.start, chunk.end))
            c.vectors = {(s, e): v for s, e, v in stored.get(key, [])}
            c.cover = terms.coverage(norm[key], weights, normalised=True)
            c.penalty = turn_penalty(terms, turn, norm[key], weights, self.floor)
            cands.append(c)
        top_keyword = max([c.keyword or 0.0 for c in cands] + [0.0])
        if top_keyword > 0:
            for c in cands:
                c.keyword_share = (c.keyword or 0.0) / top_keyword
        self.score(topic, cands, qvec, stored)
        timings["score"] = (time.perf_counter() - t3) * 1000
        cands.sort(key=lambda c: -c.relevance)
        return cands, qvec, terms

    def score(self, topic: str, cands: list[Candidate], qvec: np.ndarray,
              stored: dict[str, list[tuple[int, int, np.ndarray]]]) -> None:
        """Each candidate's sentences scored as the extractive answerer scores them against a question.

        The answerer trusts the retriever's order a little (a small penalty per rank); a timeline judges every turn
        on its own, so all turns are scored in one call and each turn's rank penalty is taken off again, measured
        by scoring the first two turns once in swapped order (no constant is copied from the answerer)."""
        memo: dict[str, np.ndarray] = {topic: qvec}

        def embed_once(text: str) -> np.ndarray:  # the scorer may embed the topic's focus: once, not per turn
            if text not in memo:
                memo[text] = self.embed_query(text)
            return memo[text]

        scorer = ExtractiveAnswerer(embed_once, lambda keys: {k: stored.get(k, []) for k in keys})
        english = is_english(topic)
        with_text = [c for c in cands if stored.get(c.key)]
        for c in cands:
            c.sentences = []
        if not with_text:
            return
        hits = [Hit(c.key, c.turn, c.meeting, c.fused, c.dense, c.keyword) for c in with_text]
        per_rank = 0.0
        if len(hits) >= 2:
            alone = scorer._score(topic, [hits[0]], qvec, [], english)
            second = scorer._score(topic, [hits[1], hits[0]], qvec, [], english)
            a = max(x.score for x in alone)
            b = max(x.score for x in second if x.hit.turn_key == hits[0].turn_key)
            per_rank = a - b
        by_key = {c.key: c for c in with_text}
        rank = {h.turn_key: i for i, h in enumerate(hits)}
        for x in scorer._score(topic, hits, qvec, [], english):  # best first
            x.score += per_rank * rank[x.hit.turn_key]
            by_key[x.hit.turn_key].sentences.append(x)
        for c in with_text:
            for x in c.sentences:
                if _NAVIGATION.search(c.turn.text[x.start:x.end]):
                    x.score -= NAVIGATION_PENALTY
            c.sentences.sort(key=lambda x: -x.score)


def common_floor(n: int) -> float:
    """The index weight (TopicTerms.index_weights) of a word found in GENERIC_SHARE of an index's `n` chunks: a
    topic word weighing less is common."""
    return math.log((n + 1) / (GENERIC_SHARE * n + 0.5))


def word_penalty(terms: TopicTerms, text: str, weights: dict[str, float], floor: float | None, length: int) -> float:
    """GENERIC_PENALTY for a turn (normalised `text`) that holds some of the topic's words but none weighing at least
    `floor` (a word of procedure such as 選任 never counts: terms.PROCEDURE_WORDS); PASSING_PENALTY for a turn longer
    than PASSING_LENGTH that names the topic by such a word only once, and FRAGMENT_PENALTY (added) for a turn longer
    than FRAGMENT_LENGTH that holds only fragments of the topic's compounds (TopicTerms.fragments_only); 0 otherwise,
    and always 0 without index-wide weights (`floor` None) or when no topic word is specific."""
    if floor is None or not any(terms.specific(u, weights, floor) for u in weights):
        return 0.0  # every topic word is common (「補正予算」 in a corpus of budgets): the words cannot tell turns apart
    found, specific = terms.mentions(text, weights, floor, normalised=True)
    if found and not specific:
        return GENERIC_PENALTY
    penalty = 0.0
    if specific == 1 and length > PASSING_LENGTH:
        penalty += PASSING_PENALTY
    if length > FRAGMENT_LENGTH and terms.fragments_only(text, weights, floor, normalised=True):
        penalty += FRAGMENT_PENALTY
    return penalty


def turn_penalty(terms: TopicTerms, turn: Turn, text: str, weights: dict[str, float], floor: float | None) -> float:
    """What a candidate turn's relevance is lowered by: word_penalty (its normalised `text`) + listing_penalty."""
    return word_penalty(terms, text, weights, floor, len(turn.text)) + listing_penalty(turn)


def listing_penalty(turn: Turn) -> float:
    """LISTING_PENALTY for a turn that lists the meeting's business (_LISTING, by the chair, the secretariat or an
    unlabelled speaker: the minutes' front matter), else 0."""
    return LISTING_PENALTY if turn.kind in LISTING_KINDS and _LISTING.search(turn.text) else 0.0


def index_weights(store, terms: TopicTerms) -> tuple[dict[str, float], int] | None:
    """The topic words' weights by their rarity across the whole index (store.keyword_df: each word's rarest keyword
    token, as the index tokenises it) and the index's chunk count; None for a store that cannot say or an empty index
    (the candidates' own counts are used then: TopicTerms.pool_weights)."""
    ask = getattr(store, "keyword_df", None)
    if ask is None or not terms.units:
        return None
    how = store.manifest.tokenizer
    tokens = {u: tokenize(u, how) for u in terms.units}
    df, n = ask(sorted({t for ts in tokens.values() for t in ts}))
    if not n:
        return None
    return terms.index_weights({u: min((df.get(t, 0) for t in ts), default=0) for u, ts in tokens.items()}, n), n


def key_quotes(c: Candidate) -> list[tuple[int, int]]:
    """The turn's best sentence and at most MAX_QUOTES - 1 more within QUOTE_NEAR of it; adjacent ones joined."""
    if not c.sentences:
        s, e = c.chunk
        return [(s, e)] if e > s else [(0, min(len(c.turn.text), 200))]
    best = c.sentences[0].score
    chosen = [(x.start, x.end) for x in c.sentences[:MAX_QUOTES] if x.score >= best - QUOTE_NEAR]
    chosen.sort()
    merged: list[tuple[int, int]] = []
    for s, e in chosen:
        if merged and not c.turn.text[merged[-1][1]:s].strip():
            merged[-1] = (merged[-1][0], e)
        else:
            merged.append((s, e))
    return merged


def question_turn(entry: Entry, rows: list[tuple[str, Turn, Meeting]]) -> tuple[str, Turn, Meeting] | None:
    """For a reply (an official's turn), the member's question it answers: the nearest turn before it, past the
    chair calling on the speaker and other officials' replies, by a member (or, in minutes that do not label
    speakers, a turn that asks)."""
    if entry.turn.kind not in ANSWERING and not (entry.turn.kind == SpeakerKind.UNKNOWN
                                                 and not _asks(entry.quote_text(0))):
        return None
    before = [r for r in rows if r[1].order < entry.turn.order]
    for key, turn, meeting in reversed(before):
        if turn.kind in ANSWERING or turn.procedural:
            continue  # another official answering the same question; the chair's procedure
        if turn.kind == SpeakerKind.CHAIR and not _asks(turn.text):
            continue  # 「市長」「総務部長」: the chair calling on the next speaker
        if turn.kind == SpeakerKind.UNKNOWN and not _asks(turn.text):
            return None
        return key, turn, meeting
    return None


def quote_question(entry: Entry, found: tuple[str, Turn, Meeting], stored, qvec: np.ndarray) -> QuestionRef | None:
    """The question's sentence closest to the reply's key sentence and the topic (one that asks, preferably)."""
    key, turn, meeting = found
    sents = stored.get(key, [])
    if not sents:
        return None
    target = entry.quote_vectors[0] if entry.quote_vectors else qvec
    vecs = np.vstack([v for _, _, v in sents])
    asking = np.array([0.02 if _asks(turn.text[s:e]) else 0.0 for s, e, _ in sents])
    i = int(np.argmax(vecs @ target + 0.5 * (vecs @ qvec) + asking))
    s, e, _ = sents[i]
    return QuestionRef(key, turn, meeting, s, e)


def around(store, entries: list[Entry], before: int, after: int) -> dict[str, list[tuple[str, Turn, Meeting]]]:
    """The turns around each entry in its meeting, fetched in one call: turn keys are "<meeting id>:<order>"
    (rag.indexing.prepare); an entry whose key is not of that form asks the store for its neighbours."""
    want: dict[str, list[str]] = {}
    out: dict[str, list[tuple[str, Turn, Meeting]]] = {}
    for e in entries:
        if e.key == f"{e.turn.meeting_id}:{e.turn.order}":
            want[e.key] = [f"{e.turn.meeting_id}:{o}" for o in range(max(1, e.turn.order - before),
                                                                     e.turn.order + after + 1)]
        else:
            out[e.key] = store.neighbours(e.key, before, after)
    found = store.turns(sorted({k for ks in want.values() for k in ks}))
    for key, ks in want.items():
        out[key] = [(k, *found[k]) for k in ks if k in found]
    return out


def _asks(text: str) -> bool:
    return bool(_ASKING.search(text)) or "尋ね" in text or "伺" in text or "？" in text or "?" in text


def fold_duplicates(entries: list[Entry]) -> list[Entry]:
    """Fold near-duplicate statements (the same words in two documents, a repeated reading) into the first one said;
    the folded turns stay listed under it."""
    if len(entries) < 2:
        return entries
    entries = sorted(entries, key=lambda e: sort_key(e.meeting, e.turn.order))
    vecs = np.vstack([e.quote_vectors[0] if e.quote_vectors else np.zeros_like(_first_vec(entries))
                      for e in entries])
    sims = vecs @ vecs.T
    grams: dict[int, set[str]] = {}

    def g(i: int) -> set[str]:
        if i not in grams:
            grams[i] = set(bigrams(entries[i].turn.text[:2000]))
        return grams[i]

    gone: set[int] = set()
    for i in range(len(entries)):
        if i in gone:
            continue
        for j in np.nonzero(sims[i, i + 1:] >= FOLD_COSINE)[0] + i + 1:
            j = int(j)
            if j in gone:
                continue
            a, b = g(i), g(j)
            if a and b and len(a & b) / len(a | b) >= FOLD_JACCARD:
                entries[i].folded.append((entries[j].key, entries[j].turn, entries[j].meeting))
                entries[i].folded.extend(entries[j].folded)
                gone.add(j)
    return [e for k, e in enumerate(entries) if k not in gone]


def _first_vec(entries: list[Entry]) -> np.ndarray:
    for e in entries:
        if e.quote_vectors:
            return e.quote_vectors[0]
    return np.zeros(1, dtype=np.float32)


def _exchange_partners(turn: Turn, rows: dict[int, tuple[str, Turn, Meeting]]) -> list[tuple[str, Turn, Meeting]]:
    """The other side of a turn's exchange in its meeting: for an official's reply, the member's question before it
    (past the chair calling on speakers and other officials' replies to the same question); for a member's
    question, the officials' replies after it up to the next member's turn."""
    out = []
    if turn.kind in ANSWERING:
        for o in range(turn.order - 1, turn.order - EXCHANGE_REACH - 1, -1):
            r = rows.get(o)
            if r is None:
                break
            t = r[1]
            if t.kind in ANSWERING or t.kind == SpeakerKind.CHAIR or t.procedural:
                continue
            out.append(r)
            break
    elif turn.kind in (SpeakerKind.MEMBER, SpeakerKind.UNKNOWN):
        for o in range(turn.order + 1, turn.order + EXCHANGE_REACH + 1):
            r = rows.get(o)
            if r is None:
                break
            t = r[1]
            if t.kind == SpeakerKind.CHAIR or t.procedural:
                continue
            if t.kind not in ANSWERING:
                break
            out.append(r)
    return out


def _turn_within(filters: Filters | None, turn: Turn) -> bool:
    """The turn-level filters (kind, speaker, agenda); a partner shares its meeting with an entry, so the meeting-level
    ones (body, meeting, dates, document) hold already."""
    if filters is None:
        return True
    if filters.kinds and turn.kind.value not in filters.kinds:
        return False
    if filters.speaker:
        want = filters.speaker.replace(" ", "").replace("\u3000", "").casefold()
        name = (turn.speaker_name or "").replace(" ", "").replace("\u3000", "").casefold()
        if want not in name and filters.speaker.casefold() not in turn.speaker.casefold():
            return False
    if filters.agenda and filters.agenda.casefold() not in (turn.agenda or "").casefold():
        return False
    return True


def follow_exchanges(searcher: Searcher, topic: str, filters: Filters | None, kept: list[Candidate],
                     cands: list[Candidate], qvec: np.ndarray, terms: TopicTerms) -> list[tuple[Candidate, str]]:
    """The exchanges the clearest entries belong to: a member's follow-up or an official's reply often never names
    the topic (「iPhoneについてはまだ使えないという認識でよろしいでしょうか」 in an exchange on マイナンバーカード), yet
    is on it. For each entry at or above EXCHANGE_FROM, its exchange partners (_exchange_partners) at or above
    EXCHANGE_FLOOR are added (each with the key of the entry that brought it in); a partner the deep search did not
    find is loaded and scored as candidates are."""
    strong = [c for c in kept if c.relevance >= EXCHANGE_FROM]
    if not strong:
        return []
    store = searcher.store
    by_key = {c.key: c for c in cands}
    have = {c.key for c in kept}
    want: dict[str, list[str]] = {}
    rows_of: dict[str, dict[int, tuple[str, Turn, Meeting]]] = {}
    for c in strong:
        if c.key == f"{c.turn.meeting_id}:{c.turn.order}":
            want[c.key] = [f"{c.turn.meeting_id}:{o}" for o in range(max(1, c.turn.order - EXCHANGE_REACH),
                                                                     c.turn.order + EXCHANGE_REACH + 1)]
        else:
            rows_of[c.key] = {t.order: (k, t, m) for k, t, m in store.neighbours(c.key, EXCHANGE_REACH,
                                                                                   EXCHANGE_REACH)}
    found = store.turns(sorted({k for ks in want.values() for k in ks} - set(by_key)))
    for key, ks in want.items():
        rows = {}
        for k in ks:
            if k in by_key:
                rows[by_key[k].turn.order] = (k, by_key[k].turn, by_key[k].meeting)
            elif k in found:
                rows[found[k][0].order] = (k, *found[k])
        rows_of[key] = rows
    partners: dict[str, tuple[str, Turn, Meeting]] = {}
    via: dict[str, list[str]] = {}
    for c in strong:
        for r in _exchange_partners(c.turn, rows_of[c.key]):
            if r[0] != c.key and _turn_within(filters, r[1]):
                partners.setdefault(r[0], r)
                via.setdefault(r[0], []).append(c.key)
    fresh = [Candidate(k, t, m) for k, (_, t, m) in partners.items() if k not in by_key]
    _score_fresh(searcher, topic, fresh, qvec, terms)
    scored = [by_key[k] for k in partners if k in by_key] + fresh
    return [(c, via[c.key]) for c in scored if c.relevance >= EXCHANGE_FLOOR and not c.turn.procedural]


def _score_fresh(searcher: Searcher, topic: str, fresh: list[Candidate], qvec: np.ndarray, terms: TopicTerms) -> None:
    """Turns the deep search did not find, loaded and scored as candidates are."""
    if not fresh:
        return
    stored = searcher.store.sentences([c.key for c in fresh])
    for c in fresh:
        c.vectors = {(s, e): v for s, e, v in stored.get(c.key, [])}
        c.cover = terms.coverage(c.turn.text, searcher.weights)
        c.penalty = turn_penalty(terms, c.turn, normalise(c.turn.text), searcher.weights, searcher.floor)
    searcher.score(topic, fresh, qvec, stored)


def _statement(turn: Turn) -> bool:
    return turn.kind in (SpeakerKind.MEMBER, *ANSWERING) and not turn.procedural \
        and len(turn.text.strip()) >= STATEMENT_LENGTH


def follow_agenda(searcher: Searcher, topic: str, filters: Filters | None, kept: list[Candidate],
                  cands: list[Candidate], qvec: np.ndarray, terms: TopicTerms) -> list[tuple[Candidate, list[str]]]:
    """The rest of an agenda item that is about the topic: in a committee's deliberation of a bill (品川区's 区民委員会
    on 第１１号議案, where the questions on the bill move from マイナンバーカード's safety to which phones can read it),
    the follow-ups never name the topic. When at least AGENDA_MIN of an item's statements (members' and officials'
    turns of STATEMENT_LENGTH or more, in one meeting under one agenda heading) are clear entries (at or above
    EXCHANGE_FROM) and they make up AGENDA_SHARE of its statements, its other statements at or above EXCHANGE_FLOOR
    are added (each with the keys of the item's clear entries). Items the minutes do not mark (no agenda) are left."""
    groups: dict[tuple[str, str], list[Candidate]] = {}
    for c in kept:
        if c.relevance >= EXCHANGE_FROM and c.turn.agenda and _COMMITTEE.search(c.meeting.name or "") \
                and c.key == f"{c.turn.meeting_id}:{c.turn.order}":
            groups.setdefault((c.turn.meeting_id, c.turn.agenda), []).append(c)
    groups = {k: v for k, v in groups.items() if len(v) >= AGENDA_MIN}
    if not groups:
        return []
    by_key = {c.key: c for c in cands}
    want = {f"{mid}:{o}" for (mid, _), cs in groups.items()
            for o in range(max(1, min(c.turn.order for c in cs) - AGENDA_REACH),
                           max(c.turn.order for c in cs) + AGENDA_REACH + 1)}
    found = searcher.store.turns(sorted(want - set(by_key)))
    rows = {k: (by_key[k].turn, by_key[k].meeting) if k in by_key else found[k] for k in want
            if k in by_key or k in found}
    out: dict[str, tuple[str, Turn, Meeting]] = {}
    via: dict[str, list[str]] = {}
    for (mid, agenda), cs in groups.items():
        clear = {c.key for c in cs}
        statements = [(k, t, m) for k, (t, m) in rows.items()
                      if t.meeting_id == mid and t.agenda == agenda and _statement(t)]
        if not statements or sum(k in clear for k, _, _ in statements) < AGENDA_SHARE * len(statements):
            continue
        for k, t, m in statements:
            if k not in clear and _turn_within(filters, t):
                out.setdefault(k, (k, t, m))
                via.setdefault(k, []).extend(sorted(clear))
    fresh = [Candidate(k, t, m) for k, (_, t, m) in out.items() if k not in by_key]
    _score_fresh(searcher, topic, fresh, qvec, terms)
    scored = [by_key[k] for k in out if k in by_key] + fresh
    return [(c, via[c.key]) for c in scored if c.relevance >= EXCHANGE_FLOOR]


def entries_at(entries: list[Entry], cut: float) -> list[Entry]:
    """The entries a timeline built at a lower cut would list at `cut`: those at or above it, and the exchange
    partners (at or above EXCHANGE_FLOOR) of the entries still at or above max(cut, EXCHANGE_FROM). The evaluation's
    cut sweep replays cuts this way from one timeline (folding is left as it was at the lower cut)."""
    rel: dict[str, float] = {}
    for e in entries:
        rel[e.key] = e.relevance
        for k, _, _ in e.folded:
            rel.setdefault(k, e.relevance)
    strong = max(cut, EXCHANGE_FROM)
    out = []
    for e in entries:
        if e.relevance >= cut and not (e.turn.procedural and e.relevance < cut + 0.05):
            out.append(e)
        elif e.relevance >= EXCHANGE_FLOOR and not e.turn.procedural \
                and any(rel.get(k, 0.0) >= strong for k in e.partner_of):
            out.append(e)
    return out


def build_entries(searcher: Searcher, topic: str, filters: Filters | None, cut: float, depth: int,
                  query_vector: np.ndarray | None, timings: dict[str, float], exchanges: bool = True
                  ) -> tuple[list[Entry], list[Candidate], np.ndarray, TopicTerms]:
    cands, qvec, terms = searcher.candidates(topic, filters, depth, query_vector, timings)
    t0 = time.perf_counter()
    kept = [c for c in cands if c.relevance >= cut and not (c.turn.procedural and c.relevance < cut + 0.05)]
    via: dict[str, list[str]] = {}
    if exchanges:
        have = {c.key for c in kept}
        for c, sources in follow_exchanges(searcher, topic, filters, kept, cands, qvec, terms):
            via[c.key] = sources
            if c.key not in have:
                kept.append(c)
                have.add(c.key)
        for c, sources in follow_agenda(searcher, topic, filters, kept, cands, qvec, terms):
            via.setdefault(c.key, []).extend(k for k in sources if k not in via.get(c.key, []))
            if c.key not in have:
                kept.append(c)
                have.add(c.key)
    entries = []
    for c in kept:
        quotes = key_quotes(c)
        vec = [c.vectors[(c.sentences[0].start, c.sentences[0].end)]] if c.sentences else []
        entries.append(Entry(c.key, c.turn, c.meeting, round(c.relevance, 4), quotes, vec, c.sentences, c.vectors,
                             {"sentence": round(c.best, 4), "cover": round(c.cover, 3),
                              "dense": round(c.dense, 4) if c.dense is not None else None,
                              "keyword": round(c.keyword, 3) if c.keyword is not None else None,
                              "penalty": c.penalty},
                             via=via[c.key][0] if c.key in via and c.relevance < cut else None,
                             partner_of=via.get(c.key, [])))
    entries = fold_duplicates(entries)
    timings["select"] = (time.perf_counter() - t0) * 1000
    t1 = time.perf_counter()
    store = searcher.store
    rows_of = around(store, entries, QUESTION_LOOKBACK, NEIGHBOURS)
    asked = {e.key: question_turn(e, rows_of[e.key]) for e in entries}
    wanted = sorted({q[0] for q in asked.values() if q is not None})
    stored = store.sentences(wanted) if wanted else {}
    for e in entries:
        rows = rows_of[e.key]
        e.neighbours = [(k, t.order, t.speaker) for k, t, _ in rows
                        if k != e.key and abs(t.order - e.turn.order) <= NEIGHBOURS]
        q = asked[e.key]
        e.question = quote_question(e, q, stored, qvec) if q is not None else None
    timings["context"] = (time.perf_counter() - t1) * 1000
    entries.sort(key=lambda e: sort_key(e.meeting, e.turn.order))
    for i, e in enumerate(entries, 1):
        e.id = f"e{i}"
    return entries, cands, qvec, terms


def entry_dict(e: Entry) -> dict[str, Any]:
    """An entry as `timeline --json` prints it (documented in rag.timeline)."""
    t, m = e.turn, e.meeting
    cites = e.citations()
    out: dict[str, Any] = {
        "id": e.id, "turn_key": e.key, "doc": m.doc, "source": t.url or m.source, "body": m.body,
        "meeting": m.name, "date": m.date, "agenda": t.agenda, "speaker": t.speaker, "speaker_name": t.speaker_name,
        "speaker_role": t.speaker_role, "speaker_kind": t.kind.value, "turn": t.order, "url": t.url,
        "relevance": e.relevance,
        "quotes": [{"quote": c.quote, "quote_start": c.quote_start, "quote_end": c.quote_end, "start": c.start,
                    "end": c.end, "standard_form": standard_form(c)} for c in cites],
        "question_turn": None,
        "neighbours": [{"turn_key": k, "turn": o, "speaker": s} for k, o, s in e.neighbours],
        "folded": [{"turn_key": k, "doc": fm.doc, "body": fm.body, "meeting": fm.name, "date": fm.date,
                    "speaker": ft.speaker, "turn": ft.order} for k, ft, fm in e.folded],
        "changes": list(e.changes),
        "exchange_of": e.via,
    }
    if e.question is not None:
        q = e.question.citation()
        out["question_turn"] = {"turn_key": e.question.key, "speaker": q.speaker, "speaker_kind": q.speaker_kind,
                                "turn": q.turn, "quote": q.quote, "quote_start": q.quote_start,
                                "quote_end": q.quote_end, "standard_form": standard_form(q)}
    return out
