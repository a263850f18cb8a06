"""`ftui runs | status RUN | stop RUN | predict RUN INPUT... | evaluate RUN [FILE] | export RUN --format F`:
each one Services call, as the studio's API makes it, printed for a person (or as JSON with --json)."""
from __future__ import annotations

import json
from pathlib import Path

from ftui.cli.main import OK
from ftui.cli.progress import duration, progress_text
from ftui.vocab import ACTIVE_STATES

RUN_COLUMNS = (("run_id", 22), ("state", 11), ("progress", 8), ("accuracy", 8), ("task", 5), ("model", 24),
               ("data", 20), ("name", 0))


def open_services(args, **kwargs):
    """The studio's Services on --runs-dir, with a job manager that leaves the studio's runs alone."""
    from ftui.cli.jobs import CommandLineJobs
    from ftui.services import Services

    return Services(Path(args.runs_dir), job_manager=CommandLineJobs, **kwargs)


def call(args, action: str, *arguments, **keywords):
    """services.<action>(args.user, *arguments), with the services closed after."""
    services = open_services(args)
    try:
        return getattr(services, action)(args.user, *arguments, **keywords)
    finally:
        services.close()


def show_json(value) -> int:
    print(json.dumps(value, indent=2, default=str, ensure_ascii=False))
    return OK


def runs(args) -> int:
    found = call(args, "list_runs")
    if args.json:
        return show_json(found)
    if not found:
        print(f"no runs for user {args.user} in {Path(args.runs_dir).resolve()}")
        return OK
    print("  ".join(name.upper().ljust(width) for name, width in RUN_COLUMNS).rstrip())
    for run in found:
        accuracy = run.get("best_accuracy")
        cells = {"run_id": run["run_id"], "state": run.get("state") or "?",
                 "progress": f"{float(run.get('progress') or 0):.0%}",
                 "accuracy": "" if accuracy is None else f"{accuracy:.4f}", "task": run.get("task") or "",
                 "model": Path(str(run.get("model") or "")).name, "data": run.get("data_name") or "",
                 "name": run.get("name") or ""}
        print("  ".join(str(cells[name])[:width or None].ljust(width) for name, width in RUN_COLUMNS).rstrip())
    return OK


def status(args) -> int:
    snap = call(args, "run_status", args.run)
    if args.json:
        return show_json(snap)
    print(f"run {snap['run_id']}: {snap['state']} · {float(snap.get('progress') or 0):.0%}"
          + (f" · {text}" if (text := progress_text(snap)) else ""))
    if snap.get("best_accuracy") is not None:
        at = f" (step {snap['best_step']})" if snap.get("best_step") is not None else ""
        print(f"best accuracy {snap['best_accuracy']:.4f}{at}")
    if snap.get("elapsed_s") is not None:
        print(f"trained for {duration(snap['elapsed_s'])}")
    if snap.get("error"):
        print(f"error ({snap['error'].get('code')}): {snap['error'].get('message')}")
    settings = {**(snap.get("settings") or {})}
    settings["batch_size"] = settings.get("batch_size") or "auto"  # 0: the recipe chooses
    print(" · ".join(f"{key.replace('_name', '').replace('_', ' ')} {value}" for key, value in settings.items()
                     if value not in (None, "")))
    return OK


def stop(args) -> int:
    snap = call(args, "stop_run", args.run)
    if args.json:
        return show_json(snap)
    if snap["state"] in ACTIVE_STATES:
        print(f"run {args.run}: asked to stop after its current step (the model learned so far is kept)")
    else:
        print(f"run {args.run} is {snap['state']}: nothing to stop")
    return OK


def predict(args) -> int:
    services = open_services(args)
    try:
        # A path string is a file to open for an image or sound run; a text run takes it as the text itself.
        answers = [services.predict(args.user, args.run, text, top_k=args.top_k, allow_paths=True) for text in args.inputs]
    finally:
        services.close()
    if args.json:
        return show_json([{"input": text, "predictions": answer} for text, answer in zip(args.inputs, answers)])
    for text, answer in zip(args.inputs, answers):
        ranked = " · ".join(f"{label} {p:.3f}" for label, p in answer.items())
        shown = " ".join(text.split())
        print(f"{ranked}\t{shown[:77] + '...' if len(shown) > 80 else shown}")
    return OK


def evaluate(args) -> int:
    result = call(args, "evaluate", args.run, Path(args.file).expanduser() if args.file else None)
    if args.json:
        return show_json({k: v for k, v in result.items() if not isinstance(v, list) or k in (
            "labels", "per_class", "confusion")})
    print(f"accuracy {result['accuracy']:.4f} · macro F1 {result['macro_f1']:.4f} · weighted F1 "
          f"{result['weighted_f1']:.4f} on {result['n']} examples ({result.get('source')})")
    print(f"{'LABEL':24}  PRECISION  RECALL  F1      SUPPORT")
    for row in result.get("per_class") or []:
        print(f"{str(row['label'])[:24]:24}  {row['precision']:.4f}     {row['recall']:.4f}  {row['f1']:.4f}  "
              f"{row['support']}")
    if result.get("unseen_labels"):
        print(f"left out (labels the run never saw): {result['unseen_labels']}")
    if result.get("confusion_png"):
        print(f"confusion matrix: {result['confusion_png']}")
    return OK


def export(args) -> int:
    result = call(args, "export_run", args.run, args.format)
    if args.json:
        return show_json(result)
    path = result.get("path") or result.get("zip")
    size = Path(path).stat().st_size if path and Path(path).is_file() else result.get("size_bytes")
    print(f"{result.get('format', args.format)} export: {path}" + (f" ({size / 1e6:.1f} MB)" if size else ""))
    if "parity_ok" in result:
        print(f"ONNX parity with PyTorch: {'ok' if result['parity_ok'] else 'NOT ok'} (largest logit difference "
              f"{result.get('max_abs_diff')}, on {result.get('n_checked')} inputs)")
    return OK
