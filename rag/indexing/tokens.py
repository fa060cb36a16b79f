"""Japanese-aware keyword tokens: SudachiPy morphemes and character bigrams.

Japanese has no spaces, so an English `\\w+` tokenizer sees a sentence as one word.
Each chunk is indexed in two views: SudachiPy morphemes (normalised forms, so 引越し and
引っ越し meet) and character bigrams of the NFKC text (robust to unknown words, names and
garbled OCR). Which view helps is measured by `rag eval`; both is the default. Queries are
tokenised with the same function as the chunks of the index they search.
"""

from __future__ import annotations

import re
import threading
import unicodedata

_local = threading.local()
# Parts of speech that carry no search meaning
_SKIP_POS = {"助詞", "助動詞", "補助記号", "空白", "記号"}
_WORDISH = re.compile(r"[\w\u3040-\u30ff\u3400-\u9fff]+")


def _sudachi():
    tok = getattr(_local, "sudachi", None)
    if tok is None:
        from sudachipy import Dictionary, SplitMode

        tok = Dictionary().tokenizer(mode=SplitMode.A)  # A: the shortest units, best for matching
        _local.sudachi = tok
    return tok


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def analyse(text: str) -> list:
    """Sudachi morphemes (surface, part_of_speech(), normalized_form()) of the normalised text."""
    tok = _sudachi()
    # Sudachi refuses inputs over ~49 KB: feed it line by line
    return [m for line in normalise(text).split("\n") if line.strip() for m in tok.tokenize(line[:10000])]


def morphemes(text: str) -> list[str]:
    return [m.normalized_form() for m in analyse(text) if m.part_of_speech()[0] not in _SKIP_POS]


def bigrams(text: str) -> list[str]:
    out = []
    for run in _WORDISH.findall(normalise(text)):
        if len(run) == 1:
            out.append(run)
        out.extend(run[i : i + 2] for i in range(len(run) - 1))
    return out


def tokenize(text: str, how: str = "both") -> list[str]:
    if how == "bigram":
        return bigrams(text)
    if how == "sudachi":
        return morphemes(text)
    return ["w:" + m for m in morphemes(text)] + bigrams(text)
