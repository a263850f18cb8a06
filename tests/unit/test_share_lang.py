"""The shared page speaks the visitor's language: the switch's cookie first, then Accept-Language, the
same way the studio does; its live part and its problem sentences follow. English stays as it was."""
from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from ftui.errors import FtuiError
from ftui.i18n import CATALOGS, EN, ZH
from ftui.ui import render_share
from ftui.ui.share_page import add_share_routes
from ftui.vocab import RunState, TaskName

CJK = re.compile(r"[\u4e00-\u9fff]")
TOKEN = "t" * 43
VIEW = {"name": "reviews <v2>", "task": TaskName.TEXT, "model": "tiny-bert", "class_counts": {"neg": 6, "pos": 6},
        "settings": {"learning rate": 5e-4, "epochs": 3, "batch size": "auto"}, "state": RunState.RUNNING,
        "progress": 0.5, "eta_s": 95, "elapsed_s": 60, "best_accuracy": 0.8, "n_validation": 10,
        "recipe": "head first, then everything · batch 16", "allow_predict": True,
        "rows": [{"split": "train", "step": 1, "loss": 0.7}, {"split": "train", "step": 2, "loss": 0.5},
                 {"split": "validation", "step": 2, "loss": 0.6, "accuracy": 0.8}],
        "evaluation": {"labels": ["neg", "pos"], "confusion": [[3, 1], [0, 4]], "accuracy": 0.875, "n": 8,
                       "macro_f1": 0.87}}
ENGLISH = ["training", "Loss", "Validation accuracy", "validation", "Latest evaluation", "Try it", "Predict",
           "classification", "examples", "done", "left", "Recipe", "learning rate", "epochs", "batch size",
           "auto", "step", "Accuracy", "true label", "read-only", "Type a text", "head first"]


def visible(page: str) -> str:
    """The page without its style sheet and script (code words are not text)."""
    return re.sub(r"<(style|script)>.*?</\1>", "", page, flags=re.S)


def test_the_page_in_chinese_has_none_of_its_english_words():
    page = render_share.page_html(VIEW, TOKEN, ZH)
    assert '<html lang="zh-CN">' in page
    text = visible(page)
    assert [word for word in ENGLISH if word in text] == []
    for chinese in ("训练中", "进度 50%", "约剩 1 分 35 秒", "损失", "验证准确率", "最新评估", "试一试", "预测",
                    "基于 <b>tiny-bert</b> 的文本分类", "学习率 0.0005", "批大小 自动", "先训练分类头，再训练全部"):
        assert chinese in text, chinese
    assert "No answer." not in page and "expired" not in page and "没有得到结果。" in page
    assert "reviews &lt;v2&gt;" in page and "<v2>" not in page  # the run's values stay escaped


def test_the_live_part_in_chinese_and_english():
    live = render_share.live_html(VIEW, ZH)
    assert [word for word in ENGLISH if word in live] == [] and "训练损失" in live and "第 2 步" in live
    english = render_share.live_html(VIEW)
    assert not CJK.search(english)
    assert "<b>training</b> · 50% done · about 1 min 35 s left · trained for 1 min" in english
    assert "best validation accuracy 80.0% on 10 examples" in english
    assert "Accuracy 87.5% on 8 examples, macro-F1 0.870." in english


def test_the_page_in_english_has_no_chinese():
    page = render_share.page_html(VIEW, TOKEN)
    assert '<html lang="en">' in page and not CJK.search(page)
    for english in ("Try it", "Predict", "Type a text to classify", "text classification on <b>tiny-bert</b>",
                    "classes (training examples): neg: 6, pos: 6.", "learning rate 0.0005 · epochs 3 · batch size auto",
                    "Recipe: head first, then everything · batch 16", "No answer.", "expired or was withdrawn"):
        assert english in page, english
    assert not CJK.search(render_share.gone_html(EN)) and "此链接已过期" in render_share.gone_html(ZH)


def test_every_state_and_task_has_its_words_in_both_languages():
    for key in [f"share.state_{s}" for s in RunState] + [f"share.task_{task}" for task in TaskName]:
        assert key in CATALOGS[EN] and CJK.search(CATALOGS[ZH][key]), key


class FakeSharing:
    def shared_view(self, token, since=0):
        if token != TOKEN:
            raise FtuiError("unknown_run", run_id="(shared link)")
        return VIEW

    def shared_predict(self, token, input):
        raise FtuiError("empty_input")


class FakeServices:
    sharing, max_upload_bytes = FakeSharing(), 1024


def client() -> TestClient:
    app = FastAPI()
    add_share_routes(app, FakeServices())
    return TestClient(app)


def test_the_routes_pick_the_cookie_then_accept_language():
    web = client()
    assert '<html lang="zh-CN">' in web.get(f"/share/{TOKEN}", headers={"accept-language": "zh-CN,zh;q=0.9"}).text
    assert '<html lang="en">' in web.get(f"/share/{TOKEN}", headers={"accept-language": "en-US"}).text
    assert '<html lang="en">' in web.get(f"/share/{TOKEN}").text
    chosen = {"accept-language": "en-US,en;q=0.9", "cookie": "x=1; ftui_lang=zh-CN"}
    assert '<html lang="zh-CN">' in web.get(f"/share/{TOKEN}", headers=chosen).text
    over = {"accept-language": "zh-CN", "cookie": "ftui_lang=en"}
    assert '<html lang="en">' in web.get(f"/share/{TOKEN}", headers=over).text
    odd = {"accept-language": "zh-CN", "cookie": "ftui_lang=klingon"}
    assert '<html lang="zh-CN">' in web.get(f"/share/{TOKEN}", headers=odd).text
    live = web.get(f"/share/{TOKEN}/live", headers=chosen)
    assert live.status_code == 200 and "训练中" in live.text and "training" not in live.text
    gone = web.get("/share/" + "A" * 43, headers={"accept-language": "zh-CN"})
    assert gone.status_code == 404 and "此链接已过期或已被撤回。" in gone.text
    assert "expired or was withdrawn" in web.get("/share/" + "A" * 43).text
    answer = web.post(f"/share/{TOKEN}/predict", data={"input": "x"}, headers=chosen)
    assert answer.status_code == 400 and CJK.search(answer.json()["error"])
    assert not CJK.search(web.post(f"/share/{TOKEN}/predict", data={"input": "x"}).json()["error"])
