"""The index on disk: SQLite for documents/meetings/turns/chunks, FAISS for vectors, BM25 for keywords.

An index folder holds generations; `CURRENT` names the live one. Writers build a new
generation beside it and switch `CURRENT` atomically, so a crash mid-ingest leaves the
previous generation untouched and usable.
"""
