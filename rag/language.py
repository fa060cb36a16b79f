"""Which language a question is in, and whether it asks about procedure: retrieval and answers adapt to both."""

from __future__ import annotations

import re

def is_english(text: str) -> bool:
    """Mostly Latin letters and no kana/kanji: search densely, answer in English."""
    jp = sum(1 for ch in text if "\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return jp == 0 and latin > 0


# a question about procedure itself: a vote, the session, a recess, the next sitting (the chair's turns answer it)
_ASKS_PROCEDURE = re.compile(r"採決|可決|否決|賛否|賛成多数|反対多数|起立|簡易採決|記名投票|承認|同意|認定|採択|議決|会期|何日間|"
                             r"次回|次の会議|散会|延会|休憩|閉会|開会|\bvot|\bpass|approv|reject|adopt|session|adjourn|"
                             r"recess|next (meeting|sitting)", re.I)


def asks_procedure(question: str) -> bool:
    return bool(_ASKS_PROCEDURE.search(question))
