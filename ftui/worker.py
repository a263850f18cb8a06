"""The one entry point to training: `python -m ftui.worker RUN_DIR` trains one run from its folder
(`--lr-test SPEC.json`: the learning-rate test that comes before a run, away from the server too).

It reads config.json, labels.json, the frozen split and (when status.json says `resume`) the last
checkpoint, and writes what every reader knows: status.json, metrics.jsonl, checkpoints/, model/, and
error.log when it fails. The server's scheduler starts it in its own process group with the GPUs it may
use (CUDA_VISIBLE_DEVICES) and a thread count (FTUI_THREADS); a multi-GPU launcher or a cluster backend
runs the same command. SIGTERM (or SIGINT) is a graceful stop: the run ends at its next step and keeps
the model learned so far.

`python -m ftui.worker --warm` imports the training stack first (torch, transformers: seconds on a CPU),
prints "ready", then reads one JSON line {"run_dir": ..., "env": {...}} from stdin and trains that run:
the server keeps one such worker waiting so a Train press does not pay for the imports.

While it trains, worker.json in the run folder says who trains it ({pid, create_time}: a pid alone may
be recycled) and its modification time is a heartbeat, renewed every HEARTBEAT_S.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from ftui.atomic import write_json_atomic
from ftui.data.split import read_split
from ftui.engine.events import RunFailed
from ftui.engine.local_backend import STOP_FILE, WORKER_FILE
from ftui.engine.sinks import FanOut, JsonlSink, StatusSink
from ftui.engine.tensorboard_sink import run_sinks
from ftui.errors import FtuiError
from ftui.messages import describe
from ftui.runs.store import read_json
from ftui.vocab import RunState

log = logging.getLogger(__name__)
HEARTBEAT_S = 5.0


def run_job(run_dir: Path, cancel: threading.Event) -> str:
    """Train the run in `run_dir` to its end; returns its final state. Any exception becomes RunFailed and
    status "failed" with a sentence (and error.log with the traceback); nothing escapes."""
    run_dir = Path(run_dir).resolve()
    main = _main_rank()  # one rank of a multi-GPU run (torchrun, engine/distributed.py): only rank 0 writes
    if main:
        (run_dir / "error.log").unlink(missing_ok=True)  # a resumed run's earlier failure is history
    status = StatusSink(run_dir) if main else _Unwritten(run_dir)
    sink = FanOut(JsonlSink(run_dir / "metrics.jsonl"), status, *run_sinks(run_dir)) if main else status
    try:
        from ftui.config import RunConfig
        from ftui.engine import checkpoint, distributed
        from ftui.engine.loop import train
        from ftui.models import catalog
        from ftui.tasks import get_task

        config = RunConfig.from_dict(read_json(run_dir / "config.json", {}))
        # The server checked the model against its policy when the run was queued; here it is only found.
        source = catalog.resolve(config.task, config.model, allow_local=True)
        resume_from = None
        if status.current().get("resume") and (folder := checkpoint.find(run_dir)) is not None:
            resume_from = checkpoint.load(folder, run_dir.name)
        ranks = distributed.setup()  # waits for every rank: all have read the resume flag that rank 0 now clears
        status.set(state=RunState.RUNNING, resume=False, started=time.time())
        train(config, get_task(config.task), source, read_train_data(run_dir), sink, cancel, run_dir / "model",
              checkpoint_dir=checkpoint.last_dir(run_dir), resume_from=resume_from, ranks=ranks)
        distributed.teardown()
    except Exception as exc:  # noqa: BLE001 - the run fails with a readable message
        log.exception("run %s failed", run_dir.name)
        if main:
            _write_error_log(run_dir)
        if isinstance(exc, FtuiError):
            code, message = exc.code, describe(exc.code, exc.detail)
        else:
            reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:400]
            code, message = "training_failed", describe("training_failed", {"reason": reason})
        sink.emit(RunFailed(code=code, message=message, step=int(status.current().get("step") or 0)))
    return str(status.current().get("state"))


def _main_rank() -> bool:
    """False only in a rank other than 0 of a multi-GPU run (torchrun sets WORLD_SIZE and RANK)."""
    return int(os.environ.get("WORLD_SIZE") or 1) <= 1 or int(os.environ.get("RANK") or 0) == 0


class _Unwritten(StatusSink):
    """A rank other than 0 keeps the run's status in memory only: rank 0 writes the run's files."""

    def _write(self) -> None:
        return None


def read_train_data(run_dir: Path):
    """labels.json + the frozen split -> TrainData (the only inputs a run reads)."""
    from ftui.engine.loop import TrainData

    labels = read_json(run_dir / "labels.json")
    if not labels:
        raise FtuiError("training_failed", reason="labels.json is missing or empty")
    train_inputs, train_labels = read_split(run_dir / "data", "train")
    val_inputs, val_labels = read_split(run_dir / "data", "validation")
    unknown = sorted(set(train_labels) - set(labels))
    if unknown:
        raise FtuiError("training_failed", reason=f"training labels missing from labels.json: {unknown[:5]}")
    if not train_inputs:
        raise FtuiError("no_examples")
    return TrainData(labels=list(labels), train_inputs=train_inputs, train_labels=train_labels,
                     val_inputs=val_inputs, val_labels=val_labels)


def _write_error_log(run_dir: Path) -> None:
    """The full traceback next to the run, for whoever debugs it (the UI shows the short message)."""
    try:
        (run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
    except OSError as exc:  # the run folder itself is gone or read-only: the log line remains
        log.warning("could not write error.log in %s: %s", run_dir, exc)


def process_identity(pid: int | None = None) -> dict:
    """{pid, create_time}: what tells this process apart from a later one that got the same pid."""
    import psutil

    process = psutil.Process(pid or os.getpid())
    return {"pid": process.pid, "create_time": process.create_time()}


def _heartbeat(path: Path, stop: threading.Event, cancel: threading.Event, beat: bool = True) -> None:
    """Renew worker.json's mtime (rank 0 only); a STOP file beside it is a stop request (how a backend that
    cannot signal the process, a cluster job on another machine or a multi-GPU run, asks for a graceful stop)."""
    while not stop.wait(1.0):
        try:
            if beat and time.time() - path.stat().st_mtime >= HEARTBEAT_S:
                os.utime(path)
            if (path.parent / STOP_FILE).exists():
                cancel.set()
        except OSError:  # the run was deleted under us: nothing left to beat for
            return


def _warm_up() -> None:
    """What a first run would otherwise pay: torch, the loop, transformers' lazy imports."""
    import ftui.engine.loop  # noqa: F401 - imported for its side effect: loading torch
    from ftui.models import catalog
    from ftui.models.text_classifier import load_encoder

    load_encoder(str(catalog.minilm_folder()))


def lr_test(spec_path: Path) -> int:
    """`python -m ftui.worker --lr-test SPEC.json`: the learning-rate range test of Services.suggest_learning_rate,
    away from the server (it trains ~30 s; running out of memory must not take the studio down). SPEC holds
    the config and the training examples; the answer goes to SPEC.result.json: the RangeTest, or the error."""
    import dataclasses

    out = spec_path.with_suffix(".result.json")
    try:
        from ftui.config import RunConfig
        from ftui.engine.loop import TrainData
        from ftui.engine.lr_range import range_test
        from ftui.models import catalog
        from ftui.tasks import get_task

        spec = read_json(spec_path)
        config = RunConfig.from_dict(spec["config"])
        data = TrainData(labels=spec["labels"], train_inputs=spec["train_inputs"], train_labels=spec["train_labels"],
                         val_inputs=[], val_labels=[])
        source = catalog.resolve(config.task, config.model, allow_local=True)  # the server checked the policy
        answer = {"test": dataclasses.asdict(range_test(config, get_task(config.task), source, data))}
    except FtuiError as err:
        answer = {"error": {"code": err.code, "detail": err.detail}}
    except Exception as exc:  # noqa: BLE001 - said to the caller as one sentence
        log.exception("learning-rate test failed")
        answer = {"error": {"code": "training_failed",
                            "detail": {"reason": f"{type(exc).__name__}: {' '.join(str(exc).split())}"[:400]}}}
    write_json_atomic(out, answer)
    return 0 if "test" in answer else 1


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cancel = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: cancel.set())
    if argv == ["--warm"]:
        _warm_up()
        print("ready", flush=True)
        line = sys.stdin.readline()
        if not line.strip():  # the server closed our stdin: it no longer needs us
            return 0
        order = json.loads(line)
        os.environ.update({str(k): str(v) for k, v in (order.get("env") or {}).items()})  # before CUDA starts
        if order.get("log"):  # from here on, what the run prints goes to its own log, as a cold worker's does
            with open(order["log"], "ab") as out:
                os.dup2(out.fileno(), 1)
                os.dup2(out.fileno(), 2)
        argv = [order["run_dir"]]
    if len(argv) == 2 and argv[0] == "--lr-test":
        return lr_test(Path(argv[1]))
    if len(argv) != 1 or argv[0].startswith("-"):
        print("usage: python -m ftui.worker RUN_DIR   (or --warm, then a JSON order on stdin)", file=sys.stderr)
        return 2
    run_dir = Path(argv[0]).resolve()
    if not (run_dir / "config.json").is_file():
        print(f"ftui.worker: {run_dir} is not a run folder (no config.json)", file=sys.stderr)
        return 2
    beat_file = run_dir / WORKER_FILE
    if _main_rank():
        write_json_atomic(beat_file, {**process_identity(), "started": time.time(),
                                      "gpus": os.environ.get("CUDA_VISIBLE_DEVICES")})
    stop_beat = threading.Event()
    threading.Thread(target=_heartbeat, args=(beat_file, stop_beat, cancel, _main_rank()), name="ftui-heartbeat",
                     daemon=True).start()
    try:
        state = run_job(run_dir, cancel)
    finally:
        stop_beat.set()
    print(f"ftui.worker: run {run_dir.name} ended {state}", flush=True)
    return 0 if state in (RunState.FINISHED, RunState.STOPPED) else 1


if __name__ == "__main__":
    sys.exit(main())

