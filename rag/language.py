"""Which language a question is in: retrieval and answers both adapt to it."""


def is_english(text: str) -> bool:
    """Mostly Latin letters and no kana/kanji: search densely, answer in English."""
    jp = sum(1 for ch in text if "\u3040" <= ch <= "\u30ff" or "\u3400" <= ch <= "\u9fff")
    latin = sum(1 for ch in text if ch.isascii() and ch.isalpha())
    return jp == 0 and latin > 0
