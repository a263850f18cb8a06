"""Image files -> RGB pictures, and an image upload -> Examples (paths, labels, summary, issues).

Every file is decoded once at inspection, so what cannot train (corrupt, truncated, not an image,
zero bytes, too many pixels, an exact duplicate) is skipped and listed with a reason while the
rest trains. Decoding handles the modes real photos come in: grayscale, palette, RGBA (composited
on white, as a viewer shows it), 16-bit (scaled to 8-bit), CMYK, animated GIF (first frame) and
EXIF-rotated phone pictures. PIL, no torch.
"""
from __future__ import annotations

import io
import statistics
from collections import Counter
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from ftui.config import DataOptions
from ftui.data.files import FileKind, SkipFile, load_file_examples, spread
from ftui.data.examples import Examples

MAX_PIXELS = 40_000_000  # 40 MP: above any camera photo a classifier needs; a "bomb" is far larger
SAMPLES_PER_CLASS = 8  # file paths per class for a thumbnail gallery
CHECK_SIZE = 256  # JPEGs are decoded at reduced scale for the check (DCT scaling; 3-10x faster)
# Why a file was skipped -> its sentence's code in ftui/messages.py, spelled out (never built from the
# reason): ImageProblem's reasons, and files.py's own (corrupt on disk, duplicate, missing from a manifest).
SKIP_CODES = {"empty_file": "skip_empty_file", "not_an_image": "skip_not_an_image", "corrupt": "skip_corrupt",
              "too_many_pixels": "skip_too_many_pixels", "duplicate": "skip_duplicate", "missing": "skip_missing"}


class ImageProblem(Exception):
    """A file that is not a usable image; `reason` is a skip reason (SKIP_CODES gives its message)."""

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
    return load_file_examples(Path(path), IMAGES)


def _check(file: Path) -> dict:
    try:
        return decode(file, draft=CHECK_SIZE)[1]
    except ImageProblem as problem:
        raise SkipFile(problem.reason) from None


def _describe(infos: list[dict], by_label: dict[str, list[str]]) -> dict:
    return {"formats": dict(Counter(i["format"] for i in infos).most_common()),
            "image_sizes": _size_stats([(i["width"], i["height"]) for i in infos]),
            "samples": {label: spread(files, SAMPLES_PER_CLASS) for label, files in by_label.items()}}


def _skip_message(reason: str) -> str:
    from ftui.messages import describe

    return describe(SKIP_CODES[reason], {"limit_mp": MAX_PIXELS // 1_000_000})


def _size_stats(sizes: list[tuple[int, int]]) -> dict:
    if not sizes:
        return {}
    widths, heights = [w for w, _ in sizes], [h for _, h in sizes]
    return {"width": {"min": min(widths), "median": statistics.median(widths), "max": max(widths)},
            "height": {"min": min(heights), "median": statistics.median(heights), "max": max(heights)}}


IMAGES = FileKind(kind="images", check=_check, skip_message=_skip_message, describe=_describe,
                  no_files_code="no_images", skipped_code="images_skipped")
