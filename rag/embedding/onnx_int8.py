"""The "onnx-int8" embedding backend: the same sentence-transformers model exported once to ONNX
(transformer, pooling and normalisation in one graph), its weights quantised to int8 per channel
(dynamic quantisation), run by ONNX Runtime with the model's own fast tokenizer. No torch at run time.

Why by hand: sentence-transformers' own ``backend="onnx"`` needs optimum-onnx, whose releases pin
transformers < 4.58 while sentence-transformers 6 needs transformers 5 (eval/BENCHMARKS.md).
Measured there: about twice the passages per second of torch on a 2-core CPU, cosine ≈ 0.997 to the
float32 model; the full evaluation set is compared in the README.

The export is built once per machine next to the model in the model cache (``onnx-int8-…`` folder,
≈ 120 MB, ≈ 40 s on 2 cores) and reused after; it needs torch and the ``onnx`` package only then.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import numpy as np

from rag.embedding.embedder import Embedder, model_identity
from rag.embedding.folders import build_once

# Bump whenever the exported folder changes: the folder name includes it, so a stale export is rebuilt.
FORMAT_VERSION = 2
INFO = "onnx_export.json"
MODEL_FILE = "model_qint8.onnx"
OPSET = 17


def folder_for(model_path: str, cache_dir: Path) -> Path:
    """Where the export of a model lives: named after the model, its exact location and this format."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", model_path.rstrip("/").split("/")[-1])[:60]
    local = Path(model_path).expanduser()
    key = hashlib.sha256(str(local.absolute() if local.exists() else model_path).encode()).hexdigest()[:10]
    return Path(cache_dir) / f"onnx-int8-v{FORMAT_VERSION}-{name}-{key}"


def is_complete(folder: Path) -> bool:
    try:
        info = json.loads((folder / INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return info.get("format_version") == FORMAT_VERSION and (folder / MODEL_FILE).is_file()


def export(model_path: str, out: Path) -> None:
    """Write ``model_qint8.onnx``, ``tokenizer.json`` and ``onnx_export.json`` for a sentence-transformers
    model into the (empty) folder ``out``."""
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(model_path, device="cpu")
    tokenizer = st.tokenizer
    pooling = next((m for m in st if hasattr(m, "pooling_mode_mean_tokens")), None)
    if pooling is not None and getattr(pooling, "include_prompt", True) is False:
        raise ValueError(f"{model_path} pools without its prompt tokens; use the torch backend for it")
    if not getattr(tokenizer, "is_fast", False):
        raise ValueError(f"{model_path} has no fast tokenizer (tokenizer.json); use the torch backend for it")

    class SentenceEmbedding(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.st = st

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.st({"input_ids": input_ids, "attention_mask": attention_mask})["sentence_embedding"]

    sample = tokenizer(["passage: 本日の会議を開きます。", "query: 生成AI"], padding=True, return_tensors="pt")
    fp32 = out / "model_fp32.onnx"
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"},
            "sentence_embedding": {0: "batch"}}
    with torch.no_grad():
        # the TorchScript exporter: the dynamo one needs onnxscript and gains nothing for a BERT encoder
        torch.onnx.export(SentenceEmbedding().eval(), (sample["input_ids"], sample["attention_mask"]), str(fp32),
                          input_names=["input_ids", "attention_mask"], output_names=["sentence_embedding"],
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)
    # one scale per output channel, not per tensor: cosine to float32 0.986 -> 0.997 for ~5 % of the speed
    quantize_dynamic(str(fp32), str(out / MODEL_FILE), weight_type=QuantType.QInt8, per_channel=True)
    fp32.unlink()
    tokenizer.backend_tokenizer.save(str(out / "tokenizer.json"))
    info = {
        "format_version": FORMAT_VERSION, "source": str(model_path), "opset": OPSET, "quantisation": "dynamic int8, per channel",
        "dimension": int(st.get_embedding_dimension() if hasattr(st, "get_embedding_dimension")
                         else st.get_sentence_embedding_dimension()),
        "max_tokens": int(st.max_seq_length), "prompts": dict(getattr(st, "prompts", None) or {}),
    }
    (out / INFO).write_text(json.dumps(info, indent=2, ensure_ascii=False), encoding="utf-8")


class OnnxInt8Embedder(Embedder):
    backend = "onnx-int8"

    def __init__(self, folder: Path, info: dict, model_id: str, query_prompt: str, passage_prompt: str,
                 threads: int = 0):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.folder = folder
        self.model_id = model_id
        self.query_prompt = query_prompt
        self.passage_prompt = passage_prompt
        self.dimension = int(info["dimension"])
        self.max_tokens = int(info["max_tokens"])
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if threads:
            options.intra_op_num_threads = threads
        self._session = ort.InferenceSession(str(folder / MODEL_FILE), options, providers=["CPUExecutionProvider"])
        self._counter = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer.no_padding()

    def _encode(self, texts: list[str], prompt: str, batch_size: int) -> np.ndarray:
        # One text per run, whatever batch_size says. Dynamic int8 quantises each activation tensor with one
        # scale for the whole batch, so in a batch a text's vector would depend on its batch mates (cosine
        # ~0.996); alone it is always the same. And unpadded single runs are as fast as batches here.
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, enc in enumerate(self._tokenizer.encode_batch([prompt + t for t in texts])):
            ids = np.array([enc.ids], dtype=np.int64)
            vec = self._session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})[0][0]
            out[i] = vec / max(float(np.linalg.norm(vec)), 1e-12)
        return out

    def token_count(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch([self.passage_prompt + t for t in texts])]


def load(model: str, model_path: str, cache_dir: Path, threads: int = 0) -> OnnxInt8Embedder:
    """The int8 ONNX embedder of a model (exported into ``cache_dir`` on first use)."""
    folder = build_once(folder_for(model_path, cache_dir), lambda tmp: export(model_path, tmp), is_complete)
    info = json.loads((folder / INFO).read_text(encoding="utf-8"))
    return OnnxInt8Embedder(folder, info, *model_identity(model, model_path, info.get("prompts")), threads=threads)
