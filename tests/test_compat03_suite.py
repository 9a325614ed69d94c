"""paipa 0.3.3's own test suite, as shipped on PyPI, passes against this paipa.

The test downloads the 0.3.3 source distribution (PyPI is reachable wherever
the suite's dependencies are installed), takes its ``test/`` folder only, and
adjusts what Python 3 and the standard library changed, nothing else:
``assertEquals`` (removed alias) becomes ``assertEqual`` and ``import mock``
becomes ``from unittest import mock``. The Tornado glue test skips itself
when Tornado is absent, as it always did.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from original03 import files_of_0_3_3

ADJUSTMENTS = (
    (re.compile(r"\.assertEquals\("), ".assertEqual("),
    (re.compile(r"^import mock$", re.MULTILINE), "from unittest import mock"),
)


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = files_of_0_3_3(tmp_path_factory.mktemp("sdist"), r"test/[a-z_]+\.py")
    folder = tmp_path_factory.mktemp("suite")
    for name, source in files.items():
        text = source.decode()
        for pattern, replacement in ADJUSTMENTS:
            text = pattern.sub(replacement, text)
        (folder / name).write_text(text)
    assert sorted(path.name for path in folder.iterdir()) == [
        "test_pipeline_debugger.py",
        "test_thread_pipeline.py",
    ]
    return folder


@pytest.mark.timeout(300)
def test_the_shipped_suite_of_paipa_0_3_3_passes(suite: Path) -> None:
    result = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rs", "-q"),
            *("--rootdir", str(suite), "-o", "addopts=", "-W", "error", str(suite)),
        ],
        cwd=suite,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (passed|skipped|failed)", output)}
    probe = [sys.executable, "-c", "import tornado"]
    tornado = subprocess.run(probe, capture_output=True, check=False).returncode == 0
    assert counts.get("passed") == (7 if tornado else 6), output
    assert counts.get("failed", 0) == 0, output
    if not tornado:
        assert counts.get("skipped") == 1, output
        assert "Tornado" in output, output
