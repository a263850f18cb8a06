"""The run directory contract: ownership, strict ids, atomic status, recovery after a crash."""
from __future__ import annotations

import json
import os
import time

import pytest

from ftui.config import RunConfig
from ftui.errors import FtuiError
from ftui.runs.store import RunStore, read_jsonl, read_status, safe_filename, update_status

CONFIG = RunConfig.build("text", "all-MiniLM-L6-v2", "u-0123456789abcdef", 1e-4, 1, {})


def test_runs_belong_to_their_owner(tmp_path):
    store = RunStore(tmp_path)
    run_id, run_dir = store.create("ann", CONFIG)
    assert store.run_dir("ann", run_id) == run_dir
    assert [r["run_id"] for r in store.list("ann")] == [run_id] and store.list("bob") == []
    with pytest.raises(FtuiError) as err:
        store.run_dir("bob", run_id)
    assert err.value.code == "unknown_run"


@pytest.mark.parametrize("run_id", ["../ann/x", "..", "/etc", "20261128-120000-zzzz", ""])
def test_run_ids_are_checked_before_any_path_is_built(tmp_path, run_id):
    with pytest.raises(FtuiError):
        RunStore(tmp_path).run_dir("ann", run_id)


@pytest.mark.parametrize("owner", ["..", "a/b", "x" * 65, "bad name"])
def test_owner_names_are_checked(tmp_path, owner):
    with pytest.raises(FtuiError):
        RunStore(tmp_path).owner_dir(owner)


def test_uploads_are_private_copies(tmp_path):
    store = RunStore(tmp_path / "runs")
    source = tmp_path / "data.csv"
    source.write_text("text,label\n", encoding="utf-8")
    upload_id = store.save_upload("ann", source, "../../evil name.csv")
    kept = store.upload_path("ann", upload_id)
    assert kept.name == "evil_name.csv" and kept.is_relative_to(store.root / "ann" / "uploads")
    source.unlink()
    assert kept.read_text(encoding="utf-8") == "text,label\n"
    for owner, ident in (("bob", upload_id), ("ann", "../ann/uploads/" + upload_id), ("ann", "u-nope")):
        with pytest.raises(FtuiError) as err:
            store.upload_path(owner, ident)
        assert err.value.code == "unknown_upload"


def test_runs_whose_worker_died_are_marked_interrupted_at_start_up(tmp_path):
    from ftui.engine.jobs import JobManager

    store = RunStore(tmp_path)
    _, running = store.create("ann", CONFIG)
    update_status(running, state="running", progress=0.4)
    _, done = store.create("ann", CONFIG)
    update_status(done, state="finished", progress=1.0)
    last_write = time.time() - 3600  # the app died an hour ago
    os.utime(running / "status.json", (last_write, last_write))
    again = RunStore(tmp_path)  # what the app does after a crash: its job manager looks for live workers
    jobs = JobManager(again)
    jobs.shutdown()
    assert jobs.interrupted == [running]
    assert read_status(running)["state"] == "interrupted" and read_status(running)["progress"] == 0.4
    assert read_status(running)["ended"] == pytest.approx(last_write, abs=1)  # when it stopped, not now
    assert read_status(done)["state"] == "finished"
    assert {r["state"] for r in again.list("ann")} == {"interrupted", "finished"}


def test_config_json_round_trips(tmp_path):
    _, run_dir = RunStore(tmp_path).create(None, CONFIG)
    assert RunConfig.from_dict(json.loads((run_dir / "config.json").read_text())) == CONFIG


def test_half_written_metrics_line_is_skipped(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"event": "StepLogged", "step": 1}\n{"event": "Step', encoding="utf-8")
    assert read_jsonl(path) == [{"event": "StepLogged", "step": 1}]


def test_delete_refuses_an_active_run(tmp_path):
    store = RunStore(tmp_path)
    run_id, run_dir = store.create("ann", CONFIG)
    with pytest.raises(FtuiError) as err:
        store.delete("ann", run_id)  # still "queued"
    assert err.value.code == "run_active"
    update_status(run_dir, state="stopped")
    store.delete("ann", run_id)
    assert not run_dir.exists()


def test_safe_filename():
    assert safe_filename("C:\\Users\\x\\my data (1).csv") == "my_data_1_.csv"
    assert safe_filename("...") == "upload"


def test_a_damaged_file_marks_that_run_and_the_rest_still_list_and_start(tmp_path):
    """A corrupt status.json or config.json (a disk full mid-write by another tool, a bad hand edit)
    makes that run "damaged"; start-up recovery and the runs list carry on with every other run."""
    from ftui.services import Services

    store = RunStore(tmp_path / "runs")
    config = RunConfig.build("text", "m", "u-0000000000000000", 1e-3, 1, {})
    ids = [store.create(None, config)[0] for _ in range(3)]
    update_status(store.run_dir(None, ids[0]), state="running")  # left running by a dead process
    (store.run_dir(None, ids[1]) / "status.json").write_text("{ half a status", encoding="utf-8")
    (store.run_dir(None, ids[2]) / "config.json").write_bytes(b"\xff\xfe not json")

    services = Services(tmp_path / "runs")  # start-up recovery does not trip over the damaged ones
    try:
        states = {r["run_id"]: r["state"] for r in services.list_runs(None)}
        assert states == {ids[0]: "interrupted", ids[1]: "damaged", ids[2]: "damaged"}
        status = services.run_status(None, ids[1])
        assert status["state"] == "damaged" and "is damaged" in status["error"]["message"]
        with pytest.raises(FtuiError) as err:
            services.resume_run(None, ids[2])
        assert err.value.code == "damaged_file"
        assert services.delete_run(None, ids[1])["deleted"]  # a damaged run can still be removed
    finally:
        services.close()
    assert read_status(store.run_dir(None, ids[0]))["state"] == "interrupted"


def test_disk_bytes_survives_a_folder_swapped_away_while_it_counts(tmp_path, monkeypatch):
    """A run saves its model as .model.tmp-* then renames it: a run_status that counted the run's
    bytes at that moment failed with FileNotFoundError (seen in CI)."""
    import shutil
    from pathlib import Path

    from ftui.runs import store as store_module

    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights").write_bytes(b"x" * 10)
    swapped = tmp_path / ".model.tmp-1"
    swapped.mkdir()
    (swapped / "weights").write_bytes(b"y" * 5)
    real_scandir = os.scandir

    def swapped_before_listing(path=".", *args):  # the job renames its temp folder away mid-count
        if isinstance(path, (str, os.PathLike)) and Path(path) == swapped:
            shutil.rmtree(swapped, ignore_errors=True)
        return real_scandir(path, *args)

    monkeypatch.setattr(os, "scandir", swapped_before_listing)
    assert store_module.disk_bytes(tmp_path) == 10
