"""One vocabulary: run states, task names, and the limits and defaults more than one module uses.

StrEnum members are str: they compare equal to the plain strings in status.json and config.json and
go into JSON as themselves, so files stay as they were. A test (tests/unit/test_vocab.py) keeps the
names from being spelled as string literals anywhere else in ftui/.
"""
from __future__ import annotations

import re
from enum import StrEnum


class RunState(StrEnum):
    QUEUED = "queued"  # waiting for a training slot
    RUNNING = "running"
    FINISHED = "finished"
    STOPPED = "stopped"  # by the user: the model learned so far is kept, the run can resume
    FAILED = "failed"
    INTERRUPTED = "interrupted"  # the app stopped while it was active: resumable
    DAMAGED = "damaged"  # its status.json or config.json cannot be read: shown, but nothing can be done with it


ACTIVE_STATES = frozenset({RunState.QUEUED, RunState.RUNNING})  # someone will still write its status
DONE_STATES = frozenset({RunState.FINISHED, RunState.STOPPED})  # states that leave a usable model behind


class TaskName(StrEnum):
    TEXT = "text"
    IMAGE = "image"
    AUDIO = "audio"


TASKS = tuple(TaskName)
MEDIA_TASKS = frozenset({TaskName.IMAGE, TaskName.AUDIO})  # tasks whose inputs are files (a ZIP upload)

APP_TITLE = "ftui · fine-tuning studio"

# -- limits and defaults --------------------------------------------------------------------------
MAX_EPOCHS = 100
DEFAULT_EPOCHS = 3  # the UI's starting value: about the compute of the usual recipes (bench/quality.py)
DEFAULT_CLIP_SECONDS = 3.0  # audio: the window a clip is cut or padded to
UPLOAD_ID = re.compile(r"^u-[0-9a-f]{16}$")
