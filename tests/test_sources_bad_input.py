"""Bad input: clear one-line SourceError; a folder source goes on and says what was skipped and why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rag.errors import SourceError
from rag.readers import read
from rag.records import ParsedDocument
from rag.sources import FolderSource, Skipped
from rag.sources.folder import parse_file as parse_path


def discover(paths):
    files, skipped = FolderSource(paths).files()
    return files, [(Path(s.where), s.reason) for s in skipped]


def parse_many(paths):
    """Every document of a folder source parsed, or (where, why) for what was skipped or failed."""
    for item in FolderSource(paths).documents():
        if isinstance(item, Skipped):
            yield item.where, item.reason
            continue
        try:
            yield read(item)
        except SourceError as e:
            yield item.origin, str(e)

FIX = Path(__file__).resolve().parent / "fixtures" / "parsing"


def _err(path: Path) -> str:
    with pytest.raises(SourceError) as e:
        parse_path(path)
    msg = str(e.value)
    assert msg and "\n" not in msg and path.name in msg
    return msg


def test_bad_inputs(tmp_path):
    (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 4)
    assert "binary" in _err(tmp_path / "bin.txt")
    (tmp_path / "empty.txt").write_bytes(b"")
    assert "empty" in _err(tmp_path / "empty.txt")
    (tmp_path / "blank.txt").write_text("  \n\n\u3000\n", encoding="utf-8")
    assert "no text" in _err(tmp_path / "blank.txt")
    (tmp_path / "broken.json").write_text('{"meetingRecord": [', encoding="utf-8")
    assert "broken JSON" in _err(tmp_path / "broken.json")
    (tmp_path / "other.json").write_text('{"hello": 1}', encoding="utf-8")
    assert "JSON without minutes" in _err(tmp_path / "other.json")
    (tmp_path / "bad.txt").write_bytes("委員:こんにちは".encode("utf-8") + b"\x81\xff\xfe\x80\xa0" * 40)
    assert "undecodable" in _err(tmp_path / "bad.txt")
    (tmp_path / "x.docx").write_bytes(b"PK\x03\x04 not supported")
    assert "unsupported" in _err(tmp_path / "x.docx")
    assert "no such file" in _err(tmp_path / "missing.txt")


def test_broken_sidecar(tmp_path):
    shutil.copy(FIX / "summary_colon.txt", tmp_path / "a.txt")
    (tmp_path / "a.meta.json").write_text("{not json", encoding="utf-8")
    assert "sidecar" in _err(tmp_path / "a.txt")


def test_discover_and_parse_many_go_on(tmp_path):
    sub = tmp_path / "sub" / "deeper"
    sub.mkdir(parents=True)
    shutil.copy(FIX / "summary_colon.txt", tmp_path / "good.txt")
    shutil.copy(FIX / "diet_speech.json", sub / "diet.json")
    shutil.copy(FIX / "minutes.html", sub / "page.html")
    (tmp_path / "good.meta.json").write_text(json.dumps({"body": "山田市"}), encoding="utf-8")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "broken.json").write_text("[1,", encoding="utf-8")
    (tmp_path / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    files, skipped = discover([tmp_path])
    names = sorted(p.name for p in files)
    assert names == ["broken.json", "diet.json", "good.txt", "page.html"]
    why = {p.name: r for p, r in skipped}
    assert "empty" in why["empty.txt"] and "unsupported" in why["image.png"]
    assert "good.meta.json" not in names
    out = list(parse_many([tmp_path, tmp_path / "nope"]))
    docs = [x for x in out if isinstance(x, ParsedDocument)]
    errs = {Path(p).name: r for p, r in (x for x in out if isinstance(x, tuple))}
    assert sorted(d.doc for d in docs) == ["diet.json", "good.txt", "page.html"]
    assert {"empty.txt", "image.png", "broken.json", "nope"} <= set(errs)
    assert "broken JSON" in errs["broken.json"]
    good = next(d for d in docs if d.doc == "good.txt")
    assert good.meetings[0].body == "山田市"


def test_sample_folder_discovery():
    root = Path(__file__).resolve().parent.parent / "corpus" / "sample"
    files, skipped = discover([root])
    assert sorted(p.name for p in files) == sorted(p.name for p in root.glob("*.txt"))
    assert all(not p.name.endswith(".meta.json") for p in files)
