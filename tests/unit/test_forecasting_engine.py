"""Forecast engine on small deterministic series with known right answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.forecasting import ForecastConfig, classify_demand, run_forecast
from pipelines.forecasting import engine as engine_mod
from pipelines.forecasting import models as zoo

ORIGIN = pd.Timestamp("2025-01-06")  # a Monday
CFG = ForecastConfig(n_jobs=1)


def frame(series: dict[tuple[str, str], np.ndarray], stockout=None, origin=ORIGIN) -> pd.DataFrame:
    """History rows for each (material, plant): values end the week before ``origin``."""
    parts = []
    for (mat, plant), y in series.items():
        weeks = pd.date_range(end=origin - pd.Timedelta(days=7), periods=len(y), freq="7D")
        so = np.zeros(len(y), dtype=bool) if stockout is None else stockout.get((mat, plant))
        so = np.zeros(len(y), dtype=bool) if so is None else so
        parts.append(
            pd.DataFrame(
                {
                    "material_id": mat,
                    "plant_id": plant,
                    "week_start": weeks,
                    "demand_qty": np.asarray(y, float),
                    "stockout": so,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


def rows(result, mat="M1", plant="P1") -> pd.DataFrame:
    f = result.forecast
    return f[(f.material_id == mat) & (f.plant_id == plant)].reset_index(drop=True)


def selected(result, mat="M1", plant="P1") -> pd.Series:
    b = result.backtest
    return b[(b.material_id == mat) & (b.plant_id == plant) & b.selected].iloc[0]


def test_pure_seasonal_series_selects_seasonal_naive_with_zero_error():
    profile = np.random.default_rng(3).uniform(20, 80, 52).round()
    y = np.tile(profile, 3)
    res = run_forecast(frame({("M1", "P1"): y}), CFG)
    sel = selected(res)
    assert sel.model == "seasonal_naive"
    assert sel.mase == pytest.approx(0.0, abs=1e-12)
    assert sel.n_windows == 3
    f = rows(res)
    np.testing.assert_allclose(f.forecast_qty, profile[:13])
    # every other model had a real error on this profile
    others = res.backtest[(res.backtest.model != "seasonal_naive") & res.backtest.mase.notna()]
    assert (others.mase > 1e-6).all()
    assert res.residuals.sigma_weekly.iloc[0] == pytest.approx(0.0, abs=1e-9)


def test_all_zero_series_is_dead_and_forecast_zero():
    res = run_forecast(frame({("M1", "P1"): np.zeros(80)}), CFG)
    assert res.classification.demand_class.iloc[0] == "dead"
    f = rows(res)
    assert len(f) == 13
    cols = ["forecast_qty", "p10", "p50", "p90", "p95", "forecast_lower", "forecast_upper"]
    assert (f[cols].to_numpy() == 0).all()
    assert (f.model == "zero").all()


def test_intermittent_series_gets_croston_type_rate():
    # an order of 4 every 3 or 5 weeks (mean 4, not a divisor of 52): rate 1 per week
    gaps = np.random.default_rng(0).permutation([3, 5] * 13)
    y = np.zeros(int(gaps.sum()) + 1)
    y[np.r_[0, np.cumsum(gaps)]] = 4.0
    res = run_forecast(frame({("M1", "P1"): y}), CFG)
    cls = res.classification.iloc[0]
    assert cls.demand_class == "intermittent"
    assert cls.adi == pytest.approx(len(y) / 27)
    assert cls.cv2 == pytest.approx(0.0)
    sel = selected(res)
    assert sel.model in {"croston", "sba", "tsb", "adida", "imapa", "ensemble"}
    f = rows(res)
    assert np.allclose(f.forecast_qty, f.forecast_qty.iloc[0])  # flat, as Croston-type methods
    assert 0.85 <= f.forecast_qty.iloc[0] <= 1.1
    bt = res.backtest.set_index("model")
    assert bt.loc["croston", "mase"] < bt.loc["seasonal_naive", "mase"] or np.isclose(
        bt.loc["croston", "mase"], bt.loc["seasonal_naive", "mase"]
    )


def test_stockout_weeks_are_missing_not_zero():
    y = np.full(104, 10.0)
    so = np.zeros(104, dtype=bool)
    so[[20, 50, 51, 80, 97, 100]] = True
    y[so] = [0, 3, 0, 1, 0, 2]  # sales cut short by the stockout
    censored = run_forecast(frame({("M1", "P1"): y}, {("M1", "P1"): so}), CFG)
    naive_zeros = run_forecast(frame({("M1", "P1"): y}), CFG)
    np.testing.assert_allclose(rows(censored).forecast_qty, 10.0, atol=1e-6)
    sel = selected(censored)
    assert sel.mase == pytest.approx(0.0, abs=1e-9)  # censored test weeks are not scored
    assert censored.classification.n_censored.iloc[0] == 6
    # treating the same weeks as real zeros would drag the forecast down
    assert rows(naive_zeros).forecast_qty.mean() < 9.9
    # weeks 97 and 100 fall in the backtest windows (83-95, 87-99, 91-103): 97 twice, 100 once
    assert censored.backtest_forecasts.actual.isna().sum() == 3


def test_leading_zeros_are_trimmed_before_first_sale():
    rng = np.random.default_rng(0)
    y = np.r_[np.zeros(60), rng.poisson(20, 40).astype(float)]
    res = run_forecast(frame({("M1", "P1"): y}), CFG)
    cls = res.classification.iloc[0]
    assert cls.n_weeks == 40
    assert cls.adi == pytest.approx(1.0)
    assert cls.demand_class == "smooth"
    assert 15 < rows(res).forecast_qty.mean() < 25


def test_obsolete_item_is_forecast_zero():
    y = np.r_[np.full(60, 12.0), np.zeros(30)]
    res = run_forecast(frame({("M1", "P1"): y}), CFG)
    cls = res.classification.iloc[0]
    assert cls.demand_class == "obsolete"
    assert cls.last_demand_week == ORIGIN - pd.Timedelta(weeks=31)
    assert (rows(res)[["forecast_qty", "p95", "forecast_upper"]].to_numpy() == 0).all()
    assert res.residuals.sigma_weekly.iloc[0] == 0


def test_new_item_is_forecast_from_its_recent_mean():
    y = np.r_[np.zeros(50), [5, 7, 9, 11, 13, 15, 17, 19, 21, 23.0]]
    res = run_forecast(frame({("M1", "P1"): y}), CFG)
    assert res.classification.demand_class.iloc[0] == "new"
    f = rows(res)
    np.testing.assert_allclose(f.forecast_qty, np.mean([7, 9, 11, 13, 15, 17, 19, 21, 23][-8:]))
    assert (f.model == "new_item_mean").all()


def test_short_new_item_with_a_stockout():
    y = np.r_[np.zeros(40), [6.0, 6, 1, 6, 6, 6, 6]]
    so = np.zeros(len(y), dtype=bool)
    so[42] = True
    res = run_forecast(frame({("M1", "P1"): y}, {("M1", "P1"): so}), CFG)
    assert res.classification.demand_class.iloc[0] == "new"
    np.testing.assert_allclose(rows(res).forecast_qty, 6.0)


def test_quantiles_are_monotone_and_cover():
    rng = np.random.default_rng(7)
    series = {(f"M{i}", "P1"): rng.normal(100, 10, 104).round() for i in range(25)}
    res = run_forecast(frame(series), CFG)
    f = res.forecast
    q = f[["p10", "p50", "p90", "p95"]].to_numpy()
    assert (np.diff(q, axis=1) >= -1e-12).all()
    assert (q >= 0).all()
    assert (f.forecast_lower <= f.forecast_qty + 1e-12).all()
    assert (f.forecast_qty <= f.forecast_upper + 1e-12).all()
    cov = res.coverage[res.coverage.demand_class == "all"].set_index("quantile")
    assert cov.loc[0.1, "empirical_coverage"] == pytest.approx(0.1, abs=0.07)
    assert cov.loc[0.5, "empirical_coverage"] == pytest.approx(0.5, abs=0.1)
    assert cov.loc[0.9, "empirical_coverage"] == pytest.approx(0.9, abs=0.07)
    assert cov.loc[0.95, "empirical_coverage"] >= 0.88
    # iid N(100, 10): the P10-P90 band should be about 2 * 1.28 * 10 wide
    width = (f.p90 - f.p10).median()
    assert 18 < width < 36
    sigma = res.residuals.sigma_weekly
    assert sigma.between(4, 16).all()
    assert 8 < sigma.median() < 12


def test_origin_ignores_later_history_and_reproduces_a_vintage():
    rng = np.random.default_rng(1)
    y = rng.poisson(30, 120).astype(float)
    hist = frame({("M1", "P1"): y})
    origin = ORIGIN - pd.Timedelta(weeks=10)
    full = run_forecast(hist, CFG, origin=origin)
    cut = run_forecast(hist[hist.week_start < origin], CFG)
    assert full.forecast.week_start.min() == origin
    pd.testing.assert_frame_equal(full.forecast, cut.forecast)


def test_outlier_is_capped_but_seasonal_peak_kept():
    rng = np.random.default_rng(2)
    base = 50 + rng.normal(0, 2, 156)
    base[[40, 92, 144]] += 200  # a peak in the same week every year
    spiky = base.copy()
    spiky[120] += 400  # a one-off spike
    res = run_forecast(frame({("M1", "P1"): spiky}), CFG)
    assert res.classification.n_outliers.iloc[0] == 1


def test_failed_model_falls_back(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("fit failed")

    monkeypatch.setattr(zoo, "ets", broken)
    y = 50 + np.random.default_rng(4).normal(0, 3, 104)
    cfg = ForecastConfig(n_jobs=1, models=("seasonal_naive", "ets"))
    res = run_forecast(frame({("M1", "P1"): y}), cfg)
    assert selected(res).model == "seasonal_naive"
    assert np.isnan(res.backtest.set_index("model").loc["ets", "mase"])
    assert rows(res).forecast_qty.notna().all()


def test_parallel_matches_sequential(monkeypatch):
    monkeypatch.setattr(engine_mod, "_PARALLEL_MIN_SERIES", 1)
    rng = np.random.default_rng(5)
    # intermittent series: their models are numpy-only, so the spawned workers start fast
    series = {
        (f"M{i}", "P1"): rng.binomial(1, 0.3, 80) * rng.integers(1, 9, 80).astype(float)
        for i in range(6)
    }
    hist = frame(series)
    seq = run_forecast(hist, ForecastConfig(n_jobs=1))
    par = run_forecast(hist, ForecastConfig(n_jobs=2))
    pd.testing.assert_frame_equal(seq.forecast, par.forecast)
    pd.testing.assert_frame_equal(seq.backtest, par.backtest)
    assert set(seq.classification.demand_class) <= {"intermittent", "lumpy"}


def test_classification_quadrants():
    hist = frame(
        {
            ("SMOOTH", "P1"): np.full(60, 5.0),
            ("ERRATIC", "P1"): np.tile([1.0, 9.0], 30),
            ("INTERM", "P1"): np.tile([5.0, 0.0], 30),
            ("LUMPY", "P1"): np.tile([2.0, 0, 0, 20.0, 0, 0], 10),
        }
    )
    cls = classify_demand(hist).set_index("material_id")
    assert cls.loc["SMOOTH", "demand_class"] == "smooth"
    assert cls.loc["ERRATIC", "cv2"] == pytest.approx(16 / 25)
    assert cls.loc["ERRATIC", "demand_class"] == "erratic"
    assert cls.loc["INTERM", "adi"] == pytest.approx(2.0)
    assert cls.loc["INTERM", "demand_class"] == "intermittent"
    assert cls.loc["LUMPY", "demand_class"] == "lumpy"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.drop(columns=["stockout"]), "missing column"),
        (lambda d: d.assign(week_start=d.week_start + pd.Timedelta(days=1)), "Mondays"),
        (lambda d: d.assign(demand_qty=-1.0), "negative"),
        (lambda d: pd.concat([d, d.iloc[:1]]), "duplicate"),
        (lambda d: d.assign(demand_qty="x"), "not numeric"),
    ],
)
def test_bad_history_is_rejected_with_a_clear_error(mutate, message):
    hist = frame({("M1", "P1"): np.ones(30)})
    with pytest.raises(ValueError, match=message):
        run_forecast(mutate(hist), CFG)


def test_bad_config_names_the_parameter():
    with pytest.raises(ValueError, match="quantiles"):
        ForecastConfig(quantiles=(0.9, 0.1))
    with pytest.raises(ValueError, match="horizon"):
        ForecastConfig(horizon=0)
    with pytest.raises(ValueError, match="models"):
        ForecastConfig(models=("magic",))
    with pytest.raises(ValueError, match="origin must be a Monday"):
        run_forecast(frame({("M1", "P1"): np.ones(30)}), CFG, origin=pd.Timestamp("2025-01-07"))


def test_prophet_is_optional_and_quiet(capfd):
    t = np.arange(110)
    y = 50 + 10 * np.sin(2 * np.pi * t / 52) + np.random.default_rng(0).normal(0, 1, 110)
    hist = frame({("M1", "P1"): y})
    cfg = ForecastConfig(
        n_jobs=1, use_prophet=True, models=("seasonal_naive", "prophet"), backtest_windows=1
    )
    res = run_forecast(hist, cfg)
    bt = res.backtest.set_index("model")
    assert np.isfinite(bt.loc["prophet", "mase"])
    assert bt.loc["prophet", "mase"] < 2
    assert "prophet" not in run_forecast(hist, ForecastConfig(n_jobs=1)).backtest.model.values
    assert "cmdstanpy" not in capfd.readouterr().err


def test_empty_history_gives_empty_tables_with_the_contract_columns():
    empty = frame({("M1", "P1"): np.ones(3)}).iloc[:0]
    res = run_forecast(empty, CFG, origin=ORIGIN)
    assert res.forecast.empty and res.backtest.empty
    assert list(res.forecast.columns) == [
        "material_id",
        "plant_id",
        "week_start",
        "model",
        "forecast_qty",
        "p10",
        "p50",
        "p90",
        "p95",
        "forecast_lower",
        "forecast_upper",
    ]
    with pytest.raises(ValueError, match="no origin"):
        run_forecast(empty, CFG)


def test_holiday_days_are_counted_per_monday_to_sunday_week():
    weeks = pd.DatetimeIndex(["2024-02-05", "2024-12-23", "2024-12-30", "2025-04-14"])
    # none; Christmas Day + St Stephen's Day; New Year's Day; Good Friday (Easter Monday next)
    assert zoo.holiday_days_per_week(weeks, "DE").tolist() == [0, 2, 1, 1]


def test_prophet_learns_the_holiday_dip_from_the_calendar_regressor():
    weeks = pd.date_range("2022-01-03", periods=130, freq="W-MON")
    holiday_days = zoo.holiday_days_per_week(weeks, "DE")
    y = 100 - 30 * holiday_days  # a flat series that loses 30 units per public holiday
    forecast = zoo.prophet(y[:120], 10, weeks[0].to_datetime64(), holiday_country="DE")
    expected = y[120:]
    assert holiday_days[120:].any(), "the horizon must contain a holiday week"
    assert np.abs(forecast - expected).max() < 5
    without = zoo.prophet(y[:120], 10, weeks[0].to_datetime64())
    assert np.abs(without - expected).max() > np.abs(forecast - expected).max()


def test_an_unknown_holiday_country_is_named():
    with pytest.raises(ValueError, match="holiday_country"):
        ForecastConfig(use_prophet=True, holiday_country="XX")
