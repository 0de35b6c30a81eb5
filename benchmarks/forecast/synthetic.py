"""Synthetic weekly demand panel in the engine's input contract, with a realistic class mix."""

from __future__ import annotations

import numpy as np
import pandas as pd

MIX = {
    "smooth": 0.35,
    "erratic": 0.15,
    "intermittent": 0.30,
    "lumpy": 0.15,
    "new": 0.03,
    "obsolete": 0.02,
}


def synthetic_history(
    n_series: int, n_weeks: int = 104, seed: int = 0, end: str = "2025-12-29"
) -> pd.DataFrame:
    """``n_series`` weekly series of ``n_weeks`` ending the week before ``end`` (a Monday).

    Smooth/erratic series have a level, a trend and a yearly profile; intermittent/lumpy are
    Bernoulli occurrences times gamma sizes; about 2 % of weeks are stockouts (sales cut).
    """
    rng = np.random.default_rng(seed)
    weeks = pd.date_range(end=pd.Timestamp(end) - pd.Timedelta(days=7), periods=n_weeks, freq="7D")
    t = np.arange(n_weeks)
    kinds = rng.choice(list(MIX), size=n_series, p=list(MIX.values()))
    values = np.zeros((n_series, n_weeks))
    for i, kind in enumerate(kinds):
        if kind in ("smooth", "erratic", "new"):
            level = rng.lognormal(3.5, 1.0)
            amp = rng.uniform(0, 0.4)
            phase = rng.uniform(0, 2 * np.pi)
            trend = rng.normal(0, 0.002)
            mean = level * (1 + amp * np.sin(2 * np.pi * t / 52 + phase)) * (1 + trend * t)
            noise = 0.15 if kind != "erratic" else 0.8
            y = np.maximum(0, mean * rng.lognormal(-(noise**2) / 2, noise, n_weeks))
            if kind == "new":
                y[: n_weeks - rng.integers(4, 20)] = 0
        else:
            p = rng.uniform(0.1, 0.5)
            shape = 4.0 if kind == "intermittent" else 0.7
            y = rng.binomial(1, p, n_weeks) * np.ceil(rng.gamma(shape, rng.uniform(1, 10), n_weeks))
            if kind == "obsolete":
                y[n_weeks - rng.integers(30, 60) :] = 0
        values[i] = np.round(y)
    stockout = rng.random((n_series, n_weeks)) < 0.02
    sales = np.where(stockout, np.floor(values * rng.uniform(0, 1, values.shape)), values)
    return pd.DataFrame(
        {
            "material_id": np.repeat([f"M{i:06d}" for i in range(n_series)], n_weeks),
            "plant_id": np.repeat([f"P{i % 4 + 1:03d}" for i in range(n_series)], n_weeks),
            "week_start": np.tile(weeks.to_numpy(), n_series),
            "demand_qty": sales.ravel(),
            "stockout": stockout.ravel(),
        }
    )
