"""The command line (ftui/cli): its arguments, --set values, exit codes, the studio's sentences for a bad
file, a real tiny run trained, followed, stopped with Ctrl-C and seen by a studio on the same folder, and
"show as command" lines that parse back into the same run."""
from __future__ import annotations

import ast
import json
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from ftui.cli.command_line import as_commands
from ftui.cli.main import BAD_INPUT, EXIT_CODES, FAILED, NOT_FOUND, REFUSED, build_parser, exit_code, main, parse_sets
from ftui.config import RunConfig
from ftui.errors import FtuiError
from ftui.messages import MESSAGES, describe
from ftui.runs.store import DEFAULT_OWNER, update_status
from ftui.vocab import RunState

ROOT = Path(__file__).resolve().parents[2]
TINY = ["--lr", "1e-3", "--set", "batch_size=8", "--set", "max_length=16"]


def ftui(*args: str, **popen) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ftui", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, **popen)


@pytest.fixture
def reviews(tmp_path) -> Path:
    path = tmp_path / "reviews.tsv"
    rows = [f"the film was {'great fun' if i % 2 else 'awful and dull'} number {i}\t{'pos' if i % 2 else 'neg'}"
            for i in range(60)]
    path.write_text("text\tlabel\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_set_values_are_read_as_json_when_they_can_be_else_as_text():
    options = parse_sets(["batch_size=8", "augment=false", "head_lr_multiplier=2.5", "pooling=cls", 'text_column="1"',
                          "label_smoothing=null", "name=my run = best"])
    assert options == {"batch_size": 8, "augment": False, "head_lr_multiplier": 2.5, "pooling": "cls",
                       "text_column": "1", "label_smoothing": None, "name": "my run = best"}
    with pytest.raises(FtuiError) as err:
        parse_sets(["batch_size"])
    assert err.value.code == "bad_option"


def test_train_arguments_and_their_defaults():
    args = build_parser().parse_args(["train", "x.tsv", "--epochs", "1", "--set", "seed=1", "--set", "augment=no"])
    assert (args.data, args.epochs, args.set, args.task, args.model, args.lr, args.suggest_lr) == \
        ("x.tsv", 1, ["seed=1", "augment=no"], None, None, None, False)
    assert (args.runs_dir, args.user) == ("./runs", DEFAULT_OWNER)  # launch.py's folder, the local studio's owner
    with pytest.raises(SystemExit) as usage:
        build_parser().parse_args(["train", "x.tsv", "--lr", "1e-4", "--suggest-lr"])  # one or the other
    assert usage.value.code == BAD_INPUT


def test_every_problem_code_has_a_small_exit_code_and_the_tables_name_real_codes():
    assert set(EXIT_CODES) <= set(MESSAGES), set(EXIT_CODES) - set(MESSAGES)
    assert {exit_code(code) for code in MESSAGES} == {FAILED, BAD_INPUT, NOT_FOUND, REFUSED}
    assert (exit_code("unreadable_table"), exit_code("unknown_run"), exit_code("queue_full"),
            exit_code("worker_killed")) == (BAD_INPUT, NOT_FOUND, REFUSED, FAILED)


def test_help_lists_the_commands_and_the_exit_codes_without_loading_gradio(tmp_path):
    shown = ftui("--help")
    assert shown.returncode == 0
    for word in ("serve", "train", "runs", "status", "stop", "predict", "evaluate", "export", "exit codes", "130"):
        assert word in shown.stdout
    probe = ("import sys; from ftui.__main__ import main; code = main(['runs', '--runs-dir', sys.argv[1]]); "
             "print(code, 'gradio' in sys.modules, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", probe, str(tmp_path)], capture_output=True, text=True, cwd=ROOT)
    assert out.stdout.split()[-3:] == ["0", "False", "False"], out.stderr


def test_a_bad_file_exits_non_zero_with_the_sentence_the_studio_shows(tmp_path):
    from ftui.services import Services

    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nhello there,a\nhi again,a\nhey you,a\n", encoding="utf-8")
    done = ftui("train", bad, "--runs-dir", tmp_path / "runs")
    studio = Services(tmp_path / "studio")
    try:
        shown = [i for i in studio.inspect_dataset(None, "text", bad)["issues"] if i["severity"] == "error"][0]
        assert studio.list_runs(None) == []
    finally:
        studio.close()
    assert done.returncode == exit_code(shown["code"]) == BAD_INPUT
    assert done.stderr.strip().splitlines()[-1] == f"ftui: error ({shown['code']}): {shown['message']}"
    assert not list((tmp_path / "runs").glob("*/2*"))  # no run was created


def test_an_unknown_run_is_not_found_with_the_api_sentence(tmp_path, capsys):
    assert main(["status", "20200101-000000-abcd", "--runs-dir", str(tmp_path)]) == NOT_FOUND
    sentence = describe("unknown_run", {"run_id": "20200101-000000-abcd"})
    assert capsys.readouterr().err.strip() == f"ftui: error (unknown_run): {sentence}"


def test_stop_reaches_a_run_another_process_trains(tmp_path, capsys):
    from ftui.engine.local_backend import STOP_FILE
    from ftui.runs.store import RunStore

    store = RunStore(tmp_path)
    run_id, run_dir = store.create(None, RunConfig.build("text", "m", "u-0000000000000000", 1e-3, 1, {}))
    update_status(run_dir, state=RunState.RUNNING)  # as a worker this process did not start says
    assert main(["stop", run_id, "--runs-dir", str(tmp_path)]) == 0
    assert (run_dir / STOP_FILE).is_file()  # what the worker reads every second
    assert "asked to stop" in capsys.readouterr().out


def test_train_follows_a_real_run_to_its_accuracy_then_the_run_answers(tmp_path, reviews, tiny_bert_dir, capsys):
    runs = tmp_path / "runs"
    done = ftui("train", reviews, "--model", tiny_bert_dir, "--epochs", "1", *TINY, "--runs-dir", runs)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "data: reviews.tsv: 60 examples, 2 classes (text)"
    assert any(line.startswith("progress ") for line in lines)  # not a terminal: progress as lines
    assert any(line.startswith("eval  step ") and " accuracy " in line for line in lines)
    assert lines[-1].startswith("finished in ") and " accuracy " in lines[-1]
    run_id = lines[1].split()[1].rstrip(":")
    common = ["--runs-dir", str(runs)]
    capsys.readouterr()
    assert main(["runs", "--json", *common]) == 0
    assert [r["run_id"] for r in json.loads(capsys.readouterr().out)] == [run_id]
    assert main(["status", run_id, "--json", *common]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == RunState.FINISHED
    assert main(["predict", run_id, "great fun", "awful and dull", "--json", *common]) == 0
    answers = json.loads(capsys.readouterr().out)
    assert [a["input"] for a in answers] == ["great fun", "awful and dull"]
    assert all(abs(sum(a["predictions"].values()) - 1) < 1e-3 for a in answers)
    assert main(["evaluate", run_id, str(reviews), *common]) == 0
    assert capsys.readouterr().out.startswith("accuracy ")
    assert main(["export", run_id, "--format", "zip", *common]) == 0
    assert Path(capsys.readouterr().out.split(": ", 1)[1].split(" (")[0]).is_file()
    assert main(["export", run_id, "--format", "tflite", *common]) == BAD_INPUT
    assert "(bad_export_format)" in capsys.readouterr().err


def test_ctrl_c_stops_gracefully_and_a_studio_follows_and_adopts_the_run(tmp_path, reviews, tiny_bert_dir):
    """A run from the command line is the studio's local owner's: a studio already up lists it and reads its
    progress; one started while it trains re-adopts its worker (not "interrupted"). Ctrl-C keeps the model."""
    from ftui.services import Services

    runs = tmp_path / "runs"
    before = Services(runs)
    command = [sys.executable, "-m", "ftui", "train", str(reviews), "--model", str(tiny_bert_dir), "--epochs", "100",
               *TINY, "--runs-dir", str(runs)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    after = None
    try:
        seen = []
        for line in process.stdout:
            seen.append(line)
            if line.startswith("eval  "):  # the first evaluation of the whole model: the worker is training
                break
        run_id = next(line.split()[1].rstrip(":") for line in seen if line.startswith("run "))
        run_dir = runs / DEFAULT_OWNER / run_id
        assert [(r["run_id"], r["state"]) for r in before.list_runs(None)] == [(run_id, RunState.RUNNING)]
        assert any(row["split"] == "validation" for row in before.run_status(None, run_id)["rows"])
        assert not before.jobs.is_active(run_dir)  # it only reads the run's files
        after = Services(runs)
        assert after.interrupted == [] and after.jobs.is_active(run_dir)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=180)
        assert process.returncode == 130, err
        assert out.splitlines()[-1].startswith("stopped in ")
        assert after.jobs.wait(run_dir, timeout=30) == RunState.STOPPED  # not interrupted by the adopter
        assert (run_dir / "model" / "config.json").is_file()
    finally:
        if process.poll() is None:
            process.kill()
        before.close()
        if after is not None:
            after.close()


@pytest.mark.parametrize("options", [{}, {"batch_size": 8, "augment": False, "name": "my 'first' run",
                                          "text_column": "1", "head_lr_multiplier": 2.5, "val_fraction": 0.3,
                                          "label_smoothing": None, "pooling": "cls", "max_examples": 1000}])
def test_show_as_command_lines_start_the_same_run(options):
    config = RunConfig.build("text", "all-MiniLM-L6-v2", "u-0123456789abcdef", 3e-5, 2, options).to_dict()
    lines = as_commands(config, "my data/sms spam.tsv", runs_dir="/srv/runs", user="ann")
    words = shlex.split(lines["cli"])
    assert words[:2] == ["ftui", "train"]
    args = build_parser().parse_args(words[1:])
    assert (args.data, args.runs_dir, args.user) == ("my data/sms spam.tsv", "/srv/runs", "ann")
    again = RunConfig.build(args.task, args.model, "u-0123456789abcdef", args.lr, args.epochs, parse_sets(args.set))
    assert again.to_dict() == config
    call = next(node for node in ast.walk(ast.parse(lines["python"]))
                if isinstance(node, ast.Call) and any(k.value.value == "/start_run" for k in node.keywords))
    task, model, data, rate, epochs, chosen = call.args
    assert ast.unparse(data) == "handle_file('my data/sms spam.tsv')"
    rebuilt = RunConfig.build(*map(ast.literal_eval, (task, model)), "u-0123456789abcdef",
                              *map(ast.literal_eval, (rate, epochs, chosen)))
    assert rebuilt.to_dict() == config
    assert set(ast.literal_eval(chosen)) == {key for key, value in options.items() if value is not None}  # the chosen


def test_a_run_that_ends_between_two_polls_still_logs_its_progress():
    from io import StringIO

    from ftui.cli.progress import ProgressPrinter

    out = StringIO()
    printer = ProgressPrinter(out, tty=False)
    printer.show({"state": RunState.RUNNING, "progress": 0.05, "total_steps": 20, "step": 1, "rows": []})
    printer.show({"state": RunState.FINISHED, "progress": 1.0, "total_steps": 20, "step": 20, "rows": []})
    printer.show({"state": RunState.FINISHED, "progress": 1.0, "total_steps": 20, "step": 20, "rows": []})
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines if line.startswith("progress")] == [["progress", "5%"], ["progress", "100%"]]
