"""`equinet eval` and `equinet predict` through the CLI, on a run trained here on generated files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch

from conftest import TINY, run_cli
from equinet import ingest, open_store
from equinet.data.synth import frame, simulate, write
from equinet.training.train import TrainConfig, fit, start
from equinet.inference.apply import apply
from equinet.evaluation.backtest import Rules, backtest, tape
from equinet.evaluation.evaluate import collect, selection_mask

KEYS = ("accuracy", "macro_f1", "mcc", "log_loss", "log_loss_skill", "log_loss_skill_vs_volatility", "brier", "auc_up",
        "auc_down", "score_per_1000", "score_per_1000_expected", "up_recall", "down_to_up_rate", "extreme_up_capture",
        "confusion", "rank_ic", "rank_icir", "ic_positive_days", "topk_excess", "top_decile_excess", "ci",
        "rank_ic_tradable", "top_decile_excess_tradable")
CI_KEYS = {"accuracy", "log_loss_skill", "log_loss_skill_vs_volatility", "topk_excess", "top_decile_excess", "rank_ic",
           "rank_ic_tradable", "top_decile_excess_tradable"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """A tiny run on 8 stocks x 160 days; stock 000001 has no bar on the last day."""
    root = tmp_path_factory.mktemp("eval")
    sim = simulate(stocks=8, days=160, seed=21)
    (root / "raw").mkdir()
    for s, code in enumerate(sim["codes"]):
        df = frame(sim, s)
        write(df.head(-1) if code == "000001" else df, root / "raw" / f"processed_{code}.xlsx")
    ingest(root / "raw", root / "store")
    later = simulate(stocks=5, days=120, seed=22, start="2021-06-01")
    (root / "later_raw").mkdir()
    for s, code in enumerate(later["codes"]):
        write(frame(later, s), root / "later_raw" / f"processed_{code}.xlsx")
    ingest(root / "later_raw", root / "later")
    cfg = TrainConfig(**TINY, data=str(root / "store"), out=str(root / "out"), name="run", epochs=2)
    fit(start(cfg))
    return {"root": root, "run": root / "out" / "run", "store": root / "store", "later": root / "later",
            "out": root / "out"}


def ckpt_test_from(run: Path) -> str:
    return torch.load(run / "best.pt", weights_only=False)["splits"]["test_from"]


def ckpt_context(run: Path) -> int:
    return json.loads((run / "config.json").read_text())["context"]


def every_valid_window(store_path: Path, test_from: str, context: int, horizon: int = 3) -> tuple[int, dict]:
    """The test split's windows by hand: a decision day from test_from on whose stock has a bar on each of the
    `context` days up to it and the `horizon` days after it; and their class shares from close ratios."""
    store = open_store(store_path)
    close = np.asarray(store.close)
    bar = np.isfinite(close).astype(int)
    run = np.cumsum(np.pad(bar, ((0, 0), (1, 0))), axis=1)  # run[:, j] = bars before day j
    D = close.shape[1]
    day = np.arange(D)
    first, last = day - context + 1, day + horizon
    ok = (first >= 0) & (last < D) & (day >= list(store.meta["dates"]).index(test_from))
    full = np.zeros(close.shape, bool)
    full[:, ok] = (run[:, last[ok] + 1] - run[:, first[ok]]) == context + horizon
    r = close[:, np.minimum(day + horizon, D - 1)] / close - 1
    got = r[full]
    up, down = (got >= 0.03 - 1e-9).mean(), (got <= -0.02 + 1e-9).mean()
    return int(full.sum()), {"up": up, "down": down, "flat": 1 - up - down}


def eval_json(*args) -> dict:
    result = run_cli("eval", *args, "--json", "--bootstrap", "200")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_eval_json_has_every_key_on_the_same_rows(trained) -> None:
    r = eval_json("--run", trained["run"])
    for key in ("rows", "from", "to", "class_share", "topk", "ci"):
        assert key in r
    for name in ("model", "volatility", "majority", "prior", "reversal"):
        assert set(KEYS) <= set(r[name]), name
    rows, share = every_valid_window(trained["store"], ckpt_test_from(trained["run"]), ckpt_context(trained["run"]))
    assert r["rows"] == rows  # every valid window of the test days, counted from the raw closes alone
    assert r["class_share"] == pytest.approx(share)
    assert set(r["topk"]) >= {"pct", "picks_mean", "universe_mean", "excess"}
    assert set(r["ci"]) == CI_KEYS and r["ci"] == r["model"]["ci"]
    prior = torch.load(trained["run"] / "best.pt", weights_only=False)["prior"]  # the training split's shares
    share = np.array([r["class_share"][k] for k in ("up", "down", "flat")])
    assert r["prior"]["log_loss"] == pytest.approx(-(share * np.log(np.asarray(prior))).sum(), rel=1e-6)  # by hand
    assert r["prior"]["auc_up"] == 0.5 and r["majority"]["accuracy"] == r["prior"]["accuracy"]
    assert r["prior"]["rank_ic"] is None and r["prior"]["topk_excess"] is None  # constant: ranks nothing (null)
    assert r["reversal"]["log_loss"] is None and r["reversal"]["rank_ic"] is not None
    assert set(r["reversal"]["ci"]) == {"rank_ic", "topk_excess", "top_decile_excess", "rank_ic_tradable",
                                        "top_decile_excess_tradable"}
    assert r["split"] == "test" and r["warning"] is None
    ckpt = torch.load(trained["run"] / "best.pt", weights_only=False)
    assert r["from"] >= ckpt["splits"]["test_from"]


def test_eval_default_is_newest_run_and_prints_tables(trained) -> None:
    result = run_cli("eval", "--out", trained["out"], "--bootstrap", "50", "--gate", "up=0.4,down=0.4")
    assert result.exit_code == 0, result.output
    for text in ("Model and baselines on the same", "volatility", "majority", "prior", "reversal",
                 "log-loss skill over volatility", "rank IC", "top-decile excess", "confusion matrix",
                 "daily top 1 %", "With the confidence gate up=0.4, down=0.4", "baselines are the bar"):
        assert text in result.stdout


def test_gate_block(trained) -> None:
    r = eval_json("--run", trained["run"], "--gate", "up=0.99,down=0.99")
    gated = r["gate"]["model"]
    assert sum(row[2] for row in gated["confusion"]) == r["rows"]  # nothing passes a 99 % gate: all FLAT
    assert gated["up_recall"] == 0.0
    bad = run_cli("eval", "--run", trained["run"], "--gate", "up=high")
    assert bad.exit_code == 2 and "--gate takes up=P,down=P" in bad.output


def test_eval_on_a_second_store_with_later_dates(trained) -> None:
    kept = trained["run"] / "eval-all.json"
    kept.unlink(missing_ok=True)
    r = eval_json("--run", trained["run"], "--data", trained["later"], "--split", "all")
    assert r["from"] >= "2021-06-01" and r["rows"] > 100 and r["warning"] is None
    assert not kept.exists() and not (trained["run"] / "eval-all.npz").exists()  # not the run's own rows
    window = eval_json("--run", trained["run"], "--data", trained["later"], "--split", "all",
                       "--from", "2021-09-01", "--to", "2021-09-30")
    assert "2021-09-01" <= window["from"] <= window["to"] <= "2021-09-30" and window["rows"] < r["rows"]


def test_backtest_trades_a_checkpoint_on_a_later_store(trained) -> None:
    """`backtest RUN --data STORE --from --to`: the run's checkpoint applied to another store (eval's checks) and
    traded on those days only, kept apart from the run's own backtest; days it trained on are warned about."""
    result = run_cli("backtest", trained["run"], "--data", trained["later"], "--from", "2021-08-02", "--to",
                     "2021-10-29", "--bootstrap", "50", "--top", "2", "--json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["split"] == "days" and out["store"] == str(trained["later"]) and out["warnings"] == []
    assert "2021-08-02" <= out["first"] <= out["last_decision"] <= "2021-10-29" <= out["end"]
    assert json.loads((trained["run"] / "backtest-days.json").read_text())["store"] == str(trained["later"])
    own = run_cli("backtest", trained["run"], "--from", "2020-01-01", "--bootstrap", "0", "--top", "2", "--json")
    assert own.exit_code == 0, own.output
    assert any("not out-of-sample" in w for w in json.loads(own.stdout)["warnings"])
    missing = run_cli("backtest", trained["run"], "--data", trained["root"] / "nowhere")
    assert missing.exit_code != 0 and "nowhere" in missing.output


def test_overlap_with_training_days_is_warned(trained) -> None:
    result = run_cli("eval", "--run", trained["run"], "--split", "train", "--bootstrap", "0")
    assert result.exit_code == 0, result.output
    assert "not out-of-sample" in result.output


def test_predict_lists_a_stock_suspended_on_the_last_day(trained) -> None:
    result = run_cli("predict", "--run", trained["run"], "--format", "json")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    codes = [r["code"] for r in out["rows"]]
    assert "000001" not in codes and len(codes) >= 5
    skipped = {s["code"]: s["reason"] for s in out["skipped"]}
    assert skipped["000001"].startswith("no bar on")
    scores = [r["score"] for r in out["rows"]]  # the dist head ranks by its location
    assert scores == sorted(scores, reverse=True) and out["head"] == "dist"
    for r in out["rows"]:
        assert r["up"] + r["down"] + r["flat"] == pytest.approx(1.0, abs=1e-5)
        assert r["zh"].startswith("涨:") and " 跌:" in r["zh"] and " 稳:" in r["zh"]
    table = run_cli("predict", "--run", trained["run"], "--top", "2")
    assert "涨" in table.stdout and "P(up)" in table.stdout and "skipped 000001" in table.output
    csv = run_cli("predict", "600000", "--run", trained["run"], "--format", "csv")
    assert csv.stdout.splitlines()[0] == ("date,first_day,last_day,code,name,p_up_pct,p_down_pct,p_flat_pct,"
                                          "p_up_minus_down_pct,score_log_return,still,zh")
    assert csv.stdout.splitlines()[1].startswith(f"{out['date']},{out['days'][0]},{out['days'][-1]},SH600000,")
    earlier = json.loads(run_cli("predict", "--run", trained["run"], "--format", "json", "--date",
                                 "2020-06-01").stdout)
    assert earlier["date"] == "2020-06-01" and "000001" in [r["code"] for r in earlier["rows"]]


def test_mismatches_are_clear_errors(trained, tmp_path: Path) -> None:
    state = torch.load(trained["run"] / "best.pt", weights_only=False)
    state["features"] = ["log_close"]
    torch.save(state, tmp_path / "other.pt")
    result = run_cli("eval", "--checkpoint", tmp_path / "other.pt")
    assert result.exit_code == 2 and "trained on features" in result.output

    state = torch.load(trained["run"] / "best.pt", weights_only=False)
    state["label_rule"]["horizon"] = 200
    torch.save(state, tmp_path / "long.pt")
    result = run_cli("predict", "--checkpoint", tmp_path / "long.pt")
    assert result.exit_code == 2 and "200-day horizon" in result.output

    result = run_cli("eval", "--run", trained["run"], "--from", "2030-01-01")
    assert result.exit_code == 2 and "no valid window" in result.output
    result = run_cli("eval", "--out", tmp_path)
    assert result.exit_code == 2 and "no run with a best.pt" in result.output
    result = run_cli("predict", "--run", trained["run"], "--date", "1999-01-04")
    assert result.exit_code == 2 and "is not a trading day" in result.output


def test_volatility_rows_are_the_baseline_on_the_same_rows(trained) -> None:
    """The volatility baseline of some rows by hand: sigma from the stock's own bars (half-life 10), the Student-t
    of 5 degrees of freedom and standard deviation sqrt(3) sigma integrated numerically at log 1.03 and log 0.98."""
    app = apply(trained["run"] / "best.pt")
    rows = collect(app, selection_mask(app, "test", None, None))
    close = np.asarray(open_store(trained["store"]).close)
    x = np.linspace(-60, 60, 1_200_001)
    density = (1 + x**2 / 5) ** -3  # Student-t, 5 degrees of freedom, unnormalised
    cdf = np.cumsum(density) / density.sum()
    for i in np.linspace(0, len(rows.day) - 1, 7).astype(int):
        bars = close[rows.stock[i], :rows.day[i] + 1]
        sigma = hand_sigma(bars[~np.isnan(bars)])
        scale = np.sqrt(3) * sigma / np.sqrt(5 / 3)  # a t5's standard deviation is sqrt(5/3) times its scale
        up, down = 1 - np.interp(np.log(1.03) / scale, x, cdf), np.interp(np.log(0.98) / scale, x, cdf)
        np.testing.assert_allclose(rows.p["volatility"][i], [up, down, 1 - up - down], atol=2e-4)
    np.testing.assert_allclose(rows.score["reversal"], -(np.log(close[rows.stock, rows.day])
                                                         - np.log(close[rows.stock, rows.day - 20])), atol=1e-5)


def hand_sigma(bars: np.ndarray) -> float:
    """sigma^2: the mean of the squared daily log returns, each earlier one weighted 2^(-1/10) times less."""
    r2 = np.log(bars[1:] / bars[:-1]) ** 2
    w = 0.5 ** (np.arange(len(r2))[::-1] / 10)
    return float(np.sqrt((w * r2).sum() / w.sum()))


def test_predict_baseline_shows_the_volatility_forecast(trained) -> None:
    out = json.loads(run_cli("predict", "--run", trained["run"], "--format", "json", "--baseline").stdout)
    for r in out["rows"]:
        v = r["volatility"]
        assert v["up"] + v["down"] + v["flat"] == pytest.approx(1.0, abs=1e-5) and v["zh"].startswith("涨:")
    csv = run_cli("predict", "--run", trained["run"], "--format", "csv", "--baseline").stdout.splitlines()
    assert csv[0].endswith("volatility_p_up_pct,volatility_p_down_pct,volatility_p_flat_pct,"
                           "volatility_p_up_minus_down_pct")
    assert "volatility 涨 / 跌 / 稳" in run_cli("predict", "--run", trained["run"], "--baseline").stdout


def test_a_stock_suspended_inside_its_horizon_is_in_the_universe_and_sold_when_it_trades(trained, tmp_path) -> None:
    sim = simulate(stocks=8, days=160, seed=21)
    (tmp_path / "raw").mkdir()
    for s, code in enumerate(sim["codes"]):
        df = frame(sim, s)
        if s == 2:  # no bar on days 150 and 151: inside the horizon of decision days 147..150
            df = df.filter(~pl.int_range(pl.len()).is_in([150, 151]))
        write(df, tmp_path / "raw" / f"processed_{code}.xlsx")
    ingest(tmp_path / "raw", tmp_path / "store")
    app = apply(trained["run"] / "best.pt", data=tmp_path / "store")
    dates = app.store.meta["dates"]
    rows = collect(app, selection_mask(app, "all", dates[148], dates[153]))
    mine = (rows.stock == 2) & (rows.day == 148)
    assert mine.sum() == 1 and rows.y[mine] == -1 and np.isnan(rows.forward_return[mine])  # no label: in the
    assert np.isfinite(rows.score["model"][mine]).all()  # universe all the same, with the model's score
    assert not ((rows.stock == 2) & np.isin(rows.day, [150, 151])).any()  # no bar: not in those days' universe
    everyone = collect(app, selection_mask(app, "all", dates[140], dates[156]))
    assert len(everyone.labelled().y) < len(everyone.y)  # eval's figures count only the labelled rows
    rows.score["model"] = np.where(mine, 1.0, -rows.stock.astype(float))  # the only pick of day 148
    t = tape(app.store)
    for rules in (Rules(top=1, keep=1, drop=1), Rules(top=1, hold=2)):  # the holding book and the sleeve book
        trades = backtest(rows, t, ("model",), rules, 0)[1]["model/after_costs"].trades
        of = trades["stock"] == 2
        assert trades["day"][of & (trades["side"] == 0)].tolist() == [149]  # bought at the next open
        assert trades["day"][of & (trades["side"] == 1)].tolist() == [152]  # sold at its first close again
