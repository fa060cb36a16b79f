"""sources -> readers -> indexing -> store: read new documents, prepare and embed them, commit atomically."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from rag.config import Settings
from rag.errors import RagError, SourceError
from rag.records import ParsedDocument, RawDocument
from rag.sources import FolderSource, Skipped, Source, UploadSource


@dataclass
class IngestReport:
    index_dir: Path
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path or name, reason)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (file, warning)
    turns: int = 0
    chunks: int = 0  # texts embedded: retrieval chunks and the sentences answers quote
    seconds: float = 0.0

    @property
    def documents(self) -> int:
        return len(self.added) + len(self.replaced)

    def summary(self) -> str:
        lines = [
            f"{self.documents} documents indexed ({len(self.added)} new, {len(self.replaced)} replaced), "
            f"{len(self.unchanged)} unchanged, {len(self.skipped)} skipped; "
            f"{self.turns} turns; {self.chunks} chunks and sentences embedded; {self.seconds:.1f} s -> {self.index_dir}"
        ]
        lines += [f"  skipped {p}: {why}" for p, why in self.skipped]
        lines += [f"  warning {p}: {w}" for p, w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        return {
            "index": str(self.index_dir), "documents": self.documents, "added": self.added,
            "replaced": self.replaced, "unchanged": self.unchanged,
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "warnings": [{"path": p, "warning": w} for p, w in self.warnings],
            "turns": self.turns, "chunks": self.chunks, "seconds": round(self.seconds, 2),
        }


def ingest(source: Source | Iterable[Path], settings: Settings, rebuild: bool = False, embedder=None,
           progress: bool = True, log: Callable[[str], None] = lambda s: None) -> IngestReport:
    """Index what `source` yields (a list of paths means a FolderSource): unchanged documents are skipped,
    changed ones replaced; nothing is visible until the whole batch is committed."""
    from rag import store
    from rag.indexing.prepare import embed, prepare, texts_to_embed
    from rag.readers import PARSER_VERSION, read

    if not hasattr(source, "documents"):
        source = FolderSource(source)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    report = IngestReport(settings.index_dir)
    raws: list[RawDocument] = []
    for item in source.documents():  # type: ignore[union-attr]
        if isinstance(item, Skipped):
            report.skipped.append((item.where, item.reason))
        else:
            raws.append(item)

    known: dict[str, str] = {}
    if not rebuild and store.built_with(settings) is not None:
        live = store.open_store(settings, check_model=False)
        known = live.fingerprints([r.key for r in raws])
        live.close()

    todo: list[tuple[RawDocument, str, ParsedDocument]] = []
    for raw in raws:
        fp = raw.fingerprint(PARSER_VERSION)
        if known.get(raw.key) == fp:
            report.unchanged.append(raw.name)
            continue
        try:
            parsed = read(raw)
        except SourceError as e:
            report.skipped.append((raw.origin, str(e)))
            continue
        if not parsed.turns:
            report.skipped.append((raw.origin, "no text found to index"))
            continue
        report.warnings += [(raw.name, w) for w in parsed.warnings]
        todo.append((raw, fp, parsed))

    if not todo and rebuild:  # a rebuild from nothing would replace the index with an empty one
        reasons = "; ".join(f"{Path(p).name}: {why}" for p, why in report.skipped[:3])
        raise RagError(f"nothing readable to rebuild the index in {settings.index_dir} from, so it was left as it "
                       f"is ({len(report.skipped)} skipped{': ' + reasons if reasons else ''})")
    if not todo:
        report.seconds = time.perf_counter() - t0
        return report

    if embedder is None:
        from rag.embedding.embedder import load_embedder

        backend = settings.embed_backend if rebuild else store.embedding_backend(settings)
        log(f"loading embedding model {settings.model} ({backend}) ...")
        embedder = load_embedder(settings.model, settings.model_cache, backend, settings.embed_threads)
    with store.open_writer(settings, dimension=embedder.dimension, embed_backend=embedder.backend,
                           parser_version=PARSER_VERSION, rebuild=rebuild) as writer:
        prepared = [prepare(raw.key, fp, parsed, writer.manifest.tokenizer, writer.manifest.context)
                    for raw, fp, parsed in todo]
        bar = _progress_bar(texts_to_embed(prepared), progress)
        report.chunks = embed(prepared, lambda texts: embedder.embed_passages(texts, batch_size=settings.batch_size),
                              progress=bar.update if bar else None)
        if bar:
            bar.close()
        for (raw, _, parsed), doc in zip(todo, prepared):
            writer.add(doc)
            report.turns += len(parsed.turns)
            (report.replaced if raw.key in known else report.added).append(parsed.doc)
        writer.commit()
    report.seconds = time.perf_counter() - t0
    return report


def add_uploads(files: Iterable[tuple[Path, str]], settings: Settings, embedder=None) -> IngestReport:
    """Check uploaded files, keep them in the index's library folder and index them (the UI's add tab and
    `python -m rag add`). A failure removes what this upload added; the index stays as it was."""
    source = UploadSource(files, library=Path(settings.index_dir) / "uploads")
    try:
        report = ingest(source, settings, embedder=embedder, progress=False)
    except BaseException:
        source.rollback()
        raise
    for where, _ in report.skipped:  # unreadable files do not stay in the library
        source.discard(where)
    return report


def remove(names: list[str], settings: Settings) -> list[str]:
    from rag import store

    manifest = store.require_index(settings)
    settings = settings.with_overrides(model=manifest.model)  # the index's own model, whatever is configured
    with store.open_writer(settings, dimension=manifest.dimension, embed_backend=manifest.backend,
                           parser_version=manifest.parser_version) as writer:
        removed = [doc for name in names for doc in writer.remove(name)]
        if removed:
            writer.commit()
    return removed


def _progress_bar(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="embedding", dynamic_ncols=True)
