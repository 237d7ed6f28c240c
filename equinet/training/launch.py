"""`--nproc N`: the same command in N processes on this machine under torchrun (no torch imported here)."""

from __future__ import annotations

import os
import subprocess
import sys

import typer


def command_line(ctx: typer.Context, changes: dict) -> list[str]:
    """The command's options as parsed, with changes (None drops an option), as arguments to run it again."""
    args = [ctx.info_name or ""]
    for p in ctx.command.params:
        value = changes[p.name] if p.name in changes else ctx.params.get(p.name)
        if value is None or not p.opts[0].startswith("--"):
            continue
        if p.is_flag:
            flag = p.opts[0] if value else (p.secondary_opts or [None])[0]
            args += [flag] if flag else []
        else:
            args += [p.opts[0], str(value)]
    return args


def launch(nproc: int, args: list[str]) -> int:
    """Run `python -m equinet ARGS` as nproc ranks with torchrun --standalone; its exit code. CPU threads are split
    between the ranks unless OMP_NUM_THREADS says otherwise."""
    env = {"OMP_NUM_THREADS": str(max(1, (os.cpu_count() or 1) // nproc)), **os.environ}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}",
           "-m", "equinet", *args]
    return subprocess.call(cmd, env=env)
