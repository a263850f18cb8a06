"""A model folder converted once from a package's own weight file, cached under ~/.cache/ftui.

Concurrent first calls each convert into their own temporary folder and the first rename wins, so a
half-written folder is never visible (two workers starting at once on a fresh box both need it)."""
from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path


def cache_root() -> Path:
    return Path(os.environ.get("FTUI_CACHE") or Path.home() / ".cache" / "ftui")


def cached_folder(name: str, root: Path | None, convert: Callable[[Path], object]) -> Path:
    """<root or cache_root()>/<name>, made by `convert(work_dir)` on first use; done when it holds model.safetensors."""
    target = (Path(root) if root else cache_root()) / name
    if (target / "model.safetensors").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=target.parent))
    try:
        convert(work)
        try:
            os.rename(work, target)
        except OSError:  # another process finished first: theirs is identical
            if not (target / "model.safetensors").is_file():
                raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target
