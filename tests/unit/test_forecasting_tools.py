"""Accuracy/FVA, degradation, scenarios, reconciliation and the fan chart."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.forecasting import (
    ForecastConfig,
    accuracy,
    accuracy_by_class,
    apply_scenario,
    detect_degradation,
    fan_chart_png,
    reconcile,
    run_forecast,
)

W = pd.Timedelta(weeks=1)
T0 = pd.Timestamp("2024-01-01")


def test_accuracy_and_fva_against_hand_computed_values():
    actuals = pd.DataFrame(
        {
            "material_id": "M1",
            "plant_id": "P1",
            "week_start": [T0, T0 + W, T0 + 52 * W, T0 + 53 * W, T0 + 54 * W],
            "demand_qty": [5.0, 15.0, 10.0, 10.0, 99.0],
            "stockout": [False, False, False, False, True],
        }
    )
    forecasts = pd.DataFrame(
        {
            "material_id": "M1",
            "plant_id": "P1",
            "week_start": [T0 + 52 * W, T0 + 53 * W, T0 + 54 * W],
            "forecast_qty": [12.0, 8.0, 50.0],
        }
    )
    out = accuracy(actuals, forecasts).set_index("level")
    item = out.loc["item"]
    assert item.n_points == 2  # the stockout week is censored
    assert item.wape == pytest.approx(4 / 20)
    assert item.bias == pytest.approx(0.0)
    assert item.naive_wape == pytest.approx(10 / 20)  # naive = weeks 0 and 1: 5 and 15
    assert item.fva == pytest.approx(0.3)
    assert out.loc["total"].wape == pytest.approx(0.2)
    assert out.loc["plant"].plant_id == "P1"


def test_accuracy_by_vintage_and_class():
    actuals = pd.DataFrame(
        {
            "material_id": ["A", "B"] * 2,
            "plant_id": "P1",
            "week_start": [T0, T0, T0 + W, T0 + W],
            "demand_qty": [10.0, 4.0, 10.0, 4.0],
        }
    )
    fc = pd.DataFrame(
        {
            "material_id": ["A", "B", "A", "B"],
            "plant_id": "P1",
            "week_start": [T0 + W] * 4,
            "forecast_qty": [11.0, 4.0, 15.0, 4.0],
            "vintage": ["v1", "v1", "v2", "v2"],
        }
    )
    cls = pd.DataFrame(
        {"material_id": ["A", "B"], "plant_id": "P1", "demand_class": ["smooth", "lumpy"]}
    )
    out = accuracy(actuals, fc, cls, season_length=1, vintage_col="vintage")
    smooth = out[(out.level == "class") & (out.demand_class == "smooth")].set_index("vintage")
    assert smooth.loc["v1", "wape"] == pytest.approx(0.1)
    assert smooth.loc["v2", "wape"] == pytest.approx(0.5)
    assert smooth.loc["v1", "fva"] == pytest.approx(-0.1)  # naive (last week) was exact


def test_detect_degradation_flags_a_series_that_got_worse():
    vintages = pd.date_range("2024-01-01", periods=20, freq="7D")
    good = np.full(20, 0.2)
    worse = np.r_[np.full(16, 0.2), np.full(4, 0.5)]
    hist = pd.DataFrame(
        {
            "level": "item",
            "material_id": ["A"] * 20 + ["B"] * 20,
            "plant_id": "P1",
            "forecast_origin": np.tile(vintages, 2),
            "wape": np.r_[good, worse],
            "fva": np.r_[np.full(20, 0.1), np.full(16, 0.1), np.full(4, -0.2)],
        }
    )
    out = detect_degradation(hist).set_index("material_id")
    assert not out.loc["A", "degraded"]
    assert out.loc["B", "degraded"]
    assert out.loc["B", "ratio"] == pytest.approx(2.5)
    assert out.loc["B", "worse_than_naive"] and not out.loc["A", "worse_than_naive"]


def small_history(n_weeks: int = 80) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    weeks = pd.date_range("2023-01-02", periods=n_weeks, freq="7D")
    parts = []
    for mat, plant, lam in [
        ("M1", "P1", 20),
        ("M2", "P1", 5),
        ("M3", "P1", 12),
        ("M1", "P2", 8),
        ("M4", "P2", 30),
    ]:
        parts.append(
            pd.DataFrame(
                {
                    "material_id": mat,
                    "plant_id": plant,
                    "week_start": weeks,
                    "demand_qty": rng.poisson(lam, n_weeks).astype(float),
                    "stockout": False,
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def forecast_run():
    hist = small_history()
    cfg = ForecastConfig(n_jobs=1)
    return hist, cfg, run_forecast(hist, cfg)


@pytest.mark.parametrize("method", ["bottom_up", "mint_shrink", "auto"])
def test_reconciliation_is_coherent(forecast_run, method):
    hist, cfg, res = forecast_run
    groups = pd.DataFrame({"material_id": ["M1", "M2", "M3", "M4"], "product_group": list("GGHH")})
    rec = reconcile(hist, res, groups, cfg, method=method)
    assert rec.method in ("bottom_up", "mint_shrink")
    f = rec.forecast
    bottom = f[f.level == "material"]
    for level, by in [
        ("product_group", ["product_group", "plant_id", "week_start"]),
        ("plant", ["plant_id", "week_start"]),
        ("total", ["week_start"]),
    ]:
        summed = bottom.groupby(by)["forecast_qty"].sum()
        agg = f[f.level == level].set_index(by)["forecast_qty"]
        np.testing.assert_allclose(agg.sort_index(), summed.loc[agg.sort_index().index])
    assert (f.forecast_qty >= 0).all()
    if method == "bottom_up":
        np.testing.assert_allclose(bottom.forecast_qty, bottom.base_qty)
    b = rec.bottom
    assert (b.forecast_lower <= b.forecast_qty + 1e-9).all()
    assert (b.forecast_qty <= b.forecast_upper + 1e-9).all()
    assert (np.diff(b[["p10", "p50", "p90", "p95"]].to_numpy(), axis=1) >= -1e-9).all()
    scores = rec.scores
    assert set(scores.method) >= {"bottom_up", "mint_shrink"}
    assert scores.wape.notna().all()


def test_mint_pulls_bottom_towards_an_accurate_total(forecast_run):
    """If bottom forecasts are all biased low but the total is right, MinT must move the
    bottom sum closer to the total than bottom-up does."""
    hist, cfg, res = forecast_run
    biased = res.forecast.assign(forecast_qty=res.forecast.forecast_qty * 0.5)
    res_biased = type(res)(**{**res.__dict__, "forecast": biased})
    groups = pd.DataFrame({"material_id": ["M1", "M2", "M3", "M4"], "product_group": "G"})
    mint = reconcile(hist, res_biased, groups, cfg, method="mint_shrink").forecast
    bu = reconcile(hist, res_biased, groups, cfg, method="bottom_up").forecast
    base_total = mint[mint.level == "total"].base_qty.sum()
    assert abs(mint[mint.level == "total"].forecast_qty.sum() - base_total) < abs(
        bu[bu.level == "total"].forecast_qty.sum() - base_total
    )


def test_reconcile_rejects_bad_mapping(forecast_run):
    hist, cfg, res = forecast_run
    with pytest.raises(ValueError, match="product_group"):
        reconcile(hist, res, pd.DataFrame({"material_id": ["M1"]}), cfg)
    dup = pd.DataFrame({"material_id": ["M1", "M1"], "product_group": ["G", "H"]})
    with pytest.raises(ValueError, match="more than one group"):
        reconcile(hist, res, dup, cfg)


def test_scenario_uplift_in_promotion_weeks_only(forecast_run):
    _, _, res = forecast_run
    base = res.forecast.copy()
    weeks = sorted(base.week_start.unique())[2:4]
    out = apply_scenario(base, 20, weeks, materials=["M1"], name="promo")
    pd.testing.assert_frame_equal(base, res.forecast)  # base untouched
    hit = out.material_id.eq("M1") & out.week_start.isin(weeks)
    np.testing.assert_allclose(out.loc[hit, "forecast_qty"], base.loc[hit, "forecast_qty"] * 1.2)
    np.testing.assert_allclose(out.loc[hit, "p95"], base.loc[hit, "p95"] * 1.2)
    np.testing.assert_allclose(out.loc[~hit, "forecast_qty"], base.loc[~hit, "forecast_qty"])
    assert (out.scenario == "promo").all()
    with pytest.raises(ValueError, match="uplift_pct"):
        apply_scenario(base, -150)


def test_scenario_new_product_from_analogue(forecast_run):
    _, _, res = forecast_run
    analogue = pd.DataFrame(
        {"material_id": ["NEW"], "plant_id": ["P1"], "analogue_material_id": ["M1"], "scale": [0.5]}
    )
    out = apply_scenario(res.forecast, analogue=analogue)
    new = out[out.material_id == "NEW"].reset_index(drop=True)
    ref = res.forecast[(res.forecast.material_id == "M1") & (res.forecast.plant_id == "P1")]
    np.testing.assert_allclose(new.forecast_qty, ref.forecast_qty.to_numpy() * 0.5)
    assert (new.model == "analogue:M1").all()
    assert len(out) == len(res.forecast) + len(ref)
    missing = analogue.assign(analogue_material_id="NOPE")
    with pytest.raises(ValueError, match="NOPE"):
        apply_scenario(res.forecast, analogue=missing)


def test_accuracy_by_class_table(forecast_run):
    _, _, res = forecast_run
    table = accuracy_by_class(res.backtest, res.classification)
    row = table.set_index("demand_class").loc["smooth"]
    assert row.n_series == 5
    sel = res.backtest[res.backtest.selected]
    assert row.mase == pytest.approx(sel.mase.mean())
    assert row.fva_mase == pytest.approx(1 - row.mase / row.mase_naive)


def test_fan_chart_renders_png(forecast_run):
    hist, _, res = forecast_run
    png = fan_chart_png(hist, res.forecast, [("M1", "P1"), ("M4", "P2"), ("NOPE", "P9")])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(png) > 5000
    with pytest.raises(ValueError, match="at least one"):
        fan_chart_png(hist, res.forecast, [])
