"""Tasks by name. `get_task("text")` -> the TextTask, `get_task("image")` -> the ImageTask, `get_task("audio")` -> the AudioTask."""
from __future__ import annotations

from ftui.errors import FtuiError
from ftui.tasks.base import Built, Task
from ftui.vocab import TaskName

__all__ = ["Built", "Task", "get_task"]


def _text() -> Task:
    from ftui.tasks.text import TextTask

    return TextTask()


def _image() -> Task:
    from ftui.tasks.image import ImageTask

    return ImageTask()


def _audio() -> Task:
    from ftui.tasks.audio import AudioTask

    return AudioTask()


_FACTORIES = {TaskName.TEXT: _text, TaskName.IMAGE: _image, TaskName.AUDIO: _audio}


def get_task(name: str) -> Task:
    factory = _FACTORIES.get(str(name or "").strip().lower())
    if factory is None:
        raise FtuiError("unknown_task", task=name, tasks=", ".join(_FACTORIES))
    return factory()
