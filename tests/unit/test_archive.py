"""Image uploads: safe ZIP extraction (traversal, links, bombs) and the layouts that give labels."""
from __future__ import annotations

import copy
import io
import stat
import struct
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


BIG = 3 * 1024 * 1024  # inflates from a few KB of zeros
LIMIT = 1024 * 1024


def test_zip_bomb_is_capped_by_its_declared_sizes(tmp_path):
    make_zip(tmp_path / "bomb.zip", {"cat/big.bin": b"\0" * BIG, "dog/a.png": png()})
    assert (tmp_path / "bomb.zip").stat().st_size < 50_000
    with pytest.raises(FtuiError) as err:
        extract_zip(tmp_path / "bomb.zip", tmp_path / "out", max_bytes=LIMIT)
    assert err.value.code == "archive_too_large" and err.value.detail["what"] == "declared sizes"
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def lying_zip(path, declared: int = 10) -> None:
    """A ZIP whose headers (central directory and local header) declare `declared` bytes for
    cat/big.bin while its deflate stream inflates to BIG bytes."""
    make_zip(path, {"cat/big.bin": b"\0" * BIG, "dog/a.png": png()})
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        local = z.getinfo("cat/big.bin").header_offset
    assert raw[local:local + 4] == b"PK\x03\x04"
    struct.pack_into("<I", raw, local + 22, declared)  # local header: uncompressed size
    at = raw.find(b"PK\x01\x02")
    while at != -1:  # central directory records: the one for cat/big.bin
        name_len = struct.unpack_from("<H", raw, at + 28)[0]
        if raw[at + 46:at + 46 + name_len] == b"cat/big.bin":
            struct.pack_into("<I", raw, at + 24, declared)
        at = raw.find(b"PK\x01\x02", at + 4)
    path.write_bytes(bytes(raw))
    with zipfile.ZipFile(path) as z:
        assert z.getinfo("cat/big.bin").file_size == declared  # the lie is what a reader is told


def test_a_zip_lying_about_its_sizes_is_stopped_by_the_bytes_written(tmp_path, monkeypatch):
    """Declared sizes pass the first check; the count of bytes actually written stops the inflation.
    CPython's zipfile itself stops reading at the declared size (next test), so here the member is
    opened as a reader that trusts the stream would open it: the guard must not rely on the reader."""
    lying_zip(tmp_path / "bomb.zip")
    real_open = zipfile.ZipFile.open

    def open_to_the_end_of_the_stream(self, member, *args, **kwargs):
        if isinstance(member, zipfile.ZipInfo) and member.filename == "cat/big.bin":
            member = copy.copy(member)
            member.file_size = BIG  # read what the deflate stream holds, not what the header says
        return real_open(self, member, *args, **kwargs)

    monkeypatch.setattr(zipfile.ZipFile, "open", open_to_the_end_of_the_stream)
    with pytest.raises(FtuiError) as err:
        extract_zip(tmp_path / "bomb.zip", tmp_path / "out", max_bytes=LIMIT)
    assert err.value.code == "archive_too_large" and err.value.detail["what"] == "actual size"
    assert err.value.to_dict()["message"] == "The ZIP would unpack to more than 1 MB (actual size); make it smaller or split it."
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_cpython_zipfile_stops_a_lying_member_at_its_declared_size(tmp_path):
    """The same lying ZIP through the plain zipfile reader: it yields the declared 10 bytes, then the
    CRC of the whole member fails: refused as a bad archive, nothing left behind."""
    lying_zip(tmp_path / "bomb.zip")
    with pytest.raises(FtuiError) as err:
        extract_zip(tmp_path / "bomb.zip", tmp_path / "out", max_bytes=LIMIT)
    assert err.value.code == "bad_archive" and "CRC" in err.value.detail["reason"]
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


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
