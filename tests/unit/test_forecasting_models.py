"""Model zoo functions against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from pipelines.forecasting import models as zoo


def intermittent(size: float = 4.0) -> np.ndarray:
    """An order of ``size`` exactly every 4 weeks, starting with an order."""
    return np.array([size, 0, 0, 0] * 20)


def test_seasonal_naive_repeats_last_season_and_falls_back_to_last_value():
    y = np.arange(1.0, 13.0)
    np.testing.assert_array_equal(zoo.seasonal_naive(y, 5, 4), [9, 10, 11, 12, 9])
    np.testing.assert_array_equal(zoo.seasonal_naive(y[:3], 2, 4), [3, 3])


def test_croston_family_on_a_regular_order_pattern():
    y = intermittent()
    assert zoo.croston(y, 3) == pytest.approx([1.0] * 3)  # size 4 / interval 4
    assert zoo.sba(y, 1)[0] == pytest.approx(0.95)  # times (1 - 0.1 / 2)
    assert zoo.adida(y, 1)[0] == pytest.approx(1.0)  # 4-week buckets all hold 4
    assert zoo.imapa(y, 1)[0] == pytest.approx(1.0, abs=0.15)
    assert 0.8 <= zoo.tsb(y, 1)[0] <= 1.2  # d swings around 1/4 between orders


def test_tsb_decays_after_demand_stops_while_croston_does_not():
    y = np.r_[intermittent(), np.zeros(40)]
    assert zoo.tsb(y, 1)[0] < 0.1
    assert zoo.croston(y, 1)[0] == pytest.approx(4 / zoo._croston_parts(y, 0.1)[1])
    assert zoo.croston(y, 1)[0] > 0.5


def test_croston_of_no_demand_is_zero():
    for fn in (zoo.croston, zoo.sba, zoo.tsb):
        assert fn(np.zeros(10), 2).tolist() == [0.0, 0.0]


def test_ses_optimized_tracks_a_level_shift():
    y = np.r_[np.full(30, 10.0), np.full(30, 20.0)]
    assert zoo.ses_optimized(y) == pytest.approx(20.0, abs=1e-6)


def test_arima_recovers_an_ar1_process():
    rng = np.random.default_rng(0)
    e = rng.normal(0, 1, 3000)
    y = np.zeros(3000)
    for t in range(1, 3000):
        y[t] = 0.7 * y[t - 1] + e[t]
    y += 50
    fit = zoo._ArimaFit(y, 1, 0, 0)
    assert fit.ar[0] == pytest.approx(0.7, abs=0.03)
    assert fit.mu == pytest.approx(50, abs=0.2)
    f = fit.predict(3)
    expected = 50 + 0.7 ** np.arange(1, 4) * (y[-1] - fit.mu)
    np.testing.assert_allclose(f, expected, atol=0.15)


def test_arima_identifies_a_random_walk_as_integrated():
    y = np.cumsum(np.random.default_rng(1).normal(0, 1, 300)) + 100
    state: dict = {}
    f = zoo.arima(y, 5, state)
    assert state["arima"][1] == 1  # d = 1
    assert np.all(np.abs(f - y[-1]) < 3)


def test_seasonality_is_found_and_removed():
    t = np.arange(156)
    y = 100 + 30 * np.sin(2 * np.pi * t / 52)
    season = zoo.estimate_seasonality(y, 52, 6)
    assert season is not None
    assert season.multiplicative
    np.testing.assert_allclose(season.remove(y), 100, rtol=0.02)
    np.testing.assert_allclose(season.add(np.full(4, 100.0), 156), y[:4], rtol=0.02)
    noise = np.random.default_rng(0).normal(100, 5, 156)
    assert zoo.estimate_seasonality(noise, 52, 6) is None
    assert zoo.estimate_seasonality(y[:90], 52, 6) is not None  # 1.5+ seasons: linear trend
    assert zoo.estimate_seasonality(y[:70], 52, 6) is None  # too short to tell


def test_fit_predict_floors_at_zero_and_reuses_identified_structure():
    y = np.linspace(50, 1, 60)  # falling to zero: a trend model would go negative
    state: dict = {}
    f = zoo.fit_predict(
        "ets", y, 30, season_length=52, state=state, season=None, start=np.datetime64("2024-01-01")
    )
    assert (f >= 0).all() and f[-1] == 0
    assert "ets" in state
    with pytest.raises(ValueError, match="unknown model"):
        zoo.fit_predict(
            "magic",
            y,
            3,
            season_length=52,
            state={},
            season=None,
            start=np.datetime64("2024-01-01"),
        )
