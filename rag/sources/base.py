"""The source interface."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol

from rag.records import RawDocument


@dataclass(frozen=True)
class Skipped:
    """Something a source found but could not hand over, and why (one line)."""

    where: str  # path, name or URL
    reason: str


class Source(Protocol):
    def documents(self) -> Iterator[RawDocument | Skipped]: ...
