"""pyright and mypy, both strict, are clean on paipa/ and on the inference cases here."""

import json
import os
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
