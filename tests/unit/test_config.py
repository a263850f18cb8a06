"""RunConfig: options sorted into parts, strict round trip, ranges checked with clear codes."""
from __future__ import annotations

import json

import pytest

from ftui.config import RunConfig
from ftui.errors import FtuiError


def build(lr=5e-5, epochs=3, **options):
    return RunConfig.build("text", "minilm", "u-0123456789abcdef", lr, epochs, options)


def test_round_trip_through_json():
    config = build(batch_size=8, text_column="sms", val_fraction=0.25, name="first try")
    again = RunConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert again.train.batch_size == 8 and again.data.text_column == "sms" and again.name == "first try"
    assert RunConfig.build("text", "minilm", "u-0123456789abcdef", 5e-5, 3, config.options()) == config


def test_unknown_keys_rejected_everywhere():
    with pytest.raises(FtuiError) as err:
        build(batch_sise=8)
    assert err.value.code == "unknown_option" and "batch_sise" in err.value.detail["names"]
    raw = build().to_dict()
    raw["train"]["learning_rat"] = 1
    with pytest.raises(FtuiError):
        RunConfig.from_dict(raw)
    raw = build().to_dict()
    raw["surprise"] = 1
    with pytest.raises(FtuiError):
        RunConfig.from_dict(raw)


@pytest.mark.parametrize("lr", [0, -1e-5, "abc", float("nan"), None])
def test_bad_learning_rate(lr):
    with pytest.raises(FtuiError) as err:
        build(lr=lr)
    assert err.value.code == "bad_learning_rate"


@pytest.mark.parametrize("epochs", [0, -1, 2.5, "x", 1000])
def test_bad_epochs(epochs):
    with pytest.raises(FtuiError) as err:
        build(epochs=epochs)
    assert err.value.code == "bad_epochs"


def test_numbers_from_widgets_are_coerced():
    config = build(lr="1e-4", epochs="2", batch_size=32.0)
    assert config.learning_rate == 1e-4 and config.epochs == 2 and config.train.batch_size == 32


@pytest.mark.parametrize("option", [{"batch_size": -1}, {"val_fraction": 0.9}, {"warmup_ratio": -0.1},
                                    {"max_length": 3}, {"seed": 1.5}])
def test_out_of_range_options(option):
    with pytest.raises(FtuiError) as err:
        build(**option)
    assert err.value.code == "bad_option" and err.value.detail["name"] == next(iter(option))


def test_unknown_task():
    with pytest.raises(FtuiError) as err:
        RunConfig.build("video", "m", "u", 1e-4, 1, {})
    assert err.value.code == "unknown_task"
