"""store -> retrieval: hybrid dense + keyword search over chunks, returned as turns.

Filters travel to the store, which applies them before ranking (the local store restricts FAISS
with an ID selector and BM25 with a weight mask): a filtered search never loses results to a
top-k cut taken before filtering.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import cached_property
from typing import Any

import numpy as np

from rag.config import RETRIEVAL_MODES
from rag.english import council_terms, place_stem, places_named, speakers_named
from rag.indexing.tokens import tokenize
from rag.language import asks_outcome, asks_procedure, declares_outcome, is_english, officers_elected_by, proper_nouns
from rag.parsing.dates import kanji_number
from rag.parsing.metadata import find_body
from rag.records import Filters, Hit, Meeting, SpeakerKind, Turn
from rag.store.base import Store

RRF_K = 60  # reciprocal rank fusion constant (Cormack et al. 2009)
PROCEDURAL_WEIGHT = 0.5  # a chair calling the next speaker should not crowd out answers (unless asked about)
OUTCOME_FROM = 3  # how an item ended is looked up after this many of the best turns
OUTCOME_WITHIN = 8  # turns after one of them, on the same agenda item
# 「議案第38号はどうなったか」「市第54号議案の採決結果は」: the chair's declaration for that item, looked up by its number across
# the meetings of the best turns (the vote is often far from the debate: after a committee's review, at the day's end)
ITEM_FROM = 3  # the meetings of this many of the best turns
_ITEM_NAMED = re.compile(r"(?P<kind>市|議案|承認|請願|陳情|報告|諮問|同意|認定|発議|意見書案|議員提出議案)第(?P<n>[0-9０-９一二三四五六七八九十百]+)号"
                         r"|第(?P<n2>[0-9０-９一二三四五六七八九十百]+)号議案")
_ASKS_END = re.compile(r"どうなっ|どう(?:扱|処理|決|採決)|どのように(?:扱|処理|決)|採決(?:の)?結果|可決|否決|承認され|同意され|認定され|"
                       r"採択され|決着|結果")
# 「第11号議案に反対した委員は、どのような理由を挙げたか」: the members' statements of their stance on that item (討論,
# 「…ので、反対いたします」), between the chair putting it up and the vote, in the meetings of the best turns
_ASKS_STANCE = re.compile(r"(?P<side>反対|賛成)(?:し(?:た|ている)|の(?:理由|立場|意見)|討論|を表明)")
_STATES_STANCE = {side: re.compile(rf"{side}(?:いた)?します|{side}(?:で(?:あり|ござい)ます|です)|{side}の立場|{side}討論")
                  for side in ("反対", "賛成")}
# 「委員長に選ばれたのは誰か」: the chair's declaration of who was elected to that post (「石田秀男委員が委員長に当選
# されました」), which shares few words with the question, looked up in the meetings of the best turns
_ASKS_ELECTED = re.compile(r"(?P<post>(?:副|臨時)?(?:委員長|議長|理事|会長|座長))(?:に|には|として)?(?:は)?(?:誰が|どなたが)?"
                           r"(?:選ばれ|選出され|選任され|決まっ|決定し|就任し|当選し|互選され)")
_ASKS_PERSON = re.compile(r"誰|どなた|だれ")
_ELECTED = re.compile(r"当選され|当選と決|選任(?:する)?ことに決定|選任されました|選出されました|就任することに決定")
# a body the question names (墨田区の…, Hakodate's…, 参議院の…): a dense search inside it is fused as one more
# ranking, so its turns rise without the others being cut (a body the minutes do not state stays findable)
NAMED_BODY_WEIGHT = 1.0
NAMED_BODIES_MAX = 2
# a speaker the question names (member Kawabata, vice mayor Okubo; 永井理事は…, 窪田哲也議員が…): the same, inside their
# turns (an English question's cross-lingual ranking needs it more; a Japanese one at 2 left dev unchanged and lost
# 2 of 109 first hits on the frozen split, 2026-12-01)
NAMED_SPEAKER_WEIGHT = 2.0
JA_SPEAKER_WEIGHT = 1.0
NAMED_SPEAKERS_MAX = 3
# a member's question that matches is answered in the official's next turn, which often shares few of its words
# (「170局程度と認識している」 for 「郵便局数を尋ねる」): that reply is ranked on a share of the question's score
REPLY_FROM = 5  # the best turns whose replies are looked up
REPLY_WITHIN = 3  # turns after the question (the chair calling on the official between)
REPLY_SHARE = 0.95
# the keyword search runs beside the query embedding and the dense search, and the searches inside a named body or
# speaker beside the main one (all release the GIL: FAISS, the compiled BM25 scorer, ONNX Runtime): a hybrid search
# takes about the longest of them on two cores, not their sum
_SEARCHES = ThreadPoolExecutor(max_workers=4, thread_name_prefix="search")


def english_terms(question: str, bodies: list[str]) -> list[str]:
    """The Japanese an English question stands for: the places it names among `bodies`, and council terms."""
    return [place_stem(b) for b in places_named(question, bodies)] + council_terms(question)


class Retriever:
    def __init__(self, store: Store, embedder, mode: str = "hybrid", keyword_weight: float = 1.0,
                 english_keyword_weight: float = 0.2):
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"retrieval mode must be one of {RETRIEVAL_MODES}")
        self.store = store
        self.embedder = embedder
        self.mode = mode
        self.keyword_weight = keyword_weight  # of BM25's ranks against the dense ranks
        self.english_keyword_weight = english_keyword_weight  # a translation is weaker evidence than the words
        self._body_names: list[str] | None = None
        self._speaker_names: list[str] | None = None

    def search(self, query: str, k: int = 5, filters: Filters | None = None, mode: str | None = None,
               query_vector: np.ndarray | None = None) -> list[Hit]:
        mode = mode or self.mode
        candidates = max(50, 10 * k)
        qvec = None
        dense = []
        keyword_text, weight = query, self.keyword_weight
        if is_english(query):  # its words cannot match Japanese minutes: search the Japanese it stands for
            weight = self.english_keyword_weight
            keyword_text = " ".join(english_terms(query, self._bodies()))
            if mode == "keyword":  # asked for on purpose (RPA, e-Stat): the words themselves too
                keyword_text = f"{query} {keyword_text}"
            elif not keyword_text:
                mode = "dense"
        pending = None
        if mode in ("hybrid", "keyword") and keyword_text:  # on the other core while the dense search runs
            pending = _SEARCHES.submit(self.store.search_keyword,
                                             tokenize(keyword_text, self.store.manifest.tokenizer), candidates,
                                             filters)
        rankings = []
        if mode in ("hybrid", "dense"):
            qvec = query_vector if query_vector is not None else self.embedder.embed_query(query)
            named = self.bodies_named(query)[:NAMED_BODIES_MAX] if not (filters and filters.body) else []
            scoped = [(_SEARCHES.submit(self.store.search_dense, qvec, candidates,
                                        replace(filters, body=body) if filters else Filters(body=body)),
                       NAMED_BODY_WEIGHT, True) for body in named]
            if NAMED_SPEAKER_WEIGHT > 0 and not (filters and filters.speaker):
                scoped += [(_SEARCHES.submit(self.store.search_dense, qvec, candidates,
                                             replace(filters, speaker=name) if filters else Filters(speaker=name)),
                            NAMED_SPEAKER_WEIGHT if is_english(query) else JA_SPEAKER_WEIGHT, False)
                           for name in self.speakers_named(query)[:NAMED_SPEAKERS_MAX]]
            dense = self.store.search_dense(qvec, candidates, filters)
            unknown = []
            # turns of meetings whose body the minutes do not state may be the body's too (not for an English
            # question: its cross-lingual similarities are too flat to rank them against the named body's turns)
            if named and not is_english(query):
                read = self.store.turns(list(dict.fromkeys(c.turn_key for c, _ in dense)))
                unknown = [(c, s) for c, s in dense if c.turn_key in read and not read[c.turn_key][1].body]
            for search, w, in_body in scoped:
                ranking = search.result()
                rankings.append((sorted(ranking + unknown, key=lambda cs: -cs[1]) if in_body else ranking, w))
        keyword = pending.result() if pending is not None else []

        fused: dict[str, float] = {}
        chunks = {}
        for ranking, w in ((dense, 1.0), (keyword, weight), *rankings):
            for rank, (chunk, _) in enumerate(ranking):
                fused[chunk.key] = fused.get(chunk.key, 0.0) + w / (RRF_K + rank + 1)
                chunks[chunk.key] = chunk
        dense_of = {c.key: s for c, s in dense}
        kw_of = {c.key: s for c, s in keyword}

        best: dict[str, tuple[float, str]] = {}  # turn key -> (score, chunk key)
        for ck, score in fused.items():
            tk = chunks[ck].turn_key
            if tk not in best or score > best[tk][0]:
                best[tk] = (score, ck)
        # turns are read best first, a few at a time, until no unread turn can enter the top k (a turn's score
        # only falls when it is read: procedure is weighed down); reading all ~100 candidates cost ~10 ms a search
        ranked = sorted(best.items(), key=lambda kv: -kv[1][0])  # stable: ties keep the fused order
        hits: list[Hit] = []
        procedure_question = asks_procedure(query)
        step = max(2 * k, 10)
        for at in range(0, len(ranked), step):
            part = ranked[at:at + step]
            turns = self.store.turns([tk for tk, _ in part])
            missing_dense = [ck for _, (_, ck) in part if ck not in dense_of] if qvec is not None else []
            if missing_dense:  # keyword-only chunks: their dense score too, for the answerer's evidence
                dense_of.update(zip(missing_dense,
                                    (float(v @ qvec) for v in self.store.chunk_vectors(missing_dense))))
            for turn_key, (score, ck) in part:
                if turn_key not in turns:
                    continue
                turn, meeting = turns[turn_key]
                if turn.procedural and not procedure_question:
                    score *= PROCEDURAL_WEIGHT
                chunk = chunks[ck]
                hits.append(Hit(turn_key, turn, meeting, score, dense_of.get(ck), kw_of.get(ck), chunk.start,
                                chunk.end))
            hits.sort(key=lambda h: -h.score)
            unread = ranked[at + step][1][0] if at + step < len(ranked) else None
            if unread is None or (len(hits) >= k and hits[k - 1].score > unread):
                break
        if REPLY_SHARE > 0 and not (filters and (filters.speaker or filters.kind)):
            hits = self._with_replies(hits)
        if procedure_question and asks_outcome(query) and not (filters and (filters.speaker or filters.kind)):
            hits = self._with_outcomes(hits)
        items = items_named(query)
        if items and _ASKS_END.search(query) and not (filters and (filters.speaker or filters.kind)):
            hits = self._with_item_outcomes(hits, items)
        stance = _ASKS_STANCE.search(query)
        if items and stance and not (filters and (filters.speaker or filters.kind)):
            hits = self._with_item_stances(hits, items, stance.group("side"))
        elected = _ASKS_ELECTED.search(query)
        if elected and _ASKS_PERSON.search(query) and not (filters and (filters.speaker or filters.kind)):
            hits = self._with_election(hits, elected.group("post"), officers_elected_by(query))
        return hits[:k]

    def _item_meetings(self, hits: list[Hit], items: list[re.Pattern[str]]):
        """For each meeting of the best turns: its turns, and the positions of the chair turns naming the items."""
        seen: set[str] = set()
        for h in hits[:ITEM_FROM]:
            if h.meeting.id in seen:
                continue
            seen.add(h.meeting.id)
            turns = self.context(h.turn_key, before=100_000, after=100_000)
            yield turns, [i for i, (_, t, _) in enumerate(turns)
                          if t.kind is SpeakerKind.CHAIR and any(p.search(_numbers(t.text)) for p in items)]

    def _with_item_stances(self, hits: list[Hit], items: list[re.Pattern[str]], side: str) -> list[Hit]:
        """The members' turns stating `side` (反対/賛成) on a numbered item first, in the order they spoke: in the
        meetings of the best turns, between the first and the last chair turn naming the item."""
        for turns, naming in self._item_meetings(hits, items):
            if len(naming) >= 2:
                stated = [turns[j] for j in range(naming[0] + 1, naming[-1])
                          if turns[j][1].kind is SpeakerKind.MEMBER and _STATES_STANCE[side].search(turns[j][1].text)]
                if stated:
                    return _first(stated, hits)
        return hits

    def _with_election(self, hits: list[Hit], post: str, committees: list[str]) -> list[Hit]:
        """The chair's turn declaring who was elected to `post` first: in the best turn's meeting (a committee elects
        its own chair: another committee's meeting near the top declares another post), when it is the committee the
        question names if it names one, the first chair turn with a sentence naming the post (not 副委員長 for 委員長)
        and an election (当選されました, 選任することに決定…)."""
        if not hits or (committees and not any(c in (hits[0].meeting.name or "") for c in committees)):
            return hits
        names_post = re.compile(rf"(?<![副臨時]){post}")
        for found in self.context(hits[0].turn_key, before=100_000, after=100_000):
            if found[1].kind is SpeakerKind.CHAIR and any(names_post.search(s) and _ELECTED.search(s)
                                                           for s in re.split(r"(?<=。)", re.sub(r"\s", "", found[1].text))):
                return _first([found], hits)
        return hits

    def _with_item_outcomes(self, hits: list[Hit], items: list[re.Pattern[str]]) -> list[Hit]:
        """The chair's turn declaring how a numbered item ended, first: in the meetings of the best turns, the last chair
        turn naming the item (the one putting it to the vote), then the first declaration from it on."""
        for turns, naming in self._item_meetings(hits, items):
            for i in reversed(naming):
                declared = next((j for j in range(i, min(i + OUTCOME_WITHIN, len(turns)))
                                 if turns[j][1].kind is SpeakerKind.CHAIR and declares_outcome(turns[j][1].text)),
                                None)
                if declared is not None:
                    return _first([turns[declared]], hits)
        return hits

    def _with_replies(self, hits: list[Hit]) -> list[Hit]:
        """The official's reply to each of the best member turns (the next executive or secretariat turn before
        another member speaks), at REPLY_SHARE of the question's score when that is more than its own."""
        out = {h.turn_key: h for h in hits}
        for h in hits[:REPLY_FROM]:
            if h.turn.kind is not SpeakerKind.MEMBER:
                continue
            for key, turn, meeting in self.context(h.turn_key, before=0, after=REPLY_WITHIN)[1:]:
                if turn.kind is SpeakerKind.MEMBER:
                    break
                if turn.kind in (SpeakerKind.EXECUTIVE, SpeakerKind.SECRETARIAT) and not turn.procedural:
                    score = h.score * REPLY_SHARE
                    if key not in out or out[key].score < score:
                        old = out.get(key)
                        out[key] = Hit(key, turn, meeting, score, old and old.dense_score, old and old.keyword_score,
                                       old.piece_start if old else 0, old.piece_end if old else len(turn.text))
                    break
        return sorted(out.values(), key=lambda x: -x.score)

    def _with_outcomes(self, hits: list[Hit]) -> list[Hit]:
        """「…はどう決着したか」: the turn that declares how an item ended (「よって、本案は可決されました」) shares no
        words with the question; it follows the turns about the item. Put it right after the best of them."""
        out = list(hits)
        for h in hits[:OUTCOME_FROM]:
            for key, turn, meeting in self.context(h.turn_key, before=0, after=OUTCOME_WITHIN)[1:]:
                if h.turn.agenda and turn.agenda != h.turn.agenda:
                    break
                if turn.kind is SpeakerKind.CHAIR and declares_outcome(turn.text):  # (not the call to vote)
                    at = [o.turn_key for o in out].index(h.turn_key) + 1
                    if key not in [o.turn_key for o in out[:at + 1]]:
                        out = [o for o in out if o.turn_key != key]
                        out.insert(at, Hit(key, turn, meeting, h.score, None, None, 0, len(turn.text)))
                    break
        return out

    def bodies_named(self, query: str) -> list[str]:
        """What to restrict a search to for the bodies the question names, as substrings of the index's body names:
        Hakodate -> 函館 (函館市議会), 墨田区の… -> 墨田区 (墨田区議会), 参議院 -> 参議院. Only names some body of the index
        holds; none when the question names none."""
        bodies = self._bodies()
        if is_english(query):
            return list(dict.fromkeys(place_stem(b) for b in places_named(query, bodies)))
        said = [find_body(query) or ""] + [w for kind, w in proper_nouns(query) if kind == "place"]
        out = [n for n in dict.fromkeys(said) if len(n) >= 2 and any(n in b for b in bodies)]
        return [n for n in out if not any(n != o and n in o for o in out)]  # 墨田区議会 over 墨田区

    def speakers_named(self, query: str) -> list[str]:
        """The index's speakers the question names: in romaji (Kawabata -> 川端) or as Sudachi tags a person (永井理事は
        -> 永井, when some speaker's name holds it)."""
        if is_english(query):
            return speakers_named(query, self._speakers())
        if JA_SPEAKER_WEIGHT <= 0:
            return []
        persons = [w for kind, w in proper_nouns(query) if kind == "person" and len(w) >= 2]
        if not persons:
            return []
        return [p for p in dict.fromkeys(persons) if any(p in s for s in self._speakers_unspaced)]

    def _speakers(self) -> list[str]:
        if self._speaker_names is None:
            self._speaker_names = self.store.facets()["speakers"]
        return self._speaker_names

    @cached_property
    def _speakers_unspaced(self) -> list[str]:
        """The speakers' names without spaces (関谷 博 -> 関谷博), once per retriever."""
        return [re.sub(r"[\s\u3000]", "", s) for s in self._speakers()]

    def _bodies(self) -> list[str]:
        if self._body_names is None:
            self._body_names = self.store.facets()["bodies"]
        return self._body_names

    def context(self, turn_key: str, before: int = 2, after: int = 2):
        """The turns around a turn in the same meeting: [(turn_key, Turn, Meeting)] in order."""
        return self.store.neighbours(turn_key, before, after)


def _first(found: list[tuple[str, Turn, Meeting]], hits: list[Hit]) -> list[Hit]:
    """The turns found (key, turn, meeting) first, at the best hit's score, in their order; the other hits after."""
    keys = {key for key, _, _ in found}
    return [*(Hit(key, turn, meeting, hits[0].score, None, None, 0, len(turn.text)) for key, turn, meeting in found),
            *(o for o in hits if o.turn_key not in keys)]


def items_named(query: str) -> list[re.Pattern[str]]:
    """The numbered items a question names, as patterns over turn text with numbers normalised (_numbers)."""
    out = []
    for m in _ITEM_NAMED.finditer(_numbers(query)):
        if m.group("n2"):
            out.append(re.compile(rf"(?<![0-9])第{int(m.group('n2'))}号議案"))
        else:
            out.append(re.compile(rf"{m.group('kind')}第{int(m.group('n'))}号"))
    return out


def _numbers(text: str) -> str:
    """第３８号, 第三十八号 -> 第38号."""
    text = text.translate(str.maketrans("０１２３４５６７８９", "0123456789"))
    return re.sub(r"第([一二三四五六七八九十百]+)号", lambda m: f"第{kanji_number(m.group(1))}号", text)


def as_llama_index(retriever: Retriever, k: int = 5, filters: Filters | None = None) -> Any:
    """The same retriever as a llama-index BaseRetriever, returning NodeWithScore with turn metadata."""
    from llama_index.core.retrievers import BaseRetriever
    from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

    class MinutesRetriever(BaseRetriever):
        def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
            out = []
            for h in retriever.search(query_bundle.query_str, k=k, filters=filters):
                meta = {
                    "doc": h.meeting.doc, "source": h.meeting.source, "body": h.meeting.body,
                    "meeting": h.meeting.name, "date": h.meeting.date, "agenda": h.turn.agenda,
                    "speaker": h.turn.speaker, "speaker_name": h.turn.speaker_name,
                    "speaker_role": h.turn.speaker_role, "speaker_kind": h.turn.kind.value,
                    "turn": h.turn.order, "turn_key": h.turn_key,
                }
                node = TextNode(id_=f"turn-{h.turn_key}", text=h.turn.text, metadata=meta)
                out.append(NodeWithScore(node=node, score=h.score))
            return out

    return MinutesRetriever()
