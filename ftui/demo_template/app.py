"""A Gradio demo of one model tuned with ftui: the prediction box, a few validation examples, the
metrics, the confusion matrix and the model card. Standalone: gradio, torch and the model's own
libraries only (never ftui), offline. Run it from this folder: `python app.py`.

The preprocessing below is a faithful copy of what ftui did in training and prediction (its task
code), so the probabilities here equal ftui's for the same input. What the folder model/ holds
decides the kind of input: a feature extractor with ftui_audio.json is a sound model, a tokenizer a
text model, anything else an image model.
"""
from __future__ import annotations

import io
import json
import os
from pathlib import Path

# Before gradio / transformers are imported: nothing may reach the internet (no hub, no analytics).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

HERE = Path(__file__).resolve().parent
MODEL = HERE / "model"
SETTINGS = json.loads((HERE / "demo.json").read_text(encoding="utf-8"))
TOP_K = 5


def read_json(path: Path, default=None):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


# -- text: tokenized alone (no padding), truncated to max_length, pooled as in training ---------
class TextModel:
    def __init__(self):
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(MODEL, trust_remote_code=False)
        limit = getattr(self.tokenizer, "model_max_length", None)
        limit = int(limit) if isinstance(limit, int) and 0 < limit < 100_000 else None
        wanted = int(SETTINGS.get("max_length") or limit or 512)
        self.max_length = min(wanted, limit) if limit else wanted
        settings = read_json(MODEL / "ftui_text.json")
        if settings is None:  # an older ftui run: a transformers sequence classifier
            self.encoder = AutoModelForSequenceClassification.from_pretrained(MODEL, trust_remote_code=False).eval()
            self.head = None
            id2label = self.encoder.config.id2label
            self.labels = [str(id2label[i]) for i in range(len(id2label))]
            return
        try:  # the bare encoder; BERT's pooler was never part of the classifier
            self.encoder = AutoModel.from_pretrained(MODEL, add_pooling_layer=False, trust_remote_code=False)
        except TypeError:
            self.encoder = AutoModel.from_pretrained(MODEL, trust_remote_code=False)
        self.encoder.eval()
        from safetensors.torch import load_file

        self.head = load_file(str(MODEL / "head.safetensors"))
        self.pooling = settings.get("pooling", "mean")
        self.labels = [str(x) for x in settings["labels"]]

    def logits(self, text: str) -> torch.Tensor:
        encoded = self.tokenizer([str(text)], truncation=True, max_length=self.max_length, padding=False)
        batch = {k: torch.as_tensor(encoded[k], dtype=torch.long)
                 for k in ("input_ids", "attention_mask", "token_type_ids") if k in encoded}
        if self.head is None:
            return self.encoder(**batch).logits
        hidden = self.encoder(**batch).last_hidden_state
        if self.pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.linear(pooled, self.head["weight"], self.head["bias"])


# -- images: shorter side to `resize`, centre square, centre crop, (x / 255 - mean) / std ----------
def to_rgb(im):
    """Any PIL mode -> 8-bit RGB (16-bit scaled, transparency composited on white)."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        array = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or array.max() > 255 else 255.0
        return Image.fromarray(np.clip(array * (255.0 / top), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im.copy()


def load_square(path: str, side: int) -> torch.Tensor:
    """(3, side, side) uint8. JPEGs decode at the smallest DCT scale still >= side, as ftui does."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(Path(path).read_bytes())) as im:
        width, height = im.size
        if im.format == "JPEG":
            short = min(width, height)
            im.draft("RGB", (max(1, width * side // short), max(1, height * side // short)))
        im.seek(0)  # animated GIF/WebP: the first frame
        picture = to_rgb(ImageOps.exif_transpose(im))
    width, height = picture.size
    scale = side / min(width, height)
    size = (max(side, round(width * scale)), max(side, round(height * scale)))
    picture = picture.resize(size, Image.BILINEAR, reducing_gap=3.0)
    left, top = (size[0] - side) // 2, (size[1] - side) // 2
    picture = picture.crop((left, top, left + side, top + side))
    return torch.frombuffer(bytearray(picture.tobytes()), dtype=torch.uint8).view(side, side, 3).permute(2, 0, 1)


class ImageModel:
    def __init__(self):
        config = read_json(MODEL / "config.json", {})
        if config.get("format") == "ftui-image-classifier":  # plain PyTorch weights + config.json
            from safetensors.torch import load_file

            arch, classes = str(config["architecture"]), int(config["num_classes"])
            if arch == "efficientnet-lite0":
                from efficientnet_lite_pytorch import EfficientNet

                net = EfficientNet.from_name(arch, num_classes=classes, image_size=int(config["image_size"]))
            else:
                import torchvision

                net = torchvision.models.get_model(arch.split(":", 1)[1], weights=None, num_classes=classes)
            net.load_state_dict(load_file(str(MODEL / "model.safetensors")))
            self.net, self.transformers = net.eval(), False
            self.labels = [str(config["id2label"][str(i)]) for i in range(classes)]
            spec = config["preprocessing"]
        else:  # a transformers image classifier
            from transformers import AutoModelForImageClassification

            self.net = AutoModelForImageClassification.from_pretrained(MODEL, trust_remote_code=False).eval()
            self.transformers = True
            id2label = self.net.config.id2label
            self.labels = [str(id2label[i]) for i in range(len(id2label))]
            spec = read_json(MODEL / "ftui_preprocessing.json") or processor_spec()
        self.size = int(spec["image_size"])
        self.stored = int(round(self.size * float(spec.get("resize_ratio", 1.15))))
        self.mean = torch.tensor(spec["mean"]).view(1, 3, 1, 1)
        self.std = torch.tensor(spec["std"]).view(1, 3, 1, 1)

    def logits(self, path: str) -> torch.Tensor:
        from torchvision.transforms.v2 import functional as TF

        squares = torch.stack([load_square(path, self.stored)])
        pixels = TF.center_crop(squares, [self.size, self.size]).float().div_(255.0)
        pixels = (pixels - self.mean) / self.std
        return self.net(pixel_values=pixels).logits if self.transformers else self.net(pixels)


def processor_spec() -> dict:
    """Size and mean/std of a transformers image processor (folders saved without ftui_preprocessing.json)."""
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(MODEL, trust_remote_code=False)
    cropped = getattr(processor, "do_center_crop", False) and getattr(processor, "crop_size", None)
    size = cropped or getattr(processor, "size", None) or {}
    native = size.get("height") or size.get("shortest_edge") or 224 if isinstance(size, dict) else 224
    normalize = getattr(processor, "do_normalize", True)
    return {"image_size": int(native), "mean": list(processor.image_mean) if normalize else [0.0] * 3,
            "std": list(processor.image_std) if normalize else [1.0] * 3}


# -- sounds: the first clip_seconds, mono, resampled, padded with silence to one window ----------
class SoundModel:
    def __init__(self):
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        self.model = AutoModelForAudioClassification.from_pretrained(MODEL, trust_remote_code=False).eval()
        self.extractor = AutoFeatureExtractor.from_pretrained(MODEL, trust_remote_code=False)
        settings = read_json(MODEL / "ftui_audio.json", {})
        self.rate, self.seconds = int(settings["sampling_rate"]), float(settings["clip_seconds"])
        self.window = int(round(self.seconds * self.rate))
        id2label = self.model.config.id2label
        self.labels = [str(id2label[i]) for i in range(len(id2label))]

    def waveform(self, path: str) -> np.ndarray:
        import soundfile

        with soundfile.SoundFile(path) as sound:
            rate = sound.samplerate
            samples = sound.read(min(sound.frames, int(round(self.seconds * rate))), dtype="float32", always_2d=True)
        mono = samples[:, 0] if samples.shape[1] == 1 else samples.mean(axis=1, dtype=np.float32)
        mono = np.ascontiguousarray(mono, dtype=np.float32)
        if rate != self.rate and len(mono):
            import torchaudio.functional as AF

            mono = AF.resample(torch.from_numpy(mono), rate, self.rate).numpy()
        return mono[: self.window]

    def logits(self, path: str) -> torch.Tensor:
        wave = self.waveform(path)
        fixed = [np.pad(wave, (0, self.window - len(wave))) if len(wave) < self.window else wave[: self.window]]
        try:
            out = self.extractor(fixed, sampling_rate=self.rate, return_tensors="pt", padding="max_length",
                                 max_length=self.window, truncation=True)
        except TypeError:  # extractors with a fixed frame count of their own (AST)
            out = self.extractor(fixed, sampling_rate=self.rate, return_tensors="pt")
        batch = {k: v for k, v in out.items() if k in ("input_features", "input_values", "attention_mask")}
        return self.model(**batch).logits


def load_model():
    if (MODEL / "ftui_audio.json").is_file():
        return SoundModel(), gr.Audio(type="filepath", format=None, sources=["upload", "microphone"], label="Sound")
    if (MODEL / "tokenizer_config.json").is_file():
        return TextModel(), gr.Textbox(lines=4, label="Text", placeholder="Type a text to classify")
    return ImageModel(), gr.Image(type="filepath", image_mode=None, label="Picture")


# -- the page --------------------------------------------------------------------------------
def metrics_markdown(metrics: dict) -> str:
    if not metrics:
        return "No evaluation was recorded for this model."
    lines = [f"Evaluated on **{metrics.get('n', '?')}** validation examples held out of the training data "
             f"(`{metrics.get('source', 'validation')}`).", ""]
    for key, name in (("accuracy", "Accuracy"), ("macro_f1", "Macro-F1"), ("weighted_f1", "Weighted F1")):
        if isinstance(metrics.get(key), (int, float)):
            lines.append(f"- {name}: **{metrics[key]:.4f}**")
    rows = metrics.get("per_class") or []
    if rows:
        lines += ["", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
        lines += [f"| {r['label']} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | {r['support']} |"
                  for r in rows]
    return "\n".join(lines)


def card_text() -> str:
    text = (HERE / "MODEL_CARD.md").read_text(encoding="utf-8") if (HERE / "MODEL_CARD.md").is_file() else ""
    if text.startswith("---"):  # the hub's metadata block is for machines
        end = text.find("\n---", 3)
        text = text[end + 4:] if end > 0 else text
    return text.strip() or "No model card."


def probabilities(model, value) -> dict[str, float]:
    """{label: probability} for every label, in the model's label order."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise gr.Error("Give an input first.")
    with torch.inference_mode():
        row = model.logits(value).float().softmax(-1)[0].tolist()
    return {label: float(p) for label, p in zip(model.labels, row)}


def build_page(model, box) -> gr.Blocks:
    def predict(value) -> dict[str, float]:
        return probabilities(model, value)

    examples = SETTINGS.get("examples") or []
    metrics = read_json(HERE / "metrics.json", {})
    title = SETTINGS.get("title") or "A tuned classifier"
    with gr.Blocks(title=title) as demo:
        gr.Markdown(f"# {title}\n{SETTINGS.get('summary', '')}")
        with gr.Tab("Predict"):
            with gr.Row():
                with gr.Column():
                    box.render()
                    button = gr.Button("Classify", variant="primary")
                with gr.Column():
                    label = gr.Label(num_top_classes=min(TOP_K, len(model.labels)), label="Prediction")
            if examples:
                values = [e["input"] if "input" in e else str(HERE / e["file"]) for e in examples]
                gr.Examples([[v] for v in values], inputs=[box], label="Validation examples (one click)",
                            example_labels=[f"true: {e['label']}" for e in examples] if "file" in examples[0] else None)
            button.click(predict, [box], [label], api_name="predict")
            every = gr.JSON(visible=False)
            gr.Button(visible=False).click(predict, [box], [every], api_name="probabilities")
        with gr.Tab("Metrics"):
            gr.Markdown(metrics_markdown(metrics))
            if (HERE / "confusion_matrix.png").is_file():
                gr.Image(str(HERE / "confusion_matrix.png"), label="Confusion matrix (rows: true, columns: predicted)",
                         interactive=False, type="filepath")
        with gr.Tab("Model card"):
            gr.Markdown(card_text())
    return demo


if __name__ == "__main__":
    model, box = load_model()
    build_page(model, box).launch(allowed_paths=[str(HERE / "examples")])
