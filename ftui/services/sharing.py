"""Read-only live links for stakeholders: share_run -> a URL anyone can open without signing in.

A link is a long random token (256 bits). The run keeps only its SHA-256 in share.json, with its expiry
and whether the page offers predictions; one link per run (sharing again replaces it), unshare_run
removes it. Looking a token up hashes it and compares in constant time; an expired, revoked or unknown
token is simply not found. What the page may show is decided here (`shared_view`): the run's name, task,
backbone, class counts, settings, state and curves, its latest evaluation -- never files, paths, other
runs or any action.
"""
from __future__ import annotations

import collections
import hashlib
import hmac
import re
import secrets
import time
from pathlib import Path

from ftui.errors import FtuiError
from ftui.runs.store import RUN_ID, RunStore, read_json, write_json_atomic
from ftui.vocab import DONE_STATES, RunState

SHARE_FILE = "share.json"
TOKEN = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
MAX_DAYS = 90


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class ShareActions:
    def __init__(self, store: RunStore, jobs, inference):
        self.store, self.jobs, self.inference = store, jobs, inference

    def share_run(self, owner: str | None, run_id: str, days: float = 7, allow_predict: bool = False) -> dict:
        """A new link to a live, read-only page of the run (any earlier link of the run stops working).
        Returns {path: "/share/<token>", expires (epoch seconds), allow_predict}; the token is shown once."""
        run_dir = self.store.run_dir(owner, run_id)
        try:
            days = float(days)
        except (TypeError, ValueError):
            days = -1.0
        if not 0 < days <= MAX_DAYS:
            raise FtuiError("bad_option", name="days", value=days, reason=f"a link lasts from 1 hour to {MAX_DAYS} days")
        token = secrets.token_urlsafe(32)
        expires = time.time() + days * 86400
        write_json_atomic(run_dir / SHARE_FILE, {"token_sha256": _digest(token), "expires": expires,
                                                 "allow_predict": bool(allow_predict), "created": time.time()})
        return {"path": f"/share/{token}", "expires": round(expires), "allow_predict": bool(allow_predict)}

    def unshare_run(self, owner: str | None, run_id: str) -> dict:
        run_dir = self.store.run_dir(owner, run_id)
        existed = (run_dir / SHARE_FILE).is_file()
        (run_dir / SHARE_FILE).unlink(missing_ok=True)
        return {"run_id": run_id, "unshared": existed}

    def link_of(self, owner: str | None, run_id: str) -> dict | None:
        """{expires, allow_predict} of the run's live link, if it has one that has not expired."""
        share = read_json(self.store.run_dir(owner, run_id) / SHARE_FILE, None)
        if not isinstance(share, dict) or float(share.get("expires") or 0) <= time.time():
            return None
        return {"expires": round(share["expires"]), "allow_predict": bool(share.get("allow_predict"))}

    def shared_run(self, token: str) -> tuple[Path, dict]:
        """(run folder, share record) for a valid token, else FtuiError("unknown_run")."""
        token = str(token or "")
        if TOKEN.match(token):
            digest = _digest(token)
            for share_file in self.store.root.glob(f"*/*/{SHARE_FILE}"):
                share = read_json(share_file, None)
                if (isinstance(share, dict) and RUN_ID.match(share_file.parent.name)
                        and hmac.compare_digest(str(share.get("token_sha256", "")), digest)
                        and float(share.get("expires") or 0) > time.time()):
                    return share_file.parent, share
        raise FtuiError("unknown_run", run_id="(shared link)")

    def shared_view(self, token: str, since: int = 0) -> dict:
        """Everything the stakeholder page shows, and nothing more."""
        from ftui.data.split import read_split

        run_dir, share = self.shared_run(token)
        config = read_json(run_dir / "config.json", {}) or {}
        snap = self.jobs.snapshot(run_dir, since=since)
        _, train_labels = read_split(run_dir / "data", "train")
        evaluations = self.inference.list_evaluations_of(run_dir)
        latest = evaluations[0] if evaluations else None
        return {
            "name": config.get("name") or run_dir.name, "task": config.get("task"),
            "model": Path(model).name if Path(model := str(config.get("model"))).is_absolute() else model,  # no host paths
            "class_counts": dict(collections.Counter(train_labels).most_common()),
            "settings": {"learning rate": config.get("learning_rate"), "epochs": config.get("epochs"),
                         "batch size": (config.get("train") or {}).get("batch_size") or "auto"},
            "allow_predict": bool(share.get("allow_predict")) and bool(snap.get("saved_model"))
            and snap["state"] in DONE_STATES | {RunState.RUNNING},
            "expires": round(float(share["expires"])),
            "evaluation": None if latest is None else {k: latest.get(k) for k in (
                "accuracy", "macro_f1", "n", "labels", "confusion", "per_class")},
            **{k: snap.get(k) for k in ("state", "progress", "step", "total_steps", "epoch", "eta_s", "elapsed_s",
                                        "best_accuracy", "n_validation", "recipe", "rows", "n_rows")},
        }

    def shared_predict(self, token: str, input) -> dict[str, float]:
        run_dir, share = self.shared_run(token)
        if not share.get("allow_predict"):
            raise FtuiError("unknown_run", run_id="(shared link)")
        return self.inference.predict_in(run_dir, input)
