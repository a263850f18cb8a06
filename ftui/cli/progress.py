"""Following a run from the command line: a progress bar and one line per evaluation, read from run_status
(the run's own files, as the studio's live view reads them).

On a terminal the bar is one line redrawn with `\\r`; into a file or a pipe it is one line per STEP_SHARE
of progress, so a log stays short and readable.
"""
from __future__ import annotations

import sys
import time

from ftui.vocab import ACTIVE_STATES

BAR_WIDTH = 24
STEP_SHARE = 0.1  # not a terminal: a progress line every 10 %
POLL_S = 1.0


def duration(seconds) -> str:
    """75 -> "1m15s"; None -> "?"."""
    if seconds is None:
        return "?"
    seconds = int(round(float(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_text(snap: dict, loss: float | None = None) -> str:
    """step 145/290 · epoch 0.50 · loss 0.2103 · ETA 2m05s (what is known so far)."""
    parts = []
    stage = snap.get("stage")
    if stage and stage != "full":
        done, total = snap.get("stage_done"), snap.get("stage_total")
        parts.append(f"stage {stage}" + (f" {done}/{total}" if done is not None and total else ""))
    if snap.get("total_steps"):
        parts.append(f"step {snap.get('step') or 0}/{snap['total_steps']}")
    if snap.get("epoch") is not None:
        parts.append(f"epoch {float(snap['epoch']):.2f}")
    if loss is not None:
        parts.append(f"loss {float(loss):.4f}")
    if snap.get("eta_s") is not None:
        parts.append(f"ETA {duration(snap['eta_s'])}")
    return " · ".join(parts)


def eval_line(row: dict) -> str:
    stage = "" if row.get("stage") in (None, "full") else f" ({row['stage']})"
    return (f"eval{stage}  step {row['step']}  epoch {float(row['epoch']):.2f}  "
            f"accuracy {float(row['accuracy']):.4f}  loss {float(row['loss']):.4f}")


class ProgressPrinter:
    def __init__(self, stream=None, tty: bool | None = None):
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.shown = 0  # length of the bar on screen (terminal)
        self.next_share = 0.0  # not a terminal: the next progress worth a line
        self.last_state = None
        self.loss = None  # the latest training loss logged

    def show(self, snap: dict) -> None:
        """One snapshot: its new evaluation rows as lines, then the progress."""
        if snap["state"] != self.last_state and snap["state"] in ACTIVE_STATES:
            self._line(f"{snap['state']}" + (f" ({queue_text(snap['queue'])})" if snap.get("queue") else ""))
        self.last_state = snap["state"]
        for row in snap.get("rows") or []:
            if row.get("split") == "train":
                self.loss = row.get("loss")
            elif row.get("accuracy") is not None:
                self._line(eval_line(row))
        progress = float(snap.get("progress") or 0.0)
        if snap["state"] not in ACTIVE_STATES:
            if not self.tty and progress >= self.next_share and progress:  # a short run can end between polls:
                self._line(f"progress {progress:4.0%}  {progress_text(snap, self.loss)}")  # a log still shows it
                self.next_share = progress + STEP_SHARE
            return
        if self.tty:
            filled = int(round(progress * BAR_WIDTH))
            text = f"[{'#' * filled}{'-' * (BAR_WIDTH - filled)}] {progress:4.0%}  {progress_text(snap, self.loss)}"
            self.stream.write("\r" + text.ljust(self.shown))
            self.shown = len(text)
            self.stream.flush()
        elif progress >= self.next_share and (snap.get("total_steps") or progress):
            self._line(f"progress {progress:4.0%}  {progress_text(snap, self.loss)}")
            self.next_share = (int(progress / STEP_SHARE) + 1) * STEP_SHARE

    def end(self) -> None:
        self._clear()

    def _line(self, text: str) -> None:
        self._clear()
        print(text, file=self.stream, flush=True)

    def _clear(self) -> None:
        if self.tty and self.shown:
            self.stream.write("\r" + " " * self.shown + "\r")
            self.shown = 0


def queue_text(queue: dict) -> str:
    return f"place {queue.get('position')} of {queue.get('of')}"


def follow(services, owner: str, run_id: str, printer: ProgressPrinter, poll_s: float = POLL_S) -> dict:
    """Print the run's progress until it is no longer queued or running; returns its last snapshot."""
    since = 0
    while True:
        snap = services.run_status(owner, run_id, since=since)
        since = snap["n_rows"]
        printer.show(snap)
        if snap["state"] not in ACTIVE_STATES:
            printer.end()
            return snap
        time.sleep(poll_s)
