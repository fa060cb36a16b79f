"""Files a user uploads (the UI's add tab, `python -m rag add`): checked, then kept in a library folder.

Each file is stored content-addressed (LIBRARY/<sha256 prefix>/<name>) and keyed by its content, so
two different files with the same name (two bodies' 会議録.pdf) are two documents, the same file
uploaded twice is one, and nothing already in the library is overwritten. `rollback()` removes what
this upload added when indexing it fails.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
from pathlib import Path, PurePath
from typing import Iterable, Iterator

from rag.readers import HEAD_BYTES, accepted_suffixes, reader_for
from rag.records import RawDocument
from rag.sources.base import Skipped

MAX_UPLOAD_MB = 50
MAX_UPLOAD_FILES = 20
MAX_NAME_CHARS = 120


def safe_upload_name(name: str) -> str | None:
    """A plain file name for an uploaded file, or None. No folders, no dot-files, no control characters."""
    name = unicodedata.normalize("NFC", str(name)).replace("\\", "/").split("/")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C").strip().strip(".")
    name = re.sub(r'[<>:"|?*]', "_", name)
    if not name or name in (".", ".."):
        return None
    stem, suffix = PurePath(name).stem, PurePath(name).suffix
    if len(name) > MAX_NAME_CHARS:
        name = stem[: MAX_NAME_CHARS - len(suffix)] + suffix
    return name


def upload_problem(name: str, data: bytes) -> str | None:
    """Why an uploaded file is refused (Japanese, shown in the UI), or None."""
    if PurePath(name).suffix.lower() not in accepted_suffixes():
        return f"対応していない形式です（{', '.join(accepted_suffixes())} のみ）"
    if not data:
        return "空のファイルです"
    if len(data) > MAX_UPLOAD_MB * 1024 * 1024:
        return f"{MAX_UPLOAD_MB} MB を超えています"
    reader = reader_for(name, data[:HEAD_BYTES])
    return "対応していない形式です" if reader is None else reader.check(name, data[:HEAD_BYTES])


class UploadSource:
    """files: (path of the uploaded bytes, the name the user gave the file)."""

    def __init__(self, files: Iterable[tuple[Path, str]], library: Path):
        self.files = list(files)
        self.library = Path(library)
        self.created: dict[str, Path] = {}  # origin (path of the kept copy) -> folder this upload created

    def documents(self) -> Iterator[RawDocument | Skipped]:
        if len(self.files) > MAX_UPLOAD_FILES:
            yield Skipped("upload", f"一度に取り込めるのは {MAX_UPLOAD_FILES} ファイルまでです（{len(self.files)} 件選択）")
            return
        seen: set[str] = set()
        for src, given in self.files:
            name = safe_upload_name(given)
            if name is None:
                yield Skipped(str(given), "ファイル名が不正です")
                continue
            if name in seen:
                yield Skipped(name, "同じ名前のファイルが重複しています")
                continue
            seen.add(name)
            try:
                data = Path(src).read_bytes()
            except OSError as e:
                yield Skipped(name, f"読み込めません: {e.strerror or e}")
                continue
            why = upload_problem(name, data)
            if why:
                yield Skipped(name, why)
                continue
            digest = hashlib.sha256(data).hexdigest()
            folder = self.library / digest[:16]
            dest = folder / name
            if not dest.exists():
                if not folder.exists():
                    self.created[str(dest)] = folder
                folder.mkdir(parents=True, exist_ok=True)
                tmp = folder / f".{name}.part"
                tmp.write_bytes(data)
                tmp.replace(dest)
            yield RawDocument(key=f"upload:{digest}", name=name, origin=str(dest), data=data)

    def discard(self, origin: str) -> None:
        """Remove the kept copy of an upload that was not indexed (unreadable), if this upload made it."""
        folder = self.created.pop(origin, None)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)

    def rollback(self) -> None:
        for origin in list(self.created):
            self.discard(origin)
