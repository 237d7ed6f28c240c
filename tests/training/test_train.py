"""Training: device inputs equal hand-computed ones, causal forecasts, honest splits, determinism, resume, no disk after load."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import TINY, TINY_CLI, run_cli, write_sim
from equinet import ingest, open_store
from equinet.core.board import limit_rates
from equinet.core.labels import DOWN, FLAT, UP, LabelRule
from equinet.data.limits import quoted_limits, UP_CLOSE, DOWN_CLOSE
from equinet.data.synth import simulate
from equinet.features.inputs import FEATURES, cross_rank, prepare
from equinet.features.sampler import Chunk, chunk, labelled_context, to_device
from equinet.models.transformer import EquiNet, ModelConfig
from equinet.training.forward import outputs, universe
from equinet.features.splits import by_date
from equinet.training.train import TrainConfig, TrainingDiverged, fit, start

def tiny(store: Path, out: Path, **kw) -> TrainConfig:
    return TrainConfig(**{**TINY, "data": str(store), "out": str(out), "epochs": 2, **kw})


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """One synthetic market (8 stocks, 140 days, a suspension, an ex-rights day), adjusted and raw."""
    root = tmp_path_factory.mktemp("train")
    write_sim(simulate(stocks=8, days=140, seed=11), root / "raw")
    ingest(root / "raw", root / "adjusted")
    ingest(root / "raw", root / "unadjusted", adjust=False)
    return {"adjusted": root / "adjusted", "unadjusted": root / "unadjusted", "root": root}


def hand_ewma(values: list[float], half_life: float) -> float:
    """Exponentially weighted mean, the last value weighted 1, each earlier one half_life times less per step."""
    weights = [0.5 ** ((len(values) - 1 - i) / half_life) for i in range(len(values))]
    return sum(w * v for w, v in zip(weights, values)) / sum(weights)


def hand_sigma(close: np.ndarray, s: int, d: int) -> float:
    """The volatility baseline's sigma from the stock's own bars up to d: a suspension's return counts once."""
    bars = [c for c in close[s, :d + 1] if not np.isnan(c)]
    return float(np.sqrt(hand_ewma([np.log(b / a) ** 2 for a, b in zip(bars, bars[1:])], 10)))


def limit_of(code: str, day: str) -> float:
    """The daily limit of a stock without a special-treatment name, as the exchange set it on that day."""
    if code.startswith(("688", "689")) or (code.startswith(("300", "301")) and day >= "2020-08-24"):
        return 0.2
    return 0.3 if code.startswith(("8", "4", "92")) else 0.1


def hand_features(store, s: int, d: int) -> np.ndarray:
    """Features 11-36 of (s, d) from the store's numbers, one stock and day at a time: log sigma, the EWMA sigmas
    of half-life 3 and 60 and Parkinson's as log ratios to it, the volume surprise, the limit flags, the six
    ranks of the day among the stocks with a bar, turnover and size (none here), the room to the day's limits,
    the day's breadth and the log returns over the last 5, 20 and 60 days in sqrt(days) sigmas."""
    close, panel = np.asarray(store.close), np.asarray(store.panel, dtype=np.float64)
    own = [i for i in range(d + 1) if not np.isnan(close[s, i])]
    bars = close[s, own]
    r2 = [np.log(b / a) ** 2 for a, b in zip(bars, bars[1:])]
    sigma = hand_sigma(close, s, d)
    ranges = [np.log(panel[s, i, 1] / panel[s, i, 2]) ** 2 / (4 * np.log(2)) for i in own]
    volumes = [np.log1p(panel[s, i, 4]) for i in own]
    code = store.codes[s]
    limit = limit_of(code, store.meta["dates"][d])
    prev = bars[-2] if len(bars) > 1 else np.nan
    change = close[s, d] / prev - 1

    def at_limit(k: int) -> tuple[bool, bool]:  # the quoted close against the limit prices rounded to the fen
        a = [i for i in range(d) if not np.isnan(close[k, i])]
        if not a:
            return False, False
        rate = limit_of(store.codes[k], store.meta["dates"][d])
        reference = Decimal(f"{quoted(k, a[-1]) * factor(k, d):.2f}")  # quoted prices lie on the fen
        fen = lambda x: float(x.quantize(Decimal("0.01"), ROUND_HALF_UP))  # noqa: E731  (in decimal, as the exchange)
        today, r = round(quoted(k, d), 2), Decimal(str(rate))
        return today >= fen(reference * (1 + r)), today <= fen(reference * (1 - r))

    def factor(k: int, i: int) -> float:  # the store's corporate action on stock k, day i (1 on other days)
        return next((e["factor"] for e in store.meta["events"] if e["code"] == store.codes[k]
                     and e["date"] == store.meta["dates"][i]), 1.0)

    def quoted(k: int, i: int) -> float:  # the exported price: the adjusted close over the later actions' factors
        return close[k, i] / np.prod([factor(k, j) for j in range(i + 1, close.shape[1])])

    features = [np.log(sigma), np.log(np.sqrt(hand_ewma(r2, 3)) / sigma), np.log(np.sqrt(hand_ewma(r2, 60)) / sigma),
                np.log(np.sqrt(hand_ewma(ranges, 10)) / sigma), volumes[-1] - hand_ewma(volumes, 20),
                *map(float, at_limit(s))]

    def day_return(k: int, i: int) -> float:  # the log return since the stock's last bar; 0 without a bar that day
        a = [j for j in range(i) if not np.isnan(close[k, j])]
        return float(np.log(close[k, i] / close[k, a[-1]])) if a and np.isfinite(close[k, i]) else 0.0

    def measures(k: int) -> list[float]:  # what the six ranks rank, for stock k on day d
        kept = [i for i in range(d + 1) if not np.isnan(close[k, i])]
        vols = [np.log1p(panel[k, i, 4]) for i in kept]
        park = np.sqrt(hand_ewma([np.log(panel[k, i, 1] / panel[k, i, 2]) ** 2 / (4 * np.log(2)) for i in kept], 10))
        return [sum(day_return(k, i) for i in range(max(0, d - 4), d + 1)),
                sum(day_return(k, i) for i in range(max(0, d - 19), d + 1)), hand_sigma(close, k, d),
                vols[-1] - hand_ewma(vols, 20), np.log(close[k, d]) + vols[-1], park]

    trading = [k for k in range(close.shape[0]) if not np.isnan(close[k, d])]
    table = {k: measures(k) for k in trading}
    for j in range(6):  # rank = stocks below, ties broken by stock order; scaled to -0.5 .. 0.5
        mine = table[s][j]
        below = sum(1 for k in trading if table[k][j] < mine or (table[k][j] == mine and k < s))
        features.append(below / max(len(trading) - 1, 1) - 0.5)
    features += [0.0] * 5  # turnover, its trend, size and their ranks: this store has no float values
    room = lambda x: float(np.clip(x, 0, 0.5)) if np.isfinite(x) else 0.0  # noqa: E731
    features += [room(limit - change), room(change + limit)]

    flags = [at_limit(k) for k in trading]
    features += [np.mean([day_return(k, d) > 0 for k in trading]), np.mean([u for u, _ in flags]),
                 np.mean([dn for _, dn in flags])]
    trailing = [sum(day_return(s, i) for i in range(max(0, d - n + 1), d + 1)) / np.sqrt(n) for n in (5, 20, 60)]
    return np.array(features + [float(np.clip(r / sigma, -20, 20)) for r in trailing])


def by_hand(store, s: int, t: int, length: int) -> np.ndarray:
    """The inputs of the `length` days ending on t, each day's own, computed day by day from the numpy arrays as
    documented: prices as log ratios to the previous bar's close, the return and the range in that day's sigma,
    volume and the market's volume and range relative to their EWMAs; the features after log_range by hand."""
    close, panel = np.asarray(store.close), np.asarray(store.panel, dtype=np.float64)
    market = np.asarray(store.market, dtype=np.float64)
    rows = []
    for d in range(t - length + 1, t + 1):
        own = [i for i in range(d + 1) if not np.isnan(close[s, i])]
        sigma = hand_sigma(close, s, d) if len(own) > 1 else 1e-4
        prev = close[s, own[-2]] if len(own) > 1 else close[s, d]
        in_sigmas = lambda x: float(np.clip(x / sigma, -20, 20))  # noqa: E731
        prices = [in_sigmas(np.log(panel[s, d, k] / prev)) for k in range(4)]
        vols = [np.log1p(panel[s, i, 4]) for i in own]
        ret = np.log(close[s, d] / close[s, own[-2]]) if len(own) > 1 and own[-1] == d else 0.0
        known = [i for i in range(d + 1) if np.isfinite(market[i]).all()]
        if known and known[-1] == d:
            mkt = [market[d, 1], *(np.log1p(market[d, k]) - hand_ewma([np.log1p(market[i, k]) for i in known], 20)
                                   for k in (0, 2)), 1.0]
        else:
            mkt = [0.0, 0.0, 0.0, 0.0]
        rows.append([*prices, vols[-1] - hand_ewma(vols, 60), in_sigmas(ret), *mkt,
                     in_sigmas(np.log(panel[s, d, 1] / panel[s, d, 2])), *hand_features(store, s, d)])
    return np.nan_to_num(np.array(rows))


def test_device_inputs_equal_the_days_computed_by_hand(stores) -> None:
    store = open_store(stores["adjusted"])
    rule = LabelRule()
    prep = prepare(store, rule)
    splits = by_date(store.meta["dates"], rule.horizon)
    data = to_device(prep, splits.masks(store.codes, store.meta["dates"]), rule.horizon, 20, torch.device("cpu"))
    event = store.meta["events"][0]
    e, s_event = store.meta["dates"].index(event["date"]), store.codes.index(event["code"])
    suspended = np.argwhere(np.isnan(store.close))
    s_susp, d_susp = suspended[0]
    d_back = suspended[suspended[:, 0] == s_susp][:, 1].max() + 1  # first day after the suspension
    picks = [(s_event, e + 2, 25), (s_event, e - 1, 40), (0, 60, 20), (s_susp, d_back + 20, 21),
             (s_susp, d_susp - 5, 30)]
    for s, t, length in picks:
        got = chunk(data, torch.tensor([s]), t - length + 1, t + 1, 0, torch.tensor([0])).x[0].numpy()
        np.testing.assert_allclose(got, by_hand(store, s, t, length), rtol=1e-5, atol=2e-4)
        r = store.close[s, t + 3] / store.close[s, t] - 1
        want = UP if r >= 0.03 - 1e-9 else DOWN if r <= -0.02 + 1e-9 else FLAT
        assert int(data.labels[s, t]) == want
    # across the ex-rights day the inputs see the adjusted, continuous series
    across = prep.inputs[s_event, e - 5:e + 5, FEATURES.index("return")] * prep.sigma[s_event, e - 5:e + 5]
    assert np.abs(across).max() < 0.12

    # validity: every pooled point's history and horizon are clean, and one more day would not be
    space = labelled_context(prep, rule.horizon)
    for name, pool in data.pools.items():
        for s, t, r in zip(pool.stock.tolist(), pool.day.tolist(), pool.longest.tolist()):
            assert not np.isnan(store.close[s, t - r + 1:t + rule.horizon + 1]).any()
            assert t - r < 0 or np.isnan(store.close[s, t - r])
            assert space[s, t] == r
    pool = data.pools["train"]
    assert not ((pool.stock == s_susp) & (pool.day - pool.longest < d_susp) & (pool.day + 3 >= d_susp)).any()
    assert int(space[s_susp, d_back + 20]) == 21  # the first day back has no previous bar: return 0, room 21


def test_inputs_and_forecasts_use_nothing_after_their_day(stores, tmp_path: Path) -> None:
    """Every day's inputs (cross-sectional ranks, sigmas and limit flags included) and every forecast are the same
    whether or not the store holds later days, and a forecast does not change with where its chunk starts. The cut
    falls before the store's corporate action (day 93, a 30 % bonus gap), which back-adjusts every earlier price of
    the full store."""
    sim = simulate(stocks=8, days=140, seed=11)
    cut = {k: v if k == "codes" else v[..., :90] for k, v in sim.items()}  # every array's last axis is days
    write_sim(cut, tmp_path / "raw")
    ingest(tmp_path / "raw", tmp_path / "cut")
    rule = LabelRule()
    stored = open_store(stores["adjusted"])
    assert [stored.meta["dates"].index(e["date"]) for e in stored.meta["events"]] == [93]
    full, short = (prepare(s, rule) for s in (stored, open_store(tmp_path / "cut")))
    # float32 prices at another scale (x 0.7 before the action) round apart by ~1e-7, a day's sigma magnifies it
    np.testing.assert_allclose(full.inputs[:, :90], short.inputs, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(full.clean_days[:, :90], short.clean_days)
    np.testing.assert_allclose(full.sigma[:, :90], short.sigma, rtol=1e-6)
    data = {k: to_device(p, {}, 3, 20, torch.device("cpu")) for k, p in (("full", full), ("short", short))}
    torch.manual_seed(0)
    model = EquiNet(ModelConfig(len(FEATURES), 16, 2, 2, 0.0, 2, 1, cross=False, scales=[], context=30)).eval()
    torch.nn.init.normal_(model.members[0].head.weight)
    stock, day = universe(data["short"], torch.arange(50, 90), 20)
    forecasts = [outputs(model, data[k], stock, day, "fp32")[2] for k in ("full", "short")]
    torch.testing.assert_close(forecasts[0], forecasts[1], rtol=1e-4, atol=1e-5)
    assert model.cfg.warmup == 28  # 2 layers reaching 14 days back each
    mine = (stock == 3) & (day == 85)
    for begin in (0, 40, 85 - 28):  # a chunk from the store's first day, or from just the warm-up before day 85
        c = chunk(data["full"], torch.tensor([3]), begin, 86, 85 - begin, torch.tensor([0]))
        with torch.no_grad():
            torch.testing.assert_close(model(c, torch.tensor([0]), 1)[:, 0], forecasts[0][:, mine][:, 0],
                                       rtol=1e-4, atol=1e-5)
    short_warmup = chunk(data["full"], torch.tensor([3]), 85 - 20, 86, 20, torch.tensor([0]))
    with torch.no_grad():  # the test bites: with less than the warm-up the forecast moves
        assert not torch.allclose(model(short_warmup, torch.tensor([0]), 1)[:, 0], forecasts[0][:, mine][:, 0])


def test_new_features_by_hand() -> None:
    x = np.array([[3.0, np.nan], [1.0, 5.0], [2.0, 4.0]])
    np.testing.assert_allclose(cross_rank(x), [[0.5, 0.0], [-0.5, 0.5], [0.0, -0.5]])
    close = np.array([[10.0, 11.0, 9.9, 9.9], [10.0, 11.0, 13.2, np.nan]])
    flags = quoted_limits(np.repeat(close[:, :, None], 5, axis=2), np.ones(close.shape),
                          *limit_rates(["600000", "300001"], ["2021-01-04", "2021-01-05", "2021-01-06", "2021-01-07"],
                                       np.zeros((2, 4), bool), np.full((2, 4), 100)), np.zeros(2, bool))
    np.testing.assert_array_equal(flags & UP_CLOSE > 0, [[False, True, False, False], [False, False, True, False]])
    np.testing.assert_array_equal(flags & DOWN_CLOSE > 0, [[False, False, True, False], [False, False, False, False]])
    assert len(FEATURES) == 37 and FEATURES[11] == "log_sigma"


def test_unadjusted_events_cut_windows(stores) -> None:
    store = open_store(stores["unadjusted"])
    prep = prepare(store, LabelRule())
    event = store.meta["events"][0]
    assert event["adjusted"] is False
    s, e = store.codes.index(event["code"]), store.meta["dates"].index(event["date"])
    space = labelled_context(prep, 3)
    starts = np.arange(space.shape[1]) - space[s] + 1
    spans = (space[s] > 0) & (starts < e) & (np.arange(space.shape[1]) + 3 >= e)
    assert not spans.any()  # no window or horizon reaches across the raw gap


def test_splits_respect_boundaries_and_embargo(stores) -> None:
    store = open_store(stores["adjusted"])
    dates = store.meta["dates"]
    splits = by_date(dates, 3)
    v, te = dates.index(splits.val_from), dates.index(splits.test_from)
    data = to_device(prepare(store, LabelRule()), splits.masks(store.codes, dates), 3, 20, torch.device("cpu"))
    train, val, test = (data.pools[k].day for k in ("train", "val", "test"))
    assert int(train.max()) + 3 < v  # no training label sees a validation day
    assert int(val.min()) >= v and int(val.max()) + 3 < te  # nor a validation label a test day
    assert int(test.min()) >= te
    assert int(train.max()) == v - 4  # and nothing more is dropped than the embargo


def test_same_seed_same_metrics(stores, tmp_path: Path) -> None:
    rows = []
    for name in ("a", "b"):
        run = fit(start(tiny(stores["adjusted"], tmp_path, name=name)))
        rows.append([{k: v for k, v in r.items() if k != "seconds"} for r in run.history])
    assert rows[0] == rows[1]
    other = fit(start(tiny(stores["adjusted"], tmp_path, name="c", seed=1)))
    assert other.history[-1]["val_log_loss"] != rows[0][-1]["val_log_loss"]


def test_resume_equals_straight_run(stores, tmp_path: Path) -> None:
    common = ["--data", stores["adjusted"], "--out", tmp_path, "--epochs", "4", *TINY_CLI, "--json"]
    assert run_cli("train", *common, "--name", "straight").exit_code == 0
    first = run_cli("train", *common, "--name", "halves", "--stop-after", "2")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["epochs"] == 2
    second = run_cli("train", "--resume", tmp_path / "halves", "--json")
    assert second.exit_code == 0, second.output
    load = lambda n: [json.loads(x) for x in (tmp_path / n / "metrics.jsonl").read_text().splitlines()]  # noqa
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa
    assert len(load("halves")) == 4
    assert drop(load("halves")) == drop(load("straight"))
    a = torch.load(tmp_path / "straight" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "halves" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_trains_after_the_store_is_deleted(stores, tmp_path: Path) -> None:
    copy = tmp_path / "store"
    shutil.copytree(stores["adjusted"], copy)
    run = start(tiny(copy, tmp_path, name="nodisk", epochs=1))
    shutil.rmtree(copy)
    fit(run)
    assert run.epoch == 1 and (tmp_path / "nodisk" / "best.pt").is_file()
    assert np.isfinite(run.history[0]["val_log_loss"])


def test_nan_loss_stops_and_keeps_last_checkpoint(stores, tmp_path: Path) -> None:
    run = fit(start(tiny(stores["adjusted"], tmp_path, name="nan", epochs=3, samples_per_epoch=4096)), stop_after=1)
    kept = (tmp_path / "nan" / "last.pt").read_bytes()
    run.sched.base_lrs = [1e30]  # a learning rate no network survives
    with pytest.raises(TrainingDiverged, match=r"loss is nan at epoch 2, step \d+: .*last\.pt \(epoch 1\)"):
        fit(run)
    assert (tmp_path / "nan" / "last.pt").read_bytes() == kept

    result = run_cli("train", "--data", stores["adjusted"], "--out", tmp_path, "--name", "boom", "--epochs", "1",
                     *TINY_CLI, "--lr", "1e30", "--samples-per-epoch", "4096")
    assert result.exit_code == 1
    assert "loss is nan at epoch 1" in result.output


def test_run_directory_and_checkpoint_contents(stores, tmp_path: Path) -> None:
    result = run_cli("train", "--data", stores["adjusted"], "--out", tmp_path, "--name", "r", "--epochs", "2",
                     *TINY_CLI)
    assert result.exit_code == 0, result.output
    assert "parameters" in result.output and "estimated" in result.output and "skill vs volatility" in result.output
    run = tmp_path / "r"
    assert json.loads((run / "config.json").read_text())["d_model"] == 16
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    for key in ("val_loss", "val_accuracy", "val_log_loss_skill", "val_score_per_1000", "val_recall_up",
                "val_log_loss_volatility", "val_skill_vs_volatility", "val_auc_up", "val_auc_down", "val_rank_ic"):
        assert key in rows[0]
    ckpt = torch.load(run / "best.pt", weights_only=False)
    for key in ("model", "optimizer", "scheduler", "rng", "epoch", "config", "label_rule", "splits",
                "store_fingerprint", "prior"):
        assert key in ckpt
    assert ckpt["label_rule"] == {"horizon": 3, "up": 0.03, "down": -0.02}
    assert float(ckpt["model"]["feature_std"].min()) > 0
    assert ckpt["epoch"] == min(rows, key=lambda r: r["val_log_loss"])["epoch"]


def test_split_by_stock_warns(stores, tmp_path: Path) -> None:
    result = run_cli("train", "--data", stores["adjusted"], "--out", tmp_path, "--name", "s", "--epochs", "1",
                     *TINY_CLI, "--split-by", "stock", "--test-ratio", "0.2")
    assert result.exit_code == 0, result.output
    assert "shares the market period" in result.output or "share the market period" in result.output
    splits = torch.load(tmp_path / "s" / "last.pt", weights_only=False)["splits"]
    assert len(splits["test_stocks"]) == 2 and not set(splits["test_stocks"]) & set(splits["val_stocks"])


def test_bad_options_are_one_line_errors(stores, tmp_path: Path) -> None:
    result = run_cli("train", "--data", tmp_path / "none", "--epochs", "1", "--d-model", "16", "--heads", "2")
    assert result.exit_code == 2 and "no EquiNet store" in result.output
    result = run_cli("train", "--data", stores["adjusted"], "--epochs", "1", "--d-model", "16", "--heads", "3")
    assert result.exit_code == 2 and "--heads 3 must divide --d-model 16" in result.output
    result = run_cli("train", "--data", stores["adjusted"], "--epochs", "1", "--d-model", "16", "--heads", "2",
                     "--min-context", "50", "--context", "30")
    assert result.exit_code == 2 and "--min-context <= --context" in result.output
    result = run_cli("train", "--data", stores["adjusted"], "--out", tmp_path, "--epochs", "1", "--d-model", "16",
                     "--heads", "2", "--max-context", "40", "--context", "130")
    assert result.exit_code == 2 and "no validation window of 130 days" in result.output, result.output


def test_defaults_without_asking_when_not_a_terminal(stores, tmp_path: Path) -> None:
    result = run_cli("train", "--data", stores["adjusted"], "--out", tmp_path, "--name", "quiet", "--layers", "1",
                     "--samples-per-epoch", "64", "--context", "30", "--max-context", "40", "--stop-after", "1")
    assert result.exit_code == 0, result.output
    config = json.loads((tmp_path / "quiet" / "config.json").read_text())
    assert (config["d_model"], config["epochs"]) == (64, 20)
    assert "d_model [64]" not in result.output


def test_asks_on_a_terminal(stores, tmp_path: Path) -> None:
    import os
    import pty
    import subprocess
    import sys
    import time

    master, slave = pty.openpty()
    cmd = [sys.executable, "-m", "equinet", "train", "--data", str(stores["adjusted"]), "--out", str(tmp_path),
           "--name", "asked", "--layers", "1", "--heads", "2", "--samples-per-epoch", "64", "--context", "30",
           "--max-context", "40"]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    seen, answers = b"", [b"16\n", b"1\n"]
    deadline = time.time() + 120
    while proc.poll() is None and time.time() < deadline:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        seen += chunk
        if answers and seen.count(b"]: ") > 2 - len(answers):
            os.write(master, answers.pop(0))
    proc.wait(timeout=60)
    os.close(master)
    text = seen.decode(errors="replace")
    assert "Parameters grow with its square" in text and "Time grows linearly" in text
    config = json.loads((tmp_path / "asked" / "config.json").read_text())
    assert (config["d_model"], config["epochs"]) == (16, 1)


def test_recomputed_activations_change_nothing_but_memory(monkeypatch) -> None:
    from equinet.models import transformer as M
    from equinet.training.device import attention_kernels, autocast

    cpu = torch.device("cpu")
    torch.manual_seed(0)
    net = M.EquiNet(M.ModelConfig(n_features=len(FEATURES), d_model=16, layers=2, heads=2, dropout=0.2, n_out=3,
                                  members=1, cross=False, scales=[], context=30))
    net.train()
    x = Chunk(torch.randn(300, 25, len(FEATURES)), torch.arange(1, 26).repeat(300, 1), torch.arange(300 * 15), 10)
    group = torch.arange(300 * 15) % 15
    seen = []
    for cells in (10**12, 100 * 25 * 16):  # keep every activation; then recompute them (300 x 25 x 16 is over)
        monkeypatch.setattr(M, "RECOMPUTE_CELLS", cells)
        torch.manual_seed(1)
        net.zero_grad()
        with autocast(cpu, "bf16"), attention_kernels(cpu):  # as a training step runs on a CPU
            out = net(x, group, 15)
        with attention_kernels(cpu):
            out.float().pow(2).sum().backward()
        seen.append((out.detach(), [p.grad.clone() for p in net.parameters()], torch.get_rng_state()))
    (out0, grads0, rng0), (out1, grads1, rng1) = seen
    assert torch.equal(out0, out1) and torch.equal(rng0, rng1)  # same dropout masks, same stream afterwards
    for a, b in zip(grads0, grads1):
        torch.testing.assert_close(a, b)
