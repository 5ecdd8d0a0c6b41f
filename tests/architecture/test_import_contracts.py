"""The layers and boundaries in pyproject.toml hold, and a breach of them fails ``make lint``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ["portal", "knowledge", "forms_app", "assistant"]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def tree_copy(tmp_path: Path) -> Path:
    """The apps' Python files and pyproject.toml, copied so a test can break them."""
    for app in APPS:
        shutil.copytree(
            ROOT / app,
            tmp_path / app,
            ignore=lambda _dir, names: [
                n for n in names if not (n.endswith(".py") or "." not in n)
            ],
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_project_keeps_its_contracts() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("module", "source", "broken"),
    [
        # portal is the bottom layer: it may not know the apps built on it.
        ("portal/breach.py", "from assistant import selectors\n", "portal.breach -> assistant"),
        # A cycle between apps is a layer breach in one direction.
        ("knowledge/breach.py", "import forms_app.selectors\n", "knowledge.breach -> forms_app"),
        # Another app's models are private: go through its selectors.
        ("assistant/breach.py", "from forms_app import models\n", "assistant.breach -> forms_app"),
    ],
)
def test_a_breach_fails_the_lint(tree_copy: Path, module: str, source: str, broken: str) -> None:
    (tree_copy / module).write_text(source)
    result = _lint(tree_copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert broken in result.stdout
