"""Local files and folders. A folder is walked recursively; a sidecar NAME.meta.json beside NAME.ext
supplies or overrides body, meeting, date, url (source), place and `sessions` (per-meeting overrides)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from rag.errors import SourceError
from rag.readers import HEAD_BYTES, reader_for
from rag.records import RawDocument
from rag.sources.base import Skipped

SIDECAR = ".meta.json"
_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache", ".hypothesis"}
_NOT_MINUTES = (".md", ".py", ".pyc", ".jsonl")


def sidecar_of(path: Path) -> Path:
    return path.with_name((path.stem if path.suffix else path.name) + SIDECAR)


def load_sidecar(path: Path) -> dict[str, Any]:
    """Metadata from the sidecar of ``path`` ({} when there is none); SourceError when it is broken."""
    sp = sidecar_of(path)
    if not sp.exists():
        return {}
    try:
        data = json.loads(sp.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(f"{path.name}: broken sidecar {sp.name}: {e}".splitlines()[0]) from e
    if not isinstance(data, dict):
        raise SourceError(f"{path.name}: sidecar {sp.name} must be a JSON object")
    return data


def file_document(path: Path) -> RawDocument:
    """One local file as a raw document (key: its resolved path). SourceError on a file that cannot be read."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a folder")
    if path.name.endswith(SIDECAR):
        raise SourceError(f"{path.name}: is a sidecar (metadata for another file), not minutes")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise SourceError(f"{path.name}: cannot read: {e.strerror or e}") from e
    resolved = path.resolve()
    return RawDocument(key=f"file:{resolved}", name=path.name, origin=str(path), data=data,
                       metadata=load_sidecar(path))


@dataclass
class FolderSource:
    paths: list[Path]

    def __init__(self, paths: Iterable[Path]):
        self.paths = [Path(p) for p in paths]

    def files(self) -> tuple[list[Path], list[Skipped]]:
        """Files that look like minutes (folders walked recursively) and what was skipped."""
        found: list[Path] = []
        skipped: list[Skipped] = []
        seen: set[Path] = set()

        def consider(p: Path, explicit: bool) -> None:
            rp = p.resolve()
            if rp in seen:
                return
            seen.add(rp)
            if p.name.endswith(SIDECAR):
                if explicit:
                    skipped.append(Skipped(str(p), "sidecar metadata file, not minutes"))
                return
            if p.name.startswith(".") and not explicit:
                return
            if p.suffix.lower() in _NOT_MINUTES and not explicit:
                skipped.append(Skipped(str(p), f"not a minutes format ({p.suffix})"))
                return
            try:
                with open(p, "rb") as f:
                    head = f.read(HEAD_BYTES)
            except OSError as e:
                skipped.append(Skipped(str(p), f"cannot read: {e.strerror or e}"))
                return
            if not head:
                skipped.append(Skipped(str(p), "empty file"))
                return
            if reader_for(p.name, head) is None:
                skipped.append(Skipped(str(p), f"unsupported format ({p.suffix or 'no extension'})"))
                return
            found.append(p)

        for p in self.paths:
            if not p.exists():
                skipped.append(Skipped(str(p), "no such file or folder"))
            elif p.is_dir():
                for q in sorted(p.rglob("*")):
                    if any(part in _SKIP_DIRS for part in q.relative_to(p).parts):
                        continue
                    if q.is_file():
                        consider(q, explicit=False)
            else:
                consider(p, explicit=True)
        return found, skipped

    def documents(self) -> Iterator[RawDocument | Skipped]:
        found, skipped = self.files()
        yield from skipped
        for p in found:
            try:
                yield file_document(p)
            except SourceError as e:
                yield Skipped(str(p), str(e))


def parse_file(path: Path):
    """One local file (with its sidecar) read into a ParsedDocument; SourceError on bad input."""
    from rag.readers import read

    return read(file_document(path))
