"""paipa 0.3.3's source release, downloaded from PyPI for the tests that compare with it."""

from __future__ import annotations

import re
import subprocess
import sys
import tarfile
from pathlib import Path


def files_of_0_3_3(folder: Path, pattern: str) -> dict[str, bytes]:
    """Download paipa 0.3.3's sdist into `folder`; return its files matching `pattern`.

    `pattern` is matched against the path inside the archive's top folder
    (``paipa/threaded.py``, ``test/test_thread_pipeline.py``); the keys are the
    file names.
    """
    fetched = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
            *("--no-binary", ":all:", "paipa==0.3.3", "--dest", str(folder)),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    files: dict[str, bytes] = {}
    with tarfile.open(folder / "paipa-0.3.3.tar.gz") as sdist:
        for member in sdist.getmembers():
            inside = member.name.removeprefix("paipa-0.3.3/")
            if re.fullmatch(pattern, inside):
                source = sdist.extractfile(member)
                assert source is not None
                files[Path(inside).name] = source.read()
    return files
