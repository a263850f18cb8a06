"""Image decoding: every format and mode real uploads bring; bad files skipped and listed."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from ftui.data.images import ImageProblem, decode, load_image_examples


def encoded(image: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def gradient(mode="RGB", size=(16, 12)):
    array = np.linspace(0, 255, size[0] * size[1] * 3).reshape(size[1], size[0], 3).astype(np.uint8)
    return Image.fromarray(array, "RGB").convert(mode)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "GIF"])
def test_common_formats_decode_to_rgb(fmt):
    rgb, info = decode(encoded(gradient(), fmt))
    assert rgb.mode == "RGB" and rgb.size == (16, 12) and info["format"] == fmt


def test_modes_grayscale_palette_rgba_16bit_cmyk():
    assert decode(encoded(gradient("L"), "PNG"))[0].mode == "RGB"
    assert decode(encoded(gradient("P"), "PNG"))[0].mode == "RGB"
    assert decode(encoded(gradient("CMYK"), "JPEG"))[0].mode == "RGB"
    transparent = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert decode(encoded(transparent, "PNG"))[0].getpixel((0, 0)) == (255, 255, 255)  # composited on white
    sixteen = Image.fromarray(np.full((6, 6), 65535, dtype=np.uint16))
    rgb, _ = decode(encoded(sixteen, "PNG"))
    assert rgb.getpixel((0, 0)) == (255, 255, 255)  # 16-bit white stays white, not clipped garbage


def test_animated_gif_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((250, 0, 0), (0, 0, 250))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:])
    r, g, b = decode(data)[0].getpixel((0, 0))
    assert r > 200 and b < 50


def test_exif_rotation_is_applied():
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view"
    data = encoded(Image.new("RGB", (20, 10), (0, 128, 0)), "JPEG", exif=exif.tobytes())
    rgb, info = decode(data)
    assert rgb.size == (10, 20) and (info["width"], info["height"]) == (20, 10)


def bomb_png(width=100_000, height=100_000) -> bytes:
    """A valid PNG header claiming 10 gigapixels (tiny file): decoding it must not be attempted."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("data,reason", [
    (b"", "empty_file"),
    (b"just some text, named .jpg", "not_an_image"),
    (bomb_png(), "too_many_pixels"),
    (bomb_png(8000, 6000), "too_many_pixels"),  # 48 MP: over our 40 MP cap, under PIL's own bomb check
])
def test_bad_files_raise_a_reason(data, reason):
    with pytest.raises(ImageProblem) as err:
        decode(data)
    assert err.value.reason == reason


def test_truncated_jpeg_is_corrupt():
    data = encoded(gradient(size=(64, 64)), "JPEG")
    with pytest.raises(ImageProblem) as err:
        decode(data[: len(data) // 2])
    assert err.value.reason == "corrupt"


def test_a_folder_upload_skips_and_lists_bad_files_and_trains_on_the_rest(tmp_path):
    for label, shade in (("ants", 40), ("bees", 200)):
        folder = tmp_path / label
        folder.mkdir()
        for i in range(4):
            (folder / f"{i}.png").write_bytes(encoded(Image.new("RGB", (20 + i, 10), (shade, 10 * i, 0)), "PNG"))
    good = encoded(gradient(size=(64, 64)), "JPEG")
    (tmp_path / "ants" / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (tmp_path / "ants" / "empty.jpg").write_bytes(b"")
    (tmp_path / "bees" / "notes.jpg").write_text("not an image")
    (tmp_path / "bees" / "bomb.png").write_bytes(bomb_png())
    (tmp_path / "bees" / "copy.png").write_bytes((tmp_path / "bees" / "0.png").read_bytes())
    examples = load_image_examples(tmp_path)
    summary = examples.summary
    assert summary["class_counts"] == {"ants": 4, "bees": 4}
    reasons = {s["file"]: s["reason"] for s in summary["skipped"]}
    assert reasons == {"ants/truncated.jpg": "corrupt", "ants/empty.jpg": "empty_file",
                       "bees/notes.jpg": "not_an_image", "bees/bomb.png": "too_many_pixels",
                       "bees/copy.png": "duplicate"}
    assert all(s["message"] for s in summary["skipped"])
    assert summary["image_sizes"]["width"] == {"min": 20, "median": 21.5, "max": 23}
    assert summary["formats"] == {"PNG": 8} and len(summary["samples"]["ants"]) == 4
    assert "images_skipped" in {i.code for i in examples.issues}
    assert not any(i.severity == "error" for i in examples.issues)


def test_a_class_with_a_single_image_blocks_training(tmp_path):
    for label, n in (("cats", 3), ("dogs", 1)):
        (tmp_path / label).mkdir()
        for i in range(n):
            color = (i * 50, 0, 0) if label == "cats" else (0, 0, 200)  # distinct: duplicates are skipped
            (tmp_path / label / f"{i}.png").write_bytes(encoded(Image.new("RGB", (8, 8), color), "PNG"))
    issues = [i for i in load_image_examples(tmp_path).issues if i.severity == "error"]
    assert [(i.code, i.detail["label"]) for i in issues] == [("too_few_per_class", "dogs")]
