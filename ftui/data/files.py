"""Datasets of files (pictures, sounds): the steps every kind shares around its own check of a file.

    examples = load_file_examples(path, FileKind(...))

A ZIP (or folder) is extracted safely and listed (class folders, train/ + val/, or a manifest;
ftui/data/archive.py); every file is checked in threads by the kind's `check`, which returns a small
info dict or raises SkipFile(reason); exact duplicates are kept once, across train and val; what
cannot train is skipped and listed with its reason while the rest trains. No torch here.
"""
from __future__ import annotations

import hashlib
import os
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ftui.data.archive import Listing, image_root, list_files
from ftui.data.examples import Examples
from ftui.data.validate import check_labels
from ftui.errors import FtuiError, Issue

MAX_LISTED_SKIPS = 200
HASH_CHUNK = 1024 * 1024


class SkipFile(Exception):
    """A file that cannot train; `reason` is a short code (the kind's message table explains it)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FileKind:
    kind: str  # summary["kind"]: "images" | "audio"
    check: Callable[[Path], dict]  # file -> info (JSON-able) or raises SkipFile
    skip_message: Callable[[str], str]  # reason -> a sentence
    describe: Callable[[list[dict], dict[str, list[str]]], dict]  # (kept infos, inputs by label) -> summary extras
    no_files_code: str  # FtuiError when nothing is usable
    skipped_code: str  # warning Issue when something was skipped
    no_folders_code: str = "no_class_folders"


def load_file_examples(path: Path, kind: FileKind) -> Examples:
    """An upload (ZIP or folder) -> Examples whose inputs are absolute file paths inside it.
    Raises FtuiError for whole-upload problems (bad/unsafe archive, no class folders, no usable file)."""
    try:
        listing = list_files(image_root(Path(path)))
    except FtuiError as exc:
        if exc.code == "no_class_folders" and kind.no_folders_code != exc.code:
            raise FtuiError(kind.no_folders_code) from None
        raise
    seen: dict[str, str] = {}  # content hash -> first file: duplicates across train and val count too
    train = _checked(listing, listing.train, seen, kind.check)
    val = _checked(listing, listing.val, seen, kind.check) if listing.val is not None else None
    skipped = train["skipped"] + (val["skipped"] if val else []) + [
        {"file": name, "reason": "missing"} for name in listing.missing]
    if not train["inputs"]:
        raise FtuiError(kind.no_files_code, skipped=len(skipped))
    issues = list(listing.issues) + check_labels(train["inputs"], train["labels"], "folder")
    if skipped:
        issues.append(Issue(kind.skipped_code, "warning", {"count": len(skipped)}))
    by_label: dict[str, list[str]] = {}
    for file, label in zip(train["inputs"], train["labels"]):
        by_label.setdefault(label, []).append(file)
    summary = {
        "file": Path(path).name, "kind": kind.kind, "layout": listing.layout,
        "n_examples": len(train["inputs"]), "n_classes": len(by_label),
        "class_counts": dict(sorted(Counter(train["labels"]).items())),
        "n_validation": len(val["inputs"]) if val else 0,
        "validation_class_counts": dict(sorted(Counter(val["labels"]).items())) if val else {},
        "n_skipped": len(skipped),
        "skipped": [{**s, "message": kind.skip_message(s["reason"])} for s in skipped[:MAX_LISTED_SKIPS]],
        **kind.describe(train["infos"] + (val["infos"] if val else []), dict(sorted(by_label.items()))),
    }
    validation = None
    if val is not None:
        validation = Examples(inputs=val["inputs"], labels=val["labels"], summary={"n_examples": len(val["inputs"])},
                              issues=[])
    return Examples(inputs=train["inputs"], labels=train["labels"], summary=summary, issues=issues,
                    validation=validation)


def spread(files: list[str], k: int) -> list[str]:
    """k files spread evenly over a class's sorted files: neighbours in a folder are often the same
    speaker, session or photo burst, so the first k would all look (or sound) alike."""
    k = min(k, len(files))
    return [files[i * len(files) // k] for i in range(k)]


def digest(file: Path) -> str:
    """sha256 of a file, read in chunks (a long recording is not held in memory)."""
    h = hashlib.sha256()
    with open(file, "rb") as handle:
        while chunk := handle.read(HASH_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _checked(listing: Listing, items: list[tuple[Path, str]], seen: dict[str, str], check) -> dict:
    """Check every file in threads (PIL and libsndfile release the GIL); keep the good ones in order."""
    def run(item):
        try:
            return digest(item[0]), check(item[0]), None
        except SkipFile as skip:
            return None, None, skip.reason
        except OSError:  # unreadable on disk (permissions, vanished): nothing we can train on
            return None, None, "corrupt"

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        results = list(pool.map(run, items))
    out = {"inputs": [], "labels": [], "skipped": [], "infos": []}
    for (file, label), (hashed, info, reason) in zip(items, results):
        name = _relative(file, listing.root)
        if reason is None and hashed in seen:
            reason = "duplicate"
        if reason is not None:
            out["skipped"].append({"file": name, "reason": reason})
            continue
        seen[hashed] = name
        out["inputs"].append(str(file.resolve()))
        out["labels"].append(label)
        out["infos"].append(info)
    return out


def _relative(file: Path, root: Path) -> str:
    try:
        return file.relative_to(root).as_posix()
    except ValueError:
        return file.name
