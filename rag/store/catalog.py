"""SQLite catalog: documents, meetings, turns and their retrieval chunks.

FAISS and BM25 know only chunk ids; everything a citation needs lives here, and the
metadata filters (body, meeting, dates, speaker, kind, agenda) are SQL over these tables.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from rag.records import Meeting, ParsedDocument, SpeakerKind, Turn

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE NOT NULL,          -- resolved path of the file it was read from
    doc TEXT NOT NULL,                 -- file name
    source TEXT NOT NULL,              -- path or URL shown to users
    format TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    fingerprint TEXT NOT NULL,         -- file + sidecar bytes + parser version: unchanged means skip
    text TEXT NOT NULL,                -- parsed document text; all offsets refer to it
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
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a removed turn's id must not come back
    document_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    meeting_id TEXT NOT NULL REFERENCES meetings(id) ON DELETE CASCADE,
    ord INTEGER NOT NULL,
    speaker TEXT NOT NULL, speaker_name TEXT, speaker_role TEXT, speaker_group TEXT,
    kind TEXT NOT NULL, agenda TEXT, procedural INTEGER NOT NULL DEFAULT 0,
    text TEXT NOT NULL, pieces TEXT NOT NULL, url TEXT
);
CREATE INDEX IF NOT EXISTS turns_meeting ON turns(meeting_id, ord);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- the id FAISS and BM25 know; never reused, since removals
                                           -- reach FAISS only at commit
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    start INTEGER NOT NULL, end INTEGER NOT NULL,   -- offsets in the turn text
    tokens TEXT NOT NULL               -- keyword tokens, space separated
);
CREATE INDEX IF NOT EXISTS chunks_turn ON chunks(turn_id);
CREATE TABLE IF NOT EXISTS sentences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- id in sentences.faiss; candidates for quoting
    turn_id INTEGER NOT NULL REFERENCES turns(id) ON DELETE CASCADE,
    start INTEGER NOT NULL, end INTEGER NOT NULL   -- offsets in the turn text
);
CREATE INDEX IF NOT EXISTS sentences_turn ON sentences(turn_id);
"""


@dataclass(frozen=True)
class Filters:
    """Metadata restrictions, applied before ranking."""

    body: str | None = None  # substring of the body name
    meeting: str | None = None  # substring of the meeting name
    since: str | None = None  # ISO date, inclusive
    until: str | None = None  # ISO date, inclusive
    speaker: str | None = None  # substring of the speaker name or printed label
    kind: str | None = None  # SpeakerKind value, or a comma-separated list of them
    agenda: str | None = None  # substring of the agenda item
    doc: str | None = None  # file name

    def is_empty(self) -> bool:
        return all(v in (None, "") for v in self.__dict__.values())

    def sql(self) -> tuple[str, list[object]]:
        """WHERE clause over `turns t JOIN meetings m`."""
        where, args = [], []
        if self.body:
            where.append("m.body LIKE ?")
            args.append(f"%{self.body}%")
        if self.meeting:
            where.append("m.name LIKE ?")
            args.append(f"%{self.meeting}%")
        if self.since:
            where.append("m.date >= ?")
            args.append(self.since)
        if self.until:
            where.append("m.date <= ?")
            args.append(self.until)
        if self.speaker:
            # names are printed spaced out (関谷 博, たきざわ 正 宜): compare without spaces
            where.append(
                "(replace(replace(coalesce(t.speaker_name,''),' ',''),'　','') LIKE ? OR t.speaker LIKE ?)"
            )
            args += [f"%{self.speaker.replace(' ', '').replace('　', '')}%", f"%{self.speaker}%"]
        if self.kind:
            kinds = [k.strip() for k in self.kind.split(",") if k.strip()]
            where.append(f"t.kind IN ({','.join('?' * len(kinds))})")
            args += kinds
        if self.agenda:
            where.append("t.agenda LIKE ?")
            args.append(f"%{self.agenda}%")
        if self.doc:
            where.append("m.doc = ?")
            args.append(self.doc)
        return (" AND ".join(where) or "1"), args


@dataclass
class ChunkRow:
    chunk_id: int
    turn_id: int
    start: int
    end: int
    text: str  # the chunk's text (a slice of the turn text)


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
    def fingerprint(self, key: str) -> str | None:
        row = self.db.execute("SELECT fingerprint FROM documents WHERE key = ?", (key,)).fetchone()
        return row["fingerprint"] if row else None

    def find_documents(self, name: str) -> list[sqlite3.Row]:
        """Documents whose file name, key or source equals `name`."""
        return self.db.execute(
            "SELECT id, key, doc, source FROM documents WHERE doc = ? OR key = ? OR source = ?", (name, name, name)
        ).fetchall()

    def chunk_ids_of_document(self, document_id: int) -> list[int]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT c.id FROM chunks c JOIN turns t ON t.id = c.turn_id WHERE t.document_id = ?", (document_id,)
            )
        ]

    def sentence_ids_of_document(self, document_id: int) -> list[int]:
        return [
            r[0]
            for r in self.db.execute(
                "SELECT s.id FROM sentences s JOIN turns t ON t.id = s.turn_id WHERE t.document_id = ?", (document_id,)
            )
        ]

    def add_sentences(self, rows: Iterable[tuple[int, int, int]]) -> list[int]:
        """rows: (turn_id, start, end) -> sentence ids."""
        return [int(self.db.execute("INSERT INTO sentences(turn_id, start, end) VALUES (?,?,?)", r).lastrowid)
                for r in rows]

    def sentences_of(self, turn_ids: list[int]) -> dict[int, list[tuple[int, int, int]]]:
        """turn id -> [(sentence id, start, end)] in order."""
        out: dict[int, list[tuple[int, int, int]]] = {t: [] for t in turn_ids}
        q = f"SELECT id, turn_id, start, end FROM sentences WHERE turn_id IN ({','.join('?' * len(turn_ids))}) ORDER BY start"
        for r in self.db.execute(q, turn_ids):
            out[r["turn_id"]].append((r["id"], r["start"], r["end"]))
        return out

    def delete_document(self, document_id: int) -> None:
        self.db.execute("DELETE FROM documents WHERE id = ?", (document_id,))

    def add_document(self, key: str, fingerprint: str, parsed: ParsedDocument) -> tuple[int, list[int]]:
        """Insert a parsed document; return its id and the new turn ids (in parsed.turns order)."""
        cur = self.db.execute(
            "INSERT INTO documents(key, doc, source, format, content_hash, fingerprint, text, warnings)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (key, parsed.doc, parsed.source, parsed.format, parsed.content_hash, fingerprint, parsed.text,
             json.dumps(parsed.warnings, ensure_ascii=False)),
        )
        document_id = int(cur.lastrowid)  # type: ignore[arg-type]
        for m in parsed.meetings:
            self.db.execute(
                "INSERT OR REPLACE INTO meetings(id, document_id, doc, source, body, name, date, place, agenda, content_hash)"
                " VALUES (?,?,?,?,?,?,?,?,?,?)",
                (m.id, document_id, m.doc, m.source, m.body, m.name, m.date, m.place,
                 json.dumps(m.agenda, ensure_ascii=False), m.content_hash),
            )
        turn_ids = []
        for t in parsed.turns:
            cur = self.db.execute(
                "INSERT INTO turns(document_id, meeting_id, ord, speaker, speaker_name, speaker_role, speaker_group,"
                " kind, agenda, procedural, text, pieces, url) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (document_id, t.meeting_id, t.order, t.speaker, t.speaker_name, t.speaker_role, t.speaker_group,
                 SpeakerKind(t.kind).value, t.agenda, int(t.procedural), t.text, json.dumps(t.pieces), t.url),
            )
            turn_ids.append(int(cur.lastrowid))  # type: ignore[arg-type]
        return document_id, turn_ids

    def add_chunks(self, rows: Iterable[tuple[int, int, int, str]]) -> list[int]:
        """rows: (turn_id, start, end, tokens) -> chunk ids."""
        ids = []
        for turn_id, start, end, tokens in rows:
            cur = self.db.execute(
                "INSERT INTO chunks(turn_id, start, end, tokens) VALUES (?,?,?,?)", (turn_id, start, end, tokens)
            )
            ids.append(int(cur.lastrowid))  # type: ignore[arg-type]
        return ids

    def commit(self) -> None:
        self.db.commit()

    # ------------------------------------------------------------ reads
    def all_chunk_tokens(self) -> Iterator[tuple[int, str]]:
        yield from self.db.execute("SELECT id, tokens FROM chunks ORDER BY id")

    def chunk_ids(self, filters: Filters) -> list[int]:
        where, args = filters.sql()
        return [
            r[0]
            for r in self.db.execute(
                f"SELECT c.id FROM chunks c JOIN turns t ON t.id = c.turn_id JOIN meetings m ON m.id = t.meeting_id"
                f" WHERE {where}",
                args,
            )
        ]

    def chunks(self, chunk_ids: list[int]) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        for i in range(0, len(chunk_ids), 500):
            part = chunk_ids[i : i + 500]
            q = (
                "SELECT c.id, c.turn_id, c.start, c.end, substr(t.text, c.start + 1, c.end - c.start) AS text"
                f" FROM chunks c JOIN turns t ON t.id = c.turn_id WHERE c.id IN ({','.join('?' * len(part))})"
            )
            for r in self.db.execute(q, part):
                out[r["id"]] = ChunkRow(r["id"], r["turn_id"], r["start"], r["end"], r["text"])
        return out

    def turns(self, turn_ids: list[int]) -> dict[int, tuple[Turn, Meeting]]:
        out: dict[int, tuple[Turn, Meeting]] = {}
        for i in range(0, len(turn_ids), 500):
            part = turn_ids[i : i + 500]
            q = (
                "SELECT t.*, m.doc AS m_doc, m.source AS m_source, m.body AS m_body, m.name AS m_name,"
                " m.date AS m_date, m.place AS m_place, m.agenda AS m_agenda, m.content_hash AS m_hash"
                f" FROM turns t JOIN meetings m ON m.id = t.meeting_id WHERE t.id IN ({','.join('?' * len(part))})"
            )
            for r in self.db.execute(q, part):
                out[r["id"]] = (_turn(r), _meeting(r))
        return out

    def neighbours(self, turn_id: int, before: int = 2, after: int = 2) -> list[tuple[int, Turn, Meeting]]:
        """The turn and those around it in the same meeting, in order."""
        row = self.db.execute("SELECT meeting_id, ord FROM turns WHERE id = ?", (turn_id,)).fetchone()
        if row is None:
            return []
        ids = [
            r[0]
            for r in self.db.execute(
                "SELECT id FROM turns WHERE meeting_id = ? AND ord BETWEEN ? AND ? ORDER BY ord",
                (row["meeting_id"], row["ord"] - before, row["ord"] + after),
            )
        ]
        found = self.turns(ids)
        return [(i, *found[i]) for i in ids if i in found]

    def stats(self) -> dict[str, object]:
        one = lambda q: self.db.execute(q).fetchone()[0]  # noqa: E731
        dates = self.db.execute("SELECT min(date), max(date) FROM meetings WHERE date IS NOT NULL").fetchone()
        return {
            "documents": one("SELECT count(*) FROM documents"),
            "meetings": one("SELECT count(*) FROM meetings"),
            "turns": one("SELECT count(*) FROM turns"),
            "chunks": one("SELECT count(*) FROM chunks"),
            "bodies": [r[0] for r in self.db.execute("SELECT DISTINCT body FROM meetings WHERE body IS NOT NULL ORDER BY body")],
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
            "SELECT d.doc, d.source, d.format, d.ingested_at, count(t.id) AS turns,"
            " (SELECT group_concat(DISTINCT coalesce(m.body,'')) FROM meetings m WHERE m.document_id = d.id) AS bodies,"
            " (SELECT min(m.date) FROM meetings m WHERE m.document_id = d.id) AS date"
            " FROM documents d LEFT JOIN turns t ON t.document_id = d.id GROUP BY d.id ORDER BY d.doc"
        ).fetchall()
        return [dict(r) for r in rows]


def _turn(r: sqlite3.Row) -> Turn:
    return Turn(
        meeting_id=r["meeting_id"], order=r["ord"], speaker=r["speaker"], text=r["text"],
        pieces=[tuple(p) for p in json.loads(r["pieces"])],  # type: ignore[misc]
        speaker_name=r["speaker_name"], speaker_role=r["speaker_role"], speaker_group=r["speaker_group"],
        kind=SpeakerKind(r["kind"]), agenda=r["agenda"], procedural=bool(r["procedural"]), url=r["url"],
    )


def _meeting(r: sqlite3.Row) -> Meeting:
    return Meeting(
        id=r["meeting_id"], doc=r["m_doc"], source=r["m_source"], body=r["m_body"], name=r["m_name"],
        date=r["m_date"], agenda=json.loads(r["m_agenda"]), place=r["m_place"], content_hash=r["m_hash"],
    )
