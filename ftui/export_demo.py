"""The demo bundle: a ZIP that someone without ftui unzips, installs and runs as a Gradio app.

    export_demo(run_dir) -> run_dir/exports/<run_id>-<task>-demo.zip, holding
        app.py              ftui/demo_template/app.py: the prediction box, validation examples, metrics,
                            confusion matrix and model card; gradio + torch + the model's libraries only
        model/              run_dir/model as saved (the ecosystem's own format)
        demo.json           what app.py needs beyond model/: title, the text max_length, the examples
        examples/           a few validation inputs (images and sounds copied; texts are in demo.json)
        metrics.json        the validation evaluation (computed now if there is none for this model)
        confusion_matrix.png
        MODEL_CARD.md       the model card (ftui/model_card.py), hub metadata included
        requirements.txt    the packages app.py imports, pinned to the versions installed here
        README.md           Hugging Face Space front matter (sdk: gradio) + the three commands + the card

app.py copies ftui's preprocessing (tokenizer settings, image resize/crop/normalise, audio cut and
resampling) instead of importing it, so the bundle runs on a machine without ftui; a test starts the
unzipped app in a process where ftui cannot be imported and compares its answers with ftui's.
"""
from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path

from ftui.data.split import read_split
from ftui.export import _ready_config, _write_zip
from ftui.model_card import model_card
from ftui.runs.store import read_json
from ftui.vocab import TaskName

TEMPLATE = Path(__file__).resolve().parent / "demo_template" / "app.py"
N_EXAMPLES = 6  # validation inputs offered one click away, taken in turn from each label
MAX_EXAMPLE_BYTES = 20 * 1024**2  # a huge recording is no example: skipped
MAX_EXAMPLE_CHARS = 2000
# what app.py imports, by the kind of model in model/ (pip names)
BASE_PACKAGES = ("gradio", "torch", "numpy", "safetensors")
TASK_PACKAGES = {TaskName.TEXT: ("transformers", "tokenizers"),
                 TaskName.IMAGE: ("torchvision", "pillow"),
                 TaskName.AUDIO: ("transformers", "torchaudio", "soundfile")}


def export_demo(run_dir: str | Path, predictor=None) -> Path:
    """Write exports/<run_id>-<task>-demo.zip (see the module docstring); returns its path. `predictor`
    (the run's, if one is loaded already) is used only when the validation metrics must be computed."""
    run_dir = Path(run_dir)
    config = _ready_config(run_dir)
    out = run_dir / "exports" / f"{run_dir.name}-{config.task}-demo.zip"
    model_dir = run_dir / "model"
    files = [(TEMPLATE, "app.py")]
    files += [(p, "model/" + p.relative_to(model_dir).as_posix()) for p in sorted(model_dir.rglob("*")) if p.is_file()]
    metrics, confusion = validation_metrics(run_dir, predictor)
    if confusion is not None:
        files.append((confusion, "confusion_matrix.png"))
    examples, example_files = pick_examples(run_dir, config.task)
    files += example_files
    card = model_card(run_dir)
    title = config.name or f"ftui {config.task} classifier {run_dir.name}"
    labels = read_json(model_dir / "labels.json") or read_json(run_dir / "labels.json") or []
    summary = (f"A {config.task} classifier for {len(labels)} labels ({', '.join(f'`{x}`' for x in labels[:20])}"
               f"{', ...' if len(labels) > 20 else ''}), fine-tuned with ftui (run `{run_dir.name}`).")
    settings = {"title": title, "summary": summary, "task": config.task, "max_length": config.train.max_length,
                "examples": examples}
    texts = {"demo.json": json.dumps(settings, indent=2, ensure_ascii=False),
             "requirements.txt": requirements(config.task, model_dir),
             "MODEL_CARD.md": card,
             "README.md": readme(title, summary, card, out.name, has_metrics=metrics is not None)}
    if metrics is not None:
        texts["metrics.json"] = json.dumps(metrics, indent=2, ensure_ascii=False)
    _write_zip(out, files, texts)
    return out


def validation_metrics(run_dir: Path, predictor=None) -> tuple[dict | None, Path | None]:
    """(metrics, confusion PNG) of the run's validation split, for the model now in model/. An
    evaluation older than the model (a resumed run) is made again; no validation split: (None, None)."""
    from ftui import evaluation

    folder = run_dir / "eval" / "validation"
    result = read_json(folder / "evaluation.json", None)
    stamp = (run_dir / "model" / "config.json").stat().st_mtime
    if not isinstance(result, dict) or result.get("model_stamp") not in (None, stamp) \
            or not (folder / "confusion.png").is_file():
        inputs, labels = read_split(run_dir / "data", "validation")
        if not inputs:
            return None, None
        if predictor is None:
            from ftui.predict import Predictor

            predictor = Predictor.from_run(run_dir)
        result = evaluation.evaluate_run(run_dir, predictor, inputs, labels, "validation")
    keep = ("source", "n", "n_total", "accuracy", "macro_f1", "weighted_f1", "per_class", "labels", "confusion",
            "unseen_labels", "created")
    return {k: result.get(k) for k in keep}, folder / "confusion.png"


def pick_examples(run_dir: Path, task: str) -> tuple[list[dict], list[tuple[Path, str]]]:
    """Up to N_EXAMPLES validation inputs, one label after another: ([{input|file, label}], files to copy)."""
    inputs, labels = read_split(run_dir / "data", "validation")
    if not inputs:
        inputs, labels = read_split(run_dir / "data", "train")
    by_label: dict[str, list] = {}
    for item, label in zip(inputs, labels):
        by_label.setdefault(str(label), []).append(item)
    order = [(label, items[i]) for i in range(N_EXAMPLES) for label, items in by_label.items() if i < len(items)]
    examples, files = [], []
    for label, item in order:
        if len(examples) == N_EXAMPLES:
            break
        if task == TaskName.TEXT:
            examples.append({"input": str(item)[:MAX_EXAMPLE_CHARS], "label": label})
            continue
        path = Path(item)
        if not path.is_file() or path.stat().st_size > MAX_EXAMPLE_BYTES:
            continue  # the upload was deleted since, or the file is too big to hand over as an example
        name = f"examples/{len(examples):02d}{path.suffix.lower()}"
        examples.append({"file": name, "label": label})
        files.append((path, name))
    return examples, files


def requirements(task: str, model_dir: Path) -> str:
    """The packages app.py imports for this model, each pinned to the version installed here."""
    names = list(BASE_PACKAGES) + list(TASK_PACKAGES.get(task, ()))
    config = read_json(model_dir / "config.json", {}) or {}
    if task == TaskName.IMAGE:
        if config.get("format") != "ftui-image-classifier":
            names.append("transformers")
        elif config.get("architecture") == "efficientnet-lite0":
            names.append("efficientnet-lite-pytorch")
    lines = ["# pinned to the versions ftui ran with; on a CPU-only machine the CPU build of torch is far",
             "# smaller: pip install -r requirements.txt --extra-index-url https://download.pytorch.org/whl/cpu"]
    for name in dict.fromkeys(names):
        try:
            version = metadata.version(name).split("+")[0]  # "2.11.0+cu130": PyPI has no local versions
        except metadata.PackageNotFoundError:
            lines.append(name)
            continue
        lines.append(f"{name}=={version}")
    return "\n".join(lines) + "\n"


def readme(title: str, summary: str, card: str, zip_name: str, *, has_metrics: bool) -> str:
    """Space front matter (a valid Hugging Face Space as it is), how to run it, then the model card."""
    from huggingface_hub import ModelCard

    gradio_version = metadata.version("gradio").split("+")[0]
    python = ".".join(platform.python_version_tuple()[:2])
    body = ModelCard(card).text.strip()
    folder = zip_name.removesuffix(".zip")
    no_metrics = "" if has_metrics else (
        "\nThe run had no validation split, so there are no metrics and no confusion matrix here.\n")
    return f"""---
title: {json.dumps(title[:60], ensure_ascii=False)}
emoji: 🔎
colorFrom: blue
colorTo: indigo
sdk: gradio
sdk_version: {gradio_version}
python_version: "{python}"
app_file: app.py
pinned: false
---

# {title}

{summary} This folder is a self-contained demo: the model, a small Gradio app, a few validation
examples, the metrics and the confusion matrix. It does not need ftui, and runs offline.

## Run it

```bash
unzip {zip_name} -d {folder} && cd {folder}
pip install -r requirements.txt
python app.py
```

Then open http://127.0.0.1:7860. The app reads `model/`, `demo.json`, `examples/`, `metrics.json` and
`MODEL_CARD.md` next to it. It is also a valid Hugging Face Space: upload the folder as a Gradio Space.
{no_metrics}
## Model card

{body}
"""
