"""Every Python code block in README.md and docs/ passes pyright strict and mypy strict.

Each block is checked as a module of its own, as a user would paste it into a
strict project. A line whose comment starts with ``# error`` shows a mistake:
both checkers must report an error on exactly that line, and on no other.
toolz ships no type information, so the projects of these tests say so to the
checkers, as docs/typing.md tells users to (``ignore_missing_imports`` for
mypy, ``reportMissingTypeStubs = false`` for pyright).
"""

import ast
import builtins
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("**/*.md")])
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
EXPECTED = re.compile(r"#\s*error\b")
IMPORT = re.compile(r"^(?:import|from) [^(\n]*\n", re.MULTILINE)

PYRIGHT_CONFIG = {
    "typeCheckingMode": "strict",
    "pythonVersion": "3.11",
    "reportMissingTypeStubs": False,
    "reportUnusedExpression": False,
    "extraPaths": [str(ROOT)],
}
MYPY_CONFIG = """\
[mypy]
strict = true
python_version = 3.11
mypy_path = {root}

[mypy-toolz.*]
ignore_missing_imports = true
"""


def uses_undefined_names(code: str) -> bool:
    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bound.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    loaded = {
        node.id
        for node in ast.walk(tree)
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    return bool(loaded - bound)


def write_blocks(folder: Path) -> dict[str, set[int]]:
    """Write each block to ``folder``; return the lines of expected errors per file.

    A block that uses names it does not define continues the one before it (as
    the docs run them, in one namespace): it starts by importing everything
    from that block.
    """
    expected: dict[str, set[int]] = {}
    for page in PAGES:
        stem = re.sub(r"\W", "_", str(page.relative_to(ROOT)).removesuffix(".md"))
        previous = None
        imports: list[str] = []  # mypy's star imports leave out imported names
        for number, code in enumerate(BLOCK.findall(page.read_text()), start=1):
            name = f"{stem}_{number}"
            own_imports = IMPORT.findall(code)
            if previous is not None and uses_undefined_names(code):
                code = (
                    "# pyright: reportUnusedImport=false\n"
                    + "".join(imports)
                    + f"from {previous} import *  # noqa: F403\n{code}"
                )
            imports += own_imports
            (folder / f"{name}.py").write_text(code)
            expected[f"{name}.py"] = {
                line for line, text in enumerate(code.splitlines(), 1) if EXPECTED.search(text)
            }
            previous = name
    return expected


def pyright_errors(folder: Path) -> set[tuple[str, int]]:
    (folder / "pyrightconfig.json").write_text(json.dumps(PYRIGHT_CONFIG))
    result = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson", "--pythonpath", sys.executable],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    report = json.loads(result.stdout)
    return {
        (Path(item["file"]).name, item["range"]["start"]["line"] + 1)
        for item in report["generalDiagnostics"]
        if item["severity"] == "error"
    }


def mypy_errors(folder: Path) -> set[tuple[str, int]]:
    (folder / "mypy.ini").write_text(MYPY_CONFIG.format(root=ROOT))
    files = sorted(path.name for path in folder.glob("*.py"))
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--config-file", "mypy.ini", *files],
        cwd=folder,
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.findall(r"^(\w+\.py):(\d+): error:", result.stdout, re.MULTILINE)
    return {(name, int(line)) for name, line in found}


def describe(errors: set[tuple[str, int]]) -> list[str]:
    return [f"{name}:{line}" for name, line in sorted(errors)]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_doc_blocks_are_strict_clean(checker: str, tmp_path: Path) -> None:
    expected = write_blocks(tmp_path)
    assert any(expected.values()), "the docs show at least one rejected mistake"
    errors = (pyright_errors if checker == "pyright" else mypy_errors)(tmp_path)
    wanted = {(name, line) for name, lines in expected.items() for line in lines}
    assert not errors - wanted, f"{checker} rejects documented code: {describe(errors - wanted)}"
    assert not wanted - errors, (
        f"{checker} accepts a documented mistake: {describe(wanted - errors)}"
    )
