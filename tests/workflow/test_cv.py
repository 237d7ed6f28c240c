"""`equinet cv`: fold boundaries and embargo, fold runs scored on their own blocks, resume, JSON."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY_CLI, run_cli, synthetic_store

from equinet import open_store
from equinet.features.splits import by_date
from equinet.workflow.cv import make_folds

CV = ["--folds", "2", "--fold-days", "15", "--epochs", "2", *TINY_CLI, "--bootstrap", "100"]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return synthetic_store(tmp_path_factory.mktemp("cv"), stocks=8, days=200, seed=31)


def test_fold_boundaries_and_embargo() -> None:
    dates = [str(d) for d in np.busday_offset(np.datetime64("2021-01-04"), np.arange(300))]
    h, folds, days = 3, 4, 40
    plan = make_folds(dates, h, folds, days, min_context=20)
    idx = {d: i for i, d in enumerate(dates)}
    labelled = len(dates) - h
    assert idx[plan[-1].test_to] == labelled - 1  # the last block ends on the last labelled decision day
    for k, fold in enumerate(plan):
        v, te, end = idx[fold.val_from], idx[fold.test_from], idx[fold.test_to]
        assert end - te + 1 == days and (k == 0 or te == idx[plan[k - 1].test_to] + 1)  # contiguous blocks
        masks = by_date(dates, h, fold.val_from, fold.test_from).masks(["s"], dates)
        train, val = np.nonzero(masks["train"][0])[0], np.nonzero(masks["val"][0])[0]
        assert train.max() + h < v  # no training label reaches the inner validation block
        assert val.min() == v and val.max() + h < te  # nor a validation label the fold's block
        assert len(val) == days and val.max() < te  # the inner validation lies inside the days before the block
    with pytest.raises(ValueError, match="cannot hold 8 folds"):
        make_folds(dates, h, 8, days, min_context=20)


def test_cv_until_puts_every_fold_and_label_before_the_day(store: Path, tmp_path: Path) -> None:
    dates = open_store(store).meta["dates"]
    until = dates[150]
    result = run_cli("cv", "--data", store, "--out", tmp_path, "--name", "early", *CV, "--until", until, "--json")
    assert result.exit_code == 0, result.output
    cv = json.loads(result.stdout)
    assert cv["until"] == until and cv["per_fold"][-1]["test_to"] == dates[150 - 1 - 3]  # its label ends on 149
    for fold in cv["per_fold"]:
        rows = np.load(tmp_path / "cv-early" / f"fold-{fold['k']}" / "rows.npz")
        assert rows["day"].max() + 3 < 150


def test_cv_scores_each_fold_on_its_block_and_resumes(store: Path, tmp_path: Path) -> None:
    result = run_cli("cv", "--data", store, "--out", tmp_path, "--name", "a", *CV, "--json")
    assert result.exit_code == 0, result.output
    cv = json.loads(result.stdout)
    root = tmp_path / "cv-a"
    assert json.loads((root / "cv.json").read_text()) == cv
    assert cv["folds"] == 2 and len(cv["per_fold"]) == 2
    dates = open_store(store).meta["dates"]
    for fold in cv["per_fold"]:
        for key in ("k", "val_from", "test_from", "test_to", "rows", "model", "volatility", "prior", "majority",
                    "reversal"):
            assert key in fold
        ckpt = torch.load(root / f"fold-{fold['k']}" / "best.pt", weights_only=True)
        assert (ckpt["splits"]["val_from"], ckpt["splits"]["test_from"]) == (fold["val_from"], fold["test_from"])
        rows = np.load(root / f"fold-{fold['k']}" / "rows.npz")
        days = sorted(dates[d] for d in rows["day"])
        assert days[0] >= fold["test_from"] and days[-1] <= fold["test_to"]
        assert fold["rows"] == (rows["y"] >= 0).sum()  # the label metrics' rows; the universe's others traded only
        book = fold["book"]  # the default book on the fold's block, each forecaster after costs
        assert set(book["forecasters"]) == {"model", "linear", "reversal"} and book["first"] == fold["test_from"]
        assert book["forecasters"]["model"]["after_costs"]["annual_return"] < \
            book["forecasters"]["model"]["before_costs"]["annual_return"]
    pooled = cv["pooled"]
    assert pooled["rows"] == sum(f["rows"] for f in cv["per_fold"])
    for key in ("log_loss", "log_loss_skill", "log_loss_skill_vs_volatility", "accuracy", "auc_up", "auc_down",
                "rank_ic", "topk_excess", "top_decile_excess"):
        assert key in pooled["model"] and key in pooled["volatility"]
    assert set(pooled["ci"]) == {"accuracy", "log_loss_skill", "log_loss_skill_vs_volatility", "rank_ic",
                                 "topk_excess", "top_decile_excess", "rank_ic_tradable", "top_decile_excess_tradable"}
    assert pooled["reversal"]["log_loss"] is None and "rank_ic" in pooled["reversal"]["ci"]
    traded = json.loads(run_cli("backtest", root, "--json", "--bootstrap", "100").stdout)
    assert traded["forecasters"] == cv["book"]["forecasters"]  # the cv's book is the backtest of its folds
    opened, close = np.asarray(open_store(store).panel[:, :, 0], dtype=float), np.asarray(open_store(store).close)
    first = np.load(root / "fold-1" / "rows.npz")
    d0 = int(first["day"].min())
    bought = first["stock"][(first["day"] == d0) & np.isfinite(opened[first["stock"], d0 + 1])]
    day1 = np.mean(close[bought, d0 + 1] / np.round(opened[bought, d0 + 1], 2))  # by hand: all in at the open
    assert traded["series"]["universe/before_costs"][:2] == pytest.approx([1.0, day1], rel=1e-9)
    assert "The book on each block" in run_cli("cv", "--data", store, "--out", tmp_path, "--name", "a", *CV,
                                               "--resume").stdout

    fold1 = (root / "fold-1" / "best.pt").read_bytes()
    for name in ("rows.npz", "fold.json"):
        (root / "fold-2" / name).unlink()  # as if stopped while scoring fold 2
    again = run_cli("cv", "--data", store, "--out", tmp_path, "--name", "a", *CV, "--resume")
    assert again.exit_code == 0, again.output
    assert "fold 1: finished earlier, not retrained" in again.output
    assert (root / "fold-1" / "best.pt").read_bytes() == fold1
    assert json.loads((root / "cv.json").read_text())["pooled"] == pooled
    assert "pooled" in again.stdout and "skill vs volatility" in again.stdout


def test_cv_refuses_what_it_sets_and_existing_names(store: Path, tmp_path: Path) -> None:
    result = run_cli("cv", "--data", store, "--out", tmp_path, *CV, "--val-from", "2020-05-01")
    assert result.exit_code == 2 and "cv sets --val-from itself" in result.output
    (tmp_path / "cv-b").mkdir()
    result = run_cli("cv", "--data", store, "--out", tmp_path, "--name", "b", *CV)
    assert result.exit_code == 2 and "a cv of this name exists" in result.output
    result = run_cli("cv", "--data", store, "--out", tmp_path, "--name", "c", *CV, "--no-such-option")
    assert result.exit_code == 2 and "no-such-option" in result.output


def test_a_store_is_prepared_once_and_reused_only_for_the_same_build_and_rule(store: Path, tmp_path: Path) -> None:
    from equinet.core.labels import LabelRule
    from equinet.features.inputs import prepared

    opened = open_store(store)
    prep = prepared(opened, LabelRule())
    assert prepared(open_store(store), LabelRule(), prep) is prep  # a cv's folds: one preparation
    assert prepared(opened, LabelRule(up=0.05), prep) is not prep  # other thresholds: other labels
    shutil.copytree(store, tmp_path / "copy")
    meta = json.loads((tmp_path / "copy" / "meta.json").read_text())
    (tmp_path / "copy" / "meta.json").write_text(json.dumps({**meta, "build": "another"}))
    assert prepared(open_store(tmp_path / "copy"), LabelRule(), prep) is not prep  # another build of the store
