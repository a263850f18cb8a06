"""API sentences follow the caller's Accept-Language (English or Simplified Chinese); codes never change."""
from __future__ import annotations

import re

import pytest
from gradio_client import Client

from test_api import expect_error, launch

pytestmark = [pytest.mark.timeout(300)]
CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    demo, services, url = launch(tmp_path_factory, "api-lang")
    yield url
    demo.close()
    services.close()


def test_an_error_sentence_follows_accept_language_and_keeps_its_code(url):
    chinese = Client(url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"})
    english = Client(url, verbose=False, headers={"Accept-Language": "en-US,en;q=0.9"})
    plain = Client(url, verbose=False)
    zh = expect_error("unknown_run", chinese.predict, "r-nope", 0, api_name="/run_status")
    en = expect_error("unknown_run", english.predict, "r-nope", 0, api_name="/run_status")
    default = expect_error("unknown_run", plain.predict, "r-nope", 0, api_name="/run_status")
    assert "找不到运行“r-nope”" in zh, zh
    assert "Run 'r-nope' was not found." in en and not CJK.search(en), en
    assert not CJK.search(default), default
    # The detail (names, values) stays as given; the sentence around it is Chinese.
    bad = expect_error("unknown_task", chinese.predict, "smell", api_name="/list_models")
    assert bad.startswith("未知任务“smell”"), bad


def test_model_descriptions_follow_accept_language(url):
    chinese = Client(url, verbose=False, headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    english = Client(url, verbose=False, headers={"Accept-Language": "en-US"})
    zh = {m["id"]: m["description"] for m in chinese.predict("text", api_name="/list_models")}
    en = {m["id"]: m["description"] for m in english.predict("text", api_name="/list_models")}
    assert zh.keys() == en.keys()
    assert all(CJK.search(d) for d in zh.values()), zh
    assert not any(CJK.search(d) for d in en.values()), en
