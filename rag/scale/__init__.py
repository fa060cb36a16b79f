"""Scale-out: ingestion on Ray (rag.scale.ray_ingest) and its measurements (rag.scale.bench).

The Milvus store backend lives with the other backends (rag/store/milvus.py). Both need
requirements-scale.txt (pymilvus, milvus-lite, ray[data]); nothing else imports this package.
"""
