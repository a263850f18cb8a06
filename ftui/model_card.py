"""The model card: README.md of an exported model ZIP (what it is, the data, the settings, the metrics,
intended use, and code that loads it without ftui) and of the ONNX bundle.

The ZIP's card is a huggingface_hub ModelCard: YAML front matter (base_model, license, pipeline_tag,
library_name, tags, the validation accuracy as model-index metrics) the hub reads when the folder is
uploaded, then the text for people. The card's code blocks define `classify(...)`; the tests execute
them as written against a real export.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from ftui.card_metadata import card_data, saved_eval
from ftui.config import RunConfig
from ftui.data.split import read_split
from ftui.runs.store import read_json, read_jsonl, read_status
from ftui.messages import count
from ftui.vocab import TaskName

PARITY_TOLERANCE = 1e-3  # max |logit difference| above which the ONNX file is reported as not faithful


def model_card(run_dir: str | Path) -> str:
    """README.md: the front matter (card_data), then what the model is, what it was trained on and how
    well it did, and how to load it."""
    from huggingface_hub import ModelCard

    run_dir = Path(run_dir)
    text = _card_text(run_dir)
    return str(ModelCard(f"---\n{card_data(run_dir).to_yaml()}\n---\n\n{text}"))


def _card_text(run_dir: Path) -> str:
    """Markdown for people: what the model is, what it was trained on and how well it did, how to load it."""
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
Learning rate {config.learning_rate:g}, {count(config.epochs, 'epoch')}, batch size {t.batch_size}, seed {t.seed}.
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
        saved, last = saved_eval(evals), evals[-1]
        lines.append(f"- Saved model (the best of {count(len(evals), 'evaluation')}): accuracy **{saved['accuracy']:.4f}**, "
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
    if config.task == TaskName.TEXT:
        settings = read_json(run_dir / "model" / "ftui_text.json", None)
        if settings is None:  # a run saved by an older ftui: a transformers sequence classifier
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
        pool = ("pooled = hidden[:, 0]  # the first token, as in training" if settings.get("pooling") == "cls" else
                "mask = batch[\"attention_mask\"].unsqueeze(-1).to(hidden.dtype)  # mean over real tokens, as in training\n"
                "        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)")
        return f"""import json, torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

tokenizer = AutoTokenizer.from_pretrained("model")
encoder = AutoModel.from_pretrained("model").eval()  # the fine-tuned encoder
head = load_file("model/head.safetensors")  # the linear classifier on the pooled encoder output
labels = json.load(open("model/ftui_text.json", encoding="utf-8"))["labels"]

def classify(texts):
    batch = tokenizer(texts, padding=True, truncation=True, return_tensors="pt",
                      max_length=min({config.train.max_length}, tokenizer.model_max_length))  # as in training
    with torch.no_grad():
        hidden = encoder(**batch).last_hidden_state
        {pool}
        probs = (pooled @ head["weight"].T + head["bias"]).softmax(-1)
    return [{{labels[i]: float(p) for i, p in enumerate(row)}} for row in probs]

print(classify(["type a text to classify here"]))"""
    if config.task == TaskName.IMAGE:
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
    settings = read_json(run_dir / "model" / "ftui_audio.json", {}) or {}
    clip, window = settings.get("clip_seconds"), settings.get("window_samples")
    return f"""import soundfile as sf, torch, torchaudio
from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

extractor = AutoFeatureExtractor.from_pretrained("model")
model = AutoModelForAudioClassification.from_pretrained("model").eval()
rate = extractor.sampling_rate  # 16 kHz for Whisper
window = {window}  # samples: training cut every clip to its first {clip} s and padded shorter ones

def load(path):
    audio, sr = sf.read(path, dtype="float32", always_2d=True)  # wav, flac, ogg, mp3
    audio = torch.from_numpy(audio).mean(1)  # mono
    if sr != rate:
        audio = torchaudio.functional.resample(audio, sr, rate)
    return audio.numpy()

def classify(paths):
    batch = extractor([load(path) for path in paths], sampling_rate=rate, return_tensors="pt",
                      max_length=window, padding="max_length", truncation=True)
    with torch.no_grad():
        probs = model(**batch).logits.softmax(-1)
    return [{{model.config.id2label[i]: float(p) for i, p in enumerate(row)}} for row in probs]

print(classify(["clip.wav"]))"""


def onnx_readme(run_dir: Path, config: RunConfig, onnx_name: str, labels: list[str], result: dict) -> str:
    verdict = ("matches PyTorch" if result["parity_ok"] else "**does NOT match PyTorch: do not use it as is**")
    prep = {TaskName.TEXT: "Tokenize with the tokenizer files in this folder (`AutoTokenizer.from_pretrained(\".\")`, "
                    f"truncation to {config.train.max_length} tokens, padding), and feed every input the graph names.",
            TaskName.IMAGE: "Preprocess exactly as the model card of the model ZIP shows (`load(path)`: resize, centre crop, "
                     "`(x / 255 - mean) / std` with the values in `config.json` / `ftui_preprocessing.json`), as float32 NCHW.",
            }.get(config.task, "Compute the features with the feature extractor saved here "
                               "(`AutoFeatureExtractor.from_pretrained(\".\")`, audio at its sampling rate, mono).")
    return f"""# {run_dir.name} ({config.task}) as ONNX

`{onnx_name}`: opset {result['opset']}, inputs {", ".join(f"`{n}`" for n in result['inputs'])}, output `logits`
(batch x {len(labels)}; softmax gives probabilities). Labels in class-id order: `labels.json`
({", ".join(labels)}). The batch axis is dynamic{" and so is the sequence axis" if config.task == TaskName.TEXT else ""}.

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
