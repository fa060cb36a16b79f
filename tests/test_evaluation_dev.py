"""Regression guard on minutes the product was not built on: the development question set (eval/dev) over
corpus/dev, through the real pipeline and model, with floors per split. The `test` split is frozen (measured,
never tuned on); its floors are what it measured, less a small margin for run-to-run noise.

Uses conftest's index of corpus/dev (about 6 minutes on 2 cores, built once per run). RAG_SKIP_EVAL_GUARD=1 leaves
it out of a quick run.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SET = ROOT / "eval" / "dev" / "questions.jsonl"

# measured 2026-11-30 on the 69-document corpus, 400 questions (see README "Measured figures"), less ~0.03;
# answer floors raised 2026-12-01 after the sentence-selection and near-miss work (dev cites .852, covers .765,
# figure .948, refused .733, wrongly refused .037; frozen test covers .651, refused .500); dev floors raised again
# after the search inside a named body and the replies of matching questions (dev hit@1 .646, hit@5 .901,
# cites .877, covers .790), the reply paired with a question (cites .885, covers .798, figure .966) and the speakers
# questions name (in romaji, or as Sudachi tags a person): hit@1 .663, hit@5 .914, cites .893, covers .807; English
# offset 0.09: cites .909, covers .819, wrongly refused .004. Test floors from the one frozen measurement after that
# work (hit@1 .716, hit@5 .881, cites .826, covers .661, body .981, figure .920, refused .389 — down from .500, two
# more near misses answered —, wrongly refused .046), less ~0.03. Raised 2026-12-01 (431 questions, dev 304) after
# the constraints on the meeting's own fields (sitting, house, committee, asker): dev hit@1 .691, hit@5 .926, cites
# .914, covers .824, figure .952, refused .812, wrongly refused .004; frozen test hit@1 .725, hit@5 .881, cites .817,
# covers .651, body .990, figure .920, refused .667 (12 of 18), wrongly refused .055; less ~0.03 (one question of
# the 18 unanswerable frozen ones is .056). Dev raised again at the end of that day after the answer rules on
# elections, stances, requests and titles (dev cites .938, covers .855; the frozen split did not move: .835 / .670)
FLOORS = {
    "dev": {"hit@1": 0.66, "hit@5": 0.89, "cites_answer": 0.90, "quote_covers": 0.82, "body_ok": 0.96,
            "date_ok": 0.96, "figure_in_answer": 0.92, "abstention_recall": 0.76},
    "test": {"hit@1": 0.68, "hit@5": 0.85, "cites_answer": 0.78, "quote_covers": 0.62, "body_ok": 0.95,
             "date_ok": 0.97, "figure_in_answer": 0.89, "abstention_recall": 0.60},
}
CEILINGS = {"dev": {"wrong_abstention_rate": 0.03}, "test": {"wrong_abstention_rate": 0.08}}


@pytest.fixture(scope="module")
def dev_index(dev_corpus_index):
    return dev_corpus_index  # conftest: corpus/dev indexed once for this and tests/test_timeline_eval.py


@pytest.mark.skipif(os.environ.get("RAG_SKIP_EVAL_GUARD") == "1", reason="RAG_SKIP_EVAL_GUARD=1")
def test_regression_guard_dev_corpus(tmp_path, dev_index, default_embedder):
    from rag.evaluation import run_eval
    from rag.evaluation.runner import load_questions

    report = run_eval(SET, load_questions(SET), dev_index, {"cache": True}, tmp_path / "run", k=10,
                      embedder=default_embedder, log=lambda s: None)
    problems = {}
    for split, floors in FLOORS.items():
        s = report["by_split"][split]
        problems |= {f"{split}.{k}": s.get(k) for k, floor in floors.items() if (s.get(k) or 0) < floor}
        problems |= {f"{split}.{k}": s.get(k) for k, c in CEILINGS[split].items() if (s.get(k) or 0) > c}
    measured = {split: {k: report["by_split"][split].get(k) for k in [*FLOORS[split], *CEILINGS[split]]}
                for split in FLOORS}
    assert not problems, f"outside the floors/ceilings: {problems}; measured {json.dumps(measured)}"
