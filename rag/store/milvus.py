"""The `milvus` store backend: the same units in Milvus collections (pymilvus MilvusClient).

    RAG_STORE=milvus                  Milvus Lite in INDEX/milvus.db (embedded: tests, one machine)
    RAG_STORE=milvus:PATH.db          Milvus Lite at PATH
    RAG_STORE=milvus://HOST:PORT[/DB][?prefix=rag&tls=1&bm25_drift=0&index=auto]
                                      a Milvus standalone or cluster; token from settings.milvus_token
                                      (RAG_MILVUS_TOKEN)

One code path for all three. Collections (prefix P, one set per epoch E; a rebuild starts a new epoch):

    P_meta            the pointer record "current": live generation, epoch, manifest, BM25 statistics
    P_eE_chunks       one row per retrieval chunk: dense vector (FLAT, HNSW from RAG_HNSW_THRESHOLD chunks),
                      sparse BM25 vector (SPARSE_INVERTED_INDEX, IP), and every filter as a scalar field
                      (body, meeting, date, speaker, speaker_key, kind, agenda, doc), so filters are
                      Milvus expressions evaluated inside the search, before ranking
    P_eE_turns        turns (JSON payload: text, pieces, speaker fields) by turn_key, meeting_id, ord
    P_eE_meetings     meetings (JSON payload), so a citation needs nothing outside Milvus
    P_eE_sentences    sentence spans and their vectors (quotable sentences of the extractive answerer)
    P_eE_documents    documents: fingerprint (resumable ingest), a summary for stats and facets
    P_eE_terms        keyword dictionary: term -> stable integer id (the sparse dimension) and its df
    P_eE_blobs        payloads longer than a VARCHAR holds, in parts

Keyword side, identical to the local backend (bm25s, method "lucene", k1=1.5, b=0.75) whatever
analyzers a server has: the chunk's own Sudachi/bigram tokens become a sparse vector whose weight
for term t is tf/(tf + k1(1-b+b·dl/avgdl)); the query vector carries count(t)·idf(t) with
idf = ln(1 + (N-df+0.5)/(df+0.5)) from the dictionary's df, so inner product = BM25.
When a commit changes avgdl, every live chunk is re-weighted (exact, like the local backend, which
rebuilds BM25 at each commit); `bm25_drift=0.01` in the URI re-weights only when avgdl moved by more
than 1 % (for clusters, where avgdl of hundreds of millions of chunks hardly moves).

Crash safety, Milvus' way (multi-version rows and a pointer record): every row carries `gen`, the
generation that wrote it, and `dead`, the generation that removed it (2^62 while live). A reader reads
the pointer once (generation C) and adds `gen <= C and dead > C` to every search and query, so it
sees one committed snapshot. A writer writes generation G = C + 1: new rows with gen = G, removals
as dead = G (a partial upsert) — invisible to every reader until commit flushes all collections and
then upserts the single pointer record (an atomic one-row write). A writer that aborts, or is
killed at any point, leaves rows with gen > C or C < dead < 2^62 that no reader can see; the next
writer deletes / restores them before it starts. A commit then deletes the rows that died before its
own generation (a reader still on the previous generation keeps its snapshot). A rebuild writes a new epoch's
collections and switches the pointer to them; the old epoch is dropped at the following commit.
One writer at a time: in-process lock (Milvus Lite also allows one process per .db), and on a
server a lease record in P_meta, refreshed every 30 s and void after 120 s without a refresh.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterable, Sequence
from urllib.parse import parse_qs, urlsplit

import numpy as np

from rag.errors import ConfigError, IndexMismatch, RagError
from rag.records import ChunkRef, Filters, Meeting, PreparedDocument, SpeakerKind, Turn
from rag.store.base import Manifest

K1, B = 1.5, 0.75  # bm25s defaults (method "lucene")
NEVER = 2**62  # `dead` of a live row
EMPTY_DIM = 2**32 - 2  # sparse dimension of chunks without tokens (Milvus needs a nonzero weight); never queried
MAX_TOPK = 16384  # Milvus' largest limit per search
KEY_LEN, FIELD_LEN, PAYLOAD_CHARS = 2048, 4096, 16000  # bytes; bytes; characters per payload part (≤ 64 KB)
HNSW_M, HNSW_EF_CONSTRUCTION = 32, 80  # as the local backend
LEASE_SECONDS, HEARTBEAT_SECONDS = 120, 30
IN_BATCH = 500  # keys per `in [...]` expression
# Every read of "all rows matching" goes page by page (query_iterator: a pk cursor), every write in batches, so
# no gRPC message grows with the index (gRPC refuses messages over 256 MB: at 100k turns all chunks' rows with
# their vectors were 528 MB). A chunk row with its dense and sparse vectors is ~3.5 KB (384 dimensions).
PAGE_ROWS = 4000  # rows per query page (~14 MB of chunk rows)
WRITE_ROWS = 500  # rows per insert / upsert
KINDS = ("chunks", "turns", "meetings", "sentences", "documents", "terms", "blobs")

_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()
_writers: set[str] = set()  # locations with an open writer in this process
_writers_lock = threading.Lock()


# ---------------------------------------------------------------- addresses and connections


class Location:
    """Where a Milvus store lives, parsed from settings.store."""

    def __init__(self, settings: Any, token: str | None = None):
        spec = settings.store
        rest = spec.split(":", 1)[1] if ":" in spec else ""
        self.params: dict[str, str] = {}
        if rest.startswith("//"):  # a server
            parts = urlsplit("milvus:" + rest)
            if not parts.hostname:
                raise ConfigError(f"RAG_STORE={spec!r}: expected milvus://HOST:PORT")
            self.params = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            scheme = "https" if self.params.get("tls", "0") in ("1", "true", "yes") else "http"
            self.uri = f"{scheme}://{parts.hostname}:{parts.port or 19530}"
            self.db_name = parts.path.strip("/") or ""
            self.lite = False
            self.path = None
            if token is None:
                token = settings.milvus_token
            self.token = token or ""
            self.label = f"milvus://{parts.hostname}:{parts.port or 19530}{('/' + self.db_name) if self.db_name else ''}"
        else:
            path = Path(rest) if rest else Path(settings.index_dir) / "milvus.db"
            if path.suffix != ".db":
                raise ConfigError(f"RAG_STORE={spec!r}: a Milvus Lite path must end in .db")
            self.path = path.resolve()
            self.uri = str(self.path)
            self.db_name = ""
            self.lite = True
            self.token = ""
            self.label = f"milvus:{self.path}"
        self.prefix = self.params.get("prefix", "rag")
        if not self.prefix.replace("_", "").isalnum():
            raise ConfigError(f"RAG_STORE={spec!r}: prefix must be letters, digits and _")
        try:
            self.bm25_drift = float(self.params.get("bm25_drift", "0"))
        except ValueError:
            raise ConfigError(f"RAG_STORE={spec!r}: bm25_drift must be a number") from None
        self.index = self.params.get("index", "auto").lower()
        if self.index not in ("auto", "flat", "hnsw", "ivf_flat"):
            raise ConfigError(f"RAG_STORE={spec!r}: index must be auto, flat, hnsw or ivf_flat")

    def exists(self) -> bool:
        return not self.lite or (self.path is not None and self.path.exists())

    def client(self):
        key = (self.uri, self.token, self.db_name)
        with _clients_lock:
            if key not in _clients:
                from pymilvus import MilvusClient

                if self.lite:
                    self.path.parent.mkdir(parents=True, exist_ok=True)  # type: ignore[union-attr]
                kw: dict[str, Any] = {"uri": self.uri}
                if self.token:
                    kw["token"] = self.token
                if self.db_name:
                    kw["db_name"] = self.db_name
                try:
                    _clients[key] = MilvusClient(**kw)
                    _clients[key]._rag_lite = self.lite
                except Exception as e:  # noqa: BLE001 - pymilvus raises many kinds
                    hint = (" (Milvus Lite lets one process at a time open a .db: stop the other one, or use a "
                            "Milvus server)") if self.lite else ""
                    raise RagError(f"cannot open {self.label}: {str(e).splitlines()[0][:300]}{hint}") from None
            return _clients[key]


def _q(s: str) -> str:
    """A string literal of a Milvus expression."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _in(field: str, values: Iterable[str]) -> str:
    return f"{field} in [{', '.join(_q(v) for v in values)}]"


def _fit(s: str | None, limit: int = FIELD_LEN) -> str:
    """A VARCHAR value: None -> "", cut to `limit` UTF-8 bytes."""
    s = s or ""
    b = s.encode()
    return s if len(b) <= limit else b[:limit].decode("utf-8", "ignore")


def _term_key(term: str) -> str:
    return term if len(term.encode()) <= 400 else "h:" + hashlib.sha1(term.encode()).hexdigest()


def _nospace(s: str | None) -> str:
    return (s or "").replace(" ", "").replace("\u3000", "")


def filter_expr(filters: Filters | None) -> str:
    """Filters as a Milvus expression over the chunk's scalar fields (the local backend's SQL, same meaning)."""
    if filters is None or filters.is_empty():
        return ""
    out = []
    if filters.body:
        out.append(f"body like {_q('%' + filters.body + '%')}")
    if filters.meeting:
        out.append(f"meeting like {_q('%' + filters.meeting + '%')}")
    if filters.since:
        out.append(f'(date != "" and date >= {_q(filters.since)})')
    if filters.until:
        out.append(f'(date != "" and date <= {_q(filters.until)})')
    if filters.speaker:
        out.append(f"(speaker_key like {_q('%' + _nospace(filters.speaker) + '%')} or "
                   f"speaker like {_q('%' + filters.speaker + '%')})")
    if filters.kinds:
        out.append(_in("kind", filters.kinds))
    if filters.agenda:
        out.append(f"agenda like {_q('%' + filters.agenda + '%')}")
    if filters.doc:
        out.append(f"doc == {_q(filters.doc)}")
    return " and ".join(out)


def idf(df: int, n: int) -> float:
    """bm25s' "lucene" idf, as float32 like bm25s keeps it."""
    return float(np.float32(math.log(1 + (n - df + 0.5) / (df + 0.5))))


def tf_weight(tf: int, dl: int, avgdl: float) -> float:
    """bm25s' "lucene" term-frequency component (computed in float64, stored float32 as bm25s does)."""
    return float(np.float32(tf / (K1 * ((1 - B) + B * dl / avgdl) + tf)))


# ---------------------------------------------------------------- collections


def _schema(client, kind: str, dim: int):
    from pymilvus import DataType

    s = client.create_schema(auto_id=False, enable_dynamic_field=False)
    s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=KEY_LEN + 32)
    var = lambda name, n=KEY_LEN: s.add_field(name, DataType.VARCHAR, max_length=n)  # noqa: E731
    integer = lambda name: s.add_field(name, DataType.INT64)  # noqa: E731
    if kind == "chunks":
        for f in ("key", "turn_key", "doc_key"):
            var(f)
        for f in ("start", "end", "dl"):
            integer(f)
        for f in ("body", "meeting", "speaker", "speaker_key", "agenda", "doc"):
            var(f, FIELD_LEN)
        var("date", 32)
        var("kind", 32)
        s.add_field("dense", DataType.FLOAT_VECTOR, dim=dim)
        s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    elif kind == "sentences":
        var("turn_key")
        var("doc_key")
        integer("start")
        integer("end")
        s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    else:
        if kind == "turns":
            var("turn_key"), var("doc_key"), var("meeting_id"), integer("ord")
        elif kind == "meetings":
            var("id"), var("doc_key")
        elif kind == "documents":
            var("key"), var("doc_key"), var("doc", FIELD_LEN), var("source", FIELD_LEN), var("fingerprint", 128)
        elif kind == "terms":
            var("term", 512), integer("tid"), integer("df")
        elif kind == "blobs":
            var("owner"), var("doc_key"), integer("part")
        if kind in ("turns", "meetings", "documents", "blobs"):
            var("payload", 65535)
            if kind != "blobs":
                integer("parts")
        s.add_field("_v", DataType.FLOAT_VECTOR, dim=2)  # Milvus wants a vector field in every collection
    integer("gen")
    integer("dead")
    return s


def _vector_index(params, field: str, kind: str) -> None:
    if kind == "hnsw":
        params.add_index(field, index_type="HNSW", metric_type="IP",
                         params={"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION})
    elif kind == "ivf_flat":
        params.add_index(field, index_type="IVF_FLAT", metric_type="IP", params={"nlist": 1024})
    else:
        params.add_index(field, index_type="FLAT", metric_type="IP")


def _create(client, name: str, kind: str, dim: int, lite: bool) -> None:
    params = client.prepare_index_params()
    if kind == "chunks":
        _vector_index(params, "dense", "flat")
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="IP")
    elif kind == "sentences":
        _vector_index(params, "vector", "flat")
    else:
        _vector_index(params, "_v", "flat")
    if not lite:  # scalar indexes for the lookups (Milvus Lite scans its few segments anyway)
        lookups = {"chunks": ("key", "turn_key", "doc_key", "gen", "dead"), "turns": ("turn_key", "meeting_id", "doc_key"),
                   "meetings": ("id", "doc_key"), "sentences": ("turn_key", "doc_key"), "documents": ("key", "doc"),
                   "terms": ("term", "tid"), "blobs": ("owner",)}.get(kind, ())
        for f in lookups:
            params.add_index(f, index_type="INVERTED")
    if lite:  # Milvus Lite builds indexes at flush; waiting for them polls a timestamp service it does not have
        client.create_collection(name, schema=_schema(client, kind, dim), consistency_level="Strong")
        client.create_index(name, params, sync=False)
        client.load_collection(name)
    else:
        client.create_collection(name, schema=_schema(client, kind, dim), index_params=params,
                                 consistency_level="Strong")


def _meta_name(prefix: str) -> str:
    return f"{prefix}_meta"


def _names(prefix: str, epoch: int) -> dict[str, str]:
    return {k: f"{prefix}_e{epoch}_{k}" for k in KINDS}


def _ensure_meta(client, prefix: str, lite: bool) -> None:
    if not client.has_collection(_meta_name(prefix)):
        from pymilvus import DataType

        s = client.create_schema(auto_id=False, enable_dynamic_field=False)
        s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
        s.add_field("value", DataType.VARCHAR, max_length=65535)
        s.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
        params = client.prepare_index_params()
        _vector_index(params, "_v", "flat")
        client.create_collection(_meta_name(prefix), schema=s, consistency_level="Strong")
        client.create_index(_meta_name(prefix), params, sync=not lite)
        client.load_collection(_meta_name(prefix))


def _loaded(client, names: Iterable[str]) -> None:
    """Load collections once per process (a restarted Milvus, or a reopened Milvus Lite, starts them released)."""
    done = client.__dict__.setdefault("_rag_loaded", set())
    for name in names:
        if name not in done:
            client.load_collection(name)
            done.add(name)


def _read_meta(client, prefix: str, key: str) -> dict | None:
    if not client.has_collection(_meta_name(prefix)):
        return None
    _loaded(client, [_meta_name(prefix)])
    rows = client.query(_meta_name(prefix), ids=[key], output_fields=["value"])
    return json.loads(rows[0]["value"]) if rows else None


def _write_meta(client, prefix: str, key: str, value: dict | None) -> None:
    if value is None:
        client.delete(_meta_name(prefix), ids=[key])
    else:
        client.upsert(_meta_name(prefix), [{"pk": key, "value": json.dumps(value, ensure_ascii=False), "_v": [1.0, 0.0]}])
    client.flush(_meta_name(prefix))


_quiet = threading.local()


class _NoLiteSessionTs(logging.Filter):
    """Milvus Lite has no MVCC timestamp for an iterator session: pymilvus warns at every query_iterator and
    uses the client's clock, which is all Lite needs (one process, Strong consistency). Mute that one warning."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (getattr(_quiet, "lite", False) and "mvccTs" in record.getMessage())


logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_NoLiteSessionTs())


def _pages(client, collection: str, expr: str, fields: list[str]) -> Iterable[list[dict]]:
    """The rows matching `expr`, PAGE_ROWS at a time in primary-key order (query_iterator: each page is a
    query `pk > last and (expr)`; on a server also pinned to the iterator's first timestamp). A caller may
    change rows it has been given (their `dead`, their weights under the same pk) between pages; rows it
    writes under new pks must not match `expr`, or a later page would return them."""
    lite = getattr(client, "_rag_lite", False)
    _quiet.lite = lite
    try:
        it = client.query_iterator(collection, batch_size=PAGE_ROWS, filter=expr, output_fields=fields)
    finally:
        _quiet.lite = False
    try:
        while True:
            rows = it.next()
            if not rows:
                break
            yield rows
    finally:
        it.close()


def _query_all(client, collection: str, expr: str, fields: list[str]) -> list[dict]:
    """Every row matching `expr`, read page by page (past the 16,384-row window and gRPC's message limit)."""
    out: list[dict] = []
    for rows in _pages(client, collection, expr, fields):
        out += rows
    return out


def _query_in(client, collection: str, field: str, values: Sequence[str], expr: str, fields: list[str]) -> list[dict]:
    out: list[dict] = []
    values = list(dict.fromkeys(values))
    for i in range(0, len(values), IN_BATCH):
        part = values[i : i + IN_BATCH]
        cond = _in(field, part) + (f" and {expr}" if expr else "")
        rows = client.query(collection, filter=cond, output_fields=fields, limit=MAX_TOPK)
        out += rows if len(rows) < MAX_TOPK else _query_all(client, collection, cond, fields)
    return out


def _split_payload(text: str) -> list[str]:
    return [text[i : i + PAYLOAD_CHARS] for i in range(0, len(text), PAYLOAD_CHARS)] or [""]


# ---------------------------------------------------------------- the read side


class MilvusStore:
    """One committed generation of a Milvus store: every search and lookup sees only its rows."""

    def __init__(self, location: Location, pointer: dict):
        self.loc = location
        self.location = location.label
        self.client = location.client()
        self.pointer = pointer
        self.generation = int(pointer["generation"])
        self.names = _names(location.prefix, int(pointer["epoch"]))
        _loaded(self.client, self.names.values())
        self.manifest = Manifest(**pointer["manifest"])
        self.manifest.check_format(self.location)
        self.visible = f"gen <= {self.generation} and dead > {self.generation}"
        self.n_chunks = int(pointer["chunks"])
        self.vector_index = pointer.get("vector_index", "flat")
        self._summary: list[dict] | None = None

    # ------------------------------------------------------------ search
    def _expr(self, filters: Filters | None) -> str:
        f = filter_expr(filters)
        return f"{self.visible} and {f}" if f else self.visible

    def _hits(self, res) -> list[tuple[ChunkRef, float]]:
        out = []
        for h in res[0] if res else []:
            e = h["entity"]
            out.append((ChunkRef(e["key"], e["turn_key"], int(e["start"]), int(e["end"])), float(h["distance"])))
        return out

    def search_dense(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[ChunkRef, float]]:
        k = min(k, MAX_TOPK, self.n_chunks)
        if k <= 0:
            return []
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.vector_index == "hnsw":
            params["params"] = {"ef": min(32768, max(64, 2 * k))}
        elif self.vector_index == "ivf_flat":
            params["params"] = {"nprobe": 64}
        res = self.client.search(self.names["chunks"], [np.asarray(vector, dtype=np.float32).ravel().tolist()],
                                 anns_field="dense", limit=k, filter=self._expr(filters), search_params=params,
                                 output_fields=["key", "turn_key", "start", "end"])
        return self._hits(res)

    def query_weights(self, tokens: Sequence[str]) -> dict[int, float]:
        """The sparse query vector: count(t)·idf(t) for each known term (bm25s adds a repeated token again)."""
        counts = Counter(_term_key(t) for t in tokens)
        if not counts or not self.n_chunks:
            return {}
        rows = _query_in(self.client, self.names["terms"], "term", list(counts), self.visible, ["term", "tid", "df"])
        return {int(r["tid"]): float(np.float32(counts[r["term"]] * idf(int(r["df"]), self.n_chunks)))
                for r in rows if int(r["df"]) > 0}

    def keyword_df(self, tokens: Sequence[str]) -> tuple[dict[str, int], int]:
        keys = {t: _term_key(t) for t in tokens}
        rows = _query_in(self.client, self.names["terms"], "term", sorted(set(keys.values())), self.visible,
                         ["term", "df"]) if keys else []
        df = {r["term"]: int(r["df"]) for r in rows}
        return {t: df.get(k, 0) for t, k in keys.items()}, int(self.n_chunks)

    def search_keyword(self, tokens: Sequence[str], k: int,
                       filters: Filters | None = None) -> list[tuple[ChunkRef, float]]:
        weights = self.query_weights(tokens)
        k = min(k, MAX_TOPK, self.n_chunks)
        if not weights or k <= 0:
            return []
        res = self.client.search(self.names["chunks"], [weights], anns_field="sparse", limit=k,
                                 filter=self._expr(filters), search_params={"metric_type": "IP"},
                                 output_fields=["key", "turn_key", "start", "end"])
        return [(r, s) for r, s in self._hits(res) if s > 0]

    # ------------------------------------------------------------ records
    def chunk_vectors(self, keys: Sequence[str]) -> np.ndarray:
        rows = _query_in(self.client, self.names["chunks"], "key", list(keys), self.visible, ["key", "dense"])
        by_key = {r["key"]: r["dense"] for r in rows}
        if not keys:
            return np.zeros((0, self.manifest.dimension), np.float32)
        return np.vstack([np.asarray(by_key[k], dtype=np.float32) for k in keys])

    def _payloads(self, rows: list[dict], owner_field: str) -> dict[str, dict]:
        long = [r[owner_field] for r in rows if int(r["parts"]) > 0]
        parts: dict[str, list[tuple[int, str]]] = {}
        if long:
            for b in _query_in(self.client, self.names["blobs"], "owner", long, self.visible,
                               ["owner", "part", "payload"]):
                parts.setdefault(b["owner"], []).append((int(b["part"]), b["payload"]))
        out = {}
        for r in rows:
            text = r["payload"] if int(r["parts"]) == 0 else "".join(p for _, p in sorted(parts.get(r[owner_field], [])))
            out[r[owner_field]] = json.loads(text)
        return out

    def _meetings(self, ids: Sequence[str]) -> dict[str, Meeting]:
        rows = _query_in(self.client, self.names["meetings"], "id", list(ids), self.visible, ["id", "payload", "parts"])
        return {k: Meeting(**v) for k, v in self._payloads(rows, "id").items()}

    def turns(self, keys: Sequence[str]) -> dict[str, tuple[Turn, Meeting]]:
        rows = _query_in(self.client, self.names["turns"], "turn_key", list(keys), self.visible,
                         ["turn_key", "payload", "parts"])
        payloads = self._payloads(rows, "turn_key")
        turns = {k: _turn(v) for k, v in payloads.items()}
        meetings = self._meetings(sorted({t.meeting_id for t in turns.values()}))
        return {k: (t, meetings[t.meeting_id]) for k, t in turns.items() if t.meeting_id in meetings}

    def neighbours(self, turn_key: str, before: int = 2, after: int = 2) -> list[tuple[str, Turn, Meeting]]:
        row = _query_in(self.client, self.names["turns"], "turn_key", [turn_key], self.visible, ["meeting_id", "ord"])
        if not row:
            return []
        mid, order = row[0]["meeting_id"], int(row[0]["ord"])
        rows = self.client.query(self.names["turns"], output_fields=["turn_key", "ord"], limit=MAX_TOPK,
                                 filter=f"meeting_id == {_q(mid)} and ord >= {order - before} and "
                                        f"ord <= {order + after} and {self.visible}")
        keys = [r["turn_key"] for r in sorted(rows, key=lambda r: int(r["ord"]))]
        found = self.turns(keys)
        return [(k, *found[k]) for k in keys if k in found]

    def sentences(self, turn_keys: Sequence[str]) -> dict[str, list[tuple[int, int, np.ndarray]]]:
        out: dict[str, list[tuple[int, int, np.ndarray]]] = {k: [] for k in turn_keys}
        rows = _query_in(self.client, self.names["sentences"], "turn_key", list(turn_keys), self.visible,
                         ["turn_key", "start", "end", "vector"])
        for r in sorted(rows, key=lambda r: int(r["start"])):
            out[r["turn_key"]].append((int(r["start"]), int(r["end"]), np.asarray(r["vector"], dtype=np.float32)))
        return out

    def fingerprints(self, doc_keys: Sequence[str]) -> dict[str, str]:
        rows = _query_in(self.client, self.names["documents"], "key", list(doc_keys), self.visible,
                         ["key", "fingerprint"])
        return {r["key"]: r["fingerprint"] for r in rows}

    def all_fingerprints(self) -> dict[str, str]:
        """key -> fingerprint of every document (the Ray ingest's resume check)."""
        rows = _query_all(self.client, self.names["documents"], self.visible, ["key", "fingerprint"])
        return {r["key"]: r["fingerprint"] for r in rows}

    def _documents(self) -> list[dict]:
        if self._summary is None:
            rows = _query_all(self.client, self.names["documents"], self.visible, ["key", "payload", "parts"])
            self._summary = list(self._payloads(rows, "key").values())
        return self._summary

    def facets(self) -> dict[str, list[str]]:
        docs = self._documents()
        meetings = sorted({(d or "", n) for doc in docs for d, n in doc["summary"]["meetings"] if n})
        names = list(dict.fromkeys(n for _, n in meetings))
        return {
            "bodies": sorted({b for doc in docs for b in doc["summary"]["bodies"]}),
            "meetings": names,
            "kinds": sorted({k for doc in docs for k in doc["summary"]["kinds"]}),
            "speakers": sorted({s for doc in docs for s in doc["summary"]["speakers"]}),
        }

    def stats(self) -> dict[str, Any]:
        docs = self._documents()
        dates = [d for doc in docs for d, _ in doc["summary"]["meetings"] if d]
        return {
            "documents": len(docs),
            "meetings": sum(len(doc["summary"]["meetings"]) for doc in docs),
            "turns": sum(doc["summary"]["turns"] for doc in docs),
            "chunks": self.n_chunks,
            "bodies": sorted({b for doc in docs for b in doc["summary"]["bodies"]}),
            "date_from": min(dates) if dates else None,
            "date_to": max(dates) if dates else None,
            "size_bytes": self.size_on_disk(),
            "store": "milvus",
            "edition": "Milvus Lite (embedded)" if self.loc.lite else "Milvus server",
            "location": self.location,
            "generation": f"gen-{self.generation:06d} (epoch {self.pointer['epoch']})",
            "vector_index": self.vector_index,
        }

    def size_on_disk(self) -> int:
        if self.loc.lite and self.loc.path is not None:
            return sum(p.stat().st_size for p in self.loc.path.rglob("*") if p.is_file())
        # a server does not say how many bytes a collection takes: estimate from the rows (vectors dominate)
        dim = self.manifest.dimension
        return int(self.n_chunks * (4 * dim + 2500) + self.pointer.get("sentences", 0) * (4 * dim + 100)
                   + self.pointer.get("turns", 0) * 1500)

    def documents(self) -> list[dict[str, Any]]:
        out = []
        for d in self._documents():
            s = d["summary"]
            dates = [x for x, _ in s["meetings"] if x]
            out.append({"doc": d["doc"], "key": d["key"], "source": d["source"], "format": d["format"],
                        "ingested_at": d["ingested_at"], "turns": s["turns"],
                        "bodies": ",".join(s["bodies"]) or None, "date": min(dates) if dates else None})
        return sorted(out, key=lambda r: r["doc"])

    def close(self) -> None:
        pass  # the client is shared by the process (Milvus Lite runs one server per .db per process)


def _turn(d: dict) -> Turn:
    d = dict(d)
    d["pieces"] = [tuple(p) for p in d["pieces"]]
    d["kind"] = SpeakerKind(d["kind"])
    return Turn(**d)


# ---------------------------------------------------------------- the write side


class MilvusStoreWriter:
    """Writes generation G = C + 1 beside the live one; readers see it only after commit() moves the pointer."""

    def __init__(self, location: Location, manifest: Manifest, *, hnsw_threshold: int, rebuild: bool = False):
        self.loc = location
        self.hnsw_threshold = hnsw_threshold
        self.client = location.client()
        self.prefix = location.prefix
        self.owner = uuid.uuid4().hex
        self._closed = False
        self._stop = threading.Event()
        with _writers_lock:
            if location.uri + location.prefix in _writers:
                raise IndexMismatch(f"another ingest is writing to {location.label}; wait for it to finish")
            _writers.add(location.uri + location.prefix)
        try:
            self._open(manifest, rebuild)
        except BaseException:
            self._release()
            raise

    def _open(self, manifest: Manifest, rebuild: bool) -> None:
        c = self.client
        _ensure_meta(c, self.prefix, self.loc.lite)
        if not self.loc.lite:
            self._take_lease()
        live = _read_meta(c, self.prefix, "current")
        if live is not None:
            old = Manifest(**live["manifest"])
            if not rebuild:
                old.check_format(self.loc.label)
            if not rebuild and (old.model, old.dimension, old.backend) != (manifest.model, manifest.dimension,
                                                                          manifest.backend):
                raise IndexMismatch(
                    f"the index in {self.loc.label} was built with embedding model {old.model!r} ({old.backend}); "
                    f"refusing to mix it with {manifest.model!r} ({manifest.backend}). Rebuild it: python -m rag "
                    f"ingest PATH --rebuild --model {manifest.model} --embed-backend {manifest.backend}")
            if not rebuild:  # an existing index keeps how its units were made
                manifest.tokenizer, manifest.context = old.tokenizer, old.context
        self.live = live
        self.C = int(live["generation"]) if live else 0
        self.G = self.C + 1
        self.manifest = manifest
        self.visible = f"gen <= {self.C} and dead > {self.C}"
        keep = {live["epoch"], live.get("prev_epoch")} if live else set()
        self._drop_epochs(keep)  # leftovers of a killed rebuild
        if live is None or rebuild:
            self.epoch = (max([int(e) for e in keep if e is not None] or [0]) + 1) if live else 1
            self.names = _names(self.prefix, self.epoch)
            for kind, name in self.names.items():
                if c.has_collection(name):
                    c.drop_collection(name)
                _create(c, name, kind, manifest.dimension, self.loc.lite)
                c.__dict__.setdefault("_rag_loaded", set()).add(name)  # created loaded
            self.base = {"chunks": 0, "total_len": 0, "weight_avgdl": None, "next_tid": 0,
                         "turns": 0, "sentences": 0, "vector_index": "flat"}
            self.fresh = True
        else:
            self.epoch = int(live["epoch"])
            self.names = _names(self.prefix, self.epoch)
            _loaded(c, self.names.values())
            self.base = {k: live[k] for k in ("chunks", "total_len", "weight_avgdl", "next_tid", "turns",
                                              "sentences", "vector_index")}
            self.fresh = False
            self._recover()
        self.n_chunks, self.total_len = int(self.base["chunks"]), int(self.base["total_len"])
        self.n_turns, self.n_sentences = int(self.base["turns"]), int(self.base["sentences"])
        self.next_tid = int(self.base["next_tid"])
        self.weight_avgdl = self.base["weight_avgdl"]  # what every live row's sparse weights were made with
        self.row_avgdl = self.weight_avgdl  # what this writer's rows are weighted with (fixed at the first add)
        self.terms: dict[str, list] = {}  # term -> [tid, df at C, pk of the live row or None]
        self.df_delta: Counter[str] = Counter()
        self.added: dict[str, str] = {}  # doc key -> file name, added by this writer
        self.removed: dict[str, str] = {}  # doc key -> file name, removed by this writer (live at C)
        self._last_beat = time.monotonic()

    # -------------------------------------------------------------- housekeeping
    def _take_lease(self) -> None:
        lease = _read_meta(self.client, self.prefix, "writer")
        if lease and lease.get("owner") != self.owner and time.time() - float(lease.get("beat", 0)) < LEASE_SECONDS:
            raise IndexMismatch(f"another ingest is writing to {self.loc.label} (lease renewed "
                                f"{time.time() - float(lease['beat']):.0f} s ago); wait for it to finish")
        _write_meta(self.client, self.prefix, "writer", {"owner": self.owner, "beat": time.time()})
        threading.Thread(target=self._heartbeat, daemon=True).start()

    def _heartbeat(self) -> None:
        while not self._stop.wait(HEARTBEAT_SECONDS):
            try:
                _write_meta(self.client, self.prefix, "writer", {"owner": self.owner, "beat": time.time()})
            except Exception:  # noqa: BLE001 - the lease just lapses
                return

    def _drop_epochs(self, keep: set) -> None:
        head = f"{self.prefix}_e"
        for name in self.client.list_collections():
            if name.startswith(head):
                ep = name[len(head):].split("_", 1)[0]
                if ep.isdigit() and int(ep) not in keep:
                    self.client.drop_collection(name)
                    self.client.__dict__.get("_rag_loaded", set()).discard(name)

    def _recover(self) -> None:
        """Undo what a killed or aborted writer left: rows of unpublished generations, removals not committed."""
        for name in self.names.values():
            self.client.delete(name, filter=f"gen > {self.C}")
            for rows in _pages(self.client, name, f"dead > {self.C} and dead < {NEVER}", ["pk"]):
                self._set_dead(name, [r["pk"] for r in rows], NEVER)

    def _set_dead(self, collection: str, pks: list[str], value: int) -> None:
        for i in range(0, len(pks), WRITE_ROWS):
            part = pks[i : i + WRITE_ROWS]
            try:
                self.client.upsert(collection, [{"pk": p, "dead": value} for p in part], partial_update=True)
            except Exception:  # noqa: BLE001 - servers before 2.6 have no partial update: whole rows
                rows = self.client.query(collection, ids=part, output_fields=["*"])
                self.client.upsert(collection, [{**r, "dead": value} for r in rows])

    # -------------------------------------------------------------- changes
    def fingerprints(self, doc_keys: Sequence[str]) -> dict[str, str]:
        rows = _query_in(self.client, self.names["documents"], "key", list(doc_keys),
                         f"(({self.visible}) or gen == {self.G}) and dead > {self.G}", ["key", "fingerprint"])
        return {r["key"]: r["fingerprint"] for r in rows}

    def _lookup_terms(self, terms: Iterable[str]) -> None:
        missing = [t for t in set(terms) if t not in self.terms]
        if not missing:
            return
        for r in _query_in(self.client, self.names["terms"], "term", missing, self.visible, ["pk", "term", "tid", "df"]):
            self.terms[r["term"]] = [int(r["tid"]), int(r["df"]), r["pk"]]
        for t in missing:
            if t not in self.terms:
                self.terms[t] = [self.next_tid, 0, None]
                self.next_tid += 1

    def add(self, doc: PreparedDocument) -> None:
        if doc.key in self.added or self.fingerprints([doc.key]):
            self._remove_key(doc.key)
        parsed = doc.parsed
        meetings = {m.id: m for m in parsed.meetings}
        turns = dict(zip(doc.turn_keys, parsed.turns))
        G, dk = self.G, _fit(doc.key)
        life = {"gen": G, "dead": NEVER}
        unit = [1.0, 0.0]
        blobs: list[dict] = []

        def payload_row(owner: str, data: dict) -> dict:
            text = json.dumps(data, ensure_ascii=False)
            if len(text) <= PAYLOAD_CHARS:
                return {"payload": text, "parts": 0}
            parts = _split_payload(text)
            blobs.extend({"pk": f"{owner}#{i}@{G}", "owner": owner, "doc_key": dk, "part": i, "payload": p,
                          "_v": unit, **life} for i, p in enumerate(parts))
            return {"payload": "", "parts": len(parts)}

        m_rows = [{"pk": f"{m.id}@{G}", "id": m.id, "doc_key": dk, "_v": unit, **life, **payload_row(m.id, asdict(m))}
                  for m in parsed.meetings]
        t_rows = []
        for key, t in turns.items():
            data = asdict(t)
            data["kind"] = SpeakerKind(t.kind).value
            t_rows.append({"pk": f"{key}@{G}", "turn_key": key, "doc_key": dk, "meeting_id": t.meeting_id,
                           "ord": int(t.order), "_v": unit, **life, **payload_row(key, data)})
        # keyword side: term ids and document frequencies
        term_lists = [[_term_key(x) for x in c.tokens] for c in doc.chunks]
        self._lookup_terms(t for ts in term_lists for t in ts)
        c_rows = []
        if self.row_avgdl is None:  # a new index: provisional, re-weighted at commit
            self.row_avgdl = max(1.0, sum(map(len, term_lists)) / max(1, len(term_lists)))
        avgdl = self.row_avgdl
        for c, ts in zip(doc.chunks, term_lists):
            t, m = turns[c.turn_key], meetings[turns[c.turn_key].meeting_id]
            tf = Counter(ts)
            self.df_delta.update(tf.keys())
            c_rows.append({
                "pk": f"{c.key}@{G}", "key": c.key, "turn_key": c.turn_key, "doc_key": dk, "start": c.start,
                "end": c.end, "dl": len(ts), "body": _fit(m.body), "meeting": _fit(m.name), "date": _fit(m.date, 32),
                "speaker": _fit(t.speaker), "speaker_key": _fit(_nospace(t.speaker_name)),
                "kind": SpeakerKind(t.kind).value, "agenda": _fit(t.agenda), "doc": _fit(m.doc),
                "dense": np.asarray(c.vector, dtype=np.float32).tolist(),
                "sparse": self._sparse(tf, len(ts), avgdl), **life})
            self.n_chunks += 1
            self.total_len += len(ts)
        s_rows = [{"pk": f"{x.turn_key}:s{x.start}@{G}", "turn_key": x.turn_key, "doc_key": dk, "start": x.start,
                   "end": x.end, "vector": np.asarray(x.vector, dtype=np.float32).tolist(), **life}
                  for x in doc.sentences]
        dates = sorted({m.date for m in parsed.meetings if m.date})
        summary = {"turns": len(parsed.turns), "chunks": len(doc.chunks),
                   "meetings": [[m.date, m.name] for m in parsed.meetings],
                   "bodies": sorted({m.body for m in parsed.meetings if m.body}),
                   "kinds": sorted({SpeakerKind(t.kind).value for t in parsed.turns}),
                   "speakers": sorted({t.speaker_name or t.speaker for t in parsed.turns
                                       if SpeakerKind(t.kind) != SpeakerKind.UNKNOWN}),
                   "date": dates[0] if dates else None}
        d_data = {"key": doc.key, "doc": parsed.doc, "source": parsed.source, "format": parsed.format,
                  "content_hash": parsed.content_hash, "warnings": parsed.warnings,
                  "ingested_at": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "summary": summary}
        d_row = {"pk": f"{dk}@{G}", "key": dk, "doc_key": dk, "doc": _fit(parsed.doc), "source": _fit(parsed.source),
                 "fingerprint": doc.fingerprint, "_v": unit, **life, **payload_row(dk, d_data)}
        for kind, rows in (("meetings", m_rows), ("turns", t_rows), ("chunks", c_rows), ("sentences", s_rows),
                           ("blobs", blobs), ("documents", [d_row])):
            for i in range(0, len(rows), WRITE_ROWS):
                self.client.insert(self.names[kind], rows[i : i + WRITE_ROWS])
        self.n_turns += len(t_rows)
        self.n_sentences += len(s_rows)
        self.added[doc.key] = parsed.doc

    def _sparse(self, tf: Counter, dl: int, avgdl: float) -> dict[int, float]:
        if not tf:
            return {EMPTY_DIM: 1.0}
        return {self.terms[t][0]: tf_weight(n, dl, avgdl) for t, n in tf.items()}

    def remove(self, name: str) -> list[str]:
        cond = f"(doc == {_q(name)} or key == {_q(name)} or source == {_q(name)})"
        rows = self.client.query(self.names["documents"], filter=f"{cond} and (({self.visible}) or gen == {self.G}) "
                                 f"and dead > {self.G}", output_fields=["key", "doc"], limit=MAX_TOPK)
        for r in rows:
            self._remove_key(r["key"])
        return [r["doc"] for r in rows]

    def _remove_key(self, key: str) -> None:
        """Remove one document: rows written by this writer go at once; live rows are marked dead = G."""
        if key in self.added:  # undo this writer's own rows (their term counts and sizes too)
            self._count_out(key, f"gen == {self.G}")
            for name in self._per_document():
                self.client.delete(name, filter=f"doc_key == {_q(key)} and gen == {self.G}")
            del self.added[key]
        live = self.client.query(self.names["documents"], filter=f"key == {_q(key)} and {self.visible} and dead == {NEVER}",
                                 output_fields=["doc"], limit=10)
        if live:
            self._count_out(key, f"{self.visible} and dead == {NEVER}")
            for name in self._per_document():
                for rows in _pages(self.client, name, f"doc_key == {_q(key)} and {self.visible} and dead == {NEVER}",
                                   ["pk"]):
                    self._set_dead(name, [r["pk"] for r in rows], self.G)
            self.removed[key] = live[0]["doc"]

    def _per_document(self) -> list[str]:
        return [name for kind, name in self.names.items() if kind != "terms"]

    def _count_out(self, key: str, expr: str) -> None:
        """Take a document's chunks out of the counts: N, total length, document frequencies."""
        rows = _query_all(self.client, self.names["chunks"], f"doc_key == {_q(key)} and {expr}", ["dl", "sparse"])
        tids: Counter[int] = Counter()
        for r in rows:
            self.n_chunks -= 1
            self.total_len -= int(r["dl"])
            tids.update(int(t) for t in r["sparse"] if int(t) != EMPTY_DIM)
        self.n_turns -= len(_query_all(self.client, self.names["turns"], f"doc_key == {_q(key)} and {expr}", ["pk"]))
        self.n_sentences -= len(_query_all(self.client, self.names["sentences"], f"doc_key == {_q(key)} and {expr}",
                                           ["pk"]))
        if not tids:
            return
        by_tid = {v[0]: t for t, v in self.terms.items()}
        unknown = [t for t in tids if t not in by_tid]
        for i in range(0, len(unknown), IN_BATCH):
            ids = ", ".join(str(t) for t in unknown[i : i + IN_BATCH])
            for r in self.client.query(self.names["terms"], filter=f"tid in [{ids}] and {self.visible}",
                                       output_fields=["pk", "term", "tid", "df"], limit=MAX_TOPK):
                self.terms[r["term"]] = [int(r["tid"]), int(r["df"]), r["pk"]]
                by_tid[int(r["tid"])] = r["term"]
        for tid, n in tids.items():
            self.df_delta[by_tid[tid]] -= n

    # -------------------------------------------------------------- commit
    def commit(self) -> None:
        c, G = self.client, self.G
        # document frequencies: a new row per changed term, the old one dead from G on
        changed = {t: d for t, d in self.df_delta.items() if d}
        old = [self.terms[t][2] for t in changed if self.terms[t][2] is not None]
        self._set_dead(self.names["terms"], old, G)
        rows = [{"pk": f"{t}@{G}", "term": t, "tid": self.terms[t][0], "df": self.terms[t][1] + d,
                 "_v": [1.0, 0.0], "gen": G, "dead": NEVER} for t, d in changed.items()]
        for i in range(0, len(rows), WRITE_ROWS):
            c.insert(self.names["terms"], rows[i : i + WRITE_ROWS])
        # term-frequency weights: with the exact avgdl (or one within bm25_drift of it)
        avgdl = self.total_len / self.n_chunks if self.n_chunks else None
        if avgdl is None:
            self.weight_avgdl = None
        else:
            self.row_avgdl = self.row_avgdl or self.weight_avgdl  # what the rows were weighted with
            if self.weight_avgdl is None or abs(avgdl / self.row_avgdl - 1) > self.loc.bm25_drift:
                self._reweight(avgdl)
                self.weight_avgdl = avgdl
        kind = self._index_kind()
        for name in self.names.values():
            c.flush(name)
        if kind != self.base["vector_index"]:
            self._switch_index(kind)
        pointer = {"generation": G, "epoch": self.epoch,
                   "prev_epoch": self.live["epoch"] if self.live and int(self.live["epoch"]) != self.epoch else None,
                   "manifest": {**asdict(self.manifest), "vector_index": kind}, "chunks": self.n_chunks,
                   "total_len": self.total_len, "weight_avgdl": self.weight_avgdl, "next_tid": self.next_tid,
                   "turns": self.n_turns, "sentences": self.n_sentences, "vector_index": kind,
                   "committed": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.manifest.vector_index = kind
        _write_meta(c, self.prefix, "current", pointer)  # the switch: one atomic row
        # garbage: rows no reader one generation back can see; epochs older than the previous one
        for name in self.names.values():
            c.delete(name, filter=f"dead <= {G - 1}")
        self._drop_epochs({self.epoch, pointer["prev_epoch"]})
        self._finish()

    def _reweight(self, avgdl: float) -> None:
        """Every live chunk's sparse vector with the new avgdl: this generation's rows in place, older ones
        as new rows of this generation (the old ones dead from G on, so earlier readers keep theirs).
        Page by page (PAGE_ROWS read, WRITE_ROWS written at a time), never the whole collection in one message
        or in memory. This generation's rows first, upserted under their own pks (behind the page cursor); then
        the older rows, each page marked dead = G and copied as gen G: neither matches the older rows' filter
        again, so no row is re-weighted twice."""
        c, G, used, chunks = self.client, self.G, self.row_avgdl, self.names["chunks"]

        def weighted(r: dict) -> dict:
            r = dict(r)
            dl = int(r["dl"])
            if dl:  # tf back from the weight it was stored with, then the weight with the new avgdl
                K = K1 * ((1 - B) + B * dl / used)
                r["sparse"] = {int(t): tf_weight(round(w * K / (1 - w)) if w < 1 else 1, dl, avgdl)
                               for t, w in r["sparse"].items()}
            return r

        for rows in _pages(c, chunks, f"gen == {G} and dead > {G}", ["*"]):
            fresh = [weighted(r) for r in rows]
            for i in range(0, len(fresh), WRITE_ROWS):
                c.upsert(chunks, fresh[i : i + WRITE_ROWS])
        for rows in _pages(c, chunks, f"{self.visible} and dead > {G}", ["*"]):
            older = [weighted(r) for r in rows]
            self._set_dead(chunks, [r["pk"] for r in older], G)
            moved = [{**r, "pk": f"{r['key']}@{G}", "gen": G, "dead": NEVER} for r in older]
            for i in range(0, len(moved), WRITE_ROWS):
                c.insert(chunks, moved[i : i + WRITE_ROWS])

    def _index_kind(self) -> str:
        if self.loc.index != "auto":
            return self.loc.index
        return "hnsw" if self.n_chunks >= self.hnsw_threshold else "flat"

    def _switch_index(self, kind: str) -> None:
        """FLAT -> HNSW (or back) when the chunk count crosses RAG_HNSW_THRESHOLD: readers wait while it loads."""
        c, name = self.client, self.names["chunks"]
        c.release_collection(name)
        c.drop_index(name, "dense")
        params = c.prepare_index_params()
        _vector_index(params, "dense", kind)
        c.create_index(name, params, sync=not self.loc.lite)
        c.load_collection(name)

    def abort(self) -> None:
        if self._closed:
            return
        try:
            for name in self.names.values():
                self.client.delete(name, filter=f"gen == {self.G}")
                for rows in _pages(self.client, name, f"dead == {self.G}", ["pk"]):
                    self._set_dead(name, [r["pk"] for r in rows], NEVER)
            if self.fresh and self.live is not None:  # a rebuild's new epoch: nothing points at it
                for name in self.names.values():
                    self.client.drop_collection(name)
        except Exception:  # noqa: BLE001 - whatever is left, the next writer cleans up (_recover)
            pass
        self._finish()

    def _finish(self) -> None:
        self._closed = True
        self._stop.set()
        if not self.loc.lite:
            try:
                _write_meta(self.client, self.prefix, "writer", None)
            except Exception:  # noqa: BLE001 - the lease lapses by itself
                pass
        self._release()

    def _release(self) -> None:
        with _writers_lock:
            _writers.discard(self.loc.uri + self.loc.prefix)

    def __enter__(self) -> "MilvusStoreWriter":
        return self

    def __exit__(self, exc_type, *_: object) -> None:
        if not self._closed:
            self.abort()


# ---------------------------------------------------------------- registration (rag.store.STORES)


def _pointer(loc: Location) -> dict | None:
    if not loc.exists():
        return None
    return _read_meta(loc.client(), loc.prefix, "current")


def built_with(settings: Any, token: str | None = None) -> Manifest | None:
    pointer = _pointer(Location(settings, token))
    if pointer is None:
        return None
    manifest = Manifest(**pointer["manifest"])
    manifest.check_format(Location(settings, token).label)
    return manifest


def open_store(settings: Any, token: str | None = None) -> MilvusStore:
    loc = Location(settings, token)
    pointer = _pointer(loc)
    if pointer is None:
        raise IndexMismatch(f"no index in {loc.label}")
    return MilvusStore(loc, pointer)


def open_writer(settings: Any, manifest: Manifest, rebuild: bool, token: str | None = None) -> MilvusStoreWriter:
    return MilvusStoreWriter(Location(settings, token), manifest, hnsw_threshold=settings.hnsw_threshold,
                             rebuild=rebuild)
