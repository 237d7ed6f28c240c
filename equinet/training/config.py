"""A training run's options, kept free of torch so the CLI can show their defaults without loading it."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from equinet.core.days import iso_day
from equinet.core.fields import option
from equinet.core.labels import LabelRule

CHOICES = {"split_by": ("date", "stock"), "loss": ("focal", "ce"), "select": ("logloss", "score", "accuracy"),
           "precision": ("auto", "bf16", "fp32"), "head": ("dist", "softmax"), "anchor": ("auto", "volatility", "linear")}
SELECT = {"logloss": ("val_log_loss", -1), "score": ("val_score_per_1000", 1), "accuracy": ("val_accuracy", 1)}
AUX_TARGETS = ("vol", "momentum")
ASKED = ("d_model", "epochs")  # asked on a terminal, in this order, when not given (as the original EquiNet did)
MULTISCALE = [5, 20, 0]  # --multiscale: heads restricted to the last 5 days, the last 20, or all


def best_line(history: list[dict], select: str) -> dict | None:
    """The metrics line of the epoch --select keeps as the best checkpoint (None before the first epoch; the last
    without validation: the deployed refit)."""
    key, sign = SELECT[select]
    if not history or key not in history[-1]:
        return history[-1] if history else None
    return max(history, key=lambda r: sign * r[key])


def check_rule(up: float, down: float) -> None:
    """Thresholds that leave every class possible: a fall beyond -100 % cannot happen and 稳 lies between."""
    if not -1 < down < up:
        raise ValueError(f"need -1 < --down < --up so that 涨, 跌 and 稳 can all occur; got --down {down:g}, "
                         f"--up {up:g}")


D_MODEL_HELP = """--d-model sets the width of every layer. Quality: wider models can learn more patterns but also
overfit a few hundred stocks sooner. Parameters grow with its square (64: ~0.07 M, 128: ~0.27 M,
256: ~1.1 M at 2 layers). Time per epoch grows roughly with its square too."""
EPOCHS_HELP = """--epochs sets how many rounds of --samples-per-epoch labelled training days the model sees. More epochs
can help until the validation log loss stops improving (the best epoch's checkpoint is kept, so extra epochs cost
only time). Time grows linearly with it."""


@dataclass
class TrainConfig:
    """Every option of a run; saved in the run folder and in every checkpoint. Each field's metadata is its command-line
    option (`equinet train` and `equinet cv` are generated from them)."""

    data: str = option("data/parquet", "Store written by `equinet ingest`.")
    out: str = option("out", "Folder for run directories.")
    name: str | None = option(None, "Run directory name under --out (default: time and main options).")
    epochs: int = option(20, "Epochs to train (asked on a terminal when not given).", min=1, ask=EPOCHS_HELP)
    d_model: int = option(64, "Model width (asked on a terminal when not given).", min=8, ask=D_MODEL_HELP)
    layers: int = option(2, "Transformer layers.", min=1)
    heads: int = option(8, "Attention heads (must divide --d-model).", min=1)
    dropout: float = option(0.2, "Dropout rate.", min=0.0, max=0.9)
    min_context: int = option(20, "Clean days a training day needs, and the shortest training span.", min=2)
    max_context: int = option(100, "Days a forecast sees (the receptive field of all layers together), and the "
                              "longest training span.", min=2)
    context: int = option(60, "Clean days a stock needs on a day for validation, eval and predict to forecast it.",
                          min=2)
    horizon: int = option(3, "Days ahead the label looks.", min=1)
    up: float = option(0.03, "UP (涨) if the horizon return >= this.")
    down: float = option(-0.02, "DOWN (跌) if the horizon return <= this.")
    val_from: str | None = option(None, "First validation decision day (ISO; default: last 30 % of days).")
    test_from: str | None = option(None, "First test decision day (ISO; default: last 15 % of days).")
    deploy: bool = option(False, "The evening's model: no test block; validation (the last --val-days) picks the "
                          "epoch count, then a second run refits through the store's last labelled day for that many "
                          "epochs (<name>-select keeps the first).", flag="--deploy")
    val_days: int = option(0, "With --deploy: validation days (0: 15 % of the days, as without --deploy).", min=0)
    split_by: str = option("date", "date (honest) or stock (the original EquiNet's hold-out).")
    test_ratio: float = option(0.1, "With --split-by stock: share of stocks held out for test (and as many for "
                               "validation).", min=0.01, max=0.4)
    loss: str = option("ce", "focal or ce.")
    gamma: float = option(2.0, "Focal loss focusing parameter.", min=0.0)
    class_weights: bool = option(False, "Weight classes by the inverse of their training share (off by default: on "
                                 "validation it cost log loss).", flag="--class-weights/--no-class-weights")
    lr: float = option(1e-3, "Peak learning rate (AdamW).", min=0.0)
    weight_decay: float = option(0.05, "AdamW weight decay.", min=0.0)
    warmup: float = option(0.05, "Share of steps for linear warm-up.", min=0.0, max=1.0)
    samples_per_epoch: int = option(0, "Labelled points per epoch (0: 20,000 or 5 % of the training points, "
                                    "whichever is more).", min=0)
    seed: int = option(0, "Seed for sampling, initialisation and dropout.")
    device: str = option("auto", "auto (cuda, then mps, then cpu), cuda, mps or cpu.")
    precision: str = option("auto", "auto (bf16 where native: CUDA, AVX512-BF16 CPUs), bf16 or fp32.")
    compile: bool = option(False, "Use torch.compile for the training step.", flag="--compile")
    select: str = option("logloss", "The best checkpoint by validation logloss, score or accuracy.")
    head: str = option("dist", "dist: a Student-t anchored on the volatility baseline's sigma (location and scale "
                       "correction; answers for any thresholds); softmax: 3 logits.")
    chunks: int = option(4, "Training chunks per step, each a random span of days with its own random stocks "
                        "(4 chosen over 1 on the 2018 cv folds).", min=1)
    stocks_per_day: int = option(64, "Stocks per training chunk, drawn at random among those with a training point "
                                 "in its span (0: all): the day's mean and cross attention use them; a step's cost is "
                                 "bounded whatever the universe.", min=0)
    val_windows: int = option(0, "Validate each epoch on random whole validation days, drawn once with the seed, "
                              "until they hold this many rows (0: every day, which costs less than a sample of "
                              "scattered days: each chunk of days is computed once); the best checkpoint is then "
                              "scored on every validation day at the end.", min=0)
    inputs: str = option("turnover,size,limits,ranks,breadth,market", "Input groups the model sees, a comma list of "
                         "turnover, size, limits, ranks, breadth, market (the others are 0); prices, volume, returns "
                         "and volatilities always.")
    anchor: str = option("auto", "dist head: the location the model corrects (and --shrink pulls it back to): "
                         "volatility (0), linear (the linear baseline's, fit on the training split), or auto: linear "
                         "with at least 500,000 training points (the whole market), else volatility.")
    demean: bool = option(True, "dist head: remove each day's mean location (the model ranks; "
                          "the market's drift stays 0).", flag="--demean/--no-demean")
    cross: bool = option(False, "Attention across the stocks of a day after the per-stock encoder (as in MASTER).",
                         flag="--cross/--no-cross")
    multiscale: bool = option(False, "Attention heads restricted to the last 5 / 20 / all days.",
                              flag="--multiscale/--no-multiscale")
    ensemble: int = option(1, "Members trained together from different initialisations; their probabilities are "
                           "averaged. One checkpoint holds all.", min=1)
    ema_epochs: float = option(3.5, "Exponential moving average of the weights over about this many epochs (its time "
                               "constant; 0 = off): the average validates, is chosen and saved, so the kept epoch "
                               "depends less on one step's luck.", min=0.0)
    return_weight: float = option(1.0, "dist head: weight of the realised log return's negative log likelihood "
                                  "beside the class log loss.", min=0.0)
    shrink: float = option(1.0, "dist head: penalty on the squared outputs (location and log-scale correction), "
                           "pulling the forecast to the volatility baseline.", min=0.0)
    trade_weight: float = option(3.0, "Weight of the tradable return's loss (a Student-t's NLL of the return from "
                                 "the next open to the close at the horizon, relative to the day, in sigmas): its "
                                 "output is the rank score. 3 chosen over 1 on the 2018 cv folds.", min=0.0)
    aux: str = option("vol", "Auxiliary targets, a comma list: vol (next days' realised volatility), momentum (the "
                      "horizon return relative to the day); '' for none.")
    aux_weight: float = option(0.1, "Weight of each auxiliary loss.", min=0.0)
    score_weight: float = option(0.0, "Cost-sensitive term: minus the expected score (+1 right, -1 涨 called 跌, -2 "
                                 "跌 called 涨), weighted.", min=0.0)

    def check(self) -> None:
        """Options that cannot work together are a ValueError with a one-line reason, before anything loads."""
        for name, allowed in CHOICES.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"--{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                                 f"not {getattr(self, name)!r}")
        if self.d_model % self.heads:
            raise ValueError(f"--heads {self.heads} must divide --d-model {self.d_model}")
        if not (self.min_context <= self.context and self.min_context <= self.max_context):
            raise ValueError("need --min-context <= --max-context and --min-context <= --context")
        check_rule(self.up, self.down)
        if self.deploy and (self.val_from or self.test_from or self.split_by != "date"):
            raise ValueError("--deploy validates on the store's last --val-days and has no test block: leave out "
                             "--val-from, --test-from and --split-by stock")
        unknown = [a for a in self.aux_targets if a not in AUX_TARGETS]
        if unknown:
            raise ValueError(f"--aux takes a comma list of {', '.join(AUX_TARGETS)}, not {self.aux!r}")
        from equinet.features.inputs import left_out  # numpy only: the CLI stays free of torch

        left_out(self.inputs)
        self.val_from, self.test_from = iso_day(self.val_from, "--val-from"), iso_day(self.test_from, "--test-from")

    def default_name(self) -> str:
        """A run directory name from the time and the main options."""
        return f"{datetime.now():%Y%m%d-%H%M%S}-d{self.d_model}-l{self.layers}-e{self.epochs}-{self.loss}"

    @property
    def aux_targets(self) -> tuple[str, ...]:
        return tuple(a.strip() for a in self.aux.split(",") if a.strip())

    @property
    def rule(self) -> LabelRule:
        return LabelRule(self.horizon, self.up, self.down)

    @classmethod
    def from_json(cls, d: dict) -> "TrainConfig":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})
