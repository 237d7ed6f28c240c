"""Nothing half-written: a full disk, concurrent ingests, a reader during a swap, Ctrl-C during training."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import TINY_CLI, run_cli, snapshot, synthetic_store

from equinet import ingest
from equinet.data.store import lock_store, open_store, read_meta, release_store

EQUINET = [sys.executable, "-m", "equinet"]


@pytest.fixture
def small_disk(tmp_path: Path):
    """A real 4 MiB file system (tmpfs), to be filled up; skipped where this process cannot mount one."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a small tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(disk)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    yield disk
    subprocess.run(["umount", "-l", str(disk)], capture_output=True)


def fill(disk: Path, leave: int) -> None:
    """Take all but `leave` bytes of the disk."""
    free = shutil.disk_usage(disk).free
    with open(disk / "filler", "ab") as f:
        f.write(b"\0" * max(0, free - leave))


def leftovers(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob("*") if ".tmp-" in p.name or ".old-" in p.name]


def error_line(result) -> str:
    assert "Traceback" not in result.output, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, result.output
    return lines[0]


def test_training_on_a_full_disk_is_one_line_and_keeps_the_checkpoints(small_disk: Path, tmp_path: Path) -> None:
    store = synthetic_store(tmp_path, stocks=6, days=140, seed=5)
    out = small_disk / "out"
    assert run_cli("train", "--data", store, "--out", out, "--name", "r", "--epochs", "3", "--stop-after", "1",
                   *TINY_CLI).exit_code == 0
    before = snapshot(out / "r")
    fill(small_disk, leave=8192)  # config.json and metrics.jsonl fit, a checkpoint does not
    result = run_cli("train", "--resume", out / "r")
    assert result.exit_code == 1
    line = error_line(result)
    assert "no space left on device" in line and str(out / "r") in line, line
    assert leftovers(out) == []
    after = snapshot(out / "r")
    for name in ("best.pt", "last.pt"):
        assert after[name] == before[name]  # the epoch-1 checkpoints, whole


def test_ingest_on_a_full_disk_says_so_and_keeps_the_old_store(small_disk: Path, raw: Path) -> None:
    fill(small_disk, leave=4096)
    result = run_cli("ingest", raw, "--out", small_disk / "first")
    line = error_line(result)
    assert result.exit_code == 2 and "no space left on device" in line and "nothing was written" in line, line
    assert "old store" not in line
    (small_disk / "filler").unlink()
    assert run_cli("ingest", raw, "--out", small_disk / "store").exit_code == 0
    before = snapshot(small_disk / "store")
    fill(small_disk, leave=4096)
    line = error_line(run_cli("ingest", raw, "--out", small_disk / "store", "--force"))
    assert "no space left on device" in line and "the old store is kept" in line, line
    assert snapshot(small_disk / "store") == before and leftovers(small_disk) == []


def test_eval_and_report_on_a_full_disk_are_one_line(small_disk: Path, tmp_path: Path) -> None:
    store = synthetic_store(tmp_path, stocks=6, days=140, seed=5)
    out = small_disk / "out"
    assert run_cli("train", "--data", store, "--out", out, "--name", "r", "--epochs", "1", *TINY_CLI).exit_code == 0
    fill(small_disk, leave=0)
    result = run_cli("eval", "--run", out / "r", "--bootstrap", "0")
    assert result.exit_code == 1 and "eval-test.json" in error_line(result)
    result = run_cli("report", out / "r")
    assert result.exit_code == 1 and "no space left on device" in error_line(result)
    assert not (out / "r" / "eval-test.json").exists() and leftovers(out) == []


def test_a_second_ingest_into_the_same_store_is_refused_in_one_line(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    lock_store(out)  # this process is the writer now
    try:
        refused = subprocess.run([*EQUINET, "ingest", str(raw), "--out", str(out)], capture_output=True, text=True)
    finally:
        release_store(out)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert f"pid {os.getpid()}" in refused.stderr and "has been writing this store" in refused.stderr
    assert not out.exists()
    assert subprocess.run([*EQUINET, "ingest", str(raw), "--out", str(out)], capture_output=True).returncode == 0


def test_three_ingests_at_once_never_break_the_store(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    ingest(raw, out)
    for _ in range(2):
        procs = [subprocess.Popen([*EQUINET, "ingest", str(raw), "--out", str(out), "--force"], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        for p in procs:
            _, stderr = p.communicate(timeout=120)
            assert p.returncode == 0 or (p.returncode == 2 and "has been writing this store" in stderr), stderr
    assert open_store(out).panel.shape[0] == 6 and leftovers(tmp_path) == []


def test_a_reader_during_the_swap_waits_for_the_new_store(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    ingest(raw, out)
    aside = tmp_path / ".store.old-99999999"  # the instant between the two renames, held for 0.3 s
    os.rename(out, aside)
    threading.Timer(0.3, os.rename, (aside, out)).start()
    assert read_meta(out) is not None


def test_a_reader_polling_through_repeated_swaps_never_misses(raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "store"
    ingest(raw, out)
    done, failures, polls = threading.Event(), [], [0]

    def poll() -> None:
        while not done.is_set():
            try:
                store = open_store(out)
                assert store.meta["created"] and store.panel.shape[0] == len(store.codes)
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(repr(exc))
            polls[0] += 1

    reader = threading.Thread(target=poll)
    reader.start()
    try:
        for _ in range(8):
            ingest(raw, out, force=True)
    finally:
        done.set()
        reader.join()
    assert polls[0] > 20 and failures == []


def test_ctrl_c_says_how_to_resume_and_resuming_says_where(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path, stocks=6, days=140, seed=5)
    run = tmp_path / "out" / "r"
    proc = subprocess.Popen([*EQUINET, "train", "--data", str(store), "--out", str(tmp_path / "out"), "--name", "r",
                             "--epochs", "200", *TINY_CLI], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "last.pt").is_file() and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert f"continue with `equinet train --resume {run}`" in stderr and "stopped after epoch" in stderr, stderr
    epoch = int(stderr.split("stopped after epoch ")[1].split()[0])
    result = run_cli("train", "--resume", run, "--stop-after", "1")
    assert result.exit_code == 0 and f"resuming {run} at epoch {epoch + 1} of 200" in result.output
