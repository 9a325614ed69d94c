"""The public surface: exactly what paipa/__init__.py exports, all reporting module paipa."""

import inspect
import subprocess
import sys

import paipa


def test_all_is_sorted_and_unique() -> None:
    assert list(paipa.__all__) == sorted(set(paipa.__all__))


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(paipa).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(paipa.__all__)


OF_PAIPA_0_3 = {"AbstractStep", "SkipEntry", "funcstep", "iterstep"}
"""paipa 0.3's top-level names: they live in paipa.threaded, as they did."""


def test_public_classes_and_functions_report_module_paipa() -> None:
    for name in paipa.__all__:
        value = getattr(paipa, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            home = "paipa.threaded" if name in OF_PAIPA_0_3 else "paipa"
            assert value.__module__ == home, name
    assert type(paipa.step).__module__ == "paipa"


def test_every_public_name_has_a_docstring() -> None:
    for name in paipa.__all__:
        value = getattr(paipa, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            assert inspect.getdoc(value), name
    for method in ("__call__", "map", "filter", "flat_map"):
        assert inspect.getdoc(getattr(paipa.step, method)), method


def test_import_leaves_threads_processes_and_the_debugger_for_later() -> None:
    later = ["multiprocessing", "pickle", "psutil", "socket", "subprocess"]
    later += ["paipa._engine._process", "paipa._engine._threads"]
    probe = f"import paipa, sys; print(sorted(set({later!r}) & set(sys.modules)))"
    found = subprocess.run(
        [sys.executable, "-P", "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert found.stdout.strip() == "[]"


def test_the_version_succeeds_paipa_0_3_3() -> None:
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert project["project"]["version"] == paipa.__version__
    assert tuple(int(part) for part in paipa.__version__.split(".")) > (0, 3, 3)
