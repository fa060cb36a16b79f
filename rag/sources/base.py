"""The reader interface, the error type and sidecar metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol

from rag.errors import RagError
from rag.records import ParsedDocument


class SourceError(RagError):
    """Bad input: the message is a clear one-line reason."""


class Reader(Protocol):
    name: str

    def accepts(self, path: Path, head: bytes) -> bool: ...

    def read(self, path: Path) -> ParsedDocument: ...


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.stem + ".meta.json") if path.suffix else path.with_name(path.name + ".meta.json")


def load_sidecar(path: Path) -> dict[str, Any]:
    """Metadata from ``NAME.meta.json`` beside ``NAME.ext`` ({} when there is none)."""
    sp = sidecar_path(Path(path))
    if not sp.exists():
        return {}
    try:
        data = json.loads(sp.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(f"{Path(path).name}: broken sidecar {sp.name}: {e}".splitlines()[0]) from e
    if not isinstance(data, dict):
        raise SourceError(f"{Path(path).name}: sidecar {sp.name} must be a JSON object")
    return data
