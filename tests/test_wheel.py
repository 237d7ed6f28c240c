"""The product as `pip install .` makes it, not as the editable checkout runs it: a wheel built from the tree holds
every subpackage, and installed into a fresh venv beside the editable one it runs --help and a small ingest, train
and eval."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from conftest import ROOT, TINY_CLI



def run(cmd: list, cwd: Path) -> str:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, f"{cmd[:3]}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def test_the_wheel_installs_every_subpackage_and_runs(tmp_path: Path) -> None:
    src = tmp_path / "src"  # a copy, so that building leaves the checkout as it was
    shutil.copytree(ROOT / "equinet", src / "equinet", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path / "dist",
         src], tmp_path)
    wheel = next((tmp_path / "dist").glob("equinet-*.whl"))
    inside = set(zipfile.ZipFile(wheel).namelist())
    packages = [p.parent.relative_to(ROOT).as_posix() for p in (ROOT / "equinet").rglob("__init__.py")]
    assert len(packages) > 2 and all(f"{p}/__init__.py" in inside for p in packages), packages
    assert "equinet/data/sources/gbbq.key" in inside  # the data file the gbbq reader decrypts with

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path)
    site = Path(run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                    tmp_path).strip())
    # the dependencies come from the editable venv's folder: a path, so its editable hook (.pth) is not run
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    run([sys.executable, "-m", "pip", "--python", venv / "bin" / "python", "install", "--no-deps", "-q", wheel],
        tmp_path)
    where = run([venv / "bin" / "python", "-c", "import equinet; print(equinet.__file__)"], tmp_path).strip()
    assert Path(where).is_relative_to(site), where  # the wheel's copy, not the checkout

    equinet = venv / "bin" / "equinet"
    assert "ingest" in run([equinet, "--help"], tmp_path)
    run([equinet, "synth", "raw", "--stocks", "6", "--days", "120", "--seed", "1"], tmp_path)
    run([equinet, "ingest", "raw", "--out", "store"], tmp_path)
    run([equinet, "train", "--data", "store", "--out", "out", "--epochs", "1", *TINY_CLI], tmp_path)
    assert "log loss" in run([equinet, "eval", "--out", "out", "--split", "test", "--bootstrap", "0"], tmp_path)
