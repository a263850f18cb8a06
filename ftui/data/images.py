"""Image files -> RGB pictures, and an image upload -> Examples (paths, labels, summary, issues).

Every file is decoded once at inspection, so what cannot train (corrupt, truncated, not an image,
zero bytes, too many pixels, an exact duplicate) is skipped and listed with a reason while the
rest trains. Decoding handles the modes real photos come in: grayscale, palette, RGBA (composited
on white, as a viewer shows it), 16-bit (scaled to 8-bit), CMYK, animated GIF (first frame) and
EXIF-rotated phone pictures. PIL, no torch.
"""
from __future__ import annotations

import hashlib
import io
import os
import statistics
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ftui.config import DataOptions
from ftui.data.archive import Listing, image_root, list_images
from ftui.data.examples import Examples
from ftui.data.validate import check_labels
from ftui.errors import FtuiError, Issue

MAX_PIXELS = 40_000_000  # 40 MP: above any camera photo a classifier needs; a "bomb" is far larger
SAMPLES_PER_CLASS = 8  # file paths per class for a thumbnail gallery
MAX_LISTED_SKIPS = 200
CHECK_SIZE = 256  # JPEGs are decoded at reduced scale for the check (DCT scaling; 3-10x faster)


class ImageProblem(Exception):
    """A file that is not a usable image; `reason` is a skip code (skip_<reason> in messages)."""

    def __init__(self, reason: str):
        self.reason = reason
        super().__init__(reason)


def decode(data: bytes | str | Path, *, max_pixels: int = MAX_PIXELS, draft: int | None = None) -> tuple[Image.Image, dict]:
    """(RGB image, {"format", "width", "height"}) or ImageProblem. `draft`: decode JPEGs at the
    smallest scale whose shorter side is still >= draft (sizes in the info are the original's)."""
    if not isinstance(data, bytes):
        data = Path(data).read_bytes()
    if not data:
        raise ImageProblem("empty_file")
    try:
        with Image.open(io.BytesIO(data)) as im:
            width, height = im.size
            # Checked from the header, before any pixel is decoded; PIL's own bomb check (89 MP warning,
            # 179 MP error) is a process-wide setting we leave alone.
            if width * height > max_pixels:
                raise ImageProblem("too_many_pixels")
            info = {"format": im.format or "unknown", "width": width, "height": height}
            if draft and im.format == "JPEG":
                side = min(width, height)
                im.draft("RGB", (max(1, width * draft // side), max(1, height * draft // side)))
            im.seek(0)  # animated GIF/WebP: the first frame
            rgb = to_rgb(ImageOps.exif_transpose(im))  # exif_transpose loads the pixels: truncation shows here
    except ImageProblem:
        raise
    except Image.DecompressionBombError:
        raise ImageProblem("too_many_pixels") from None
    except UnidentifiedImageError:
        raise ImageProblem("not_an_image") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError):  # PIL's ways of saying "broken"
        raise ImageProblem("corrupt") from None
    return rgb, info


def to_rgb(im: Image.Image) -> Image.Image:
    """Any PIL mode -> 8-bit RGB."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        import numpy as np

        array = np.asarray(im, dtype=np.float64)
        top = 65535.0 if im.mode.startswith("I;16") or array.max() > 255 else 255.0
        return Image.fromarray(np.clip(array * (255.0 / top), 0, 255).astype(np.uint8), "L").convert("RGB")
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB") if im.mode != "RGB" else im.copy()


def load_image_examples(path: Path, options: DataOptions | None = None) -> Examples:
    """An image upload (ZIP or folder) -> Examples whose inputs are absolute image paths.
    Raises FtuiError for whole-upload problems (bad/unsafe archive, no class folders, no images)."""
    listing = list_images(image_root(Path(path)))
    seen: dict[str, str] = {}  # content hash -> first file: duplicates across train and val count too
    train = _checked(listing, listing.train, seen)
    val = _checked(listing, listing.val, seen) if listing.val is not None else None
    skipped = train["skipped"] + (val["skipped"] if val else []) + [
        {"file": name, "reason": "missing"} for name in listing.missing]
    if not train["inputs"]:
        raise FtuiError("no_images", skipped=len(skipped))
    issues = list(listing.issues) + check_labels(train["inputs"], train["labels"], "folder")
    if skipped:
        issues.append(Issue("images_skipped", "warning", {"count": len(skipped)}))
    sizes = train["sizes"] + (val["sizes"] if val else [])
    summary = {
        "file": Path(path).name, "kind": "images", "layout": listing.layout,
        "n_examples": len(train["inputs"]), "n_classes": len(set(train["labels"])),
        "class_counts": dict(sorted(Counter(train["labels"]).items())),
        "n_validation": len(val["inputs"]) if val else 0,
        "validation_class_counts": dict(sorted(Counter(val["labels"]).items())) if val else {},
        "n_skipped": len(skipped),
        "skipped": [{**s, "message": _skip_message(s["reason"])} for s in skipped[:MAX_LISTED_SKIPS]],
        "formats": dict(Counter(train["formats"] + (val["formats"] if val else [])).most_common()),
        "image_sizes": _size_stats(sizes),
        "samples": _samples(train["inputs"], train["labels"]),
    }
    validation = None
    if val is not None:
        validation = Examples(inputs=val["inputs"], labels=val["labels"], summary={"n_examples": len(val["inputs"])},
                              issues=[])
    return Examples(inputs=train["inputs"], labels=train["labels"], summary=summary, issues=issues,
                    validation=validation)


def _checked(listing: Listing, items: list[tuple[Path, str]], seen: dict[str, str]) -> dict:
    """Decode every file (threads: PIL releases the GIL while decoding); keep the good ones in order."""
    def check(item):
        file = item[0]
        try:
            data = file.read_bytes()
            _, info = decode(data, draft=CHECK_SIZE)
            return hashlib.sha256(data).hexdigest(), info, None
        except ImageProblem as problem:
            return None, None, problem.reason

    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 2)) as pool:
        results = list(pool.map(check, items))
    out = {"inputs": [], "labels": [], "skipped": [], "sizes": [], "formats": []}
    for (file, label), (digest, info, reason) in zip(items, results):
        name = _relative(file, listing.root)
        if reason is None and digest in seen:
            reason = "duplicate"
        if reason is not None:
            out["skipped"].append({"file": name, "reason": reason})
            continue
        seen[digest] = name
        out["inputs"].append(str(file.resolve()))
        out["labels"].append(label)
        out["sizes"].append((info["width"], info["height"]))
        out["formats"].append(info["format"])
    return out


def _relative(file: Path, root: Path) -> str:
    try:
        return file.relative_to(root).as_posix()
    except ValueError:
        return file.name


def _skip_message(reason: str) -> str:
    from ftui.messages import describe

    return describe(f"skip_{reason}", {"limit_mp": MAX_PIXELS // 1_000_000})


def _size_stats(sizes: list[tuple[int, int]]) -> dict:
    if not sizes:
        return {}
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return {"width": {"min": min(widths), "median": statistics.median(widths), "max": max(widths)},
            "height": {"min": min(heights), "median": statistics.median(heights), "max": max(heights)}}


def _samples(inputs: list[str], labels: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for file, label in zip(inputs, labels):
        bucket = out.setdefault(label, [])
        if len(bucket) < SAMPLES_PER_CLASS:
            bucket.append(file)
    return dict(sorted(out.items()))
