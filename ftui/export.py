"""Export a tuned model: a ZIP that loads without ftui, and an ONNX file checked against PyTorch.

    export_zip(run_dir)   -> run_dir/exports/<run_id>-<task>-model.zip
                             README.md (model card + how to load it with plain transformers / torch)
                             model/    (run_dir/model as-is: the ecosystem's own format + labels.json)
    export_onnx(run_dir)  -> {"path", "size_bytes", "max_abs_diff", "mean_abs_diff", "same_argmax_fraction",
                              "n_checked", "opset", "inputs", "parity_ok", "tolerance", "zip", "issues"}
                             writes exports/<run_id>-<task>.onnx, exports/onnx_parity.json and
                             exports/<run_id>-<task>-onnx.zip (the .onnx, labels.json, preprocessing files, README.md)

ONNX goes through the legacy TorchScript exporter (torch.onnx.export(dynamo=False)). Measured here
(torch 2.11) on the tiny test models, it exports BERT, EfficientNet-Lite0 and Whisper in 0.1-0.7 s
with max |logit diff| ~1e-8; the dynamo exporter gave the same parity but took 2-8 s and needs two
more packages (onnxscript, onnx-ir). Tracing records one path through the model, so every export is
followed by a parity check on the run's own validation inputs: a bad trace is reported, never hidden.
The model card's code blocks define `classify(...)`; the tests execute them as written.
"""
from __future__ import annotations

import json
import logging
import os
import secrets
import warnings
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from ftui.config import RunConfig
from ftui.data.split import read_split
from ftui.errors import FtuiError, Issue
from ftui.runs.store import read_json, read_jsonl, read_status, write_json_atomic

log = logging.getLogger(__name__)

OPSET = 17
PARITY_TOLERANCE = 1e-3  # max |logit difference| above which the ONNX file is reported as not faithful
PARITY_BATCH = 8  # several batches of different widths: the dynamic axes are exercised, not just traced
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".h5", ".msgpack")


# -- the model ZIP ------------------------------------------------------------------------
def export_zip(run_dir: str | Path) -> Path:
    """Write exports/<run_id>-<task>-model.zip: the model card README.md on top, model/ as saved."""
    run_dir = Path(run_dir)
    config = _ready_config(run_dir)
    out = run_dir / "exports" / f"{run_dir.name}-{config.task}-model.zip"
    files = [(p, "model/" + p.relative_to(run_dir / "model").as_posix())
             for p in sorted((run_dir / "model").rglob("*")) if p.is_file()]
    _write_zip(out, files, {"README.md": model_card(run_dir)})
    return out


def model_card(run_dir: str | Path) -> str:
    """Markdown: what the model is, what it was trained on and how well it did, and how to load it."""
    run_dir = Path(run_dir)
    config = RunConfig.from_dict(read_json(run_dir / "config.json"))
    labels = _labels(run_dir)
    status = read_status(run_dir)
    records = read_jsonl(run_dir / "metrics.jsonl")
    counts = {split: Counter(read_split(run_dir / "data", split)[1]) for split in ("train", "validation")}
    n_train, n_val = sum(counts["train"].values()), sum(counts["validation"].values())
    name = config.name or f"ftui {config.task} classifier {run_dir.name}"
    t = config.train
    options = {k: v for k, v in config.options().items() if k != "name"}
    rows = "\n".join(f"| {label} | {counts['train'][label]} | {counts['validation'][label]} |" for label in labels)
    return f"""# {name}

A {config.task} classifier fine-tuned with ftui from **{_base_model(config.model)}** for {len(labels)} labels:
{", ".join(f"`{label}`" for label in labels)}. Run `{run_dir.name}`, ended `{status.get("state", "?")}`.
The model is in `model/` in its ecosystem's own format ({_format(run_dir, config.task)}); `model/labels.json`
lists the labels in class-id order.

## Training data
File `{status.get("data_name") or config.upload}`: {n_train} training and {n_val} validation examples.

| label | train | validation |
|---|---|---|
{rows}

## Settings
Learning rate {config.learning_rate:g}, {config.epochs} epoch(s), batch size {t.batch_size}, seed {t.seed}.
All options: `{json.dumps(options, sort_keys=True)}`

## Metrics (validation set)
{_metrics(run_dir, status, records)}

## Intended use and limitations
- It tells apart only the labels above; any other input is still forced into one of them, often with
  high confidence. It was fine-tuned on {n_train} examples, which is small: expect it to do worse on data
  that differs from that file (other sources, wording, recording or camera conditions).
- The validation numbers come from {n_val} examples held out of the same data; they are an estimate with
  a wide margin, not a guarantee. Check it on your own data before relying on it.
- It inherits the biases and the license terms of the base model and of the training data.

## How to load it (without ftui)
Run from the folder that holds this README (the code reads `model/`):

```python
{_load_code(run_dir, config)}
```
"""


# -- ONNX ----------------------------------------------------------------------------------
def export_onnx(run_dir: str | Path, max_examples: int = 32) -> dict:
    """Export the run's model to ONNX, then compare it with PyTorch on up to `max_examples` of the run's
    validation inputs (preprocessed by the task itself). The result is also written to onnx_parity.json."""
    from ftui.tasks import get_task

    run_dir = Path(run_dir)
    config = _ready_config(run_dir)
    task = get_task(config.task)
    model, processor, labels = task.load(run_dir / "model")
    inputs = read_split(run_dir / "data", "validation")[0] or read_split(run_dir / "data", "train")[0]
    inputs = inputs[: max(1, int(max_examples))]
    if not inputs:
        raise FtuiError("onnx_export_failed", run_id=run_dir.name, reason="the run has no examples to check it on")

    def batches_of(items: list, size: int) -> list[dict]:
        return list(task.batches(processor, items, None, config.train, batch_size=size, shuffle=False))

    batches = batches_of(inputs, PARITY_BATCH) + batches_of(inputs[:1], 1)  # alone: the unpadded case too
    path = run_dir / "exports" / f"{run_dir.name}-{config.task}.onnx"
    result = write_onnx(model, batches, path, dynamic_sequence=config.task == "text",
                        pad_id=getattr(processor, "pad_token_id", None))
    result["n_checked"] = len(inputs)
    if not result["parity_ok"]:
        issue = Issue("onnx_parity_failed", severity="warning",
                      detail={"run_id": run_dir.name, "max_abs_diff": result["max_abs_diff"], "tolerance": PARITY_TOLERANCE})
        result["issues"] = [issue.to_dict()]
        log.warning("ONNX parity failed for run %s: max abs diff %.3g", run_dir.name, result["max_abs_diff"])
    write_json_atomic(path.parent / "onnx_parity.json", result)
    extras = [(p, p.name) for p in sorted((run_dir / "model").iterdir())
              if p.is_file() and not p.name.endswith(WEIGHT_SUFFIXES) and p.name != "README.md"]
    bundle = path.with_name(f"{run_dir.name}-{config.task}-onnx.zip")
    _write_zip(bundle, [(path, path.name), (path.parent / "onnx_parity.json", "onnx_parity.json"), *extras],
               {"README.md": _onnx_readme(run_dir, config, path.name, labels, result)})
    result["zip"] = str(bundle)
    write_json_atomic(path.parent / "onnx_parity.json", result)
    return result


def write_onnx(model: Any, batches: list[dict], path: Path, *, dynamic_sequence: bool = False,
               pad_id: int | None = None, opset: int = OPSET) -> dict:
    """Trace `model` (forward(**batch) -> logits) to `path` with a dynamic batch axis (and sequence axis),
    then run PyTorch and onnxruntime on every batch and compare the logits."""
    import numpy as np
    import onnxruntime
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    batches = [{k: v for k, v in b.items() if k != "labels"} for b in batches]
    names = list(batches[0])
    axes = {0: "batch", 1: "sequence"} if dynamic_sequence else {0: "batch"}
    wrapped = _logits_module(model, names)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(3)}.tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # TracerWarnings and the exporter's deprecation notice: the parity check below is the real test
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, tuple(_trace_batch(batches[0], pad_id).values()), str(tmp),
                              input_names=names, output_names=["logits"], opset_version=opset, dynamo=False,
                              dynamic_axes={**{n: axes for n in names}, "logits": {0: "batch"}})
        os.replace(tmp, path)
        model.eval()  # whatever the exporter restored: the reference logits below need dropout off
    except (RuntimeError, ValueError, TypeError, torch.onnx.errors.OnnxExporterError) as exc:
        tmp.unlink(missing_ok=True)
        raise FtuiError("onnx_export_failed", run_id=path.stem, reason=" ".join(str(exc).split())[:300]) from exc

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    diffs, same, n = [], 0, 0
    for batch in batches:
        with torch.no_grad():
            expected = wrapped(*batch.values()).float().numpy()
        got = session.run(["logits"], {k: v.numpy() for k, v in batch.items()})[0]
        diffs.append(np.abs(got - expected).reshape(-1))
        same += int((got.argmax(-1) == expected.argmax(-1)).sum())
        n += len(expected)
    diff = np.concatenate(diffs)
    max_diff = float(diff.max())
    return {"path": str(path), "size_bytes": path.stat().st_size, "max_abs_diff": max_diff,
            "mean_abs_diff": float(diff.mean()), "same_argmax_fraction": same / max(1, n), "n_checked": n,
            "opset": opset, "inputs": names, "exporter": "torch.onnx (TorchScript, dynamo=False)",
            "parity_ok": bool(max_diff <= PARITY_TOLERANCE), "tolerance": PARITY_TOLERANCE, "issues": []}


def _logits_module(model: Any, names: list[str]) -> Any:
    """An nn.Module taking the inputs positionally (in `names` order) and returning the logits tensor:
    what the ONNX graph computes."""
    import torch

    class Logits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, *args):
            output = self.model(**dict(zip(names, args)))
            return output if isinstance(output, torch.Tensor) else output.logits

    return Logits().eval()  # a new Module is in training mode, and export restores that mode on the model too


def _trace_batch(batch: dict, pad_id: int | None) -> dict:
    """The batch to trace with. Transformers skips the attention mask when it is all ones, and a trace
    keeps that shortcut forever, so a mask without padding gets one padded column added."""
    import torch

    mask = batch.get("attention_mask")
    if mask is None or not bool(mask.all()):
        return batch
    extra = {k: torch.full_like(v[:, :1], (pad_id or 0) if k == "input_ids" else 0) for k, v in batch.items()}
    return {k: torch.cat([v, extra[k]], dim=1) for k, v in batch.items()}


# -- pieces of the card ----------------------------------------------------------------------
def _ready_config(run_dir: Path) -> RunConfig:
    """The run's config if it has a model to export, else FtuiError naming its state."""
    raw = read_json(run_dir / "config.json")
    if not raw:
        raise FtuiError("unknown_run", run_id=run_dir.name)
    state = read_status(run_dir).get("state") or "unknown"
    if state == "failed":
        raise FtuiError("export_run_failed", run_id=run_dir.name)
    if state not in ("finished", "stopped") or not (run_dir / "model" / "config.json").is_file():
        raise FtuiError("export_not_ready", run_id=run_dir.name, state=state)
    return RunConfig.from_dict(raw)


def _labels(run_dir: Path) -> list[str]:
    return read_json(run_dir / "model" / "labels.json") or read_json(run_dir / "labels.json") or []


def _base_model(model: str) -> str:
    """A catalog or hub id as is; a local folder by its name only (no host paths in a shared card)."""
    return Path(model).name if os.path.isabs(model) else model


def _format(run_dir: Path, task: str) -> str:
    config = read_json(run_dir / "model" / "config.json", {}) or {}
    if config.get("format") == "ftui-image-classifier":
        return f"PyTorch `{config.get('architecture')}` weights in `model.safetensors` + `config.json`"
    return f"transformers `{(config.get('architectures') or ['?'])[0]}`, saved with `save_pretrained`"


def _metrics(run_dir: Path, status: dict, records: list[dict]) -> str:
    evals = [r for r in records if r.get("event") == "EvalLogged"]
    lines = []
    if evals:
        # model/ holds the best evaluation (higher accuracy, a tie to the lower loss), flagged is_best
        flagged = [r for r in evals if r.get("is_best")]
        saved = flagged[-1] if flagged else max(evals, key=lambda r: (r["accuracy"], -r["loss"]))
        last = evals[-1]
        lines.append(f"- Saved model (the best of {len(evals)} evaluation(s)): accuracy **{saved['accuracy']:.4f}**, "
                     f"loss {saved['loss']:.4f} (epoch {saved['epoch']:.2f}, step {saved['step']}).")
        lines.append(f"- Last evaluation: accuracy {last['accuracy']:.4f}, loss {last['loss']:.4f}; "
                     f"lowest loss seen {min(r['loss'] for r in evals):.4f}.")
    elif status.get("best_accuracy") is not None:
        lines.append(f"- Best accuracy during training: **{status['best_accuracy']:.4f}**.")
    for file in sorted((run_dir / "eval").glob("*/evaluation.json")):
        ev = read_json(file, {}) or {}
        if isinstance(ev.get("accuracy"), (int, float)):
            f1 = ev.get("macro_f1")
            lines.append(f"- Evaluation `{file.parent.name}` ({ev.get('n', '?')} examples): accuracy {ev['accuracy']:.4f}"
                         + (f", macro-F1 {f1:.4f}" if isinstance(f1, (int, float)) else "") + ".")
    return "\n".join(lines) or "- No validation metrics were recorded."


def _load_code(run_dir: Path, config: RunConfig) -> str:
    model_config = read_json(run_dir / "model" / "config.json", {}) or {}
    if config.task == "text":
        return f"""import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("model")
model = AutoModelForSequenceClassification.from_pretrained("model").eval()

def classify(texts):
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt",
                      max_length=min({config.train.max_length}, tokenizer.model_max_length))  # as in training
    with torch.no_grad():
        probs = model(**batch).logits.softmax(-1)
    return [{{model.config.id2label[i]: float(p) for i, p in enumerate(row)}} for row in probs]

print(classify(["type a text to classify here"]))"""
    if config.task == "image":
        if model_config.get("format") == "ftui-image-classifier":
            p = model_config.get("preprocessing", {})
            arch = str(model_config.get("architecture"))
            if arch == "efficientnet-lite0":
                build = ("from efficientnet_lite_pytorch import EfficientNet  # pip install efficientnet-lite-pytorch\n"
                         "net = EfficientNet.from_name(\"efficientnet-lite0\", num_classes=cfg[\"num_classes\"],\n"
                         "                             image_size=cfg[\"image_size\"])")
            else:
                build = (f"net = torchvision.models.get_model(\"{arch.split(':', 1)[-1]}\", weights=None, "
                         "num_classes=cfg[\"num_classes\"])")
            head = f"""import json, numpy as np, torch, torchvision
from PIL import Image, ImageOps
from safetensors.torch import load_file
import torchvision.transforms.functional as TF

cfg = json.load(open("model/config.json")); p = cfg["preprocessing"]  # what training used
{build}
net.load_state_dict(load_file("model/model.safetensors")); net.eval()
names = [cfg["id2label"][str(i)] for i in range(cfg["num_classes"])]"""
        else:
            p = read_json(run_dir / "model" / "ftui_preprocessing.json", {}) or {}
            head = """import json, numpy as np, torch, torchvision
from PIL import Image, ImageOps
from transformers import AutoModelForImageClassification
import torchvision.transforms.functional as TF

p = json.load(open("model/ftui_preprocessing.json"))  # what training used
net = AutoModelForImageClassification.from_pretrained("model").eval()
names = [net.config.id2label[i] for i in range(net.config.num_labels)]"""
        call = "net(x)" if model_config.get("format") == "ftui-image-classifier" else "net(pixel_values=x).logits"
        return f"""{head}

def load(path):
    # shorter side resized to p["resize"] ({p.get("resize")}), centre square, centre crop of p["image_size"]
    image = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
    side = p["resize"]; scale = side / min(image.size)
    size = (max(side, round(image.width * scale)), max(side, round(image.height * scale)))
    image = image.resize(size, Image.BILINEAR, reducing_gap=3.0)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    image = image.crop((left, top, left + side, top + side))
    x = torch.from_numpy(np.array(image)).permute(2, 0, 1)
    x = TF.center_crop(x, [p["image_size"], p["image_size"]]).float() / 255
    return (x - torch.tensor(p["mean"]).view(3, 1, 1)) / torch.tensor(p["std"]).view(3, 1, 1)

def classify(paths):
    x = torch.stack([load(path) for path in paths])
    with torch.no_grad():
        probs = {call}.softmax(-1)
    return [{{names[i]: float(v) for i, v in enumerate(row)}} for row in probs]

print(classify(["photo.jpg"]))"""
    clip = (read_json(run_dir / "model" / "ftui_audio.json", {}) or {}).get("clip_seconds") or config.train.clip_seconds
    cut = f"\n    audio = audio[: int({clip} * rate)]  # training used the first {clip} s" if clip else ""
    return f"""import soundfile as sf, torch, torchaudio
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

extractor = AutoFeatureExtractor.from_pretrained("model")
model = AutoModelForAudioClassification.from_pretrained("model").eval()
rate = extractor.sampling_rate  # 16 kHz for Whisper

def load(path):
    audio, sr = sf.read(path, dtype="float32", always_2d=True)  # wav, flac, ogg, mp3
    audio = torch.from_numpy(audio).mean(1)  # mono
    if sr != rate:
        audio = torchaudio.functional.resample(audio, sr, rate){cut}
    return audio.numpy()

def classify(paths):
    batch = extractor([load(path) for path in paths], sampling_rate=rate, return_tensors="pt")
    with torch.no_grad():
        probs = model(**batch).logits.softmax(-1)
    return [{{model.config.id2label[i]: float(p) for i, p in enumerate(row)}} for row in probs]

print(classify(["clip.wav"]))"""


def _onnx_readme(run_dir: Path, config: RunConfig, onnx_name: str, labels: list[str], result: dict) -> str:
    verdict = ("matches PyTorch" if result["parity_ok"] else "**does NOT match PyTorch: do not use it as is**")
    prep = {"text": "Tokenize with the tokenizer files in this folder (`AutoTokenizer.from_pretrained(\".\")`, "
                    f"truncation to {config.train.max_length} tokens, padding), and feed every input the graph names.",
            "image": "Preprocess exactly as the model card of the model ZIP shows (`load(path)`: resize, centre crop, "
                     "`(x / 255 - mean) / std` with the values in `config.json` / `ftui_preprocessing.json`), as float32 NCHW.",
            }.get(config.task, "Compute the features with the feature extractor saved here "
                               "(`AutoFeatureExtractor.from_pretrained(\".\")`, audio at its sampling rate, mono).")
    return f"""# {run_dir.name} ({config.task}) as ONNX

`{onnx_name}`: opset {result['opset']}, inputs {", ".join(f"`{n}`" for n in result['inputs'])}, output `logits`
(batch x {len(labels)}; softmax gives probabilities). Labels in class-id order: `labels.json`
({", ".join(labels)}). The batch axis is dynamic{" and so is the sequence axis" if config.task == "text" else ""}.

Parity check on {result['n_checked']} validation inputs: max |logit difference| {result['max_abs_diff']:.3g},
mean {result['mean_abs_diff']:.3g}, same top label {result['same_argmax_fraction']:.0%}: it {verdict}
(tolerance {PARITY_TOLERANCE:g}; details in `onnx_parity.json`).

Preprocessing: {prep}

```python
import json, numpy as np, onnxruntime as ort
session = ort.InferenceSession("{onnx_name}", providers=["CPUExecutionProvider"])
labels = json.load(open("labels.json"))
names = [i.name for i in session.get_inputs()]  # {result['inputs']}
# inputs = {{name: numpy array (int64 for token ids, float32 otherwise)}} from the preprocessing above
# logits = session.run(["logits"], inputs)[0]
```
"""


def _write_zip(out: Path, files: list[tuple[Path, str]], texts: dict[str, str]) -> None:
    """Write via a temp file + os.replace, so a half-written ZIP is never offered for download."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(3)}.tmp")
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, text in texts.items():
                archive.writestr(name, text)
            for path, name in files:
                archive.write(path, name)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
