"""`equinet train --deploy` on a store the test writes: the validating run has no test block and validates on the
last --val-days; the refit trains through the last labelled day for the epochs that validation chose."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from conftest import TINY_CLI, run_cli, synthetic_store

from equinet import open_store
from equinet.features.splits import Splits


def test_deploy_validates_then_refits_through_the_last_labelled_day(tmp_path: Path) -> None:
    store = synthetic_store(tmp_path, stocks=6, days=150, seed=5)
    out = tmp_path / "out"
    result = run_cli("train", "--data", store, "--out", out, "--name", "tonight", *TINY_CLI, "--epochs", "3",
                     "--deploy", "--val-days", "20")
    assert result.exit_code == 0, result.output
    dates = open_store(store).meta["dates"]
    labelled = len(dates) - 3
    select = torch.load(out / "tonight-select" / "best.pt", weights_only=False)
    masks = Splits.from_json(select["splits"]).masks(["s"], dates)
    assert np.flatnonzero(masks["val"][0]).tolist() == list(range(labelled - 20, labelled))  # the last 20 days
    assert not masks["test"].any() and np.flatnonzero(masks["train"][0]).max() + 3 < labelled - 20
    chosen = select["best"]["epoch"]
    final = torch.load(out / "tonight" / "best.pt", weights_only=False)
    masks = Splits.from_json(final["splits"]).masks(["s"], dates)
    assert np.flatnonzero(masks["train"][0]).max() == labelled - 1  # through the last labelled decision day
    assert not masks["val"].any() and not masks["test"].any()
    assert final["config"]["epochs"] == chosen and len((out / "tonight" / "metrics.jsonl").read_text().splitlines()) \
        == chosen
    deployed = json.loads((out / "tonight" / "deploy.json").read_text())
    assert deployed["epochs"] == chosen and deployed["selected_by"].endswith("tonight-select")
    assert f"refitting on every labelled day for {chosen} epochs" in result.output
    forecast = json.loads(run_cli("predict", "--out", out, "--format", "json").stdout)
    assert forecast["checkpoint"] == str(out / "tonight" / "best.pt")  # the evening's forecast: the refit
    later = run_cli("eval", "--run", out / "tonight", "--split", "all", "--json", "--bootstrap", "0")
    assert "inside the checkpoint's training or validation period" in later.output  # every stored day was seen
    refused = run_cli("train", "--data", store, "--out", out, *TINY_CLI, "--deploy", "--test-from", dates[-10])
    assert refused.exit_code == 2 and "--deploy validates on the store's last --val-days" in refused.output
