"""The heads, whole-day batches, ensembles, EMA, the attention options and other thresholds, on real runs."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TINY, TINY_CLI, run_cli, synthetic_store

from equinet import open_store
from equinet.core.labels import LabelRule
from equinet.core.labels import PAYOFF
from equinet.features.inputs import clean_run, future_vol, prepare
from equinet.features.sampler import Batch, labelled_context, sample, targets, to_device, windows
from equinet.features.splits import by_date
from equinet.models.distribution import class_probabilities, t_scale, volatility_probabilities
from equinet.models.heads import make_head
from equinet.models.transformer import EquiNet, ModelConfig, scale_mask
from equinet.training.forward import day_outputs
from equinet.training.train import TrainConfig, ema_decay, fit, start, validation_days
from equinet.inference.apply import apply
from equinet.evaluation.evaluate import collect, selection_mask

RULE = LabelRule()
SQRT_H = math.sqrt(RULE.horizon)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return synthetic_store(tmp_path_factory.mktemp("heads"), stocks=8, days=160, seed=41)


@pytest.fixture(scope="module")
def runs(store: Path, tmp_path_factory) -> dict[str, Path]:
    """A dist run with every option on (2 members), and a softmax run."""
    out = tmp_path_factory.mktemp("runs")
    every = dict(ensemble=2, ema_epochs=1.0, cross=True, multiscale=True, aux="vol,momentum", score_weight=0.1,
                 return_weight=0.5, shrink=0.1, anchor="linear")
    for name, options in (("dist", every), ("softmax", {"head": "softmax"})):
        run = fit(start(TrainConfig(**{**TINY, **options}, data=str(store), out=str(out), name=name, epochs=2)))
        run.close()
    return {"dist": out / "dist", "softmax": out / "softmax"}


def test_zero_outputs_are_the_volatility_baseline() -> None:
    sigma = torch.tensor([0.004, 0.02, 0.05], dtype=torch.float64)
    head = make_head("dist", RULE, np.ones(3), demean=True)
    fc = head.forecast(torch.zeros(2, 3, 2, dtype=torch.float64), sigma, torch.zeros(3, dtype=torch.long), 1)
    torch.testing.assert_close(fc.p, volatility_probabilities(sigma, RULE))
    assert torch.equal(fc.score, torch.zeros(3, dtype=torch.float64))


def test_location_is_demeaned_per_day_and_scale_is_anchored_on_sigma() -> None:
    sigma = torch.tensor([0.01, 0.02, 0.03, 0.04], dtype=torch.float64)
    out = torch.tensor([[[1.0, 0.0], [3.0, 0.0], [0.5, 0.2], [0.5, -0.2]]], dtype=torch.float64)  # [1 member, 4, 2]
    group = torch.tensor([0, 0, 1, 1])
    head = make_head("dist", RULE, np.ones(3), demean=True)
    loc, scale = head.params(out, sigma, group, 2)
    std = SQRT_H * sigma
    torch.testing.assert_close(loc[0], torch.tensor([-1.0, 1.0, 0.0, 0.0], dtype=torch.float64) * std)
    torch.testing.assert_close(scale[0], t_scale(std) * torch.tensor([0.0, 0.0, 0.2, -0.2], dtype=torch.float64).exp())
    fc = head.forecast(out, sigma, group, 2)
    torch.testing.assert_close(fc.p, class_probabilities(loc[0], scale[0], RULE))
    other = LabelRule(3, 0.05, -0.04)
    torch.testing.assert_close(head.forecast(out, sigma, group, 2, other).p, class_probabilities(loc[0], scale[0], other))
    kept = make_head("dist", RULE, np.ones(3), demean=False).params(out, sigma, group, 2)[0]
    torch.testing.assert_close(kept[0], out[0, :, 0] * std)
    anchor = torch.tensor([0.4, -0.2, 1.0, 0.0], dtype=torch.float64)  # --anchor linear: the ridge's location
    moved = make_head("dist", RULE, np.ones(3), demean=False).params(out, sigma, group, 2, anchor)[0]
    torch.testing.assert_close(moved[0], (out[0, :, 0] + anchor) * std)
    demeaned = head.params(out, sigma, group, 2, anchor)[0]  # the sum is demeaned per day: [1.4, 2.8], [1.5, 0.5]
    torch.testing.assert_close(demeaned[0], torch.tensor([-0.7, 0.7, 0.5, -0.5], dtype=torch.float64) * std)
    with pytest.raises(ValueError, match="answers only for its training thresholds"):
        make_head("softmax", RULE, np.ones(3)).forecast(torch.zeros(1, 4, 3), sigma, group, 2, other)


def _data(store: Path, rule: LabelRule = RULE):
    s = open_store(store)
    prep = prepare(s, rule)
    masks = by_date(s.meta["dates"], rule.horizon).masks(s.codes, s.meta["dates"])
    return prep, masks, to_device(prep, masks, rule.horizon, 20, torch.device("cpu"))


def test_loss_terms_by_hand(store: Path) -> None:
    prep, _, data = _data(store)
    stock, day = torch.tensor([0, 1, 2]), torch.tensor([60, 60, 60])
    y = torch.tensor([0, 1, -1])  # the third row is context only
    batch = targets(data, stock, day, y, torch.zeros(3, dtype=torch.long), 1)
    out = torch.tensor([[[0.3, 0.1], [-0.2, -0.1], [0.5, 0.0]]], dtype=torch.float32)
    head = make_head("dist", RULE, np.ones(3), demean=True, shrink=0.5, return_weight=0.2, score_weight=0.3)
    sigma = data.sigma[stock, day]
    loc, scale = head.params(out, sigma, batch.group, 1)
    p = class_probabilities(loc[0], scale[0], RULE)
    rows = [0, 1]
    want = -(p[0, 0].log() + p[1, 1].log()) / 2
    want += 0.5 * (out[0, rows] ** 2).sum(-1).mean()  # the pull to the baseline: labelled rows only
    r = torch.log1p(data.forward_return[stock, day])[rows]
    z = (r - loc[0, rows]) / scale[0, rows]
    want += 0.2 * (scale[0, rows].log() + 3 * torch.log1p(z * z / 5)).mean()
    want -= 0.3 * (p[0] @ torch.tensor(PAYOFF[0], dtype=torch.float32) + p[1] @ torch.tensor(PAYOFF[1],
                                                                                             dtype=torch.float32)) / 2
    torch.testing.assert_close(head.loss(out, batch), want)


def test_clean_run_by_hand() -> None:
    present = np.array([[1, 1, 0, 1, 1, 1, 1], [0, 1, 1, 1, 0, 0, 1]], dtype=bool)
    breaks = np.array([[0, 0, 0, 0, 1, 0, 0], [0, 0, 0, 1, 0, 1, 0]], dtype=bool)  # a break at d cuts d-1|d
    assert clean_run(present, breaks).tolist() == [[1, 2, 0, 1, 1, 2, 3], [0, 1, 2, 1, 0, 0, 1]]


def test_future_vol_target_by_hand() -> None:
    r2 = np.array([[0.0, 4e-4, 1e-4, 9e-4, 1e-4]])
    sigma = np.array([[0.01, 0.02, 0.015, 0.02, 0.01]])
    got = future_vol(r2, sigma, horizon=2)
    assert got[0, 0] == pytest.approx(0.5 * np.log((4e-4 + 1e-4) / 2) - np.log(0.01))
    assert got[0, 2] == pytest.approx(0.5 * np.log((9e-4 + 1e-4) / 2) - np.log(0.015))
    assert np.isnan(got[0, 3:]).all()


def test_whole_day_batch_holds_every_stock_of_its_days(store: Path) -> None:
    prep, masks, data = _data(store)
    gen = torch.Generator().manual_seed(3)
    batch = sample(data, "train", 30, gen, days=3)
    days = torch.unique(batch.day)
    assert len(days) == 3 == batch.groups and masks["train"][:, days.numpy()].any(0).all()
    space = labelled_context(prep, 3)
    for g, d in enumerate(days.tolist()):
        mine = batch.group == g
        assert torch.equal(batch.day[mine], torch.full((int(mine.sum()),), d))
        assert sorted(batch.stock[mine].tolist()) == np.nonzero(prep.clean_days[:, d] >= 30)[0].tolist()
        for s, label in zip(batch.stock[mine].tolist(), batch.y[mine].tolist()):
            labelled = masks["train"][s, d] and space[s, d] >= 30
            assert label == (prep.labels[s, d] if labelled else -1)
    assert torch.equal(batch.group, torch.sort(batch.group).values)  # a day's rows are contiguous
    torch.testing.assert_close(batch.x, windows(data, batch.stock, batch.day, 30))
    random = sample(data, "train", 30, gen, batch=16)
    assert len(random.y) == 16 == random.groups and (random.y >= 0).all()


def test_a_stocks_per_day_cap_keeps_at_most_that_many_stocks_of_the_drawn_days(store: Path) -> None:
    prep, masks, data = _data(store)
    space = labelled_context(prep, 3)
    seen = set()
    for seed in range(6):
        batch = sample(data, "train", 30, torch.Generator().manual_seed(seed), days=3, stocks=3)
        assert batch.groups == 3 and torch.equal(batch.group, torch.sort(batch.group).values)
        for g in range(3):
            mine = batch.group == g
            d = int(batch.day[mine][0])
            assert 0 < int(mine.sum()) <= 3 and (batch.day[mine] == d).all()
            stocks = batch.stock[mine].tolist()
            assert len(set(stocks)) == len(stocks) and set(stocks) <= set(np.nonzero(prep.clean_days[:, d] >= 30)[0])
            for s_, label in zip(stocks, batch.y[mine].tolist()):
                assert label == (prep.labels[s_, d] if masks["train"][s_, d] and space[s_, d] >= 30 else -1)
            seen |= {(d, tuple(sorted(stocks)))}
        torch.testing.assert_close(batch.x, windows(data, batch.stock, batch.day, 30))
    assert len({stocks for _, stocks in seen}) > 1  # a random subset, not the first stocks
    capped = [sample(data, "train", 30, torch.Generator().manual_seed(5), days=4, stocks=3, share=(r, 2))
              for r in (0, 1)]
    whole = sample(data, "train", 30, torch.Generator().manual_seed(5), days=4, stocks=3)
    pairs = lambda b: set(zip(b.stock.tolist(), b.day.tolist()))  # noqa: E731
    assert pairs(capped[0]) | pairs(capped[1]) == pairs(whole) and not pairs(capped[0]) & pairs(capped[1])


def test_validation_days_are_the_same_every_epoch_and_the_best_is_scored_on_all(store: Path, tmp_path: Path
                                                                                  ) -> None:
    run = start(TrainConfig(**{**TINY, "val_windows": 20}, data=str(store), out=str(tmp_path), name="v", epochs=2))
    try:
        days = validation_days(run)
        pool = run.data.pools["val"].at_least(run.cfg.context)
        held = [int((pool.day == d).sum()) for d in days]
        assert sum(held) >= 20 > sum(held) - max(held)  # no more days than it takes to hold 20 windows
        assert 1 < len(days) and torch.equal(days, validation_days(run))
        fit(run)
    finally:
        run.close()
    assert run.cfg.anchor == "volatility"  # --anchor auto on a small store, saved as decided
    assert json.loads((tmp_path / "v" / "config.json").read_text())["anchor"] == "volatility"
    every = validation_days(run, every=True)
    assert len(every) > 3 and set(days.tolist()) <= set(every.tolist())
    first, second = run.history
    assert first["val_rows"] == second["val_rows"] < run.val_all["val_rows"]
    assert json.loads((tmp_path / "v" / "val-all.json").read_text())["val_rows"] == run.val_all["val_rows"]


@pytest.mark.parametrize("shape", [{"days": 4}, {"batch": 16}])
def test_rank_shares_are_disjoint_and_make_up_the_global_batch(store: Path, shape: dict) -> None:
    _, _, data = _data(store)

    def pairs(b: Batch) -> list[tuple[int, int, int]]:
        return list(zip(b.stock.tolist(), b.day.tolist(), b.y.tolist()))

    whole = pairs(sample(data, "train", 30, torch.Generator().manual_seed(5), **shape))
    shares = [pairs(sample(data, "train", 30, torch.Generator().manual_seed(5), **shape, share=(r, 2))) for r in (0, 1)]
    assert sorted(shares[0] + shares[1]) == sorted(whole) and not set(shares[0]) & set(shares[1])
    assert shares[0] and shares[1]
    if "days" in shape:  # whole days go to one rank: a day's demeaning sees all of its stocks
        assert not {d for _, d, _ in shares[0]} & {d for _, d, _ in shares[1]}


def test_cross_attention_sees_only_its_own_day() -> None:
    torch.manual_seed(0)
    model = EquiNet(ModelConfig(n_features=24, d_model=16, layers=1, heads=2, dropout=0.0, n_out=2, members=1, cross=True, scales=[]))
    torch.nn.init.normal_(model.members[0].head.weight)
    x, group = torch.randn(5, 10, 24), torch.tensor([0, 0, 0, 1, 1])
    with torch.no_grad():
        before = model(x, group, 2)
        x[4] += 1.0  # another stock of day 1
        after = model(x, group, 2)
    torch.testing.assert_close(after[0, :3], before[0, :3])  # day 0 does not see day 1
    assert not torch.allclose(after[0, 3], before[0, 3])  # day 1's other stock does
    alone = EquiNet(ModelConfig(n_features=24, d_model=16, layers=1, heads=2, dropout=0.0, n_out=2, members=1, cross=False, scales=[]))
    with torch.no_grad():
        a, b = alone(x, group, 2), alone(torch.cat([x[:4], x[4:] + 1]), group, 2)
    torch.testing.assert_close(a[0, :4], b[0, :4])  # without --cross no row sees another


def test_multiscale_masks() -> None:
    last = scale_mask([5, 20, 0], heads=3, length=30, last_only=True, device=torch.device("cpu"))[0, :, 0]
    assert last.shape == (3, 30)
    assert last[0].tolist() == [False] * 25 + [True] * 5
    assert last[1].tolist() == [False] * 10 + [True] * 20 and last[2].all()
    full = scale_mask([5, 20, 0], heads=6, length=30, last_only=False, device=torch.device("cpu"))[0]
    assert full[0, 10, 6:15].all() and not full[0, 10, 5] and not full[0, 10, 15]  # |i - j| < 5 both ways
    assert torch.equal(full[0], full[1]) and full[5].all()
    assert scale_mask([], 3, 30, True, torch.device("cpu")) is None


def test_ensemble_checkpoint_averages_its_members(runs) -> None:
    app = apply(runs["dist"] / "best.pt")
    assert len(app.model.members) == 2 and app.model.cfg.cross and app.model.cfg.n_out == 4  # 2 own + 2 aux
    days = torch.tensor([100, 101])
    stock, day, group, groups, out = day_outputs(app.model, app.data, days, app.context, app.precision)
    sigma, anchor = app.data.sigma[stock, day], app.data.anchor[stock, day]
    assert anchor.abs().sum() > 0  # --anchor linear: the linear baseline's location
    each = [app.head.forecast(out[m:m + 1], sigma, group, groups, anchor=anchor).p for m in range(2)]
    assert not torch.allclose(each[0], each[1])
    _, _, fc = app.forecast(days)
    torch.testing.assert_close(fc.p, (each[0] + each[1]) / 2)
    state = torch.load(runs["dist"] / "best.pt", weights_only=True)
    assert state["ema_steps"] > 0 and any(k.startswith("members.1.") for k in state["raw"])


def test_ema_run_resumes_exactly(store: Path, tmp_path: Path) -> None:
    common = ["--data", store, "--out", tmp_path, "--epochs", "4", *TINY_CLI, "--ema-epochs", "1", "--ensemble", "2",
              "--json"]
    assert run_cli("train", *common, "--name", "straight").exit_code == 0
    assert run_cli("train", *common, "--name", "halves", "--stop-after", "2").exit_code == 0
    assert run_cli("train", "--resume", tmp_path / "halves", "--json").exit_code == 0
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "halves" / "last.pt", weights_only=True)
    for key in ("model", "raw"):
        assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), key
    assert a["ema_steps"] == b["ema_steps"]


def test_ema_spans_epochs_whatever_the_steps(store: Path, tmp_path: Path) -> None:
    assert ema_decay(3.5, 29) == pytest.approx(0.99, abs=2e-4)  # the whole market's 29 steps an epoch
    assert ema_decay(3.5, 6) == pytest.approx(1 - 1 / 21)  # the 319-stock store's 6
    assert ema_decay(0.5, 1) == 0.0  # shorter than a step: the average is the weights
    assert TrainConfig().ema_epochs == 3.5
    assert run_cli("train", "--data", store, "--out", tmp_path, "--name", "off", "--epochs", "1", *TINY_CLI,
                   "--ema-epochs", "0", "--json").exit_code == 0
    state = torch.load(tmp_path / "off" / "best.pt", weights_only=True)
    assert "raw" not in state
    state["format"] = 4  # a run from before --ema-epochs (its --ema was a decay per step): refused, not misread
    torch.save(state, tmp_path / "old.pt")
    result = run_cli("predict", "--checkpoint", tmp_path / "old.pt")
    assert result.exit_code == 2 and "checkpoint format 4, this version reads 5" in result.output


def test_other_thresholds_for_the_dist_head_only(runs, store: Path) -> None:
    result = run_cli("eval", "--run", runs["dist"], "--up", "0.05", "--down", "-0.04", "--json", "--bootstrap", "50")
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["label_rule"] == {"horizon": 3, "up": 0.05, "down": -0.04} and "not the training ones" in result.output
    assert r["trained_label_rule"] == {"horizon": 3, "up": 0.03, "down": -0.02} and r["thresholds_note"]
    default = json.loads(run_cli("eval", "--run", runs["dist"], "--json", "--bootstrap", "50").stdout)
    assert default["thresholds_note"] is None and default["rows"] == r["rows"]
    assert r["class_share"]["up"] < default["class_share"]["up"]  # fewer rows rise 5 % than 3 %
    assert r["train_prior"]["up"] < default["train_prior"]["up"]  # the prior is recounted on the training days
    app = apply(runs["dist"] / "best.pt", up=0.05, down=-0.04)
    rows = collect(app, selection_mask(app, "test", None, None))
    close = np.asarray(open_store(store).close)
    r = close[rows.stock, rows.day + 3] / close[rows.stock, rows.day] - 1
    np.testing.assert_array_equal(rows.y, np.where(r >= 0.05 - 1e-9, 0, np.where(r <= -0.04 + 1e-9, 1, 2)))
    sigma = app.data.sigma[torch.as_tensor(rows.stock), torch.as_tensor(rows.day)]
    np.testing.assert_allclose(rows.p["volatility"], volatility_probabilities(sigma, LabelRule(3, 0.05, -0.04)),
                               atol=1e-6)
    out = json.loads(run_cli("predict", "--run", runs["dist"], "--up", "0.05", "--format", "json").stdout)
    assert out["label_rule"]["up"] == 0.05 and out["head"] == "dist"
    refused = run_cli("eval", "--run", runs["softmax"], "--up", "0.05")
    assert refused.exit_code == 2 and "answers only for its training thresholds" in refused.output
    bad = run_cli("eval", "--run", runs["dist"], "--up", "-0.05")
    assert bad.exit_code == 2 and "-1 < --down < --up" in bad.output
    for name, score in (("dist", "median 3-day return"), ("softmax", "up - down")):  # the tables name the score
        table = run_cli("eval", "--run", runs[name], "--bootstrap", "20").output
        assert f"top 1 % by {score}" in table and f"the model's {score}" in table, table


def test_option_errors_and_old_checkpoints(runs, store: Path, tmp_path: Path) -> None:
    result = run_cli("train", "--data", store, "--out", tmp_path, *TINY_CLI, "--epochs", "1", "--cross",
                     "--batch-days", "0")
    assert result.exit_code == 2 and "--cross attends across the stocks of a day" in result.output
    result = run_cli("train", "--data", store, "--out", tmp_path, *TINY_CLI, "--epochs", "1", "--aux", "beta")
    assert result.exit_code == 2 and "--aux takes a comma list of vol, momentum" in result.output
    state = torch.load(runs["softmax"] / "best.pt", weights_only=True)
    state["format"] = 1
    torch.save(state, tmp_path / "old.pt")
    result = run_cli("predict", "--checkpoint", tmp_path / "old.pt")
    assert result.exit_code == 2 and "written by an earlier EquiNet" in result.output
