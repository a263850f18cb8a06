"""The UI layer never imports torch; the engine (and the layers under it) never import gradio.

Both checked twice: statically (an import statement anywhere in the files, even inside a function)
and dynamically (importing the module in a fresh interpreter leaves the other out of sys.modules).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ftui"
ML_LIBRARIES = {"torch", "torchvision", "torchaudio", "transformers", "safetensors", "sklearn"}
UI_LIBRARIES = {"gradio", "gradio_client"}
BELOW_THE_UI = ["engine", "data", "tasks", "models", "runs"]


def imported_roots(path: Path) -> set[str]:
    """Top-level package names of every import statement in a file."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def python_files(*parts: str) -> list[Path]:
    files = []
    for part in parts:
        target = PACKAGE / part
        files += sorted(target.rglob("*.py")) if target.is_dir() else [target] if target.is_file() else []
    return files


@pytest.mark.parametrize("path", python_files("ui"), ids=lambda p: str(p.relative_to(ROOT)))
def test_ui_files_import_no_ml_library(path):
    assert not imported_roots(path) & ML_LIBRARIES


@pytest.mark.parametrize("path", python_files(*BELOW_THE_UI, "predict.py", "services.py", "config.py"),
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_lower_layers_import_no_gradio(path):
    assert not imported_roots(path) & UI_LIBRARIES


def _modules_after_import(module: str) -> set[str]:
    code = f"import sys, {module}; print(' '.join(sorted(m for m in sys.modules if '.' not in m)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={"GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin", "HOME": str(Path.home())})
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_importing_the_ui_does_not_load_torch():
    loaded = _modules_after_import("ftui.ui.page")
    assert "gradio" in loaded  # the check itself works
    assert not loaded & ML_LIBRARIES


def test_importing_services_does_not_load_gradio():
    loaded = _modules_after_import("ftui.services")
    assert not loaded & UI_LIBRARIES
