"""The Train form's pure half: widget values -> run options -> widget values (a clone shows what ran)."""
import dataclasses

from ftui.config import RunConfig
from ftui.ui.train_form import TRAIN_DEFAULTS, build_options, widget_values
from ftui.vocab import TaskName

NAMES = ["recipe", "batch_size", "seed", "early_stopping_patience", "gpus"]
FORM = dataclasses.asdict(TRAIN_DEFAULTS)  # what an untouched form sends


def start(**values) -> RunConfig:
    options = build_options(TaskName.TEXT, {}, {**FORM, **values})
    return RunConfig.build(TaskName.TEXT, "minilm", "up-1", 5e-5, 1, options)


def test_the_gpus_field_reaches_the_run_config_and_comes_back_on_clone():
    config = start(recipe="head_first", batch_size=16, seed=7, gpus=2)
    assert config.train.gpus == 2
    assert widget_values(config.to_dict()["train"], NAMES) == ("head_first", 16, 7, 0, 2)


def test_a_hidden_gpus_field_means_one_gpu():
    assert start(gpus=None).train.gpus == 1
