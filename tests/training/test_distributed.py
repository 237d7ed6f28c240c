"""Several ranks (gloo, 2 CPU processes): shares of one global batch, identical weights, exact validation, rank 0
alone writes, checkpoints that resume on any number of ranks, and a killed rank that ends the run."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from conftest import TINY, TINY_CLI, synthetic_store
from equinet.features.sampler import sample
from equinet.training import distributed
from equinet.training.train import TrainConfig, backward, draw, fit, global_loss, start, train_step, validate
from equinet.inference.apply import apply
from equinet.evaluation.evaluate import evaluate

WORLD = 2
TIMEOUT = 60  # a rank waiting longer than this for its peer fails the test instead of hanging it
# one step per epoch and no dropout: a 1-rank step on the same global batch must give the same gradient
EXACT = {**TINY, "dropout": 0.0, "samples_per_epoch": 1, "epochs": 3, "device": "cpu"}


def free_ports(n: int) -> tuple[int, ...]:
    """n different free TCP ports (the sockets are held open together, so they differ)."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = tuple(s.getsockname()[1] for s in socks)
    for s in socks:
        s.close()
    return ports


def step_gradient(run) -> tuple[list[torch.Tensor], float]:
    """The gradient and the global loss of the run's next step (synchronised across ranks), leaving the run's
    sampler where it was."""
    state = run.gen.get_state()
    batch = draw(run)
    loss, value, _ = global_loss(run, train_step(run, batch), batch)
    backward(run, loss)
    grads = [p.grad.clone() for p in run.model.parameters()]
    run.opt.zero_grad(set_to_none=True)
    run.gen.set_state(state)
    return grads, value


def rank_main(rank: int, ports: tuple[int, int], store: str, root: str) -> None:
    """One rank: its own working directory (a file it wrote would land there), then the checks' raw material."""
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(ports[0]), RANK=str(rank), WORLD_SIZE=str(WORLD),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    home = Path(root) / f"rank{rank}"
    home.mkdir()
    os.chdir(home)
    run = start(TrainConfig(**EXACT, data=store, out="out", name="two"), timeout=TIMEOUT)
    gen = run.gen.get_state()
    b = sample(run.data, "train", 30, 25, run.gen, stocks=6, share=run.world.share)
    shares = [t.tolist() for t in distributed.gather_rows(b.stock, b.day, b.y)]
    run.gen.set_state(gen)
    grads, loss = step_gradient(run)
    fit(run, stop_after=1)
    evaluated = evaluate(apply(Path(root) / "rank0" / "out" / "two" / "best.pt", device="cpu"), "val", n_bootstrap=0)
    run.close()
    torch.save({"shares": shares, "grads": grads, "loss": loss, "weights": run.model.state_dict(),
                "history": run.history, "gen": gen, "eval": evaluated}, Path(root) / f"result{rank}.pt")
    # then: resume a run that one process started, on two ranks, for one more epoch (a new group, a new port)
    os.environ.update(MASTER_PORT=str(ports[1]))
    again = start(TrainConfig(), resume=Path(root) / "one", timeout=TIMEOUT)
    fit(again, stop_after=1)
    again.close()


def test_two_ranks_share_batches_agree_and_resume_either_way(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path, stocks=10, days=160, seed=5)
    one = start(TrainConfig(**EXACT, data=str(store), out=str(tmp_path), name="one"))
    fit(one, stop_after=1)
    one.close()
    mp.spawn(rank_main, args=(free_ports(2), str(store), str(tmp_path)), nprocs=WORLD, join=True)
    r0, r1 = (torch.load(tmp_path / f"result{r}.pt", weights_only=False) for r in range(WORLD))

    # a fresh 1-rank run from the same seed draws the same global batches and takes the same first step
    single = start(TrainConfig(**EXACT, data=str(store), out=str(tmp_path), name="single"))
    assert torch.equal(single.gen.get_state(), r0["gen"])
    b = sample(single.data, "train", 30, 25, single.gen, stocks=6)
    whole = sorted(zip(b.stock.tolist(), b.day.tolist(), b.y.tolist()))
    union = r0["shares"]
    assert r0["shares"] == r1["shares"]  # every rank sees the same gathered chunk
    assert sorted(zip(*union)) == whole  # the shares make up the global chunk ...
    assert len(set(zip(union[0], union[1]))) == len(union[0])  # ... with no cell twice
    single.gen.set_state(r0["gen"])
    grads, loss = step_gradient(single)
    single.close()
    assert loss == pytest.approx(r0["loss"], rel=1e-5)
    for g, g0, g1 in zip(grads, r0["grads"], r1["grads"]):
        assert torch.equal(g0, g1)
        torch.testing.assert_close(g0, g, rtol=1e-4, atol=1e-6)

    # after training the two ranks hold identical weights, which moved
    for k, v in r0["weights"].items():
        assert torch.equal(v, r1["weights"][k]), k
    timeless = [[{k: v for k, v in row.items() if k != "seconds"} for row in r["history"]] for r in (r0, r1)]
    assert timeless[0] == timeless[1] and r0["history"][0]["world_size"] == 2

    # rank 0 alone wrote (rank 1's working directory stayed empty); the files record two ranks
    assert not any((tmp_path / "rank1").iterdir())
    run_dir = tmp_path / "rank0" / "out" / "two"
    assert {p.name for p in run_dir.iterdir()} == {"config.json", "metrics.jsonl", "best.pt", "last.pt"}
    assert json.loads((run_dir / "config.json").read_text())["world_size"] == 2

    # the 2-rank checkpoint resumes on one rank; its validation equals the 2-rank validation of the same weights
    copy = tmp_path / "copy"
    shutil.copytree(run_dir, copy)
    resumed = start(TrainConfig(), resume=copy)
    assert resumed.epoch == 1
    line = validate(resumed)
    for key, value in r0["history"][-1].items():
        if key.startswith("val_"):
            assert line[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key
    fit(resumed, stop_after=1)
    resumed.close()

    # `equinet eval`'s evaluation split across the two ranks equals one process's on the same checkpoint
    alone = evaluate(apply(run_dir / "best.pt", device="cpu"), "val", n_bootstrap=0)
    assert r0["eval"] == r1["eval"]
    for name in ("model", "volatility", "reversal", "prior"):
        for key, value in alone[name].items():
            if isinstance(value, float):
                assert r0["eval"][name][key] == pytest.approx(value, rel=1e-6, abs=1e-9), (name, key)
    assert [r["world_size"] for r in resumed.history] == [2, 1]

    # the 1-rank run resumed on two ranks
    rows = [json.loads(line) for line in (tmp_path / "one" / "metrics.jsonl").read_text().splitlines()]
    assert [(r["epoch"], r["world_size"]) for r in rows] == [(1, 1), (2, 2)]


def rank_pids(parent: int, rank: int) -> list[int]:
    """Processes below parent whose environment says RANK=rank."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if not proc.name.isdigit():
                continue
            env = (proc / "environ").read_bytes().split(b"\0")
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if f"RANK={rank}".encode() in env and descends(ppid, parent):
            found.append(int(proc.name))
    return found


def descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except OSError:
            return False
    return False


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="finds the ranks through /proc")
def test_nproc_prints_once_and_a_killed_rank_ends_the_run(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path, stocks=10, days=160, seed=5)
    cmd = [sys.executable, "-m", "equinet", "train", "--data", str(store), "--out", str(tmp_path / "out"),
           *TINY_CLI, "--device", "cpu", "--nproc", str(WORLD)]
    done = subprocess.run([*cmd, "--name", "r", "--epochs", "2"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("best epoch 2") == 1 and done.stdout.count("ranks 2") == 1
    rows = [json.loads(line) for line in (tmp_path / "out" / "r" / "metrics.jsonl").read_text().splitlines()]
    assert [r["world_size"] for r in rows] == [2, 2]
    again = subprocess.run([*cmd, "--name", "r", "--epochs", "2"], capture_output=True, text=True, timeout=60)
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        f"error: {tmp_path / 'out' / 'r'}: a run of this name exists; --resume {tmp_path / 'out' / 'r'} continues it, "
        "--overwrite replaces it, or choose another --name"]  # refused before any process starts

    proc = subprocess.Popen([*cmd[:4], "--resume", str(tmp_path / "out" / "r"), "--epochs", "1000", "--nproc",
                             str(WORLD)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not rank_pids(proc.pid, 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(3)  # into training
    for pid in rank_pids(proc.pid, 1):
        os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    out, err = proc.communicate(timeout=90)
    assert time.monotonic() - killed < 60
    assert proc.returncode != 0
    assert "SIGKILL" in err and "rank      : 1" in err
    assert f"--resume {tmp_path / 'out' / 'r'} --nproc 2" in err.splitlines()[-1]

