"""The studio speaks English and Simplified Chinese: every sentence has both, with the same fields;
every key the UI names exists; the language follows the cookie of the page's switch, else Accept-Language."""
from __future__ import annotations

import re
import string
from pathlib import Path

import gradio as gr
import pytest

from ftui.i18n import CATALOGS, EN, ZH, best_lang, marker, recipe_zh, t
from ftui.i18n.messages_zh import MESSAGES_ZH
from ftui.messages import MESSAGES, describe
from ftui.ui import render_data
from ftui.ui.lang import GRADIO_OWN, I18N, lang_of
from ftui.ui.train_form import data_sentence

UI_EN, UI_ZH = CATALOGS[EN], CATALOGS[ZH]
FTUI = Path(__file__).resolve().parents[2] / "ftui"
CJK = re.compile(r"[\u4e00-\u9fff]")
KEY_USE = re.compile(r"""\b(?:L|t|marker)\(\s*f?["']([a-z_]+\.[a-z_{}0-9]+)["']""")


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_every_problem_code_has_a_chinese_sentence_with_the_same_fields():
    assert set(MESSAGES_ZH) == set(MESSAGES)
    for code, english in MESSAGES.items():
        assert fields(MESSAGES_ZH[code]) == fields(english), code
        assert CJK.search(MESSAGES_ZH[code]), code


def test_every_ui_key_is_in_both_catalogs_with_the_same_fields():
    assert set(UI_ZH) == set(UI_EN)
    for key, english in UI_EN.items():
        assert fields(UI_ZH[key]) == fields(english), key
        assert not CJK.search(english), key


def test_static_text_is_safe_for_the_front_end_message_syntax():
    """gr.I18n's front end reads ICU messages: a brace or a tag would be parsed, not shown."""
    for lang, catalog in I18N.translations_dict.items():
        assert set(catalog) and set(catalog) == set(I18N.translations_dict[EN])
        for key, text in catalog.items():
            if key in GRADIO_OWN[lang]:  # Gradio's own key: its front end fills {position} and {size}
                assert re.findall(r"{\w+}", text) == ["{position}", "{size}"], (lang, key)
                continue
            assert not re.search(r"[{}<>]", text), (lang, key)


def test_every_key_the_ui_names_exists():
    used = set()
    for path in FTUI.rglob("*.py"):
        for key in KEY_USE.findall(path.read_text(encoding="utf-8")):
            if "{" in key:  # L(f"train.recipe_{value}"): check each value the code gives it below
                continue
            used.add(key)
    assert used, "no keys found: the pattern no longer matches the code"
    assert sorted(used - set(UI_EN)) == []
    for value in ("head_first", "head_only", "full"):
        assert f"train.recipe_{value}" in UI_EN
    for value in ("auto", "yes", "no"):
        assert f"train.{value}" in UI_EN


@pytest.mark.parametrize("header, lang", [("zh-CN,zh;q=0.9,en;q=0.8", ZH), ("en-US,en;q=0.9", EN),
                                          ("zh-TW", ZH), ("fr-FR,fr;q=0.9", EN), ("", EN), (None, EN),
                                          ("de,en;q=0.5,zh;q=0.7", ZH), ("zh;q=0,en", EN), ("*", EN)])
def test_best_lang_picks_ours_by_weight(header, lang):
    assert best_lang(header) == lang


def test_lang_of_prefers_the_switch_cookie_then_accept_language():
    assert lang_of(gr.Request(headers={"accept-language": "zh-CN,zh;q=0.9"})) == ZH
    assert lang_of(gr.Request(headers={"accept-language": "zh-CN", "cookie": "x=1; ftui_lang=en"})) == EN
    assert lang_of(gr.Request(headers={"accept-language": "en-US", "cookie": "ftui_lang=zh-CN"})) == ZH
    assert lang_of(gr.Request(headers={"cookie": "ftui_lang=klingon"})) == EN
    assert lang_of(None) == EN


def test_describe_speaks_both_languages_and_keeps_english_by_default():
    detail = {"name": "a.csv", "size_mb": 7.25, "limit_mb": 5}
    assert describe("file_too_large", detail) == "The file 'a.csv' is 7.2 MB; the limit is 5 MB."
    assert describe("file_too_large", detail, ZH) == "文件“a.csv”有 7.2 MB，上限是 5 MB。"
    assert describe("duplicate_rows", {"count": 3}, ZH) == "发现 3 行重复数据（文本和标签都相同）；重复项不会进入验证集。"


def test_data_summary_and_problems_in_chinese():
    summary = {"file": "sms.csv", "n_examples": 500, "class_counts": {"ham": 430, "spam": 70},
               "text_column": "text", "label_column": "label", "ok": True}
    assert render_data.summary_markdown(summary) == ("**sms.csv**: 500 examples in 2 classes; text column `text`, "
                                                     "label column `label`. Ready to train.")
    assert render_data.summary_markdown(summary, ZH) == ("**sms.csv**：2 个类别，共 500 个样本；文本列 `text`，"
                                                         "标签列 `label`。可以开始训练了。")
    issues = [{"code": "single_class", "severity": "error", "detail": {"label": "ham"},
               "message": describe("single_class", {"label": "ham"})}]
    assert "Only one class ('ham')" in render_data.issues_markdown(issues)
    assert render_data.issues_markdown(issues, ZH) == "**训练前必须修正：**\n- **错误：** 只找到一个类别（“ham”）；训练至少需要两个。"
    assert not re.search(r"[a-z]{3,}", render_data.summary_markdown(None, ZH))  # "ZIP" is a name


def test_train_data_sentence_in_both_languages():
    upload = {"name": "sms.csv", "ok": True}
    assert data_sentence(upload, None) == "Training on **sms.csv**, validating on a held-out share of it."
    assert data_sentence(upload, None, ZH) == "使用 **sms.csv** 训练，验证数据为从中留出的一部分。"
    assert t("no.such.key", ZH) == "no.such.key"


def test_marker_is_what_gradio_sends_for_an_i18n_key():
    assert marker("model.default") == str(gr.I18n()("model.default"))


def test_the_recipe_line_in_chinese_part_by_part():
    assert recipe_zh("head first, then everything · batch 16 · head rate ×10") == "先训练分类头，再训练全部 · 批大小 16 · 分类头学习率 ×10"
    assert recipe_zh("something new") == "something new"  # unknown parts pass through
