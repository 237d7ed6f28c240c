"""The heads, training chunks, ensembles, EMA, the attention options and other thresholds, on real runs."""

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
from equinet.features.sampler import Batch, Chunk, chunk, sample, targets, to_device
from equinet.features.splits import by_date
from equinet.models.distribution import class_probabilities, t_scale, volatility_probabilities
from equinet.models.heads import make_head
from equinet.models.transformer import EquiNet, ModelConfig, causal_bias
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
    fc = head.forecast(torch.zeros(2, 3, 3, dtype=torch.float64), sigma, torch.zeros(3, dtype=torch.long), 1)
    torch.testing.assert_close(fc.p, volatility_probabilities(sigma, RULE))
    assert torch.equal(fc.score, torch.zeros(3, dtype=torch.float64))


def test_location_is_demeaned_per_day_and_scale_is_anchored_on_sigma() -> None:
    sigma = torch.tensor([0.01, 0.02, 0.03, 0.04], dtype=torch.float64)
    out = torch.tensor([[[1.0, 0.0, 0.4], [3.0, 0.0, 0.2], [0.5, 0.2, 1.0], [0.5, -0.2, 2.0]]],
                       dtype=torch.float64)  # [1 member, 4 rows, location, log-scale correction, tradable return]
    group = torch.tensor([0, 0, 1, 1])
    head = make_head("dist", RULE, np.ones(3), demean=True)
    loc, scale = head.params(out, sigma, group, 2)
    std = SQRT_H * sigma
    torch.testing.assert_close(loc[0], torch.tensor([-1.0, 1.0, 0.0, 0.0], dtype=torch.float64) * std)
    torch.testing.assert_close(scale[0], t_scale(std) * torch.tensor([0.0, 0.0, 0.2, -0.2], dtype=torch.float64).exp())
    fc = head.forecast(out, sigma, group, 2)
    torch.testing.assert_close(fc.p, class_probabilities(loc[0], scale[0], RULE))
    # the rank score: the tradable return's output less its day's mean, as a log return
    torch.testing.assert_close(fc.score, torch.tensor([0.1, -0.1, -0.5, 0.5], dtype=torch.float64) * std)
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
        make_head("softmax", RULE, np.ones(3)).forecast(torch.zeros(1, 4, 4), sigma, group, 2, other)


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
    out = torch.tensor([[[0.3, 0.1, 0.4], [-0.2, -0.1, -0.6], [0.5, 0.0, 2.0]]], dtype=torch.float32)
    head = make_head("dist", RULE, np.ones(3), demean=True, shrink=0.5, return_weight=0.2, score_weight=0.3)
    sigma = data.sigma[stock, day]
    loc, scale = head.params(out, sigma, batch.group, 1)
    p = class_probabilities(loc[0], scale[0], RULE)
    rows = [0, 1]
    want = -(p[0, 0].log() + p[1, 1].log()) / 2
    want += 0.5 * (out[0, rows, :2] ** 2).sum(-1).mean()  # the pull to the baseline: labelled rows only
    r = torch.log1p(data.forward_return[stock, day])[rows]
    z = (r - loc[0, rows]) / scale[0, rows]
    want += 0.2 * (scale[0, rows].log() + 3 * torch.log1p(z * z / 5)).mean()
    want -= 0.3 * (p[0] @ torch.tensor(PAYOFF[0], dtype=torch.float32) + p[1] @ torch.tensor(PAYOFF[1],
                                                                                             dtype=torch.float32)) / 2
    # the tradable return (next open to the horizon's close) in horizon sigmas, both sides less their day's mean
    # (the target's over the labelled rows, the output's over every row of the day), in a Student-t's NLL
    z = torch.log1p(data.tradable[stock, day]) / (SQRT_H * sigma)
    assert torch.isfinite(z).all()
    z = z - z[rows].mean()
    pred = out[0, :, 2] - out[0, :, 2].mean()
    e = (pred - z)[rows]
    torch.testing.assert_close(head.loss(out, batch), want + 3 * (3 * torch.log1p(e * e / 5)).mean())  # weight 3


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


def test_a_chunk_holds_random_stocks_over_a_span_and_no_loss_reaches_beyond_training(store: Path) -> None:
    prep, masks, data = _data(store)
    train_days = np.nonzero(masks["train"].any(0))[0]
    seen = set()
    for seed in range(12):
        batch = sample(data, "train", 30, 25, torch.Generator().manual_seed(seed), stocks=3, chunks=2)
        B, T, _ = batch.x.shape
        assert batch.first == 25 and T - 25 <= 30 and batch.groups == 2 * (T - 25) and B <= 6
        assert torch.equal(batch.group, batch.group.sort().values)  # a day's cells are contiguous
        for k in range(2):  # each chunk: one span of consecutive days, at most 3 stocks
            mine = (batch.group >= k * (T - 25)) & (batch.group < (k + 1) * (T - 25))
            a = int(batch.day[mine].min())
            assert torch.equal(batch.group[mine] - k * (T - 25), batch.day[mine] - a)
            stocks = batch.stock[mine].unique()
            assert 0 < len(stocks) <= 3
            seen.add(tuple(stocks.tolist()))
        # every read-out cell has the minimum clean history; labels exactly where the training split has the point
        assert (data.clean_days[batch.stock, batch.day] >= 20).all()
        for s_, d, label in zip(batch.stock.tolist(), batch.day.tolist(), batch.y.tolist()):
            assert label == (prep.labels[s_, d] if masks["train"][s_, d] and data.masks["train"][s_, d] else -1)
        assert set(batch.day[batch.y >= 0].tolist()) <= set(train_days.tolist())  # no loss on a later split's day
        assert int(batch.day.max()) <= train_days.max()  # nor is a validation day read out
        flat = batch.x[:, batch.first:].reshape(B * (T - batch.first), -1)[batch.cells]
        torch.testing.assert_close(flat, data.inputs[batch.stock, batch.day])  # the cells are the right days
        early = chunk(data, batch.stock[:1], -5, 10, 5, torch.tensor([0]))  # days before the store: padding
        assert (early.x[0, :5] == 0).all() and (early.run[0, :5] == 0).all()
        torch.testing.assert_close(early.x[0, 5:], data.inputs[batch.stock[0], :10])
    assert len(seen) > 1  # a random subset, not the first stocks


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


def test_rank_shares_are_disjoint_whole_days_and_make_up_the_global_chunk(store: Path) -> None:
    _, _, data = _data(store)

    def cells(b: Batch) -> list[tuple[int, int, int]]:
        return list(zip(b.stock.tolist(), b.day.tolist(), b.y.tolist()))

    whole = cells(sample(data, "train", 30, 25, torch.Generator().manual_seed(5), stocks=4))
    shares = [cells(sample(data, "train", 30, 25, torch.Generator().manual_seed(5), stocks=4, share=(r, 2)))
              for r in (0, 1)]
    assert sorted(shares[0] + shares[1]) == sorted(whole) and shares[0] and shares[1]
    assert not {d for _, d, _ in shares[0]} & {d for _, d, _ in shares[1]}  # a day's demeaning sees its stocks


def history(stocks: int, days: int, features: int) -> Chunk:
    """Random clean histories, every day read out, day by day."""
    cells = (torch.arange(stocks)[None, :] * days + torch.arange(days)[:, None]).reshape(-1)  # by day, then stock
    return Chunk(torch.randn(stocks, days, features), torch.arange(1, days + 1).repeat(stocks, 1), cells, 0)


def test_cross_attention_sees_only_its_own_day_and_nothing_later() -> None:
    torch.manual_seed(0)
    shape = dict(n_features=24, d_model=16, layers=1, heads=2, dropout=0.0, n_out=2, members=1, scales=[], context=10)
    group = torch.arange(10).repeat_interleave(5)  # the cells' days
    for cross in (True, False):
        model = EquiNet(ModelConfig(**shape, cross=cross))
        torch.nn.init.normal_(model.members[0].head.weight)
        c = history(5, 10, 24)
        with torch.no_grad():
            before = model(c, group, 10)[0].view(10, 5, 2)  # [day, stock, out]
            c.x[4, 6] += 1.0  # stock 4 on day 6
            after = model(c, group, 10)[0].view(10, 5, 2)
        torch.testing.assert_close(after[:6], before[:6])  # no earlier day sees it
        assert not torch.allclose(after[6:, 4], before[6:, 4])  # its own later days do
        moved = not torch.allclose(after[6:, :4], before[6:, :4])
        assert moved == cross  # the other stocks of its day and later only through --cross


def test_causal_mask_by_hand() -> None:
    run = torch.tensor([[1, 2, 3, 0, 1, 2]])  # a gap on day 3 cuts the history
    bias = causal_bias(run, torch.tensor([1, 4]), heads=2)[0]  # head 0 reaches 1 day back, head 1 four
    allowed = torch.isfinite(bias)
    assert allowed[0].int().tolist() == [[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0],
                                         [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 1]]
    assert allowed[1].int().tolist() == [[1, 0, 0, 0, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0],
                                         [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 1, 1]]
    assert bias[0, 2, 1] == -2.0 ** -4 and bias[1, 2, 0] == -2 * 2.0 ** -8  # ALiBi: slope 2^(-8 h / H) x days back
    cfg = ModelConfig(n_features=4, d_model=8, layers=2, heads=6, dropout=0.0, n_out=2, members=1, cross=False,
                      scales=[5, 20, 0], context=60)
    assert (cfg.reach, cfg.warmup) == (29, 58)
    assert EquiNet(cfg).members[0].reach.tolist() == [4, 4, 19, 19, 29, 29]  # --multiscale: 5 / 20 / all days


def test_ensemble_checkpoint_averages_its_members(runs) -> None:
    app = apply(runs["dist"] / "best.pt")
    assert len(app.model.members) == 2 and app.model.cfg.cross and app.model.cfg.n_out == 5  # 2 own, the tradable return, 2 aux
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
    state["format"] = 5  # a window encoder's run (its inputs were normalised per window): refused, not misread
    torch.save(state, tmp_path / "old.pt")
    result = run_cli("predict", "--checkpoint", tmp_path / "old.pt")
    assert result.exit_code == 2 and "checkpoint format 5, this version reads 8" in result.output


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
    rows = collect(app, selection_mask(app, "test", None, None)).labelled()
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
    for name in ("dist", "softmax"):  # the tables name the score: every head's is the tradable return
        table = run_cli("eval", "--run", runs[name], "--bootstrap", "20").output
        assert "top 1 % by tradable 3-day return" in table and "the model's tradable 3-day return" in table, table


def test_option_errors_and_old_checkpoints(runs, store: Path, tmp_path: Path) -> None:
    result = run_cli("train", "--data", store, "--out", tmp_path, *TINY_CLI, "--epochs", "1", "--aux", "beta")
    assert result.exit_code == 2 and "--aux takes a comma list of vol, momentum" in result.output
    state = torch.load(runs["softmax"] / "best.pt", weights_only=True)
    state["format"] = 1
    torch.save(state, tmp_path / "old.pt")
    result = run_cli("predict", "--checkpoint", tmp_path / "old.pt")
    assert result.exit_code == 2 and "written by an earlier EquiNet" in result.output
