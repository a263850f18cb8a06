"""`ftui COMMAND ...`: argument parsing, dispatch, exit codes, and how a problem is printed.

A problem is printed as the studio shows it: `ftui: error (CODE): SENTENCE` on stderr, where SENTENCE is
ftui.messages.describe(code, detail) and CODE the API's error code; the exit code says its kind (EXIT_CODES).
"""
from __future__ import annotations

import argparse
import json
import sys

from ftui.errors import FtuiError
from ftui.messages import describe
from ftui.runs.store import DEFAULT_OWNER
from ftui.vocab import TASKS

DEFAULT_RUNS_DIR = "./runs"  # as launch.py
OK, FAILED, BAD_INPUT, NOT_FOUND, REFUSED, INTERRUPTED = 0, 1, 2, 3, 4, 130
# Codes that are not bad input (the rest, data and option problems mostly, exit BAD_INPUT).
FAILED_CODES = ("training_failed", "worker_killed", "worker_crashed", "worker_hung", "worker_not_started",
                "model_load_failed", "onnx_export_failed", "onnx_parity_failed", "checkpoint_corrupt", "damaged_file")
NOT_FOUND_CODES = ("unknown_run", "unknown_upload", "unknown_model", "unknown_evaluation", "hub_unreachable",
                   "not_a_classifier_folder", "no_validation_split")
REFUSED_CODES = ("run_active", "delete_active_run", "run_not_ready", "run_not_resumable", "no_checkpoint",
                 "checkpoint_too_old", "export_run_failed", "export_not_ready", "queue_full", "disk_quota",
                 "admin_only", "file_too_large")
EXIT_CODES = {**{c: FAILED for c in FAILED_CODES}, **{c: NOT_FOUND for c in NOT_FOUND_CODES},
              **{c: REFUSED for c in REFUSED_CODES}}
EPILOG = f"""exit codes: {OK} done; {FAILED} training failed (or the model could not be loaded or exported);
{BAD_INPUT} bad input or usage (the file, an option, a value); {NOT_FOUND} not found (run, upload, model);
{REFUSED} refused (the run's state, a limit: queue, disk, upload size); {INTERRUPTED} stopped with Ctrl-C.
A problem prints `ftui: error (CODE): SENTENCE` on stderr: the sentence the studio shows, the API's code.
`ftui serve --help` and `ftui users --help` tell the studio's own options."""


def exit_code(code: str) -> int:
    """The exit code of an FtuiError code (see EXIT_CODES; anything else is bad input)."""
    return EXIT_CODES.get(code, BAD_INPUT)


def report(err: FtuiError) -> int:
    """Print a problem as the studio words it; returns its exit code."""
    print(f"ftui: error ({err.code}): {describe(err.code, err.detail)}", file=sys.stderr)
    return exit_code(err.code)


def parse_value(text: str):
    """A --set value: JSON when it reads as JSON (numbers, true/false, null, "quoted text"), else the text."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if value is None or isinstance(value, (bool, int, float, str)) else text


def parse_sets(pairs: list[str] | None) -> dict:
    """["batch_size=8", "augment=false"] -> {"batch_size": 8, "augment": False}; RunConfig rejects unknown keys."""
    options = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise FtuiError("bad_option", name=key.strip() or pair, value=pair, reason="write --set name=value")
        options[key.strip()] = parse_value(value.strip())
    return options


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ftui", description="ftui, the fine-tuning studio, and its command line "
                                     "on the same runs (a run started here shows in the studio).", epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--runs-dir", default=DEFAULT_RUNS_DIR, help=f"the studio's runs folder (default {DEFAULT_RUNS_DIR})")
    common.add_argument("--user", default=DEFAULT_OWNER,
                        help=f"whose runs (default {DEFAULT_OWNER}: the studio's owner without sign-in)")
    out = argparse.ArgumentParser(add_help=False)
    out.add_argument("--json", action="store_true", help="print JSON")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.add_parser("serve", help="start the studio (as launch.py; ftui serve --help)", add_help=False)
    sub.add_parser("users", help="accounts of a shared studio (ftui users --help)", add_help=False)
    train = sub.add_parser("train", parents=[common], help="train a model on a file, headless, to its end",
                           description="Train a run from DATA (a table of texts, or a ZIP of images or sounds) "
                           "and follow it; Ctrl-C stops it, keeping the model learned so far.", epilog=EPILOG,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    train.add_argument("data", metavar="DATA", help="the training file")
    train.add_argument("--task", choices=TASKS, help="default: told from the file (a ZIP: images or sounds)")
    train.add_argument("--model", help="a catalog id, a local model folder or a hub id (default: the catalog's)")
    rate = train.add_mutually_exclusive_group()
    rate.add_argument("--lr", type=float, help="learning rate (default: the catalog's for the model)")
    rate.add_argument("--suggest-lr", action="store_true", help="run the learning-rate test first and use its rate")
    train.add_argument("--epochs", type=int, help="epochs (default: the studio's)")
    train.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                       help="a run option, e.g. --set batch_size=8 --set max_examples=1000 (repeatable)")
    sub.add_parser("runs", parents=[common, out], help="the user's runs, newest first")
    for name, what in (("status", "a run's state, progress and best accuracy"), ("stop", "stop a run (model kept)")):
        command = sub.add_parser(name, parents=[common, out], help=what)
        command.add_argument("run", metavar="RUN")
    predict = sub.add_parser("predict", parents=[common, out], help="classify texts (or image/sound files)")
    predict.add_argument("run", metavar="RUN")
    predict.add_argument("inputs", nargs="+", metavar="INPUT", help="a text for a text run, else a file path")
    predict.add_argument("--top-k", type=int, default=3, help="labels shown per input (default 3)")
    evaluate = sub.add_parser("evaluate", parents=[common, out], help="score a run on a labelled file")
    evaluate.add_argument("run", metavar="RUN")
    evaluate.add_argument("file", nargs="?", metavar="FILE", help="default: the run's own validation split")
    export = sub.add_parser("export", parents=[common, out], help="the tuned model as a download")
    export.add_argument("run", metavar="RUN")
    export.add_argument("--format", default="zip", help="zip (default), onnx or demo")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.command:
        parser.print_help(sys.stderr)
        return BAD_INPUT
    from ftui.cli import runs, train

    command = train.train if args.command == "train" else getattr(runs, args.command)
    try:
        return command(args)
    except FtuiError as err:
        return report(err)
    except KeyboardInterrupt:
        print("ftui: interrupted", file=sys.stderr)
        return INTERRUPTED
