"""TensorBoard sink: the run's curves as TensorBoard event files in <run_dir>/tensorboard/, beside metrics.jsonl.

Optional (`ftui serve --tensorboard`, the extra `pip install -e '.[tensorboard]'`); then
`tensorboard --logdir RUNS_DIR` shows every run. metrics.jsonl stays the oracle: this sink writes the
same numbers, under these tags, at the same steps (the head-first stage's points at step 0):

    train/loss  train/learning_rate  train/grad_norm  train/samples_per_second
    validation/loss  validation/accuracy

How the switch reaches the worker: the server sets FTUI_TENSORBOARD=1 in its own environment, which every
local worker inherits (and the Ray backend passes on); the worker asks `tensorboard_enabled()`.
A command line that trains without the server calls `enable_tensorboard()` first, or sets the variable.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from ftui.engine.events import EvalLogged, Event, RunFailed, RunFinished, RunStarted, StepLogged
from ftui.errors import FtuiError

ENV_VAR = "FTUI_TENSORBOARD"
FOLDER = "tensorboard"
FLUSH_S = 5  # how stale a live TensorBoard may be (SummaryWriter's default is 120 s)


def tensorboard_installed() -> bool:
    """Without importing it (the server must not load torch or tensorboard to answer this)."""
    return importlib.util.find_spec("tensorboard") is not None


def require_tensorboard() -> None:
    if not tensorboard_installed():
        raise FtuiError("tensorboard_missing")


def enable_tensorboard() -> dict[str, str]:
    """Turn the sink on for every worker this process starts from now on; raises FtuiError
    'tensorboard_missing' when the package is absent. Returns the environment to pass to workers
    started elsewhere (a Ray job does not inherit ours)."""
    require_tensorboard()
    os.environ[ENV_VAR] = "1"
    return tensorboard_env()


def tensorboard_enabled(env=None) -> bool:
    return (os.environ if env is None else env).get(ENV_VAR, "") not in ("", "0")


def tensorboard_env() -> dict[str, str]:
    """{FTUI_TENSORBOARD: "1"} when enabled here, else {}: what a remote worker's environment needs."""
    return {ENV_VAR: "1"} if tensorboard_enabled() else {}


def run_sinks(run_dir: Path) -> list:
    """The sinks the worker adds for a run: [TensorBoardSink] when enabled, else []."""
    return [TensorBoardSink(Path(run_dir) / FOLDER)] if tensorboard_enabled() else []


class TensorBoardSink:
    """One SummaryWriter per RunStarted; closed (flushed) when the run ends.

    A resumed run (RunStarted.start_step = S) keeps what was logged up to step S, as metrics.jsonl does:
    its writer purges the steps after S (purge_step = S + 1), so the points a crashed process logged past
    its last checkpoint are hidden and the resumed ones do not overlap them.
    """

    def __init__(self, log_dir: Path):
        self.log_dir = Path(log_dir)
        self._writer = None

    def emit(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self._open(event.start_step)
        elif self._writer is None:
            return
        elif isinstance(event, StepLogged):
            scalars = {"loss": event.loss, "learning_rate": event.learning_rate,
                       "samples_per_second": event.samples_per_second, "grad_norm": event.grad_norm}
            for name, value in scalars.items():
                if value is not None:
                    self._writer.add_scalar(f"train/{name}", value, event.step)
        elif isinstance(event, EvalLogged):
            self._writer.add_scalar("validation/loss", event.loss, event.step)
            self._writer.add_scalar("validation/accuracy", event.accuracy, event.step)
            self._writer.flush()  # a few per epoch: the validation curve is the one people wait for
        elif isinstance(event, (RunFinished, RunFailed)):
            self.close()

    def _open(self, start_step: int) -> None:
        from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package

        self.close()
        earlier = self.log_dir.is_dir() and any(self.log_dir.glob("events.out.tfevents.*"))
        self._writer = SummaryWriter(str(self.log_dir), purge_step=start_step + 1 if earlier else None,
                                     flush_secs=FLUSH_S)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
