"""`ftui train DATA`: the studio's Train press, headless. The file goes through the same service calls as an
upload in the studio (same checks, same sentences), the run is created and started by the same Services,
trains in its own worker process (`python -m ftui.worker RUN_DIR`), and is followed from its files until it
ends. Ctrl-C asks for a graceful stop (the model learned so far is kept) and exits 130."""
from __future__ import annotations

import signal
import sys
from pathlib import Path

from ftui.cli.main import BAD_INPUT, FAILED, INTERRUPTED, OK, exit_code, parse_sets
from ftui.cli.progress import ProgressPrinter, duration, follow
from ftui.cli.runs import open_services
from ftui.errors import FtuiError
from ftui.messages import count, describe
from ftui.vocab import DEFAULT_EPOCHS, DONE_STATES, RunState


def train(args) -> int:
    data = Path(args.data).expanduser()
    if not data.is_file():
        print(f"ftui: error: {args.data}: no such file", file=sys.stderr)
        return BAD_INPUT
    options = parse_sets(args.set)
    from ftui.engine.local_backend import plan_slots

    signal.signal(signal.SIGTERM, signal.default_int_handler)  # `kill` stops the run as Ctrl-C does

    services = open_services(args, slots=plan_slots("auto"))  # a GPU when the box has one, as the studio
    leave_now = False
    try:
        run_id = start(services, args, data, options)
        printer = ProgressPrinter()
        try:
            follow(services, args.user, run_id, printer)
        except KeyboardInterrupt:
            printer.end()
            print("stopping after the current step; the model learned so far is kept (Ctrl-C again: leave it "
                  "stopping on its own)", flush=True)
            services.stop_run(args.user, run_id)
            leave_now = True  # a second Ctrl-C leaves at once: the worker finishes stopping by itself
            follow(services, args.user, run_id, printer)
            leave_now = False
            final(services.run_status(args.user, run_id))
            return INTERRUPTED
        return final(services.run_status(args.user, run_id))  # every row, to count the evaluations
    finally:
        if not leave_now:
            services.close()


def start(services, args, data: Path, options: dict) -> str:
    """Upload, check, choose the model and rate, start: returns the run id (printing what it does)."""
    from ftui.models import catalog

    owner = args.user
    upload_id = services.accept_upload(owner, data)
    task = args.task or services.upload_task(owner, upload_id)
    found = services.inspect_dataset(owner, task, None, options, upload_id=upload_id)
    n = found.get("n_examples") or found.get("n_rows") or 0
    print(f"data: {data.name}: {count(n, 'example')}, {count(found.get('n_classes') or 0, 'class')} ({task})")
    for issue in found["issues"]:
        if issue["severity"] == "error":
            raise FtuiError(issue["code"], **issue["detail"])  # what start_run would raise, and the studio shows
        print(f"warning ({issue['code']}): {issue['message']}", file=sys.stderr)
    model = args.model or next((m["id"] for m in catalog.list_models(task) if m["default"]), "")
    rate = args.lr
    if args.suggest_lr:
        print("learning-rate test (about 30 s on a CPU) ...", flush=True)
        test = services.suggest_learning_rate(owner, task, model, None, options, upload_id=upload_id)
        rate = test["learning_rate"]
        how = "suggested by the test" if test["suggested"] else "the catalog's: the test's curve said nothing usable"
        print(f"learning rate {rate:.2g} ({how}; {test['steps']} steps in {test['seconds']} s)")
    rate = rate if rate is not None else catalog.recommended_learning_rate(task, model)
    epochs = args.epochs if args.epochs is not None else (catalog.entry_of(task, model) or {}).get("epochs") or DEFAULT_EPOCHS
    run_id = services.start_run(owner, task, model, None, rate, epochs, options, upload_id=upload_id)
    print(f"run {run_id}: {model}, learning rate {rate:g}, {epochs} epoch{'' if epochs == 1 else 's'}; user {owner} in "
          f"{services.store.root} (a studio on that folder lists it and follows it live)", flush=True)
    return run_id


def final(snap: dict) -> int:
    """The last line: how the run ended and its accuracy; returns the exit code."""
    state, took = snap["state"], duration(snap.get("elapsed_s"))
    if state in DONE_STATES:
        best = snap.get("best_accuracy")
        evals = [r for r in snap.get("rows") or [] if r.get("split") == "validation"]
        if best is None:
            result = "no validation data, so no accuracy"
        else:
            at = f", step {snap['best_step']}" if snap.get("best_step") is not None else ""
            result = f"accuracy {best:.4f} (the best evaluation{at}, the model kept)"
        stop = " (stopped early: no better score for a while)" if snap.get("stopped_early") else ""
        print(f"{state} in {took}: {result}{stop}; run {snap['run_id']}" + (f", {count(len(evals), 'evaluation')}"
                                                                          if evals else ""), flush=True)
        return OK
    error = snap.get("error") or {}
    code = error.get("code") or "training_failed"
    message = error.get("message") or describe("training_failed", {"reason": f"the run ended {state}"})
    print(f"ftui: error ({code}): {message}", file=sys.stderr)
    if state == RunState.INTERRUPTED:
        return FAILED
    return FAILED if exit_code(code) == BAD_INPUT else exit_code(code)
