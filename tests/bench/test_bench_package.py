"""bench/ is a package: every benchmark imports as bench.NAME with a main(argv), none edits sys.path, and
`imggen bench NAME` runs the module."""
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_every_benchmark_imports_as_a_module_without_sys_path_edits():
    import bench

    names = [m.name for m in pkgutil.iter_modules(bench.__path__)]
    assert {"common", "gan", "refine", "stylegan"} <= set(names)
    for name in names:
        assert "sys.path" not in (ROOT / "bench" / f"{name}.py").read_text(), f"bench/{name}.py edits sys.path"
        module = importlib.import_module(f"bench.{name}")
        assert name == "common" or callable(getattr(module, "main", None)), f"bench/{name}.py has no main()"


@pytest.mark.slow
def test_cli_runs_a_benchmark_module_with_its_arguments(tmp_path):
    """`python -m imggen bench gan_aids --help` reaches the benchmark's own argument parser."""
    r = subprocess.run([sys.executable, "-m", "imggen", "bench", "gan_aids", "--help"], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "--steps" in r.stdout
