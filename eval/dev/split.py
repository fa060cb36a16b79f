"""The frozen split of the development corpus, decided before any tuning on it.

A document belongs to the frozen `test` split when the SHA-1 of its file name (as in corpus/dev, without
folders) is 0 mod 3, else to `dev`. Questions, metadata gold and every figure follow their document.
Work on parsers, metadata and answers looks at `dev` documents only; `test` is measured, never tuned on.
"""

from __future__ import annotations

import hashlib
from pathlib import PurePath


def split_of(doc: str) -> str:
    name = PurePath(doc).name
    return "test" if int(hashlib.sha1(name.encode("utf-8")).hexdigest(), 16) % 3 == 0 else "dev"


if __name__ == "__main__":
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2] / "corpus" / "dev"
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "SOURCES.md":
            print(split_of(p.name), p.relative_to(root))
    sys.exit(0)
