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
The card's text (README.md of each ZIP) is written by ftui/model_card.py.
"""
from __future__ import annotations

import logging
import warnings
import zipfile
from pathlib import Path
from typing import Any

from ftui.atomic import replacing
from ftui.config import RunConfig
from ftui.data.split import read_split
from ftui.errors import FtuiError, Issue
from ftui.model_card import PARITY_TOLERANCE, model_card, onnx_readme
from ftui.runs.store import read_json, read_status, write_json_atomic
from ftui.vocab import DONE_STATES, RunState, TaskName

log = logging.getLogger(__name__)

OPSET = 17
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
    result = write_onnx(model, batches, path, dynamic_sequence=config.task == TaskName.TEXT,
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
               {"README.md": onnx_readme(run_dir, config, path.name, labels, result)})
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
    try:
        with replacing(path) as tmp, torch.no_grad(), warnings.catch_warnings():
            # TracerWarnings and the exporter's deprecation notice: the parity check below is the real test
            warnings.simplefilter("ignore")
            torch.onnx.export(wrapped, tuple(_trace_batch(batches[0], pad_id).values()), str(tmp),
                              input_names=names, output_names=["logits"], opset_version=opset, dynamo=False,
                              dynamic_axes={**{n: axes for n in names}, "logits": {0: "batch"}})
        model.eval()  # whatever the exporter restored: the reference logits below need dropout off
    except (RuntimeError, ValueError, TypeError, torch.onnx.errors.OnnxExporterError) as exc:
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
    if state == RunState.FAILED:
        raise FtuiError("export_run_failed", run_id=run_dir.name)
    if state not in DONE_STATES or not (run_dir / "model" / "config.json").is_file():
        raise FtuiError("export_not_ready", run_id=run_dir.name, state=state)
    return RunConfig.from_dict(raw)


def _write_zip(out: Path, files: list[tuple[Path, str]], texts: dict[str, str]) -> None:
    """Written atomically (ftui/atomic.py), so a half-written ZIP is never offered for download."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with replacing(out) as tmp, zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in texts.items():
            archive.writestr(name, text)
        for path, name in files:
            archive.write(path, name)
