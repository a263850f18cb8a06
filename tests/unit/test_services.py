"""Services end to end on the tiny BERT: what start_run checks before it returns, and isolation."""
from __future__ import annotations

import pytest

from ftui.errors import FtuiError
from ftui.services import Services


@pytest.fixture
def services(tmp_path):
    services = Services(tmp_path / "runs", max_upload_mb=0.01)
    yield services
    services.close()


@pytest.fixture
def reviews(tmp_path):
    path = tmp_path / "reviews.csv"
    rows = [f"{'pos' if i % 2 else 'neg'},the film was {'great' if i % 2 else 'awful'} number {i}" for i in range(40)]
    path.write_text("label,text\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_start_run_freezes_the_split_and_trains(services, reviews, tiny_bert_dir, monkeypatch):
    from ftui.data.split import read_split
    from ftui.worker import read_train_data
    from ftui.services.data import DataActions

    run_id = services.start_run("ann", "text", str(tiny_bert_dir), reviews, 1e-3, 1,
                                {"batch_size": 8, "max_length": 16, "val_fraction": 0.25})
    run_dir = services.store.run_dir("ann", run_id)
    frozen = {name: (run_dir / "data" / f"{name}.jsonl").read_bytes() for name in ("train", "validation")}
    train, val = read_split(run_dir / "data", "train"), read_split(run_dir / "data", "validation")
    # The split: every row of the file exactly once, a stratified quarter held out.
    rows = [line.split(",", 1) for line in reviews.read_text(encoding="utf-8").splitlines()[1:]]
    assert sorted(list(zip(*train)) + list(zip(*val))) == sorted((text, label) for label, text in rows)
    assert len(val[0]) == 10 and sorted(val[1]) == ["neg"] * 5 + ["pos"] * 5 and not set(train[0]) & set(val[0])
    assert (run_dir / "labels.json").read_text() and read_status_counts(services, run_id) == (30, 10)

    assert services.jobs.wait(run_dir, 120) == "finished"
    status = services.run_status("ann", run_id)
    assert status["state"] == "finished" and {r["split"] for r in status["rows"]} == {"train", "validation"}
    assert status["n_rows"] == len(status["rows"])
    probabilities = services.predict("ann", run_id, "the film was great")
    assert set(probabilities) == {"pos", "neg"} and abs(sum(probabilities.values()) - 1) < 1e-4
    assert [r["run_id"] for r in services.list_runs("ann")] == [run_id]

    # Everything after start_run reads the frozen files, never the upload: what a job (and a resume)
    # trains on, and what "evaluate on the validation split" scores, are exactly those lists.
    data = read_train_data(run_dir)
    assert (data.train_inputs, data.train_labels, data.val_inputs, data.val_labels) == (*train, *val)
    evaluation = services.evaluate("ann", run_id)
    assert evaluation["n"] == 10

    def no_second_split(*args, **kwargs):
        raise AssertionError("the upload was split again")

    monkeypatch.setattr(DataActions, "split", no_second_split)
    services.store.upload_path("ann", status_upload(services, run_id)).unlink()  # the upload is gone
    assert services.resume_run("ann", run_id, extra_epochs=1) == run_id
    assert services.jobs.wait(run_dir, 120) == "finished"
    assert services.run_status("ann", run_id)["extended_from_epochs"] == 1
    assert {name: (run_dir / "data" / f"{name}.jsonl").read_bytes() for name in frozen} == frozen
    assert read_status_counts(services, run_id) == (30, 10)


def read_status_counts(services, run_id) -> tuple[int, int]:
    from ftui.runs.store import read_status

    status = read_status(services.store.run_dir("ann", run_id))
    return status["n_train"], status["n_validation"]


def status_upload(services, run_id) -> str:
    return services.run_config("ann", run_id)["upload"]


def test_other_users_see_nothing(services, reviews, tiny_bert_dir):
    info = services.inspect_dataset("ann", "text", reviews, {})
    run_id = services.start_run("ann", "text", str(tiny_bert_dir), None, 1e-3, 1, {"batch_size": 8},
                                upload_id=info["upload_id"])
    services.jobs.wait(services.store.run_dir("ann", run_id), 120)
    for call in (lambda: services.run_status("bob", run_id), lambda: services.predict("bob", run_id, "hi"),
                 lambda: services.stop_run("bob", run_id),
                 lambda: services.inspect_dataset("bob", "text", None, {}, upload_id=info["upload_id"])):
        with pytest.raises(FtuiError) as err:
            call()
        assert err.value.code in ("unknown_run", "unknown_upload")
    assert services.list_runs("bob") == []
    # nor can bob train from ann's tuned model by naming its folder
    ann_model = services.store.run_dir("ann", run_id) / "model"
    with pytest.raises(FtuiError) as err:
        services.start_run("bob", "text", str(ann_model), reviews, 1e-3, 1, {})
    assert err.value.code == "unknown_model"


def test_problems_are_found_before_a_run_exists(services, tmp_path, tiny_bert_dir):
    single = tmp_path / "single.csv"
    single.write_text("label,text\n" + "a,some text here\n" * 5, encoding="utf-8")
    with pytest.raises(FtuiError) as err:
        services.start_run("ann", "text", str(tiny_bert_dir), single, 1e-3, 1, {})
    assert err.value.code == "single_class"
    big = tmp_path / "big.csv"
    big.write_text("label,text\n" + "a,some text here\n" * 2000, encoding="utf-8")
    with pytest.raises(FtuiError) as err:
        services.inspect_dataset("ann", "text", big, {})
    assert err.value.code == "file_too_large"
    assert "MB" in err.value.to_dict()["message"]
    assert services.list_runs("ann") == []


def test_local_model_folders_can_be_forbidden(tmp_path, reviews, tiny_bert_dir):
    services = Services(tmp_path / "runs2", allow_local_models=False)
    try:
        with pytest.raises(FtuiError) as err:
            services.start_run("ann", "text", str(tiny_bert_dir), reviews, 1e-3, 1, {})
        assert err.value.code in ("unknown_model", "hub_unreachable")
    finally:
        services.close()


def test_predict_needs_text_and_a_model(services, reviews, tiny_bert_dir):
    with pytest.raises(FtuiError) as err:
        services.predict("ann", "20260101-000000-abcd", "hello")
    assert err.value.code == "unknown_run"
    run_id = services.start_run("ann", "text", str(tiny_bert_dir), reviews, 1e-3, 1, {"batch_size": 8})
    with pytest.raises(FtuiError) as err:
        services.predict("ann", run_id, "   ")
    assert err.value.code == "empty_input"
