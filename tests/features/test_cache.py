"""The prepared day arrays cache: the second prepare loads what the first computed, a new ingest or a changed
feature prepares again, and a damaged, switched-off or unwritable cache changes nothing but the time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import write_sim
from equinet import ingest, open_store
from equinet.core.labels import LabelRule
from equinet.data.synth import simulate
from equinet.features import cache
from equinet.features.inputs import prepare

FIELDS = ("inputs", "clean_days", "labels", "forward_return", "sigma", "reversal", "future_vol", "linear")


def same(a, b) -> None:
    for name in FIELDS:
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture()
def store(tmp_path: Path) -> Path:
    write_sim(simulate(stocks=5, days=90, seed=3), tmp_path / "raw")
    ingest(tmp_path / "raw", tmp_path / "store")
    return tmp_path / "store"


def entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def test_the_second_prepare_loads_the_first_and_a_new_build_prepares_again(store: Path, tmp_path: Path,
                                                                          monkeypatch) -> None:
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    first = prepare(open_store(store), LabelRule())
    [entry] = entries(tmp_path / "cache")
    assert (entry / cache.DONE).is_file() and (entry / "inputs.npy").is_file()
    np.save(entry / "sigma.npy", np.load(entry / "sigma.npy") * 2)  # what the cache holds is what is read
    assert np.allclose(prepare(open_store(store), LabelRule()).sigma, 2 * first.sigma, equal_nan=True)
    np.save(entry / "sigma.npy", first.sigma)
    other = LabelRule(3, 0.05, -0.04)  # another rule: the cached day arrays, its own labels
    from_cache = prepare(open_store(store), other)
    monkeypatch.setenv(cache.ENV, "off")
    same(from_cache, prepare(open_store(store), other))
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    for seed in (4, 5):  # two more builds of the store: three entries, the least recently used removed
        write_sim(simulate(stocks=5, days=90, seed=seed), tmp_path / f"raw{seed}")
        ingest(tmp_path / f"raw{seed}", store)
        prepare(open_store(store), LabelRule())
    assert len(entries(tmp_path / "cache")) == cache.KEEP and entry not in entries(tmp_path / "cache")


def test_a_damaged_switched_off_or_unwritable_cache_changes_nothing(store: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv(cache.ENV, "off")
    fresh = prepare(open_store(store), LabelRule())
    monkeypatch.setenv(cache.ENV, str(tmp_path / "cache"))
    prepare(open_store(store), LabelRule())
    [entry] = entries(tmp_path / "cache")
    (entry / "inputs.npy").write_bytes(b"not an array")
    same(prepare(open_store(store), LabelRule()), fresh)  # computed again, and stored again
    same(prepare(open_store(store), LabelRule()), fresh)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv(cache.ENV, str(blocked))
    same(prepare(open_store(store), LabelRule()), fresh)
    assert blocked.read_text() == "not a folder"


def test_the_key_follows_the_code_that_computes(tmp_path: Path) -> None:
    source = tmp_path / "inputs.py"
    source.write_text("A = 1\n")
    before = cache.key(["store", "build"], [str(source)])
    source.write_text("A = 2\n")
    assert cache.key(["store", "build"], [str(source)]) != before
    assert cache.key(["store", "other build"], [str(source)]) != cache.key(["store", "build"], [str(source)])
