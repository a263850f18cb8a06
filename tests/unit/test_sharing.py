"""Read-only live links: only a hash is kept, expiry and withdrawal end them, the view holds no paths."""
from __future__ import annotations

import json
import time

import pytest

from ftui.errors import FtuiError
from ftui.services import Services
from ftui.ui import render_share


def test_a_link_finds_its_run_until_it_expires_or_is_withdrawn(make_text_run):
    store, run_dir, _, _ = make_text_run(n=16, epochs=1)
    services = Services(store.root)
    try:
        shared = services.share_run(None, run_dir.name, 7, True)
        token = shared["path"].rsplit("/", 1)[1]
        record = json.loads((run_dir / "share.json").read_text())
        assert token not in json.dumps(record) and len(record["token_sha256"]) == 64
        assert services.sharing.shared_run(token)[0] == run_dir.resolve()
        view = services.shared_view(token)
        assert view["class_counts"] == {"neg": 6, "pos": 6} and view["task"] == "text"
        flat = json.dumps(view)
        assert str(store.root) not in flat and "u-0000000000000000" not in flat  # no paths, no upload ids
        assert view["model"] == "tiny-bert0" and "/" not in flat.split('"model"')[1].split(",")[0]
        with pytest.raises(FtuiError):
            services.shared_view(token[:-1] + ("A" if token[-1] != "A" else "B"))  # one character off
        again = services.share_run(None, run_dir.name, 7)["path"].rsplit("/", 1)[1]  # replaces the old link
        with pytest.raises(FtuiError):
            services.shared_view(token)
        assert services.unshare_run(None, run_dir.name)["unshared"]
        with pytest.raises(FtuiError):
            services.shared_view(again)
        brief = services.share_run(None, run_dir.name, 1e-5)  # under a second
        time.sleep(1.0)
        with pytest.raises(FtuiError):
            services.shared_view(brief["path"].rsplit("/", 1)[1])
        for days in (0, -1, 91, "soon"):
            with pytest.raises(FtuiError) as err:
                services.share_run(None, run_dir.name, days)
            assert err.value.code == "bad_option"
        with pytest.raises(FtuiError) as err:
            services.share_run("bob", run_dir.name)  # another user's run
        assert err.value.code == "unknown_run"
    finally:
        services.close()


def test_the_page_escapes_everything_the_run_says():
    view = {"name": "<script>alert(1)</script>", "task": "text", "model": "m<b>", "class_counts": {"<i>": 3},
            "settings": {"epochs": 3}, "state": "running", "progress": 0.5, "rows": [
                {"split": "train", "step": 1, "loss": 0.7}, {"split": "train", "step": 2, "loss": 0.5},
                {"split": "validation", "step": 2, "loss": 0.6, "accuracy": 0.8}],
            "evaluation": {"labels": ["<a>", "b"], "confusion": [[3, 1], [0, 4]], "accuracy": 0.875, "n": 8}}
    page = render_share.page_html(view, "t" * 43)
    assert "<script>alert" not in page and "&lt;script&gt;" in page and "&lt;i&gt;: 3" in page
    assert page.count("<polyline") == 3  # training loss, validation loss, validation accuracy
    assert "87.5%" in page and "<textarea" not in page  # no prediction box unless allowed
    assert "No points yet" in render_share.svg_chart({"loss": []}, "Loss")
