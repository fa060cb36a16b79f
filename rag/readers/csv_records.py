"""CSV and TSV minutes: one row per utterance, as open-data portals and minutes projects export them.

A header row names the columns (発言者, 発言内容, 年月日, 会議の名称 …; the same names the JSON reader knows).
Rows are grouped into meetings by their meeting-level columns (会議名, 開催日, 議会名 …, in the order they come), and
each group is read like a JSON archive's records (`json_records.parse_records`): ○SPEAKER + text, segmented like
any minutes text, with the group's meeting name, date and body as its metadata (what the text itself states, such as
the body a chair names, is read as in any layout).
"""

from __future__ import annotations

import csv
import io
from pathlib import PurePath

from rag.errors import SourceError
from rag.readers.encoding import decode
from rag.readers.json_records import BODY_KEYS, DATE_KEYS, MEETING_KEYS, TEXT_KEYS, URL_KEYS, merged, parse_records
from rag.records import ParsedDocument, RawDocument

csv.field_size_limit(1 << 24)  # a long speech is one field


class CsvReader:
    name = "csv"
    suffixes = (".csv", ".tsv")
    label = "CSV / TSV（1行1発言: 発言者・発言内容・会議名・日付などの列）"

    def accepts(self, name: str, head: bytes) -> bool:
        return PurePath(name).suffix.lower() in self.suffixes

    def check(self, name: str, head: bytes) -> str | None:
        return None if b"\n" in head or len(head) < 4096 else "CSV ではありません（改行がありません）"

    def read(self, raw: RawDocument) -> ParsedDocument:
        text, _ = decode(raw.data, raw.name)
        header = text.split("\n", 1)[0]
        delimiter = "\t" if raw.name.lower().endswith(".tsv") or header.count("\t") > header.count(",") else ","
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
        columns = [c.strip() for c in reader.fieldnames or [] if c]
        if not any(c in TEXT_KEYS for c in columns):
            raise SourceError(f"{raw.name}: a CSV without a text column (its header: {', '.join(columns[:8]) or 'none'}; "
                              f"expected one of {', '.join(TEXT_KEYS[-3:])}, {', '.join(TEXT_KEYS[:3])}…)")
        rows = list(reader)
        if not rows:
            raise SourceError(f"{raw.name}: a CSV with a header and no rows")
        meeting_columns = [c for c in columns if c in MEETING_KEYS + DATE_KEYS + BODY_KEYS + URL_KEYS]
        meetings: list[dict] = []
        for row in rows:
            row = {(k or "").strip(): (v or "") for k, v in row.items()}
            fields = {c: row[c] for c in meeting_columns}
            if not meetings or {c: meetings[-1][c] for c in meeting_columns} != fields:
                meetings.append({**fields, "records": []})
            meetings[-1]["records"].append({k: v for k, v in row.items() if k not in meeting_columns})
        parsed = []
        for group in meetings:
            # a column that names the meeting is its name (a bare title line would be read as one of any layout)
            name = next((group[c].strip() for c in MEETING_KEYS if group.get(c, "").strip()), None)
            meta = {**({"meeting": name} if name else {}), **raw.metadata}  # a sidecar still overrides
            doc = RawDocument(raw.key, raw.name, raw.origin, raw.data, meta, raw.fetched_at)
            parsed.append(parse_records(group, doc))
        return parsed[0] if len(parsed) == 1 else merged(parsed, raw.name)
