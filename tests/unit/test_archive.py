"""Image uploads: safe ZIP extraction (traversal, links, bombs) and the layouts that give labels."""
from __future__ import annotations

import io
import stat
import zipfile

import pytest
from PIL import Image

from ftui.data.archive import extract_zip, image_root, list_images
from ftui.data.images import load_image_examples
from ftui.errors import FtuiError


def png(color=(200, 30, 30), size=(12, 10)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def make_zip(path, entries: dict) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)


def class_entries(prefix="", classes=("cat", "dog"), n=3, shade=90):
    """Distinct pictures per file (identical ones would be skipped as duplicates)."""
    return {f"{prefix}{c}/{i}.png": png((40 * k + 10, 5 * i, shade)) for k, c in enumerate(classes) for i in range(n)}


def test_class_folders_inside_one_wrapper_folder_and_os_litter_ignored(tmp_path):
    entries = class_entries("photos/") | {"__MACOSX/photos/._x.png": b"junk", "photos/.DS_Store": b"x",
                                          "photos/cat/Thumbs.db": b"x"}
    make_zip(tmp_path / "up.zip", entries)
    listing = list_images(image_root(tmp_path / "up.zip"))
    assert listing.layout == "class_folders"
    assert sorted({label for _, label in listing.train}) == ["cat", "dog"] and len(listing.train) == 6
    assert (tmp_path / "extracted" / ".complete").is_file()
    assert not (tmp_path / "extracted" / "__MACOSX").exists()
    assert image_root(tmp_path / "up.zip") == tmp_path / "extracted"  # extracted once, then reused


def test_train_and_val_folders_give_the_validation_split(tmp_path):
    make_zip(tmp_path / "up.zip", class_entries("train/") | class_entries("val/", n=2, shade=200))
    examples = load_image_examples(tmp_path / "up.zip")
    assert examples.summary["layout"] == "train_val" and len(examples.inputs) == 6
    assert examples.validation is not None and len(examples.validation.inputs) == 4


def test_csv_manifest_with_images_in_the_same_zip(tmp_path):
    entries = {f"img/{i}.png": png((30 * i, 0, 0)) for i in range(6)}
    entries["labels.csv"] = "filename,label\n" + "".join(f"img/{i}.png,{'a' if i % 2 else 'b'}\n" for i in range(6)) \
        + "img/missing.png,a\n../../etc/passwd,a\n"
    make_zip(tmp_path / "up.zip", entries)
    examples = load_image_examples(tmp_path / "up.zip")
    assert examples.summary["layout"] == "manifest" and examples.summary["class_counts"] == {"a": 3, "b": 3}
    assert {s["file"] for s in examples.summary["skipped"]} == {"img/missing.png", "../../etc/passwd"}


@pytest.mark.parametrize("name", ["../x.jpg", "/abs/x.jpg", "C:/x.jpg", "a/../../x.jpg", "..\\x.jpg"])
def test_entries_outside_the_root_refuse_the_archive(tmp_path, name):
    make_zip(tmp_path / "up.zip", class_entries() | {name: png()})
    with pytest.raises(FtuiError) as err:
        extract_zip(tmp_path / "up.zip", tmp_path / "extracted")
    assert err.value.code == "unsafe_archive"
    assert not (tmp_path / "extracted").exists() and not (tmp_path.parent / "x.jpg").exists()


def test_symlink_entry_is_refused(tmp_path):
    with zipfile.ZipFile(tmp_path / "up.zip", "w") as z:
        info = zipfile.ZipInfo("cat/link.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(info, "/etc/passwd")
    with pytest.raises(FtuiError, match="unsafe_archive"):
        extract_zip(tmp_path / "up.zip", tmp_path / "extracted")


def test_zip_bomb_is_capped_by_declared_and_by_actual_size(tmp_path):
    make_zip(tmp_path / "bomb.zip", {"cat/big.bin": b"\0" * (3 * 1024 * 1024), "dog/a.png": png()})
    assert (tmp_path / "bomb.zip").stat().st_size < 50_000
    with pytest.raises(FtuiError) as err:
        extract_zip(tmp_path / "bomb.zip", tmp_path / "out", max_bytes=1024 * 1024)
    assert err.value.code == "archive_too_large" and err.value.detail["what"] == "declared sizes"
    # A lying header: declare a tiny size; the byte count while writing still stops it.
    raw = bytearray((tmp_path / "bomb.zip").read_bytes())
    with zipfile.ZipFile(tmp_path / "bomb.zip") as z:
        infos = z.infolist()
    with pytest.raises(FtuiError) as err:
        with mock_declared_sizes(infos):
            extract_zip(tmp_path / "bomb.zip", tmp_path / "out2", max_bytes=1024 * 1024)
    assert err.value.code in ("archive_too_large", "bad_archive")
    assert not (tmp_path / "out2").exists() and raw


def mock_declared_sizes(infos):
    from unittest import mock

    original = zipfile.ZipFile.infolist

    def lying(self):
        out = original(self)
        for info in out:
            info.file_size = 10
        return out

    return mock.patch.object(zipfile.ZipFile, "infolist", lying)


def test_too_many_files(tmp_path):
    make_zip(tmp_path / "many.zip", {f"cat/{i}.txt": b"x" for i in range(30)})
    with pytest.raises(FtuiError, match="archive_too_large"):
        extract_zip(tmp_path / "many.zip", tmp_path / "out", max_files=10)


def test_not_a_zip(tmp_path):
    (tmp_path / "up.zip").write_bytes(b"hello, not a zip")
    with pytest.raises(FtuiError, match="bad_archive"):
        image_root(tmp_path / "up.zip")


def test_bad_layouts_say_why(tmp_path):
    make_zip(tmp_path / "flat.zip", {"a.png": png(), "b.png": png((0, 0, 1))})
    with pytest.raises(FtuiError, match="no_class_folders"):
        load_image_examples(tmp_path / "flat.zip")
    (tmp_path / "t").mkdir()
    make_zip(tmp_path / "t" / "text.zip", {"cat/a.txt": b"hello", "dog/b.txt": b"world"})
    with pytest.raises(FtuiError, match="no_images"):
        load_image_examples(tmp_path / "t" / "text.zip")
    (tmp_path / "o").mkdir()
    make_zip(tmp_path / "o" / "one.zip", class_entries(classes=("cat",)) | {"readme/": b""})
    codes = {i.code for i in load_image_examples(tmp_path / "o" / "one.zip").issues}
    assert "single_class" in codes
    (tmp_path / "s").mkdir()
    entries = class_entries() | {"bird/only.png": png((1, 2, 3))}
    make_zip(tmp_path / "s" / "single.zip", entries)
    issues = {i.code: i for i in load_image_examples(tmp_path / "s" / "single.zip").issues}
    assert issues["too_few_per_class"].severity == "error" and issues["too_few_per_class"].detail["label"] == "bird"
