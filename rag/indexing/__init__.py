"""turns -> retrieval units: chunking, keyword tokens and embedding happen here, before any store.

Every store backend receives the same units (`records.PreparedDocument`), so retrieval behaves
the same whichever backend keeps them.
"""
