"""SQLite catalog: documents, meetings, turns and their retrieval chunks.

FAISS and BM25 know only integer chunk ids, which never leave the local backend; the rest of
the system sees the stable string keys of turns and chunks. Everything a citation needs lives
here, and the metadata filters (body, meeting, dates, speaker, kind, agenda) are SQL over these tables.

Each text is stored once: a turn's text (deflated), with its pieces (offsets in the document text) and its
quotable sentences as offsets in it; a chunk is a span of its turn (its key is the turn's key and its number).
The document text itself is not kept (nothing reads it: quotes are found and shown in the turn text, and the
pieces still say where each turn sits in the source). Keyword tokens live in the BM25 index (keyword.py),
sentence vectors beside the chunk vectors (vectors.py).
"""

from __future__ import annotations

import json
import sqlite3
import zlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from rag.records import ChunkRef, Filters, Meeting, PreparedDocument, SpeakerKind, Turn

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,          -- the source's stable key (RawDocument.key)
    doc TEXT NOT NULL,                 -- file name
    source TEXT NOT NULL,              -- path or URL shown to users
    format TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fingerprint TEXT NOT NULL,         -- bytes + metadata + parser version: unchanged means skip
    warnings TEXT NOT NULL DEFAULT '[]',
    ingested_at TEXT NOT NULL DEFAULT (datetime('now'))
);
CREATE TABLE IF NOT EXISTS meetings (
    id TEXT PRIMARY KEY,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    doc TEXT NOT NULL, source TEXT NOT NULL,
    body TEXT, name TEXT, date TEXT, place TEXT,
    agenda TEXT NOT NULL DEFAULT '[]',
    content_hash TEXT NOT NULL DEFAULT ''
);
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    key TEXT UNIQUE NOT NULL,
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    speaker TEXT NOT NULL, speaker_name TEXT, speaker_role TEXT, speaker_group TEXT,
    kind TEXT NOT NULL, agenda TEXT, procedural INTEGER NOT NULL DEFAULT 0,
    text BLOB NOT NULL,                -- zlib-deflated UTF-8
    pieces BLOB NOT NULL,              -- (start, end) offsets in the document text (pack_spans)
    url TEXT,
    sentences BLOB                     -- quotable sentences: (start, end) offsets in the turn text (pack_spans)
);
CREATE INDEX IF NOT EXISTS turns_meeting ON turns(meeting_id, ord);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the id FAISS and BM25 know; never reused, since removals
                                           -- reach FAISS only at commit
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    n INTEGER NOT NULL,                -- its number in the turn: key = turn key + ":c" + n
    start INTEGER NOT NULL, end INTEGER NOT NULL    -- offsets in the turn text
);
CREATE INDEX IF NOT EXISTS chunks_turn ON chunks(turn_id, n);
"""


def where(filters: Filters) -> tuple[str, list[object]]:
    """The filters as a WHERE clause over `turns t JOIN meetings m`."""
    clauses, args = [], []
    if filters.body:
        clauses.append("m.body LIKE ?")
        args.append(f"%{filters.body}%")
    if filters.meeting:
        clauses.append("m.name LIKE ?")
        args.append(f"%{filters.meeting}%")
    if filters.since:
        clauses.append("m.date >= ?")
        args.append(filters.since)
    if filters.until:
        clauses.append("m.date <= ?")
        args.append(filters.until)
    if filters.speaker:
        # names are printed spaced out (関谷 博, たきざわ 正 宜): compare without spaces
        clauses.append("(replace(replace(coalesce(t.speaker_name,''),' ',''),'　','') LIKE ? OR t.speaker LIKE ?)")
        args += [f"%{filters.speaker.replace(' ', '').replace('　', '')}%", f"%{filters.speaker}%"]
    if filters.kinds:
        clauses.append(f"t.kind IN ({','.join('?' * len(filters.kinds))})")
        args += filters.kinds
    if filters.agenda:
        clauses.append("t.agenda LIKE ?")
        args.append(f"%{filters.agenda}%")
    if filters.doc:
        clauses.append("m.doc = ?")
        args.append(filters.doc)
    return (" AND ".join(clauses) or "1"), args


class Catalog:
    def __init__(self, path: Path, readonly: bool = False):
        self.path = path
        uri = f"file:{path}?mode=ro" if readonly else f"file:{path}"
        self.db = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys = ON")
        if not readonly:
            self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    # ------------------------------------------------------------ documents
    def fingerprints(self, keys: list[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for part in _batches(keys):
            q = f"SELECT key, fingerprint FROM documents WHERE key IN ({_marks(part)})"
            out.update({r["key"]: r["fingerprint"] for r in self.db.execute(q, part)})
        return out

    def find_documents(self, name: str) -> list[sqlite3.Row]:
        """Documents whose file name, key or source equals `name`."""
        return self.db.execute(
            "SELECT id, key, doc, source FROM documents WHERE doc = ? OR key = ? OR source = ?", (name, name, name)
        ).fetchall()

    def document_id(self, key: str) -> int | None:
        row = self.db.execute("SELECT id FROM documents WHERE key = ?", (key,)).fetchone()
        return row["id"] if row else None

    def chunk_ids_of_document(self, document_id: int) -> list[int]:
        q = "SELECT c.id FROM chunks c JOIN turns t ON t.id = c.turn_id WHERE t.document_id = ?"
        return [r[0] for r in self.db.execute(q, (document_id,))]

    def turn_ids_of_document(self, document_id: int) -> list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM turns WHERE document_id = ?", (document_id,))]

    def delete_document(self, document_id: int) -> None:
        self.db.execute("DELETE FROM documents WHERE id = ?", (document_id,))

    def add_document(self, doc: PreparedDocument) -> tuple[list[int], dict[str, int]]:
        """Insert a prepared document; return the new chunk ids (in doc.chunks order) and the turn ids by key."""
        parsed = doc.parsed
        cur = self.db.execute(
            "INSERT INTO documents(key, doc, source, format, content_hash, fingerprint, warnings)"
            " VALUES (?,?,?,?,?,?,?)",
            (doc.key, parsed.doc, parsed.source, parsed.format, parsed.content_hash, doc.fingerprint,
             json.dumps(parsed.warnings, ensure_ascii=False)),
        )
        document_id = int(cur.lastrowid)  # type: ignore[arg-type]
        for m in parsed.meetings:
            self.db.execute(
                "INSERT OR REPLACE INTO meetings(id, document_id, doc, source, body, name, date, place, agenda,"
                " content_hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (m.id, document_id, m.doc, m.source, m.body, m.name, m.date, m.place,
                 json.dumps(m.agenda, ensure_ascii=False), m.content_hash),
            )
        spans: dict[str, list[tuple[int, int]]] = {}
        for x in doc.sentences:
            spans.setdefault(x.turn_key, []).append((x.start, x.end))
        turn_ids: dict[str, int] = {}
        for key, t in zip(doc.turn_keys, parsed.turns):
            cur = self.db.execute(
                "INSERT INTO turns(key, document_id, meeting_id, ord, speaker, speaker_name, speaker_role,"
                " speaker_group, kind, agenda, procedural, text, pieces, url, sentences)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (key, document_id, t.meeting_id, t.order, t.speaker, t.speaker_name, t.speaker_role,
                 t.speaker_group, SpeakerKind(t.kind).value, t.agenda, int(t.procedural), pack_text(t.text),
                 pack_spans(t.pieces), t.url, pack_spans(spans.get(key, []))),
            )
            turn_ids[key] = int(cur.lastrowid)  # type: ignore[arg-type]
        chunk_ids = []
        for c in doc.chunks:
            turn_key, n = split_chunk_key(c.key)
            if turn_key != c.turn_key:
                raise ValueError(f"chunk key {c.key!r} is not its turn's key {c.turn_key!r} + ':c' + a number")
            chunk_ids.append(int(self.db.execute("INSERT INTO chunks(turn_id, n, start, end) VALUES (?,?,?,?)",
                                                 (turn_ids[c.turn_key], n, c.start, c.end)).lastrowid))
        return chunk_ids, turn_ids

    def commit(self) -> None:
        self.db.commit()

    # ------------------------------------------------------------ reads
    def turn_ids(self, filters: Filters) -> np.ndarray:
        clause, args = where(filters)
        rows = self.db.execute(f"SELECT t.id FROM turns t JOIN meetings m ON m.id = t.meeting_id WHERE {clause}", args)
        return np.fromiter((r[0] for r in rows), np.int64)

    def meeting_rowids(self, filters: Filters) -> np.ndarray:
        """For filters on meetings only (ChunkMap.MEETING_LEVEL)."""
        clause, args = where(filters)
        return np.fromiter((r[0] for r in self.db.execute(f"SELECT m.rowid FROM meetings m WHERE {clause}", args)),
                           np.int64)

    def chunks_by_id(self, ids: list[int]) -> dict[int, ChunkRef]:
        out: dict[int, ChunkRef] = {}
        for part in _batches(ids):
            q = ("SELECT c.id, c.n, t.key AS turn_key, c.start, c.end FROM chunks c JOIN turns t ON t.id = c.turn_id"
                 f" WHERE c.id IN ({_marks(part)})")
            for r in self.db.execute(q, part):
                out[r["id"]] = ChunkRef(f"{r['turn_key']}:c{r['n']}", r["turn_key"], r["start"], r["end"])
        return out

    def chunk_ids_of(self, keys: list[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        for key in keys:
            try:
                turn_key, n = split_chunk_key(key)
            except ValueError:
                continue
            row = self.db.execute("SELECT c.id FROM turns t JOIN chunks c ON c.turn_id = t.id"
                                  " WHERE t.key = ? AND c.n = ?", (turn_key, n)).fetchone()
            if row is not None:
                out[key] = row[0]
        return out

    def turns(self, keys: list[str]) -> dict[str, tuple[Turn, Meeting]]:
        out: dict[str, tuple[Turn, Meeting]] = {}
        for part in _batches(keys):
            q = (
                "SELECT t.*, m.doc AS m_doc, m.source AS m_source, m.body AS m_body, m.name AS m_name,"
                " m.date AS m_date, m.place AS m_place, m.agenda AS m_agenda, m.content_hash AS m_hash"
                f" FROM turns t JOIN meetings m ON m.id = t.meeting_id WHERE t.key IN ({_marks(part)})"
            )
            for r in self.db.execute(q, part):
                out[r["key"]] = (_turn(r), _meeting(r))
        return out

    def neighbours(self, turn_key: str, before: int = 2, after: int = 2) -> list[tuple[str, Turn, Meeting]]:
        """The turn and those around it in the same meeting, in order."""
        row = self.db.execute("SELECT meeting_id, ord FROM turns WHERE key = ?", (turn_key,)).fetchone()
        if row is None:
            return []
        keys = [r[0] for r in self.db.execute(
            "SELECT key FROM turns WHERE meeting_id = ? AND ord BETWEEN ? AND ? ORDER BY ord",
            (row["meeting_id"], row["ord"] - before, row["ord"] + after))]
        found = self.turns(keys)
        return [(k, *found[k]) for k in keys if k in found]

    def sentences_of(self, turn_keys: list[str]) -> dict[str, tuple[int, list[tuple[int, int]]]]:
        """turn key -> (turn id, [(start, end)] of its quotable sentences in order); unknown keys are left out."""
        out: dict[str, tuple[int, list[tuple[int, int]]]] = {}
        for part in _batches(turn_keys):
            q = f"SELECT id, key, sentences FROM turns WHERE key IN ({_marks(part)})"
            for r in self.db.execute(q, part):
                out[r["key"]] = (r["id"], unpack_spans(r["sentences"]))
        return out

    def stats(self) -> dict[str, object]:
        one = lambda q: self.db.execute(q).fetchone()[0]  # noqa: E731
        dates = self.db.execute("SELECT min(date), max(date) FROM meetings WHERE date IS NOT NULL").fetchone()
        return {
            "documents": one("SELECT count(*) FROM documents"),
            "meetings": one("SELECT count(*) FROM meetings"),
            "turns": one("SELECT count(*) FROM turns"),
            "chunks": one("SELECT count(*) FROM chunks"),
            "bodies": [r[0] for r in self.db.execute(
                "SELECT DISTINCT body FROM meetings WHERE body IS NOT NULL ORDER BY body")],
            "date_from": dates[0],
            "date_to": dates[1],
        }

    def facets(self) -> dict[str, list[str]]:
        """What the index contains, for filter menus."""
        col = lambda q: [r[0] for r in self.db.execute(q)]  # noqa: E731
        return {
            "bodies": col("SELECT DISTINCT body FROM meetings WHERE body IS NOT NULL ORDER BY body"),
            "meetings": col("SELECT DISTINCT name FROM meetings WHERE name IS NOT NULL ORDER BY date, name"),
            "kinds": col("SELECT DISTINCT kind FROM turns ORDER BY kind"),
            "speakers": col(
                "SELECT DISTINCT coalesce(speaker_name, speaker) FROM turns WHERE kind != 'unknown' ORDER BY 1"
            ),
        }

    def documents(self) -> list[dict[str, object]]:
        rows = self.db.execute(
            "SELECT d.doc, d.key, d.source, d.format, d.ingested_at, count(t.id) AS turns,"
            " (SELECT group_concat(DISTINCT coalesce(m.body,'')) FROM meetings m WHERE m.document_id = d.id) AS bodies,"
            " (SELECT min(m.date) FROM meetings m WHERE m.document_id = d.id) AS date"
            " FROM documents d LEFT JOIN turns t ON t.document_id = d.id GROUP BY d.id ORDER BY d.doc"
        ).fetchall()
        return [dict(r) for r in rows]


class ChunkMap:
    """Each chunk's turn, each turn's meeting and speaker, as arrays: a filter on meetings (body, name, dates, file)
    or speakers becomes a mask over them instead of a join over every chunk (1M turns: ~10 ms instead of 150–300 ms
    of SQL for a body, and for a speaker a match over the few thousand distinct speakers instead of ~1 s scanning
    every turn), and any other filter on turns (kind, agenda) a query over turns without the chunks. Written at
    commit after VACUUM (which may renumber the meetings' rowids); an index written before it had one computes it
    on first use, and one written before speakers were mapped filters speakers in SQL."""

    FILE = "chunk_map.npz"
    MEETING_LEVEL = ("body", "meeting", "since", "until", "doc")

    def __init__(self, chunk_ids: np.ndarray, chunk_turn: np.ndarray, turn_ids: np.ndarray, turn_meeting: np.ndarray,
                 turn_speaker: np.ndarray | None = None, speakers: list[tuple[str, str | None]] | None = None):
        self.chunk_ids = chunk_ids  # ascending
        self.chunk_turn = chunk_turn  # position in turn_ids of each chunk's turn
        self.turn_ids = turn_ids  # ascending
        self.turn_meeting = turn_meeting  # the meeting's rowid, per turn
        self.turn_speaker = turn_speaker  # position in `speakers` of each turn's (speaker, speaker_name)
        self.speakers = speakers
        self._speaker_db: sqlite3.Connection | None = None

    @classmethod
    def of(cls, catalog: "Catalog") -> "ChunkMap":
        rows = catalog.db.execute("SELECT t.id, m.rowid, t.speaker, t.speaker_name FROM turns t"
                                  " JOIN meetings m ON m.id = t.meeting_id ORDER BY t.id").fetchall()
        pairs: dict[tuple[str, str | None], int] = {}
        turn_speaker = np.fromiter((pairs.setdefault((r[2], r[3]), len(pairs)) for r in rows), np.int32, len(rows))
        turns = np.array([(r[0], r[1]) for r in rows], np.int64).reshape(-1, 2)
        chunks = np.array(catalog.db.execute("SELECT id, turn_id FROM chunks ORDER BY id").fetchall(),
                          np.int64).reshape(-1, 2)
        return cls(chunks[:, 0], np.searchsorted(turns[:, 0], chunks[:, 1]), turns[:, 0], turns[:, 1], turn_speaker,
                   list(pairs))

    def save(self, folder: Path) -> None:
        speakers = {} if self.speakers is None else {
            "turn_speaker": self.turn_speaker,
            "speakers": np.frombuffer(zlib.compress(json.dumps(self.speakers, ensure_ascii=False).encode("utf-8"), 6),
                                      np.uint8)}
        np.savez_compressed(folder / self.FILE, chunk_ids=np.diff(self.chunk_ids, prepend=0),
                            chunk_turn=np.diff(self.chunk_turn, prepend=0), turn_ids=np.diff(self.turn_ids, prepend=0),
                            turn_meeting=self.turn_meeting, **speakers)

    @classmethod
    def load(cls, folder: Path) -> "ChunkMap | None":
        if not (folder / cls.FILE).exists():
            return None
        with np.load(folder / cls.FILE) as z:
            speakers = (z["turn_speaker"], [tuple(x) for x in json.loads(zlib.decompress(z["speakers"].tobytes()))]) \
                if "speakers" in z else (None, None)
            return cls(*(np.cumsum(z[k]) for k in ("chunk_ids", "chunk_turn", "turn_ids")), z["turn_meeting"],
                       *speakers)

    def allowed(self, catalog: "Catalog", filters: Filters) -> np.ndarray:
        """The ids (ascending) of the chunks the filters allow."""
        mapped = self.MEETING_LEVEL + (("speaker",) if self.speakers is not None else ())
        if any(getattr(filters, f) not in (None, "") for f in vars(filters) if f not in mapped):
            turn_ok = np.zeros(len(self.turn_ids), bool)
            turn_ok[np.searchsorted(self.turn_ids, catalog.turn_ids(filters))] = True
            return self.chunk_ids[turn_ok[self.chunk_turn]]
        turn_ok = np.ones(len(self.turn_ids), bool)
        on_meetings = replace(filters, speaker=None)
        if not on_meetings.is_empty():
            rowids = catalog.meeting_rowids(on_meetings)
            ok = np.zeros(int(max(self.turn_meeting.max(initial=0), rowids.max(initial=0))) + 1, bool)
            ok[rowids] = True
            turn_ok &= ok[self.turn_meeting]
        if filters.speaker:
            turn_ok &= self._speakers_matching(filters.speaker)[self.turn_speaker]
        return self.chunk_ids[turn_ok[self.chunk_turn]]

    def _speakers_matching(self, speaker: str) -> np.ndarray:
        """Which distinct (speaker, speaker_name) pairs the speaker filter allows: the catalog's own SQL clause, run
        over the pairs in an in-memory table (the same LIKE rules as over every turn)."""
        if self._speaker_db is None:
            db = sqlite3.connect(":memory:", check_same_thread=False)
            db.execute("CREATE TABLE t(speaker TEXT, speaker_name TEXT)")
            db.executemany("INSERT INTO t(rowid, speaker, speaker_name) VALUES (?, ?, ?)",
                           ((i, a, b) for i, (a, b) in enumerate(self.speakers or [])))
            self._speaker_db = db
        clause, args = where(Filters(speaker=speaker))
        ok = np.zeros(max(1, len(self.speakers or [])), bool)
        ok[[r[0] for r in self._speaker_db.execute(f"SELECT rowid FROM t WHERE {clause}", args)]] = True
        return ok


def _batches(items: list, size: int = 500):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _marks(part: list) -> str:
    return ",".join("?" * len(part))


def pack_text(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def unpack_text(data: bytes) -> str:
    return zlib.decompress(data).decode("utf-8")


def pack_spans(spans) -> bytes:
    """(start, end) pairs as little-endian uint16 (a leading 2) or uint32 (a leading 4)."""
    arr = np.asarray(list(spans), dtype=np.int64).reshape(-1)
    if len(arr) and arr.max() >= 65536:
        return b"\x04" + arr.astype("<u4").tobytes()
    return b"\x02" + arr.astype("<u2").tobytes()


def unpack_spans(data: bytes | None) -> list[tuple[int, int]]:
    if not data:
        return []
    arr = np.frombuffer(data[1:], dtype="<u2" if data[0] == 2 else "<u4").reshape(-1, 2)
    return [(int(s), int(e)) for s, e in arr]


def split_chunk_key(key: str) -> tuple[str, int]:
    """A chunk key is its turn's key, ":c" and its number in the turn (rag.indexing.prepare)."""
    turn_key, _, n = key.rpartition(":c")
    if not turn_key or not n.isdigit():
        raise ValueError(f"not a chunk key: {key!r}")
    return turn_key, int(n)


def _turn(r: sqlite3.Row) -> Turn:
    return Turn(
        meeting_id=r["meeting_id"], order=r["ord"], speaker=r["speaker"], text=unpack_text(r["text"]),
        pieces=unpack_spans(r["pieces"]),
        speaker_name=r["speaker_name"], speaker_role=r["speaker_role"], speaker_group=r["speaker_group"],
        kind=SpeakerKind(r["kind"]), agenda=r["agenda"], procedural=bool(r["procedural"]), url=r["url"],
    )


def _meeting(r: sqlite3.Row) -> Meeting:
    return Meeting(
        id=r["meeting_id"], doc=r["m_doc"], source=r["m_source"], body=r["m_body"], name=r["m_name"],
        date=r["m_date"], agenda=json.loads(r["m_agenda"]), place=r["m_place"], content_hash=r["m_hash"],
    )
