"""sources -> turns -> index: parse files, embed new turns, switch the index atomically."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rag.config import Settings
from rag.errors import RagError
from rag.records import ParsedDocument


@dataclass
class IngestReport:
    index_dir: Path
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
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


def fingerprint(path: Path, parser_version: str) -> str:
    """What decides whether a file must be parsed again: its bytes, its sidecar's, the parser version."""
    h = hashlib.sha256(parser_version.encode())
    h.update(path.read_bytes())
    for side in (path.with_suffix(".meta.json"), path.with_name(path.name + ".meta.json")):
        if side.exists():
            h.update(side.read_bytes())
    return h.hexdigest()


def ingest(paths: list[Path], settings: Settings, rebuild: bool = False, embedder=None,
           progress: bool = True, log: Callable[[str], None] = lambda s: None) -> IngestReport:
    from rag.sources import PARSER_VERSION, SourceError, discover, parse_path
    from rag.store.catalog import Catalog
    from rag.store.index import CATALOG, IndexWriter, current_generation, embedding_backend

    t0 = time.perf_counter()
    report = IngestReport(settings.index_dir)
    files, skipped = discover([Path(p) for p in paths])
    report.skipped += [(str(p), why) for p, why in skipped]

    known: dict[str, str | None] = {}
    live = None if rebuild else current_generation(settings.index_dir)
    if live is not None:  # only the catalog is needed to know what is indexed already
        catalog = Catalog(live / CATALOG, readonly=True)
        known = {str(f.resolve()): catalog.fingerprint(str(f.resolve())) for f in files}
        catalog.close()

    todo: list[tuple[str, str, ParsedDocument, bool]] = []
    for f in files:
        key = str(f.resolve())
        try:
            fp = fingerprint(f, PARSER_VERSION)
            if known.get(key) == fp:
                report.unchanged.append(f.name)
                continue
            parsed = parse_path(f)
        except SourceError as e:
            report.skipped.append((str(f), str(e)))
            continue
        except Exception as e:  # a parser bug must not stop the other files
            report.skipped.append((str(f), f"could not be parsed ({type(e).__name__}: {e})"))
            continue
        if not parsed.turns:
            report.skipped.append((str(f), "no text found to index"))
            continue
        report.warnings += [(f.name, w) for w in parsed.warnings]
        todo.append((key, fp, parsed, known.get(key) is not None))

    if not todo and rebuild:  # a rebuild from nothing would replace the index with an empty one
        reasons = "; ".join(f"{Path(p).name}: {why}" for p, why in report.skipped[:3])
        raise RagError(f"nothing readable to rebuild the index in {settings.index_dir} from, so it was left as it "
                       f"is ({len(report.skipped)} skipped{': ' + reasons if reasons else ''})")
    if not todo:
        report.seconds = time.perf_counter() - t0
        return report

    if embedder is None:
        from rag.embedding.embedder import load_embedder

        backend = settings.embed_backend if rebuild else embedding_backend(settings.index_dir, settings.embed_backend)
        log(f"loading embedding model {settings.model} ({backend}) ...")
        embedder = load_embedder(settings.model, settings.model_cache, backend, settings.embed_threads)
    with IndexWriter(settings.index_dir, settings.model, embedder.dimension, PARSER_VERSION,
                     tokenizer=settings.keyword_tokenizer, context=settings.context_prefix,
                     rebuild=rebuild, backend=embedder.backend) as writer:
        for key, fp, parsed, replacing in todo:
            report.turns += writer.add(key, fp, parsed)
            (report.replaced if replacing else report.added).append(parsed.doc)
        n = len(writer.pending.texts)
        bar = _progress_bar(n, progress)
        report.chunks = writer.embed_pending(
            lambda texts: embedder.embed_passages(texts, batch_size=settings.batch_size),
            progress=bar.update if bar else None,
        )
        if bar:
            bar.close()
        writer.commit()
    report.seconds = time.perf_counter() - t0
    return report


def remove(names: list[str], settings: Settings) -> list[str]:
    from rag.store.index import IndexWriter, require_index

    manifest = require_index(settings.index_dir)
    with IndexWriter(settings.index_dir, manifest.model, manifest.dimension, manifest.parser_version,
                     backend=manifest.backend) as writer:
        removed = [doc for name in names for doc in writer.remove(name)]
        if removed:
            writer.commit()
    return removed


def _progress_bar(total: int, enabled: bool):
    if not enabled or total == 0:
        return None
    from tqdm import tqdm

    return tqdm(total=total, unit="chunk", desc="embedding", dynamic_ncols=True)
