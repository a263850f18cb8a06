"""The job manager a command-line process uses.

The studio's JobManager rebuilds its queue at start-up: it re-queues queued runs, re-adopts live workers
(and asks them to stop when it shuts down) and marks dead ones interrupted. A short-lived `ftui runs` or
`ftui train` doing that would start the studio's queued runs itself and stop its live ones on exit, so
this one starts with an empty queue: it trains only the run its own command starts. The studio's runs
stay the studio's; the studio, started later, re-adopts a command-line worker by worker.json (pid and
start time) as it would its own.
"""
from __future__ import annotations

from pathlib import Path

from ftui.engine.jobs import JobManager


class CommandLineJobs(JobManager):
    def _recover(self) -> list[Path]:
        return []
