"""A bounded cache of loaded models for prediction: the most recently used few stay in memory."""
from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path

from ftui.errors import FtuiError
from ftui.runs.store import read_status


class PredictorCache:
    def __init__(self, size: int = 2):
        self.size = size
        self._items: OrderedDict[Path, tuple[float, object]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, run_dir: Path):
        """The run's Predictor; loaded again when model/ was rewritten (a better evaluation) since."""
        from ftui.predict import Predictor  # torch-heavy: imported on first use

        model_dir = run_dir / "model"
        if not (model_dir / "config.json").is_file():
            raise FtuiError("run_not_ready", run_id=run_dir.name, state=read_status(run_dir).get("state"))
        stamp = (model_dir / "config.json").stat().st_mtime
        with self._lock:
            cached = self._items.get(model_dir)
            if cached is not None and cached[0] == stamp:
                self._items.move_to_end(model_dir)
                return cached[1]
        predictor = Predictor.from_run(run_dir)
        with self._lock:
            self._items[model_dir] = (stamp, predictor)
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return predictor

    def forget(self, run_dir: Path) -> None:
        with self._lock:
            self._items.pop(run_dir / "model", None)
