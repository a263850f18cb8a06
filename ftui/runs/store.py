"""RunStore: the runs folder on disk, the contract between engine, UI, API and tests.

    <root>/<owner>/<run_id>/{config.json, status.json, metrics.jsonl, labels.json, data/, model/}
    <root>/<owner>/uploads/<upload_id>/<file name>

Every lookup goes through an owner, and ids are checked against strict patterns, so one user can
never name (or path-traverse into) another user's runs or uploads.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

from ftui.atomic import replacing, write_json_atomic  # noqa: F401 - the run folder's files are written with it
from ftui.config import RunConfig
from ftui.errors import FtuiError
from ftui.vocab import ACTIVE_STATES, RunState, UPLOAD_ID

RUN_ID = re.compile(r"^\d{8}-\d{6}-[0-9a-f]{4}$")
OWNER = re.compile(r"^[A-Za-z0-9_@-][A-Za-z0-9_.@-]{0,63}$")  # no leading dot: .gradio-uploads is not a user
DEFAULT_OWNER = "local"


def read_json(path: Path, default=None):
    """The file's JSON; `default` when there is no such file; FtuiError("damaged_file") when it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return default
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise FtuiError("damaged_file", name=f"{path.parent.name}/{path.name}") from None


def read_jsonl(path: Path) -> list[dict]:
    """All complete lines; a half-written last line (the writer is mid-append) is skipped."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    rows = []
    for line in text.splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class RunStore:
    def __init__(self, root: str | os.PathLike, max_gb_per_owner: float = 0):
        self.root = Path(root).expanduser().resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_gb_per_owner = float(max_gb_per_owner or 0)  # 0: no quota

    def check_quota(self, owner: str | None) -> None:
        """FtuiError("disk_quota") when the owner's runs and uploads already use their whole quota (checked
        before anything new is written: an upload, a run, a resume)."""
        if not self.max_gb_per_owner:
            return
        used_gb = disk_bytes(self.owner_dir(owner)) / 1e9
        if used_gb >= self.max_gb_per_owner:
            raise FtuiError("disk_quota", used_gb=used_gb, limit_gb=self.max_gb_per_owner)

    # -- owners ---------------------------------------------------------------------
    def owner_dir(self, owner: str | None) -> Path:
        owner = owner or DEFAULT_OWNER
        if not OWNER.match(owner) or owner in (".", ".."):
            raise FtuiError("bad_option", name="owner", value=owner, reason="not a valid user name")
        return self.root / owner

    # -- runs -----------------------------------------------------------------------
    def create(self, owner: str | None, config: RunConfig) -> tuple[str, Path]:
        base = self.owner_dir(owner)
        while True:
            run_id = time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)
            run_dir = base / run_id
            try:
                run_dir.mkdir(parents=True)
                break
            except FileExistsError:
                continue
        write_json_atomic(run_dir / "config.json", config.to_dict())
        write_json_atomic(run_dir / "status.json", {"state": RunState.QUEUED, "progress": 0.0, "created": time.time(),
                                                    "error": None})
        return run_id, run_dir

    def run_dir(self, owner: str | None, run_id: str) -> Path:
        """The run's folder if `owner` has such a run, else FtuiError("unknown_run")."""
        run_id = str(run_id or "").strip()
        path = self.owner_dir(owner) / run_id
        if not RUN_ID.match(run_id) or not (path / "config.json").is_file():
            raise FtuiError("unknown_run", run_id=run_id)
        return path

    def list(self, owner: str | None) -> list[dict]:
        """Summaries of the owner's runs, newest first."""
        base = self.owner_dir(owner)
        if not base.is_dir():
            return []
        out = [self.summary(p) for p in base.iterdir() if RUN_ID.match(p.name) and (p / "config.json").is_file()]
        return sorted(out, key=lambda s: s["run_id"], reverse=True)

    def summary(self, run_dir: Path, *, disk: bool = True) -> dict:
        """What the runs table shows of a run; a run with a damaged file is listed as damaged. disk=False
        leaves out disk_bytes, a walk over every file of the run that a status poll has no use for."""
        try:
            config = read_json(run_dir / "config.json", {})
        except FtuiError as err:
            config = {}
            status = damaged(err)
        else:
            status = read_status(run_dir)
        return {"run_id": run_dir.name, "name": config.get("name", ""), "task": config.get("task"),
                "model": config.get("model"), "learning_rate": config.get("learning_rate"),
                "epochs": config.get("epochs"), "batch_size": (config.get("train") or {}).get("batch_size"),
                **{k: status.get(k) for k in
                ("state", "progress", "created", "started", "ended", "earlier_s", "best_accuracy", "data_name",
                 "saved_model")}, **({"disk_bytes": disk_bytes(run_dir)} if disk else {})}

    def delete(self, owner: str | None, run_id: str) -> None:
        path = self.run_dir(owner, run_id)
        if read_status(path).get("state") in ACTIVE_STATES:
            raise FtuiError("run_active", run_id=run_id, state=read_status(path)["state"])
        shutil.rmtree(path)

    # -- uploads --------------------------------------------------------------------
    def save_upload(self, owner: str | None, source: Path, name: str) -> str:
        """Keep a private copy of an accepted upload; returns its id. The id is the content's hash, so the
        same file uploaded again (a re-upload, the example pressed twice) is stored once and inspected once."""
        digest = hashlib.sha256()
        with open(source, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        upload_id = "u-" + digest.hexdigest()[:16]
        folder = self.owner_dir(owner) / "uploads" / upload_id
        if folder.is_dir() and any(p.is_file() for p in folder.iterdir()):
            return upload_id  # already here
        folder.mkdir(parents=True, exist_ok=True)
        with replacing(folder / safe_filename(name)) as tmp:  # two identical uploads at once: one file, whole
            shutil.copyfile(source, tmp)
        return upload_id

    def upload_path(self, owner: str | None, upload_id: str) -> Path:
        upload_id = str(upload_id or "").strip()
        folder = self.owner_dir(owner) / "uploads" / upload_id
        # files only: an image ZIP is extracted next to itself (extracted/), which is not the upload
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")) \
            if UPLOAD_ID.match(upload_id) and folder.is_dir() else []  # (".name.*.tmp": a copy being written)
        if not files:
            raise FtuiError("unknown_upload", upload_id=upload_id)
        return files[0]


# -- status.json -----------------------------------------------------------------------
def read_status(run_dir: Path) -> dict:
    """status.json; a damaged one reads as state "damaged" (the runs list and start-up go on)."""
    try:
        return read_json(run_dir / "status.json", {}) or {}
    except FtuiError as err:
        return damaged(err)


def disk_bytes(folder: Path) -> int:
    """Bytes the files under `folder` take (a run: model, checkpoints, exports, evaluations).

    A running job swaps temporary folders in while this counts (`.model.tmp-*` renamed to model/):
    os.walk skips a folder that vanished (Path.rglob raised FileNotFoundError mid-listing, and a
    run_status call failed with it), and a file that vanished counts as nothing."""
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                total += os.stat(os.path.join(root, name), follow_symlinks=False).st_size
            except OSError:
                continue
    return total


def damaged(err: FtuiError) -> dict:
    from ftui.messages import describe

    return {"state": RunState.DAMAGED, "error": {"code": err.code, "message": describe(err.code, err.detail)}}


def update_status(run_dir: Path, **changes) -> dict:
    """Merge `changes` into status.json atomically (one writer per run: its job thread)."""
    status = read_status(run_dir)
    status.update(changes)
    write_json_atomic(run_dir / "status.json", status)
    return status


def safe_filename(name: str) -> str:
    """A file name with no directory parts or odd characters (keeps the extension)."""
    name = Path(str(name).replace("\\", "/")).name
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", name).lstrip(".")
    return name[-120:] or "upload"
