"""The help says what the commands do by default, and the demo says how to run equinet afterwards."""

from __future__ import annotations

import subprocess
from pathlib import Path

from conftest import ROOT, run_cli



def test_train_help_says_it_trains_on_chunks_of_histories() -> None:
    text = " ".join(run_cli("train", "--help").stdout.split())
    assert "chunks of stock histories" in text and "--batch-days" not in text and "random windows" not in text


def test_eval_help_names_every_baseline() -> None:
    text = " ".join(run_cli("eval", "--help").stdout.split())
    assert all(name in text for name in ("volatility", "reversal", "class prior", "majority"))


def test_cv_help_lists_the_train_options_it_passes_on() -> None:
    text = " ".join(run_cli("cv", "--help").stdout.split())
    assert all(f"{option}," in text for option in ("--epochs", "--d-model", "--lr", "--stocks-per-day", "--shrink"))
    assert "--nproc," not in text and "--val-from," not in text  # train options cv refuses are not offered


def test_the_demo_ends_by_saying_how_to_run_equinet(tmp_path: Path) -> None:
    out = subprocess.run(["bash", str(ROOT / "scripts" / "demo.sh"), "--plan"], capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin", "EQUINET_RAW": str(tmp_path)}, check=True).stdout
    assert out.splitlines()[-1].startswith("To run equinet yourself in this shell: source .venv/bin/activate")
