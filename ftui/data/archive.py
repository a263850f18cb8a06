"""Image uploads: safe ZIP extraction and the folder layouts that say which image has which label.

    root = extract_zip(upload)                    # once, into <upload folder>/extracted/
    listing = list_images(root)                   # class folders, train/ + val/, or a CSV manifest

An upload is untrusted: entries that would land outside the target folder (absolute paths, drive
letters, "..", symlinks) refuse the whole archive, and the unpacked size and file count are capped
twice — from the declared sizes before anything is written, and by counting the bytes actually
written, because a crafted ZIP can declare small sizes and inflate to gigabytes.
No torch, no PIL here: this is pure file handling (the web app imports it at start-up).
"""
from __future__ import annotations

import csv
import io
import os
import re
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from ftui.data.language import looks_like_gb18030
from ftui.errors import FtuiError, Issue
from ftui.vocab import TaskName

MAX_EXTRACT_BYTES = 2 * 1024**3  # a dataset a CPU/GPU box can train on; far above any honest demo set
MAX_FILES = 200_000
CHUNK = 1024 * 1024
EXTRACTED = "extracted"
IGNORED_NAMES = {"__macosx", "thumbs.db", "desktop.ini"}
DRIVE = re.compile(r"^[A-Za-z]:")
FILE_COLUMNS = ("file", "filename", "file_name", "image", "image_path", "path", "filepath", "name")
LABEL_COLUMNS = ("label", "class", "category", "target", "y", "labels")
TRAIN_NAMES = ("train", "training")
VAL_NAMES = ("val", "valid", "validation")
# Which kind of media an archive holds is told from its names alone (media_kind), so these live here,
# free of numpy and soundfile; ftui.data.audio re-exports the audio ones.
IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp", ".tif", ".tiff"})
AUDIO_EXTENSIONS = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3"})  # what soundfile decodes
# Audio all the same (so an m4a ZIP is an audio upload, told why it fails) but libsndfile cannot decode it.
UNSUPPORTED_AUDIO_EXTENSIONS = frozenset({".m4a", ".m4b", ".aac", ".mp4", ".wma", ".amr", ".3gp", ".3g2",
                                          ".webm", ".mka"})


@dataclass
class Listing:
    """Image files and their labels, before decoding. `val` is set when the upload has its own
    validation folder (train/ + val/)."""

    root: Path
    layout: str  # "class_folders" | "train_val" | "manifest"
    train: list[tuple[Path, str]]
    val: list[tuple[Path, str]] | None = None
    missing: list[str] = field(default_factory=list)  # manifest rows whose file is absent
    issues: list[Issue] = field(default_factory=list)


# -- extraction ---------------------------------------------------------------------------
def image_root(upload: Path, *, max_bytes: int = MAX_EXTRACT_BYTES, max_files: int = MAX_FILES) -> Path:
    """The folder holding the images of an upload: the folder itself, or a ZIP extracted once."""
    upload = Path(upload)
    if upload.is_dir():
        return upload
    return extract_zip(upload, upload.parent / EXTRACTED, max_bytes=max_bytes, max_files=max_files)


def extract_zip(path: Path, dest: Path, *, max_bytes: int = MAX_EXTRACT_BYTES, max_files: int = MAX_FILES) -> Path:
    """Extract `path` into `dest` (reused when already complete). Raises FtuiError: bad_archive,
    unsafe_archive, archive_too_large. A failed extraction leaves nothing behind."""
    path, dest = Path(path), Path(dest)
    if (dest / ".complete").is_file():
        return dest  # extracted by an earlier inspect: the upload never changes after it is accepted
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as exc:
        raise FtuiError("bad_archive", name=path.name, reason=str(exc) or type(exc).__name__) from None
    partial = dest.with_name(dest.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    with archive:
        members = _checked_members(archive, max_bytes, max_files)
        partial.mkdir(parents=True)
        try:
            _write_members(archive, members, partial, max_bytes)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(partial, dest)  # appears complete or not at all
    (dest / ".complete").write_text("ok", encoding="utf-8")
    return dest


def _checked_members(archive: zipfile.ZipFile, max_bytes: int, max_files: int) -> list[tuple[zipfile.ZipInfo, str]]:
    members, declared = [], 0
    for info in archive.infolist():
        name = member_name(info)
        parts = [p for p in name.split("/") if p not in ("", ".")]
        is_link = stat.S_ISLNK(info.external_attr >> 16)
        if name.startswith("/") or DRIVE.match(name) or ".." in parts or is_link:
            raise FtuiError("unsafe_archive", entry=info.filename)
        if info.is_dir() or not parts or ignored(parts):
            continue
        if info.flag_bits & 0x1:
            raise FtuiError("bad_archive", name=info.filename, reason="encrypted entries are not supported")
        declared += info.file_size
        members.append((info, "/".join(parts)))
        if len(members) > max_files:
            raise FtuiError("archive_too_large", limit=f"{max_files:,} files", what="too many files")
        if declared > max_bytes:
            raise FtuiError("archive_too_large", limit=_size(max_bytes), what="declared sizes")
    return members


def member_name(info: zipfile.ZipInfo) -> str:
    """An entry's name as its maker meant it, with "/" separators and composed accents (NFC).

    Python reads a name as UTF-8 only when the entry's UTF-8 flag is set, else as CP437 (the ZIP
    standard's old default). Windows' own ZIPs and many tools write names in the system's code page
    without the flag (GBK on a Chinese Windows) or UTF-8 without it: 正面/ became 'σ¡úΘ¥ó/'. Such a name
    is taken back to its bytes and read as UTF-8, then as GB18030 when that reads as Chinese."""
    name = info.filename
    if not info.flag_bits & 0x800 and not name.isascii():
        raw = name.encode("cp437")
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            name = looks_like_gb18030(raw) or name
    return unicodedata.normalize("NFC", name.replace("\\", "/"))


def _write_members(archive: zipfile.ZipFile, members, target: Path, max_bytes: int) -> None:
    written = 0
    top = target.resolve()
    for info, name in members:
        out = (target / name).resolve()
        if not out.is_relative_to(top):  # belt and braces: the checks above should make this impossible
            raise FtuiError("unsafe_archive", entry=info.filename)
        out.parent.mkdir(parents=True, exist_ok=True)
        try:
            with archive.open(info) as src, open(out, "wb") as dst:
                while chunk := src.read(CHUNK):
                    written += len(chunk)
                    if written > max_bytes:  # declared sizes can lie; the bytes written cannot
                        raise FtuiError("archive_too_large", limit=_size(max_bytes), what="actual size")
                    dst.write(chunk)
        except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as exc:
            raise FtuiError("bad_archive", name=info.filename, reason=str(exc) or type(exc).__name__) from None


def ignored(parts) -> bool:
    """OS litter (macOS resource forks, dotfiles, Windows thumbnails) is never data."""
    return any(p.startswith(".") or p.lower() in IGNORED_NAMES for p in parts)


def _size(n: int) -> str:
    return f"{n / 1024**3:.1f} GB" if n >= 1024**3 else f"{n / 1024**2:.0f} MB"


def media_kind(path: Path) -> str | None:
    """What most files of a ZIP are, "audio" or "image", told from the names without extracting (so
    the app can pick the task for an upload); None for a bad ZIP, one holding neither, or a tie."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = [member_name(info) for info in archive.infolist() if not info.is_dir()]
    except (zipfile.BadZipFile, OSError):
        return None
    audio = images = 0
    for name in names:
        parts = [p for p in name.split("/") if p not in ("", ".")]
        if not parts or ignored(parts):
            continue
        suffix = Path(parts[-1]).suffix.lower()
        audio += suffix in AUDIO_EXTENSIONS or suffix in UNSUPPORTED_AUDIO_EXTENSIONS
        images += suffix in IMAGE_EXTENSIONS
    if audio == images:  # nothing of either (a tie too: no honest guess)
        return None
    return TaskName.AUDIO if audio > images else TaskName.IMAGE


# -- layouts ------------------------------------------------------------------------------
def list_images(root: Path) -> Listing:
    """Which file has which label. Raises FtuiError no_class_folders / bad_manifest."""
    root = _unwrap(Path(root))
    dirs = {d.name.lower(): d for d in _visible(root) if d.is_dir()}
    train_dir = next((dirs[n] for n in TRAIN_NAMES if n in dirs), None)
    val_dir = next((dirs[n] for n in VAL_NAMES if n in dirs), None)
    if train_dir is not None and _class_dirs(train_dir):
        val = _class_folder_items(val_dir) if val_dir is not None and _class_dirs(val_dir) else None
        return Listing(root=root, layout="train_val", train=_class_folder_items(train_dir), val=val)
    manifests = [f for f in _visible(root) if f.is_file() and f.suffix.lower() in (".csv", ".tsv")]
    if len(manifests) == 1:
        return _manifest_items(root, manifests[0])
    if _class_dirs(root):
        return Listing(root=root, layout="class_folders", train=_class_folder_items(root))
    raise FtuiError("no_class_folders")


list_files = list_images  # the layouts say nothing about images: audio uploads use the same listing


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not ignored([p.name]))


def _class_dirs(folder: Path) -> list[Path]:
    return [d for d in _visible(folder) if d.is_dir()]


def _unwrap(root: Path) -> Path:
    """A ZIP made by compressing a folder has that one folder at the top: look inside it."""
    for _ in range(2):
        entries = _visible(root)
        if len(entries) == 1 and entries[0].is_dir() and entries[0].name.lower() not in TRAIN_NAMES:
            inner = _class_dirs(entries[0])
            files = [f for f in _visible(entries[0]) if f.is_file()]
            # descend only if the single folder is a wrapper (holds folders or a manifest), not a class
            if inner or any(f.suffix.lower() in (".csv", ".tsv") for f in files):
                root = entries[0]
                continue
        break
    return root


def _class_folder_items(folder: Path) -> list[tuple[Path, str]]:
    items = []
    for class_dir in _class_dirs(folder):
        for dirpath, dirnames, filenames in os.walk(class_dir):
            dirnames[:] = sorted(d for d in dirnames if not ignored([d]))
            items += [(Path(dirpath) / f, class_dir.name) for f in sorted(filenames) if not ignored([f])]
    return items


def _manifest_items(root: Path, manifest: Path) -> Listing:
    try:
        text = manifest.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError:
        text = manifest.read_bytes().decode("latin-1")
    delimiter = "\t" if manifest.suffix.lower() == ".tsv" else ","
    rows = list(csv.DictReader(io.StringIO(text), delimiter=delimiter))
    columns = list(rows[0].keys()) if rows else []
    lowered = {str(c).strip().lower(): c for c in columns if c is not None}
    file_col = next((lowered[n] for n in FILE_COLUMNS if n in lowered), None)
    label_col = next((lowered[n] for n in LABEL_COLUMNS if n in lowered), None)
    if file_col is None or label_col is None:
        raise FtuiError("bad_manifest", name=manifest.name,
                        reason=f"it needs a file name column and a label column (columns: {', '.join(map(str, columns))})")
    top = root.resolve()
    items, missing = [], []
    for row in rows:
        name, label = (row.get(file_col) or "").strip().replace("\\", "/"), (row.get(label_col) or "").strip()
        if not name or not label:
            continue
        path = (manifest.parent / name).resolve()
        # A manifest is user data too: it must not point outside the upload (e.g. /etc/passwd).
        if path.is_relative_to(top) and path.is_file() and not ignored(path.relative_to(top).parts):
            items.append((path, label))
        else:
            missing.append(name)
    return Listing(root=root, layout="manifest", train=items, missing=missing)
