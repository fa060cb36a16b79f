"""Sources: where raw documents come from. Each yields RawDocument (stable key, name, origin, bytes,
metadata the source states) or Skipped (where, why) for what it could not hand over.

    FolderSource(paths)       local files and folders (a sidecar NAME.meta.json adds metadata)
    UploadSource(files, dir)  files a user uploads, kept content-addressed in a library folder

A fetcher is another source: one module with a class that has `documents()`, used by `ingest`.
"""

from __future__ import annotations

from rag.sources.base import Skipped, Source
from rag.sources.folder import FolderSource
from rag.sources.upload import UploadSource

__all__ = ["FolderSource", "Skipped", "Source", "UploadSource"]
