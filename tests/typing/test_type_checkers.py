"""pyright and mypy, both strict, are clean on paipa/ and on the inference cases here."""

import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import tornado

ROOT = Path(__file__).resolve().parents[2]
CHECKERS = {
    "mypy": [sys.executable, "-m", "mypy"],
    "pyright": [sys.executable, "-m", "pyright"],
}


def check(checker: str, *paths: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CHECKERS[checker], *paths], cwd=cwd, capture_output=True, text=True, check=False
    )


@pytest.mark.timeout(300)
@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_package_and_inference_cases_are_clean(checker: str) -> None:
    result = check(checker)  # the files come from pyproject.toml: paipa/ and tests/typing/
    assert result.returncode == 0, result.stdout + result.stderr


PROBE = textwrap.dedent(
    """
    from paipa import Pipeline, step

    @step.map
    def to_text(x: int) -> str:
        return str(x)

    Pipeline(range(3)) | to_text  # type: ignore[operator]  # pyright: ignore[reportOperatorIssue]
    """
)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_expected_error_comments_fail_when_the_error_disappears(
    checker: str, tmp_path: Path
) -> None:
    # The same settings as the project's, in a folder of the test's own.
    (tmp_path / "probe.py").write_text(PROBE)
    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps(
            {
                "typeCheckingMode": "strict",
                "enableTypeIgnoreComments": False,
                "reportUnnecessaryTypeIgnoreComment": "error",
                "reportUnusedExpression": False,
                "extraPaths": [str(ROOT)],
            }
        )
    )
    flags = ["--strict", "--warn-unused-ignores", "--no-incremental"] if checker == "mypy" else []
    result = subprocess.run(
        [*CHECKERS[checker], *flags, "probe.py"],
        cwd=tmp_path,
        env={**os.environ, "MYPYPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "probe.py:8" in output, output
    assert "nused" in output or "nnecessary" in output, output


@pytest.mark.timeout(300)
def test_public_surface_is_fully_typed(tmp_path: Path) -> None:
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", tmp_path, ROOT],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stderr
    # paipa.glue subclasses a Tornado class: the checker needs Tornado's own types.
    shutil.copytree(Path(tornado.__file__).parent, tmp_path / "tornado")
    result = subprocess.run(
        [*CHECKERS["pyright"], "--verifytypes", "paipa", "--ignoreexternal"],
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "Type completeness score: 100%" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0, result.stdout


EDGES = ROOT / "tests" / "typing" / "check_edges.py"
CASE = re.compile(r"# case: (typed|accepted|error|pyright error|missed)$")


def test_edge_cases_form_a_table_covering_every_observation() -> None:
    source = EDGES.read_text()
    lines = source.splitlines()
    kinds = [match.group(1) for line in lines if (match := CASE.search(line))]
    assert len(kinds) >= 120, len(kinds)
    for number in range(1, 11):  # 11 and 12 are checked by the docs and install tests
        assert f"def observation_{number}_" in source, number
    for number, line in enumerate(lines, 1):
        ignores = "type: ignore" in line, "pyright: ignore" in line
        marked = CASE.search(line)
        kind = marked.group(1) if marked else None
        where = f"check_edges.py:{number}: {line}"
        if kind == "error":
            assert all(ignores), f"an expected error names both checkers: {where}"
        elif kind == "pyright error":
            assert ignores == (False, True), where
        elif kind in ("typed", "missed"):
            # A pinned type: a line, or the closing line of a wrapped assert_type.
            assert not any(ignores), where
            assert "assert_type(" in line or line.strip().startswith(")"), where
        elif kind == "accepted":
            assert not any(ignores), where
        else:
            assert not any(ignores) or "import-untyped" in line, f"unmarked expectation: {where}"


USER_CODE = textwrap.dedent(
    """
    from typing import assert_type

    from paipa import Pipeline, step

    @step.map
    def to_text(x: int) -> str:
        return str(x)

    assert_type(Pipeline(range(3)) | to_text, Pipeline[str])
    assert_type(to_text(x=3), str)
    """
)


README_MODE = ("--config-settings", "editable_mode=compat")


@pytest.fixture(scope="module")
def readme_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the Python of a fresh venv where paipa is installed as the README says.

    The test builds its own install, so it does not depend on how the
    developer's venv was made (a plain ``pip install -e .`` hides paipa from the
    checkers behind an import hook).
    """
    venv = tmp_path_factory.mktemp("readme-install") / "venv"
    subprocess.run([sys.executable, "-m", "venv", venv], check=True, capture_output=True)
    python = venv / "bin" / "python"
    install = subprocess.run(
        # The README's install line, without the dependencies (not needed here).
        [python, "-m", "pip", "install", "-q", "--no-deps", "-e", ROOT, *README_MODE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    return python


@pytest.mark.timeout(300)
@pytest.mark.parametrize("checker", sorted(CHECKERS))
def test_the_installed_package_is_visible_to_checkers_from_any_folder(
    checker: str, tmp_path: Path, readme_install: Path
) -> None:
    # The checkers run from this venv but resolve imports in the fresh one, from
    # a folder outside the checkout.
    (tmp_path / "user.py").write_text(USER_CODE)
    flags = (
        ["--strict", "--no-incremental", "--python-executable", str(readme_install)]
        if checker == "mypy"
        else ["--pythonpath", str(readme_install)]
    )
    environment = {
        key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "MYPYPATH")
    }
    result = subprocess.run(
        [*CHECKERS[checker], *flags, "user.py"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


MISTAKES = textwrap.dedent(
    """
    from collections.abc import Iterable, Iterator

    from paipa import Pipeline, Step, chunk, step


    @step.map
    def to_text(x: int) -> str:
        return str(x)


    @step.filter
    def nonempty(text: str) -> bool:
        return bool(text)


    @step
    def lengths(items: Iterable[str]) -> Iterator[int]:
        for item in items:
            yield len(item)


    def square(n: int) -> int:  # a function missing its @step.map
        return n * n


    def valid(s: Step[int, str]) -> str:
        print(Pipeline(range(3)) | to_text | nonempty | lengths, to_text | nonempty)
        return s(3)


    def mistakes() -> None:
        Pipeline(range(3)) | nonempty  # mistake
        Pipeline(range(3)) | square  # mistake
        Pipeline(range(3)) | len  # mistake
        Pipeline(range(3)) | print  # mistake
        to_text | to_text  # mistake
        Pipeline(range(3)) | "text"  # mistake
        Pipeline(range(3)) | str.upper  # mistake
        Pipeline(range(3)) | lengths  # mistake
        to_text | square  # mistake
        Pipeline(range(3)) | to_text | lengths | nonempty  # mistake
        chunk(2) | to_text  # mistake
        Pipeline(range(3)) | {1: 2}  # mistake
        Pipeline(range(3)) | 42  # mistake
    """
)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("mode", ["basic", "standard", "strict"])
def test_a_wrong_step_is_an_error_in_every_pyright_mode(mode: str, tmp_path: Path) -> None:
    # Users' projects do not all run pyright strict: a mistake reported only
    # through a strict-only rule would be silent in their editors.
    (tmp_path / "mistakes.py").write_text(MISTAKES)
    (tmp_path / "pyrightconfig.json").write_text(
        json.dumps(
            {
                "typeCheckingMode": mode,
                "reportUnusedExpression": False,
                "extraPaths": [str(ROOT)],
            }
        )
    )
    result = subprocess.run(
        [*CHECKERS["pyright"], "--outputjson", "--pythonpath", sys.executable],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = {
        item["range"]["start"]["line"] + 1
        for item in json.loads(result.stdout)["generalDiagnostics"]
        if item["severity"] == "error"
    }
    marked = {number for number, line in enumerate(MISTAKES.splitlines(), 1) if "# mistake" in line}
    assert errors == marked, (sorted(errors - marked), sorted(marked - errors))
