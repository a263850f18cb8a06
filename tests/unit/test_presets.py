"""Presets: a run's settings kept by name, per user, and filled back into the Train form; "show as command"."""
from __future__ import annotations

import dataclasses
import json
import shlex

import pytest

from ftui.config import RunConfig
from ftui.errors import FtuiError
from ftui.services import Services
from ftui.ui.train_form import TRAIN_DEFAULTS, preset_values, widget_values
from ftui.vocab import TaskName

UPLOAD, OTHER_UPLOAD = "u-0123456789abcdef", "u-fedcba9876543210"
CHOSEN = {"batch_size": 8, "seed": 7, "train_head_only": True, "label_smoothing": 0.1, "val_fraction": 0.3,
          "text_column": "body", "label_column": "tag", "validation_upload": "u-1111111111111111", "name": "baseline"}
FORM = ["recipe", "batch_size", "max_length", "pooling", "weight_decay", "label_smoothing", "seed", "gpus"]


@pytest.fixture
def services(tmp_path):
    services = Services(tmp_path / "runs")
    yield services
    services.close()


def make_run(services, owner, task=TaskName.TEXT, model="all-MiniLM-L6-v2", options=CHOSEN) -> tuple[str, RunConfig]:
    """A run folder with its config.json (a preset reads nothing else: no training needed)."""
    config = RunConfig.build(task, model, UPLOAD, 3e-5, 3, options)
    return services.store.create(owner, config)[0], config


def test_a_preset_keeps_the_settings_and_starts_the_same_run_on_other_data(services):
    run_id, config = make_run(services, "ann")
    saved = services.save_preset("ann", run_id, "quick-baseline")
    assert (saved["name"], saved["task"], saved["model"], saved["learning_rate"], saved["epochs"]) == \
        ("quick-baseline", TaskName.TEXT, "all-MiniLM-L6-v2", 3e-5, 3)
    # What belongs to one file (its columns, its validation upload) or one run (its name) is not kept.
    assert not {"text_column", "label_column", "validation_upload", "name", "upload"} & set(saved["options"])
    on_disk = services.store.owner_dir("ann") / "presets" / "quick-baseline.json"
    assert json.loads(on_disk.read_text(encoding="utf-8")) == saved == services.preset("ann", "quick-baseline")
    again = RunConfig.build(saved["task"], saved["model"], OTHER_UPLOAD, saved["learning_rate"], saved["epochs"],
                            saved["options"])
    assert again.train == config.train and again.data.val_fraction == 0.3
    assert (again.data.text_column, again.data.validation_upload, again.name) == (None, None, "")


def test_presets_are_listed_by_name_replaced_on_save_and_deleted(services):
    first, _ = make_run(services, "ann")
    second, _ = make_run(services, "ann", options={"seed": 1})
    assert services.list_presets("ann") == []
    services.save_preset("ann", first, "zeta")
    services.save_preset("ann", first, "Alpha")
    services.save_preset("ann", first, "快速-中文.v2")  # Chinese names are fine
    assert [p["name"] for p in services.list_presets("ann")] == ["Alpha", "zeta", "快速-中文.v2"]
    services.save_preset("ann", second, "zeta")  # the same name: replaced, not added
    assert [p["name"] for p in services.list_presets("ann")] == ["Alpha", "zeta", "快速-中文.v2"]
    assert services.preset("ann", "zeta")["options"]["seed"] == 1
    assert services.delete_preset("ann", "zeta") == {"name": "zeta", "deleted": True}
    assert [p["name"] for p in services.list_presets("ann")] == ["Alpha", "快速-中文.v2"]
    for call in (lambda: services.preset("ann", "zeta"), lambda: services.delete_preset("ann", "zeta")):
        with pytest.raises(FtuiError) as err:
            call()
        assert err.value.code == "preset_not_found"
    with pytest.raises(FtuiError) as err:
        services.save_preset("ann", "20990101-000000-abcd", "x")
    assert err.value.code == "unknown_run"


@pytest.mark.parametrize("name", ["", "  ", ".hidden", "..", "../bob/presets/x", "a/b", "a\\b", "with space",
                                  "x" * 65, "-dash-first", "semi;colon", "tab\tname"])
def test_a_preset_name_is_a_plain_slug(services, name):
    run_id, _ = make_run(services, "ann")
    for call in (lambda: services.save_preset("ann", run_id, name), lambda: services.preset("ann", name),
                 lambda: services.delete_preset("ann", name)):
        with pytest.raises(FtuiError) as err:
            call()
        assert err.value.code == "bad_preset_name"
    assert not (services.store.root / "bob").exists() and services.list_presets("ann") == []


def test_names_at_the_limit_and_with_spaces_around_are_kept(services):
    run_id, _ = make_run(services, "ann")
    assert services.save_preset("ann", run_id, "x" * 64)["name"] == "x" * 64
    assert services.save_preset("ann", run_id, "  lr_1e-4.v2 ")["name"] == "lr_1e-4.v2"


def test_one_user_can_neither_see_nor_reach_another_users_presets(services):
    ann_run, _ = make_run(services, "ann")
    services.save_preset("ann", ann_run, "mine")
    assert services.list_presets("bob") == []
    for call in (lambda: services.preset("bob", "mine"), lambda: services.delete_preset("bob", "mine")):
        with pytest.raises(FtuiError) as err:
            call()
        assert err.value.code == "preset_not_found"
    with pytest.raises(FtuiError) as err:  # nor keep the settings of her run
        services.save_preset("bob", ann_run, "stolen")
    assert err.value.code == "unknown_run"
    assert [p["name"] for p in services.list_presets("ann")] == ["mine"]


def test_a_damaged_preset_is_left_out_of_the_list_and_says_so_when_opened(services):
    run_id, _ = make_run(services, "ann")
    services.save_preset("ann", run_id, "good")
    (services.store.owner_dir("ann") / "presets" / "bad.json").write_text("{not json", encoding="utf-8")
    assert [p["name"] for p in services.list_presets("ann")] == ["good"]
    with pytest.raises(FtuiError) as err:
        services.preset("ann", "bad")
    assert err.value.code == "damaged_file"


def test_a_preset_fills_the_form_as_a_clone_of_its_run_would(services):
    run_id, config = make_run(services, "ann")
    preset = services.save_preset("ann", run_id, "p")
    values = preset_values(preset, FORM)
    assert values == widget_values({**dataclasses.asdict(TRAIN_DEFAULTS), **config.to_dict()["train"]}, FORM)
    assert values == ("head_only", 8, 128, "auto", 0.01, "0.1", 7, 1)
    # A preset kept before an option existed shows that option's default.
    assert preset_values({"options": {"seed": 3}}, ["recipe", "seed", "max_length"]) == ("head_first", 3, 128)


def test_show_as_command_names_the_runs_folder_only_for_the_local_user(services):
    from ftui.cli.main import build_parser
    from ftui.ui.presets_panel import commands_of

    run_id, config = make_run(services, None)
    lines = commands_of(services, "local", run_id, "http://studio:7860/")
    args = build_parser().parse_args(shlex.split(lines["cli"])[1:])
    assert (args.data, args.runs_dir, args.model) == ("DATA", str(services.store.root), config.model)  # upload gone
    assert "Client('http://studio:7860/')" in lines["python"]
    ann_run, _ = make_run(services, "ann")
    words = shlex.split(commands_of(services, "ann", ann_run, "http://studio:7860/")["cli"])
    assert "--runs-dir" not in words and words[words.index("--user") + 1] == "ann"
    assert str(services.store.root) not in " ".join(words)
    with pytest.raises(FtuiError) as err:
        commands_of(services, "bob", ann_run, "http://studio:7860/")
    assert err.value.code == "unknown_run"
