"""Every problem code ftui can show has a sentence for people, and every sentence is still used.

The codes are found by reading ftui's source with ast, not a regular expression, so a code is seen
wherever it is written: FtuiError / Issue / describe(...) with a literal, a variable or a conditional
holding literals (or ftui.vocab constants), a FileKind's *_code fields, a {"code": ...} row, a
SKIP_CODES table. A code built at run time (an f-string, "+") cannot be checked, so it fails the test
with its place in the source.
"""
from __future__ import annotations

import ast
from pathlib import Path

from ftui.data import audio, images
from ftui.messages import MESSAGES, describe
from ftui.vocab import RunState, TaskName

FTUI = Path(__file__).resolve().parents[2] / "ftui"
CODE_CALLS = {"FtuiError", "Issue", "_issue"}  # called with the code first (or code=...)
KIND_CALLS = {"FileKind"}  # built with *_code=... fields (no_files_code="no_images", ...)
ENUMS = {"RunState": RunState, "TaskName": TaskName}  # RunState.INTERRUPTED is the constant "interrupted"
SHARED_SKIP_REASONS = ("corrupt", "duplicate", "missing")  # ftui/data/files.py's own: unreadable on disk, a copy, absent


class Codes(ast.NodeVisitor):
    """The codes one module can produce, and the places where a code cannot be told from the source."""

    def __init__(self, path: Path, root: Path = FTUI.parent):
        self.path, self.root, self.found, self.unknown = path, root, set(), []
        self.tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        self.module_names = self._assignments(self.tree)
        self.names = self.module_names
        self.functions = {node.name: node for node in self.tree.body if isinstance(node, ast.FunctionDef)}
        self.resolving: set[str] = set()

    @staticmethod
    def _assignments(scope) -> dict[str, list[ast.expr]]:
        """name -> the values assigned to it in this scope (not inside nested functions)."""
        out: dict[str, list[ast.expr]] = {}
        todo = list(ast.iter_child_nodes(scope))
        while todo:
            node = todo.pop()
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                continue
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        out.setdefault(target.id, []).append(node.value)
            todo.extend(ast.iter_child_nodes(node))
        return out

    def codes(self, expr: ast.expr | None) -> set[str] | None:
        """The literal codes `expr` can be; set() for a code read from an existing error or issue
        (x.code, row["code"], a FileKind's *_code field: each written as a literal elsewhere); None
        when it cannot be told (a run-time string)."""
        if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
            return {expr.value}
        if isinstance(expr, ast.IfExp):
            parts = [self.codes(expr.body), self.codes(expr.orelse)]
        elif isinstance(expr, ast.BoolOp):
            parts = [self.codes(v) for v in expr.values]
        elif isinstance(expr, ast.Attribute) and isinstance(expr.value, ast.Name) and expr.value.id in ENUMS:
            return {ENUMS[expr.value.id][expr.attr].value}
        elif isinstance(expr, ast.Attribute) and (expr.attr == "code" or expr.attr.endswith("_code")):
            return set()
        elif isinstance(expr, ast.Subscript) and isinstance(expr.slice, ast.Constant) and expr.slice.value == "code":
            return set()
        elif isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name) \
                and expr.value.id.endswith("SKIP_CODES"):  # a reason's code: the table is checked where written
            return set()
        elif isinstance(expr, ast.Subscript) and isinstance(expr.value, ast.Name):  # TABLE[key]: any value
            tables = [v for v in self.names.get(expr.value.id, []) + self.module_names.get(expr.value.id, [])
                      if isinstance(v, ast.Dict)]
            parts = [self.codes(v) for table in tables for v in table.values] if tables else [None]
        elif isinstance(expr, ast.Name) and self.names.get(expr.id):
            parts = [self.codes(v) for v in self.names[expr.id]]
        elif isinstance(expr, ast.Call) and isinstance(expr.func, ast.Name) and expr.func.id in self.functions \
                and expr.func.id not in self.resolving:  # a helper of this module: what its returns can be
            parts = self._returns(self.functions[expr.func.id])
        else:
            return None
        return None if any(p is None for p in parts) else set().union(*parts)

    def _returns(self, function: ast.FunctionDef) -> list[set[str] | None]:
        outer, self.names = self.names, {**self.module_names, **self._assignments(function)}
        self.resolving.add(function.name)
        try:
            returns = [n.value for n in ast.walk(function) if isinstance(n, ast.Return) and n.value is not None]
            return [self.codes(v) for v in returns] or [None]
        finally:
            self.resolving.discard(function.name)
            self.names = outer

    def check(self, expr: ast.expr | None, node: ast.AST) -> None:
        codes = self.codes(expr)
        if codes is None:
            self.unknown.append(f"{self.path.relative_to(self.root)}:{node.lineno}: {ast.unparse(node)[:100]}")
        else:
            self.found |= codes

    def visit_FunctionDef(self, node):  # noqa: N802 - ast's naming
        outer, self.names = self.names, {**self.names, **self._assignments(node)}
        self.generic_visit(node)
        self.names = outer

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Call(self, node):  # noqa: N802
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        code = node.args[0] if node.args else next((k.value for k in node.keywords if k.arg == "code"), None)
        if name in CODE_CALLS or (name == "describe" and isinstance(func, ast.Name)):  # messages.describe
            self.check(code, node)
        for keyword in node.keywords if name in KIND_CALLS else ():  # FileKind(no_files_code="no_images", ...)
            if keyword.arg and keyword.arg.endswith("_code"):
                self.check(keyword.value, node)
        self.generic_visit(node)

    def visit_AnnAssign(self, node):  # noqa: N802 - a dataclass field's default: no_folders_code: str = "..."
        if isinstance(node.target, ast.Name) and node.target.id.endswith("_code") and node.value is not None:
            self.check(node.value, node)
        self.generic_visit(node)

    def visit_Dict(self, node):  # noqa: N802 - {"item": ..., "reason": ..., "code": "skip_empty_text"}
        for key, value in zip(node.keys, node.values):
            if isinstance(key, ast.Constant) and key.value == "code":
                self.check(value, node)
        self.generic_visit(node)

    def visit_Assign(self, node):  # noqa: N802 - SKIP_CODES = {reason: code}
        if any(isinstance(t, ast.Name) and t.id.endswith("SKIP_CODES") for t in node.targets):
            for value in node.value.values:
                self.check(value, node)
        self.generic_visit(node)


def scan() -> tuple[set[str], list[str]]:
    found, unknown = set(), []
    for path in sorted(FTUI.rglob("*.py")):
        codes = Codes(path)
        codes.visit(codes.tree)
        found |= codes.found
        unknown += codes.unknown
    return found, unknown


def test_every_code_is_written_as_a_literal_and_has_a_sentence():
    found, unknown = scan()
    assert unknown == [], "codes built at run time cannot be checked: spell them out (see SKIP_CODES)"
    assert {"unknown_model", "no_images", "no_audio_class_folders", "skip_audio_corrupt", "skip_empty_text",
            "unsupported_audio"} <= found, "the scan misses codes: it is out of date"
    assert sorted(found - set(MESSAGES)) == []


def test_every_sentence_is_still_used():
    found, _ = scan()
    assert sorted(set(MESSAGES) - found) == []


def test_the_scan_sees_codes_built_at_run_time(tmp_path):
    """What the scan reports: a literal is found, an f-string or a joined string is refused."""
    module = tmp_path / "ftui" / "sample.py"
    module.parent.mkdir()
    module.write_text('def f(reason, ok):\n'
                      '    code = "first_code" if ok else "second_code"\n'
                      '    raise FtuiError(code)\n'
                      'def g(reason):\n'
                      '    raise FtuiError(f"skip_{reason}")\n'
                      'def h(reason):\n'
                      '    return describe("skip_" + reason)\n', encoding="utf-8")
    codes = Codes(module, root=tmp_path)
    codes.visit(codes.tree)
    assert codes.found == {"first_code", "second_code"}
    assert [place.split(":")[1] for place in codes.unknown] == ["5", "7"]


def test_every_skip_reason_has_a_code():
    """The reasons a check can give (ImageProblem / AudioProblem literals, files.py's own) are keys of
    the kind's SKIP_CODES, so the skipped-file list never meets a reason without a sentence."""
    for module, problem in ((images, "ImageProblem"), (audio, "AudioProblem")):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        reasons = {node.args[0].value for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and getattr(node.func, "id", None) == problem
                   and node.args and isinstance(node.args[0], ast.Constant)}
        assert reasons, f"no {problem} found: the test is out of date"
        assert sorted(reasons.union(SHARED_SKIP_REASONS) - set(module.SKIP_CODES)) == [], module.__name__


def test_describe_fills_details_and_never_raises():
    assert describe("single_class", {"label": "ham"}) == "Only one class ('ham') was found; training needs at least two."
    assert describe("single_class", {}).startswith("Only one class")  # missing detail: no KeyError
    assert describe("brand_new_code") == "Brand new code."
