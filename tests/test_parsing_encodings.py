"""Encodings (UTF-8 with/without BOM, CP932, EUC-JP) and CRLF, made from real minutes text."""

from __future__ import annotations

from pathlib import Path

import pytest

from rag.parsing.coverage import coverage_problems
from rag.sources.folder import parse_file as parse_path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    ROOT / "corpus" / "sample" / "002_2eb7d40ab8163efd.txt",
    ROOT / "tests" / "fixtures" / "parsing" / "verbatim_plenary.txt",
]


def _shape(d):
    return [(t.speaker, t.text, t.kind, t.agenda) for t in d.turns]


@pytest.mark.parametrize("src", SOURCES, ids=lambda p: p.name)
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp932", "shift_jis", "euc_jp"])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_encodings(tmp_path, src, encoding, newline):
    text = src.read_text(encoding="utf-8")
    reference = parse_path(src)
    f = tmp_path / ("x_" + src.name)
    f.write_bytes(text.replace("\n", newline).encode(encoding))
    d = parse_path(f)
    assert _shape(d) == _shape(reference)
    assert "\r" not in d.text and "\ufeff" not in d.text
    assert coverage_problems(d) == []
    assert d.content_hash != reference.content_hash or (encoding == "utf-8" and newline == "\n")


def test_short_sjis_and_eucjp(tmp_path):
    s = "委員:窓口の待ち時間はどうか。\n事務局：平均で十分短縮した。\n"
    for enc in ("cp932", "euc_jp"):
        f = tmp_path / f"short_{enc}.txt"
        f.write_bytes(s.encode(enc))
        d = parse_path(f)
        assert [(t.speaker, t.text) for t in d.turns] == [("委員", "窓口の待ち時間はどうか。"), ("事務局", "平均で十分短縮した。")]
