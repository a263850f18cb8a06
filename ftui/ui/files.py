"""Files between clients and the server: an upload is accepted only as a file Gradio received, and a
file handed back is a private copy in a random folder of Gradio's upload folder, never the runs folder.

Gradio's file route serves only its upload/cache folders and `allowed_paths`; the runs folder is in
neither, so other users' runs stay unreachable.
"""
from __future__ import annotations

import mimetypes
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import Any

from gradio.utils import get_upload_folder

from ftui.errors import FtuiError
from ftui.runs.store import safe_filename

DOWNLOADS = "ftui-downloads"  # inside Gradio's upload folder: where files handed to clients are copied
DOWNLOAD_TTL_S = 3600  # a client fetches its file right after the call; older copies are removed


def uploaded_file(value: Any) -> tuple[Path, str]:
    """(path, original name) of a file a client uploaded through Gradio; anything else is refused."""
    if isinstance(value, str) and value.strip():
        raise FtuiError("not_an_upload", value=value[:80])
    if not (isinstance(value, dict) and isinstance(value.get("path"), str)
            and (value.get("meta") or {}).get("_type") == "gradio.FileData"):
        raise FtuiError("no_file")
    path = Path(value["path"]).resolve()
    upload_root = Path(get_upload_folder()).resolve()
    if not path.is_relative_to(upload_root) or not path.is_file():
        raise FtuiError("not_an_upload", value=value["path"][:80])
    return path, value.get("orig_name") or path.name


def accept(services, owner: str | None, path: str | Path, name: str | None = None) -> str:
    """services.accept_upload, removing the raw file when it sits in Gradio's upload folder (shared on the
    host, and served by any instance that uses it): from then on only the owner's private copy remains.
    Files the app itself offers (the example data sets) are kept."""
    path = Path(path)
    raw = path.resolve().is_relative_to(Path(get_upload_folder()).resolve())
    return services.accept_upload(owner, path, name or path.name, remove_source=raw)


def served_file(path: str | Path, name: str | None = None) -> dict:
    """A FileData dict that Gradio will let the client download: a private link/copy of `path` in a fresh
    random folder inside Gradio's upload folder (which Gradio serves), never the run folder itself.

    Gradio's file route serves only its upload/cache folders and `allowed_paths`; the runs folder is
    in neither, so other users' runs stay unreachable. The caller has already checked the owner (every
    Services lookup does); the copy's URL holds 128 random bits, so only the caller learns it."""
    source = Path(path)
    root = Path(get_upload_folder()).resolve() / DOWNLOADS
    _prune_downloads(root)
    folder = root / secrets.token_hex(16)
    folder.mkdir(parents=True)
    target = folder / safe_filename(name or source.name)
    try:
        os.link(source, target)  # same disk: no copy of an 80 MB export (the run's own file stays put)
    except OSError:  # another file system, or links not allowed
        shutil.copyfile(source, target)
    return {"path": str(target), "orig_name": target.name, "size": target.stat().st_size,
            "mime_type": mimetypes.guess_type(target.name)[0], "meta": {"_type": "gradio.FileData"}}


def _prune_downloads(root: Path, max_age_s: float = DOWNLOAD_TTL_S) -> None:
    """Remove the download copies older than `max_age_s` (best effort: a file in use stays)."""
    if not root.is_dir():
        return
    cutoff = time.time() - max_age_s
    for folder in root.iterdir():
        try:
            if folder.is_dir() and folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)
        except OSError:
            continue
