"""One line per `equinet cv` run: pooled skill over volatility with its CI, AUCs, rank IC (beside the linear and
reversal baselines'), per-fold gaps, time."""

import argparse
import json
from pathlib import Path


def summary(cv: dict) -> dict:
    """The figures the README's ablation table shows, from one cv.json."""
    p = cv["pooled"]
    m, v, r, lin = p["model"], p["volatility"], p["reversal"], p["linear"]
    return {"name": Path(cv["cv"]).name, "skill_vs_volatility": m["log_loss_skill_vs_volatility"],
            "ci": m["ci"]["log_loss_skill_vs_volatility"], "auc_up": m["auc_up"], "auc_down": m["auc_down"],
            "volatility_auc": [v["auc_up"], v["auc_down"]], "rank_ic": m["rank_ic"], "reversal_ic": r["rank_ic"],
            "linear_ic": lin["rank_ic"], "linear_skill_vs_volatility": lin["log_loss_skill_vs_volatility"],
            "top_decile_excess": m["top_decile_excess"], "minutes": cv["seconds"] / 60,
            "fold_gaps": [f["volatility"]["log_loss"] - f["model"]["log_loss"] for f in cv["per_fold"]]}


def line(s: dict) -> str:
    folds = " ".join(f"{g:+.4f}" for g in s["fold_gaps"])
    return (f"{s['name']:20s} skill {s['skill_vs_volatility']:+.4f} [{s['ci'][0]:+.4f},{s['ci'][1]:+.4f}] "
            f"AUC {s['auc_up']:.3f}/{s['auc_down']:.3f} (vol {s['volatility_auc'][0]:.3f}/{s['volatility_auc'][1]:.3f}) "
            f"IC {s['rank_ic']:+.3f} (lin {s['linear_ic']:+.3f} rev {s['reversal_ic']:+.3f}) decile {100 * s['top_decile_excess']:+.2f}% "
            f"vol LL - LL per fold {folds}  {s['minutes']:.1f} min")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("cv_json", nargs="+", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [summary(json.loads(p.read_text())) for p in args.cv_json]
    print(json.dumps(rows, indent=1) if args.json else "\n".join(line(s) for s in rows))
