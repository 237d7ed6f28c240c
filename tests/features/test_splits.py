"""Splits by date with the horizon's embargo, and the original's split by stock (numpy only, no store)."""

from __future__ import annotations

import numpy as np
import pytest

from equinet.features.splits import by_date, by_stock

DATES = [f"2024-01-{d:02d}" for d in range(1, 21)]  # 20 decision days


def test_by_date_keeps_every_label_off_the_next_block() -> None:
    """A train label (day + horizon) never reaches the first validation day, nor a validation label the test."""
    splits = by_date(DATES, horizon=3)  # 15 %: the last 3 days test, the 3 before them validation
    assert (splits.val_from, splits.test_from) == ("2024-01-15", "2024-01-18")
    masks = splits.masks(["a", "b"], DATES)
    train, val, test = (np.flatnonzero(masks[k][0]) for k in ("train", "val", "test"))
    assert train.tolist() == list(range(0, 11)) and val.tolist() == [] and test.tolist() == [17, 18, 19]
    assert (train + 3 < 14).all()
    wide = by_date(DATES, horizon=1, val_from="2024-01-08", test_from="2024-01-15").masks(["a"], DATES)
    assert np.flatnonzero(wide["val"][0]).tolist() == list(range(7, 13))  # day 13 + 1 reaches the test block
    assert not (wide["train"] & wide["val"]).any() and not (wide["val"] & wide["test"]).any()


def test_the_validation_block_must_come_first() -> None:
    with pytest.raises(ValueError, match="must come before"):
        by_date(DATES, horizon=3, val_from="2024-01-18", test_from="2024-01-10")


def test_by_stock_holds_out_whole_stocks() -> None:
    codes = [f"{i:06d}" for i in range(20)]
    masks = by_stock(codes, horizon=3, ratio=0.1, seed=0).masks(codes, DATES)
    held = masks["val"][:, 0] | masks["test"][:, 0]
    assert masks["val"][:, 0].sum() == 2 and masks["test"][:, 0].sum() == 2 and (masks["train"][:, 0] == ~held).all()
    assert (masks["test"].all(1) | ~masks["test"].any(1)).all()  # a stock is held out on every day or none
