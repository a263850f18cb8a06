"""One vocabulary: run states and task names are spelled once, in ftui/vocab.py."""
from __future__ import annotations

import ast
from pathlib import Path

from ftui.vocab import ACTIVE_STATES, DONE_STATES, RunState, TaskName

FTUI = Path(__file__).resolve().parents[2] / "ftui"
NAMES = {member.value for member in RunState} | {member.value for member in TaskName}


def literals(path: Path) -> list[str]:
    """Places where a state or task name is written as a bare string literal. Not counted: docstrings, and
    lists of other words that happen to contain one (column names such as ("label", "text"))."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    exempt = {id(node.body[0].value) for node in ast.walk(tree)
              if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
              and node.body and isinstance(node.body[0], ast.Expr)}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Tuple, ast.List)):
            words = [e for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
            if any(e.value not in NAMES for e in words):
                exempt |= {id(e) for e in words}
    return [f"{path.relative_to(FTUI.parent)}:{node.lineno} {node.value!r}" for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and node.value in NAMES and id(node) not in exempt]


def test_no_state_or_task_name_is_spelled_outside_the_vocabulary():
    found = [place for path in sorted(FTUI.rglob("*.py")) if path.name != "vocab.py" for place in literals(path)]
    assert found == [], "use ftui.vocab.RunState / TaskName:\n" + "\n".join(found)


def test_the_enums_are_the_strings_in_the_files():
    import json

    assert json.dumps({"state": RunState.FINISHED}) == '{"state": "finished"}'
    assert "queued" in ACTIVE_STATES and RunState("stopped") in DONE_STATES and TaskName("audio") is TaskName.AUDIO
