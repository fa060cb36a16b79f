"""`python -m rag ingest PATHS --ray [ADDRESS]`: the ingest pipeline as Ray Data stages.

    files (driver: the folder walk, and the fingerprints the store already has)
      -> read + parse      one Ray task per document (rag.sources.folder.file_document, rag.readers.read)
      -> prepare           chunks, keyword tokens, sentences (rag.indexing.prepare.prepare)
      -> embed             an actor pool, one model per actor (rag.indexing.prepare.embed); a GPU per
                           actor where the cluster has GPUs and the runtime is torch
      -> write             the driver adds documents to the store in batches, one commit per batch

The same functions as `rag.ingest.ingest`, so the same units and vectors. Resumable by document:
each committed batch is a store generation, and a rerun skips every document whose fingerprint
the store already has (a killed run loses at most the batch it was writing). Without an address
Ray starts on this machine's cores (or joins RAY_ADDRESS when that is set); with one
(`ray://head:10001`, or `auto` on a cluster node) the same code runs on the cluster, whose nodes
need this package's requirements, the corpus paths, the model cache and a store they can reach
(a Milvus server: Milvus Lite and the local store are files on the driver's machine, which is
where the writes happen).

`--rebuild` with `--ray`: the first committed batch replaces the index and later batches add to it
(a rerun after a failure should then leave out --rebuild, so it resumes).
"""

from __future__ import annotations

import json
import os
import pickle
import time
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from rag.config import PROJECT_ROOT, Settings
from rag.errors import RagError, SourceError
from rag.ingest import IngestReport

DOCS_PER_COMMIT = 64  # documents per store generation (what a killed run can lose)


# ---------------------------------------------------------------- stages (run in Ray workers)


def read_stage(row: dict[str, Any]) -> dict[str, Any]:
    """Read and parse one file; unchanged (same fingerprint as in the store) and unreadable ones pass as such."""
    from rag.readers import PARSER_VERSION, read
    from rag.sources.folder import file_document

    out = {"path": row["path"], "status": "ok", "name": Path(row["path"]).name, "key": "", "reason": "",
           "replaced": False, "warnings": "[]", "turns": 0, "doc": b""}
    try:
        raw = file_document(Path(row["path"]))
        out["key"], out["name"] = raw.key, raw.name
        fp = raw.fingerprint(PARSER_VERSION)
        if row["known"] == fp:
            out["status"] = "unchanged"
            return out
        parsed = read(raw)
    except SourceError as e:
        out["status"], out["reason"] = "skipped", str(e)
        return out
    if not parsed.turns:
        out["status"], out["reason"] = "skipped", "no text found to index"
        return out
    out["replaced"] = bool(row["known"])
    out["warnings"] = json.dumps(list(parsed.warnings), ensure_ascii=False)
    out["turns"] = len(parsed.turns)
    out["doc"] = pickle.dumps((raw.key, fp, parsed), protocol=pickle.HIGHEST_PROTOCOL)
    return out


def prepare_stage(row: dict[str, Any], tokenizer: str, context: str) -> dict[str, Any]:
    from rag.indexing.prepare import prepare

    if row["status"] == "ok":
        key, fp, parsed = pickle.loads(row["doc"])
        row["doc"] = pickle.dumps(prepare(key, fp, parsed, tokenizer, context), protocol=pickle.HIGHEST_PROTOCOL)
    return row


class EmbedActor:
    """One embedding model per actor; fills in the vectors of a batch of prepared documents."""

    def __init__(self, model: str, cache: str | None, backend: str, threads: int, batch_size: int):
        from rag.embedding.embedder import load_embedder

        self.embedder = load_embedder(model, Path(cache) if cache else None, backend, threads)
        self.batch_size = batch_size
        model_obj = getattr(self.embedder, "model", None)
        if backend == "torch" and model_obj is not None:
            import torch

            if torch.cuda.is_available():  # the actor was given a GPU
                model_obj.to("cuda")

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from rag.indexing.prepare import embed

        docs = list(batch["doc"])
        embedded = np.zeros(len(docs), dtype=np.int64)
        for i, (status, blob) in enumerate(zip(batch["status"], docs)):
            if status != "ok":
                continue
            doc = pickle.loads(blob)
            embedded[i] = embed([doc], lambda texts: self.embedder.embed_passages(texts, batch_size=self.batch_size))
            docs[i] = pickle.dumps(doc, protocol=pickle.HIGHEST_PROTOCOL)
        out = dict(batch)
        out["doc"] = np.array(docs, dtype=object)
        out["embedded"] = embedded
        return out


# ---------------------------------------------------------------- driver


def start_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Connect to `address` (settings.ray_address, RAY_ADDRESS), else start a local Ray on this machine's cores.
    Returns True when this call started it (and so should shut it down)."""
    import ray

    if ray.is_initialized():
        return False
    env = {"env_vars": {"PYTHONPATH": str(PROJECT_ROOT),
                        "TOKENIZERS_PARALLELISM": "false", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}}
    if address and address != "local":
        env["py_modules"] = [str(PROJECT_ROOT / "rag")]  # the package travels to the cluster's workers
        ray.init(address=address, runtime_env=env, log_to_driver=False)
    else:
        ray.init(num_cpus=num_cpus or os.cpu_count() or 1, include_dashboard=False, runtime_env=env,
                 log_to_driver=False, configure_logging=False)
    return True


def ingest_ray(paths: Iterable[Path], settings: Settings, address: str | None = None, rebuild: bool = False,
               backend: str | None = None, progress: bool = True, log: Callable[[str], None] = lambda s: None,
               docs_per_commit: int = DOCS_PER_COMMIT, actors: int | None = None,
               docs_per_batch: int = 2) -> IngestReport:
    """Index files and folders with Ray Data; the same result as rag.ingest.ingest (see the module doc).
    `backend` overrides the embedding runtime (e.g. "hashing" in tests); `actors` the embedding pool size."""
    import ray

    from rag import store
    from rag.readers import PARSER_VERSION
    from rag.sources import FolderSource

    t0 = time.perf_counter()
    report = IngestReport(settings.index_dir)
    found, skipped = FolderSource(list(paths)).files()
    report.skipped += [(s.where, s.reason) for s in skipped]
    keys = {str(p): f"file:{Path(p).resolve()}" for p in found}  # file_document's key, without reading the file
    built = store.built_with(settings)
    known: dict[str, str] = {}
    if built is not None and not rebuild:
        live = store.open_store(settings, check_model=False)
        known = live.fingerprints(list(keys.values()))
        live.close()
    tokenizer = built.tokenizer if built is not None and not rebuild else settings.keyword_tokenizer
    context = built.context if built is not None and not rebuild else settings.context_prefix
    backend = backend or (settings.embed_backend if rebuild or built is None else built.backend)
    if not found:
        if rebuild:
            raise RagError(f"nothing readable to rebuild the index in {settings.index_dir} from")
        report.seconds = time.perf_counter() - t0
        return report

    started = start_ray(address or settings.ray_address or None)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 1))
        gpus = int(ray.cluster_resources().get("GPU", 0)) if backend == "torch" else 0
        if gpus:
            n_actors, actor_res = actors or gpus, {"num_gpus": 1, "num_cpus": 1}
        else:
            n_actors = actors or max(1, cpus - 1)
            actor_res = {"num_cpus": 1}
        threads = settings.embed_threads or max(1, cpus // n_actors)
        if backend != "hashing":  # convert / export the model once, before the actors race to do it
            from rag.embedding.embedder import load_embedder

            log(f"loading embedding model {settings.model} ({backend}) ...")
            dimension = load_embedder(settings.model, settings.model_cache, backend, 1).dimension
        else:
            from rag.embedding.hashing import DIMENSION as dimension
        log(f"Ray: {cpus} CPUs, {gpus} GPUs; {n_actors} embedding actor(s) x {threads} thread(s)")

        from ray.data import DataContext

        DataContext.get_current().enable_progress_bars = progress
        items = [{"path": str(p), "known": known.get(keys[str(p)], "")} for p in found]
        ds = (ray.data.from_items(items, override_num_blocks=min(len(items), max(1, 4 * cpus)))
              .map(read_stage)
              .map(prepare_stage, fn_kwargs={"tokenizer": tokenizer, "context": context})
              .map_batches(EmbedActor, batch_size=docs_per_batch, batch_format="numpy",
                           compute=ray.data.ActorPoolStrategy(size=n_actors),
                           fn_constructor_kwargs={"model": settings.model, "cache": str(settings.model_cache),
                                                  "backend": backend, "threads": threads,
                                                  "batch_size": settings.batch_size},
                           **actor_res))
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(items), unit="doc", desc="indexed", dynamic_ncols=True)
        pending: list[tuple[dict, Any]] = []
        first = [rebuild]

        def flush() -> None:
            if not pending:
                return
            with store.open_writer(settings, dimension=dimension, embed_backend=backend,
                                   parser_version=PARSER_VERSION, rebuild=first[0]) as writer:
                for row, doc in pending:
                    writer.add(doc)
                writer.commit()
            first[0] = False
            for row, doc in pending:
                report.turns += int(row["turns"])
                report.chunks += int(row["embedded"])
                (report.replaced if row["replaced"] else report.added).append(doc.parsed.doc)
                report.warnings += [(row["name"], w) for w in json.loads(row["warnings"])]
            pending.clear()

        for row in ds.iter_rows():
            if row["status"] == "unchanged":
                report.unchanged.append(row["name"])
            elif row["status"] == "skipped":
                report.skipped.append((row["path"], row["reason"]))
            else:
                pending.append((row, pickle.loads(row["doc"])))
                if len(pending) >= docs_per_commit:
                    flush()
            if bar:
                bar.update(1)
                bar.set_postfix(chunks=report.chunks + sum(int(r["embedded"]) for r, _ in pending), refresh=False)
        flush()
        if bar:
            bar.close()
    finally:
        if started:
            ray.shutdown()
    if rebuild and not report.documents:
        raise RagError(f"nothing readable to rebuild the index in {settings.index_dir} from, so it was left as it "
                       f"is ({len(report.skipped)} skipped)")
    report.seconds = time.perf_counter() - t0
    return report
