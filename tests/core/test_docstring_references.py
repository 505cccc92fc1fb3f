"""Every project file a docstring names exists, so a reader who follows a citation finds it."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOP = ("paas_sdk", "exporter", "tests", "examples", "benchmarks", "dashboards", "alert_rules",
       "deploy", "scripts", "docs")  # fmt: skip
CITED = re.compile(
    rf"(?<![\w/.-])((?:{'|'.join(TOP)})/[\w./-]+\.(?:py|md|yaml|yml|json|proto|java|toml))"
)


def _docstrings(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node, clean=False)
            if doc:
                found.append(doc)
    return found


def test_docstrings_cite_only_files_that_exist() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert tracked, "no Python files found by git ls-files"
    missing = [
        f"{path}: {cited}"
        for path in tracked
        for doc in _docstrings((ROOT / path).read_text())
        for cited in CITED.findall(doc)
        if not (ROOT / cited).exists() and not (ROOT / "exporter" / cited).exists()
    ]
    assert missing == []
