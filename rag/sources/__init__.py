"""Readers for minutes in several source formats, behind one small interface.

Public API (the rest of the system calls only these)::

    parse_path(path) -> ParsedDocument      # raises SourceError(message) on bad input
    discover(paths) -> (files, skipped)     # files that look like minutes; (path, reason) skipped
    parse_many(paths) -> Iterator[ParsedDocument | (path, reason)]

A sidecar ``NAME.meta.json`` beside ``NAME.ext`` supplies/overrides body, meeting, date,
url (source), place, and optionally ``sessions`` (a list of per-meeting overrides).
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Iterator

from rag.records import ParsedDocument
from rag.sources.base import Reader, SourceError, load_sidecar

# Bump when parsing changes what turns come out of a file: `ingest` then re-parses unchanged files.
PARSER_VERSION = "1"

__all__ = ["PARSER_VERSION", "SourceError", "Reader", "READERS", "parse_path", "discover", "parse_many", "reader_for", "load_sidecar"]


def _readers() -> list[Reader]:
    from rag.sources.diet import DietJsonReader
    from rag.sources.html import HtmlReader
    from rag.sources.pdf import PdfReader
    from rag.sources.text import TextReader

    return [DietJsonReader(), HtmlReader(), PdfReader(), TextReader()]


READERS: list[Reader] = []

_SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache", ".hypothesis"}
_HEAD = 4096


def reader_for(path: Path, head: bytes | None = None) -> Reader | None:
    if not READERS:
        READERS.extend(_readers())
    if head is None:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    for r in READERS:
        if r.accepts(path, head):
            return r
    return None


def _is_sidecar(path: Path) -> bool:
    return path.name.endswith(".meta.json")


def parse_path(path: Path) -> ParsedDocument:
    """Parse one file. Raises SourceError with a one-line reason on bad input."""
    path = Path(path)
    if not path.exists():
        raise SourceError(f"{path}: no such file")
    if path.is_dir():
        raise SourceError(f"{path}: is a folder (use discover/parse_many)")
    if _is_sidecar(path):
        raise SourceError(f"{path.name}: is a sidecar (metadata for another file), not minutes")
    try:
        with open(path, "rb") as f:
            head = f.read(_HEAD)
    except OSError as e:
        raise SourceError(f"{path.name}: cannot read: {e.strerror or e}") from e
    if not head:
        raise SourceError(f"{path.name}: empty file")
    r = reader_for(path, head)
    if r is None:
        raise SourceError(f"{path.name}: unsupported format (expected .txt, .html/.htm, .pdf or Diet API .json)")
    try:
        return r.read(path)
    except SourceError:
        raise
    except Exception as e:  # a reader bug or a malformed file: report it as bad input, one line
        raise SourceError(f"{path.name}: could not be parsed as {r.name}: {type(e).__name__}: {e}".splitlines()[0]) from e


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Files that look like minutes (folders are walked recursively) and (path, reason) skipped."""
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()

    def consider(p: Path, explicit: bool) -> None:
        rp = p.resolve()
        if rp in seen:
            return
        seen.add(rp)
        if _is_sidecar(p):
            if explicit:
                skipped.append((p, "sidecar metadata file, not minutes"))
            return
        if p.name.startswith(".") and not explicit:
            return
        if p.suffix.lower() in (".md", ".py", ".pyc") and not explicit:
            skipped.append((p, f"not a minutes format ({p.suffix})"))
            return
        try:
            with open(p, "rb") as f:
                head = f.read(_HEAD)
        except OSError as e:
            skipped.append((p, f"cannot read: {e.strerror or e}"))
            return
        if not head:
            skipped.append((p, "empty file"))
            return
        if reader_for(p, head) is None:
            skipped.append((p, f"unsupported format ({p.suffix or 'no extension'})"))
            return
        found.append(p)

    for p in paths:
        p = Path(p)
        if not p.exists():
            skipped.append((p, "no such file or folder"))
        elif p.is_dir():
            for q in sorted(p.rglob("*")):
                if any(part in _SKIP_DIRS for part in q.relative_to(p).parts):
                    continue
                if q.is_file():
                    consider(q, explicit=False)
        else:
            consider(p, explicit=True)
    return found, skipped


def parse_many(paths: Iterable[Path]) -> Iterator[ParsedDocument | tuple[Path, str]]:
    """Discover then parse; yields ParsedDocument, or (path, reason) for what was skipped or failed."""
    files, skipped = discover(paths)
    for p, why in skipped:
        yield p, why
    for p in files:
        try:
            yield parse_path(p)
        except SourceError as e:
            yield p, str(e)
