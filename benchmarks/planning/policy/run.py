"""Benchmark: achieved vs target service of the inventory policies, replayed on history.

Two data sets:
1. synthetic, demo-like: daily B2B order lines (compound Poisson with gamma-Poisson line
   sizes, weekday pattern, mild yearly seasonality), four demand classes, noisy and
   sometimes late supplier lead times, MOQ and rounding values. Year 1 is history the
   planner sees (forecast = mean weekly demand; forecast error = RMSE of one-step
   expanding-mean backtest forecasts over weeks 13-52; lead-time mean/std from the receipts
   of year 1); years 2-3 are replayed with the later receipts in their order. Compared
   side by side with the textbook baseline (normal lead-time demand, continuous-review
   formulas) on the same data.
2. carparts (Hyndman): 2,509 complete monthly intermittent series. A month is one period
   (one simulation step); lead time 2 months, fixed; review every month. Out of sample:
   fit on Jan-98..Dec-00 (36 months; error std from backtest residuals, or naively the
   in-sample std), measure Jan-01..Mar-02 (15 months). In sample: fit and measure on all
   51 months (checks the maths apart from forecast error).

Goal: achieved fill rate within +/- 2 points of target. Usage:
    .venv/bin/python benchmarks/planning/policy/run.py [--series 1500] [--quick]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))  # run as a script from any directory

from pipelines.planning.inventory import PolicyConfig, compute_policies  # noqa: E402
from pipelines.planning.simulation import (  # noqa: E402
    frontier_png,
    service_frontier,
    simulate_policy,
    summarise_kpis,
)

OUT = Path(__file__).resolve().parent
DATASETS = ROOT / ".." / "shared" / "datasets"
TOLERANCE = 0.02
WEEKDAY = np.array([1.2, 1.15, 1.1, 1.05, 1.0, 0.35, 0.15])
WEEKDAY = WEEKDAY / WEEKDAY.mean()
CLASS_MIX = {"smooth": 0.35, "erratic": 0.20, "intermittent": 0.30, "lumpy": 0.15}
TEXTBOOK = PolicyConfig(distribution="normal", reorder_review_days=0)


# ------------------------------------------------------------------ synthetic data


def synthetic(n_series: int, days: int = 3 * 364, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Daily demand, lead-time receipts and planning inputs of demo-like series."""
    rng = np.random.default_rng(seed)
    classes = rng.choice(list(CLASS_MIX), n_series, p=list(CLASS_MIX.values()))
    lines = {
        "smooth": lambda m: rng.lognormal(np.log(3.0), 0.6, m),
        "erratic": lambda m: rng.uniform(0.5, 3.0, m),
        "intermittent": lambda m: rng.uniform(0.03, 0.3, m),
        "lumpy": lambda m: rng.uniform(0.03, 0.25, m),
    }
    size = {  # mean line size, gamma shape of the Poisson mean
        "smooth": (lambda m: rng.uniform(2, 6, m), 4.0),
        "erratic": (lambda m: rng.uniform(3, 15, m), 0.5),
        "intermittent": (lambda m: rng.uniform(1, 2, m), 2.0),
        "lumpy": (lambda m: rng.uniform(10, 40, m), 0.7),
    }
    rate = np.empty(n_series)
    size_mean = np.empty(n_series)
    size_shape = np.empty(n_series)
    for name in CLASS_MIX:
        at = classes == name
        rate[at] = lines[name](at.sum())
        size_mean[at] = size[name][0](at.sum())
        size_shape[at] = size[name][1]
    t = np.arange(days)
    season = 1 + rng.uniform(0, 0.25, n_series) * np.cos(
        2 * np.pi * (t[:, None] - rng.uniform(0, 365, n_series)) / 365.25
    )
    intensity = rate * season * WEEKDAY[t % 7][:, None]  # (days, series)
    counts = rng.poisson(intensity).ravel()
    cell = np.repeat(np.arange(counts.size), counts)  # one entry per order line
    series = cell % n_series
    shape = size_shape[series]
    qty = 1 + rng.poisson(rng.gamma(shape, (size_mean[series] - 1) / shape))
    demand = np.bincount(cell, weights=qty, minlength=counts.size).reshape(days, n_series)

    planned = rng.uniform(3, 30, n_series).round()
    bias, spread = rng.uniform(-0.05, 0.15, n_series), rng.uniform(0.05, 0.3, n_series)
    receipts = np.maximum(
        np.rint(
            planned[:, None] * np.exp(rng.normal(bias[:, None], spread[:, None], (n_series, 80)))
        ),
        1,
    )
    receipts += np.where(rng.random(receipts.shape) < 0.04, rng.integers(3, 16, receipts.shape), 0)
    seen, later = receipts[:, :20], receipts[:, 20:]

    ids = [f"{i:018d}" for i in range(1, n_series + 1)]
    plants = np.where(np.arange(n_series) % 3 == 0, "2000", "1000")
    train_weeks = demand[:364].reshape(52, 7, n_series).sum(axis=1)
    mean_w, sigma_w = train_weeks.mean(axis=0), backtest_sigma(train_weeks.T, first=13)
    unit_cost = rng.lognormal(3.0, 1.0, n_series).round(2)
    rounding = rng.choice([np.nan, 5.0, 10.0, 12.0, 24.0], n_series, p=[0.6, 0.1, 0.1, 0.1, 0.1])
    moq = np.where(rng.random(n_series) < 0.3, np.ceil(mean_w * rng.uniform(1, 4, n_series)), 0.0)

    value = mean_w * 52 * unit_cost
    order = np.argsort(-value)
    share = np.empty(n_series)
    share[order] = np.cumsum(value[order]) / value.sum()
    abc = np.select([share <= 0.80, share <= 0.95], ["A", "B"], "C")
    cv = np.divide(sigma_w, mean_w, out=np.full(n_series, np.inf), where=mean_w > 0)
    xyz = np.select([cv <= 0.5, cv <= 1.0], ["X", "Y"], "Z")

    inputs = pd.DataFrame(
        {
            "material_id": ids,
            "plant_id": plants,
            "abc_class": abc,
            "xyz_class": xyz,
            "demand_class": classes,
            "mean_weekly_demand": mean_w,
            "sigma_weekly": sigma_w,
            "lead_time_mean_days": seen.mean(axis=1),
            "lead_time_std_days": seen.std(axis=1, ddof=1),
            "planned_lead_time_days": planned,
            "unit_cost": unit_cost,
            "moq": moq,
            "rounding_qty": rounding,
        }
    )
    dates = pd.date_range("2023-01-02", periods=days, freq="D")
    daily = pd.DataFrame(
        {
            "material_id": np.tile(ids, days),
            "plant_id": np.tile(plants, days),
            "date": np.repeat(dates, n_series),
            "demand_qty": demand.ravel(),
        }
    )
    lead_times = pd.DataFrame(
        {
            "material_id": np.repeat(ids, later.shape[1]),
            "plant_id": np.repeat(plants, later.shape[1]),
            "lead_time_days": later.ravel(),
        }
    )
    return {"inputs": inputs, "daily": daily, "lead_times": lead_times}


def backtest_sigma(history: np.ndarray, first: int) -> np.ndarray:
    """Forecast error std per period as the pipeline measures it: RMSE of one-step-ahead
    forecasts (expanding mean) over the periods from `first` on. history: (series, periods)."""
    periods = history.shape[1]
    forecasts = np.stack([history[:, :t].mean(axis=1) for t in range(first, periods)], axis=1)
    return np.sqrt(((history[:, first:] - forecasts) ** 2).mean(axis=1))


def _group_table(kpis: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    table = summarise_kpis(kpis, by=by, tolerance=TOLERANCE)
    fill = table["fill_rate"] - table["fill_rate_target"]
    csl = table["cycle_service_level"] - table["csl_target"]
    return table.assign(fill_delta_pts=100 * fill, csl_delta_pts=100 * csl)


def run_synthetic(n_series: int) -> dict:
    data = synthetic(n_series)
    warmup = 364
    results = {}
    tables = []
    for name, config in (("ours", PolicyConfig()), ("textbook", TEXTBOOK)):
        started = time.perf_counter()
        policies = compute_policies(data["inputs"], config)
        plan_seconds = time.perf_counter() - started
        started = time.perf_counter()
        kpis = simulate_policy(
            data["daily"],
            policies,
            data["lead_times"],
            lead_time_sampling="sequential",
            warmup_days=warmup,
        )
        sim_seconds = time.perf_counter() - started
        kpis = kpis.merge(
            policies[
                [
                    "material_id",
                    "plant_id",
                    "abc_class",
                    "xyz_class",
                    "demand_class",
                    "distribution",
                ]
            ],
            on=["material_id", "plant_id"],
        ).assign(abc_xyz=lambda f: f["abc_class"].fillna("?") + f["xyz_class"].fillna("?"))
        active = kpis[kpis["policy_type"] != "none"]
        for by in (
            ["target_type"],
            ["target_type", "policy_type"],
            ["target_type", "demand_class"],
            ["target_type", "abc_xyz"],
            ["target_type", "distribution"],
        ):
            tables.append(_group_table(active, by).assign(method=name, grouping="+".join(by)))
        overall = summarise_kpis(active, by=["target_type"], tolerance=TOLERANCE).set_index(
            "target_type"
        )
        results[name] = {
            "plan_seconds": round(plan_seconds, 2),
            "simulate_seconds": round(sim_seconds, 2),
            "series": int(len(kpis)),
            "by_target_type": {
                kind: {
                    "series": int(row["series"]),
                    "achieved_fill_rate": round(float(row["fill_rate"]), 4),
                    "target_or_expected_fill_rate": round(float(row["fill_rate_target"]), 4),
                    "achieved_csl": round(float(row["cycle_service_level"]), 4),
                    "target_or_expected_csl": round(float(row["csl_target"]), 4),
                    "share_series_within_2pts": round(float(row["share_within_tolerance"]), 3),
                    "inventory_value": round(float(row["inventory_value"]), 0),
                }
                for kind, row in overall.iterrows()
            },
        }
    table = pd.concat(tables, ignore_index=True)
    table.to_csv(OUT / "synthetic_groups.csv", index=False, float_format="%.4f")
    return results


# ------------------------------------------------------------------ carparts


def carparts() -> pd.DataFrame:
    path = DATASETS / "demand" / "carparts.csv"
    wide = pd.read_csv(path, dtype={"Part": str})
    complete = wide.dropna()
    return complete.set_index("Part").astype(float)


def carparts_case(
    values: np.ndarray, parts: list[str], fit: slice, sigma: str
) -> dict[str, pd.DataFrame]:
    """Month = one simulation period; weekly inputs are 7 periods (exact scaling).
    sigma: "backtest" (RMSE of one-step expanding-mean forecasts from month 12 of the fit
    window, as the pipeline's backtest residuals) or "in_sample" (std of the fit window)."""
    n, months = values.shape
    history = values[:, fit]
    mean_m = history.mean(axis=1)
    if sigma == "backtest":
        sigma_m = backtest_sigma(history, first=12)
    else:
        sigma_m = history.std(axis=1, ddof=1)
    inputs = pd.DataFrame(
        {
            "material_id": parts,
            "plant_id": "CARPARTS",
            "abc_class": None,
            "xyz_class": None,
            "demand_class": "intermittent",
            "mean_weekly_demand": 7 * mean_m,
            "sigma_weekly": np.sqrt(7) * sigma_m,
            "lead_time_mean_days": 2.0,
            "lead_time_std_days": 0.0,
            "planned_lead_time_days": 2.0,
            "unit_cost": 100.0,
            "moq": 0.0,
            "rounding_qty": 1.0,
        }
    )
    periods = pd.date_range("2000-01-01", periods=months, freq="D")
    daily = pd.DataFrame(
        {
            "material_id": np.repeat(parts, months),
            "plant_id": "CARPARTS",
            "date": np.tile(periods, n),
            "demand_qty": values.ravel(),
        }
    )
    return {"inputs": inputs, "daily": daily}


CARPARTS_CONFIG = PolicyConfig(
    review_period_days=1.0,  # one period = one month
    reorder_review_days=1.0,
    weeks_per_year=12 / 7,  # 7 "weekly" periods x 12/7 = 12 months a year for the EOQ
    order_cost=50.0,
    holding_rate=0.25,
)
CARPARTS_TEXTBOOK = replace(CARPARTS_CONFIG, distribution="normal", reorder_review_days=0)


def run_carparts(targets: tuple[float, ...]) -> dict:
    frame = carparts()
    parts, values = list(frame.index), frame.to_numpy()
    variants = {
        "out_of_sample": (slice(0, 36), 36, "backtest"),
        "out_of_sample_naive_sigma": (slice(0, 36), 36, "in_sample"),
        "in_sample": (slice(0, values.shape[1]), 3, "in_sample"),
    }
    rows = []
    frontier = None
    for variant, (fit, warmup, sigma) in variants.items():
        case = carparts_case(values, parts, fit, sigma)
        for policy in ("(s,Q)", "(R,S)"):
            for method, config in (("ours", CARPARTS_CONFIG), ("textbook", CARPARTS_TEXTBOOK)):
                if method == "textbook" and policy == "(R,S)":
                    continue  # the textbook baseline is a continuous-review (s,Q) formula
                use = config
                for target in targets:
                    inputs = case["inputs"].assign(
                        service_target=target, target_type="fill_rate", policy_type=policy
                    )
                    policies = compute_policies(inputs, use)
                    kpis = simulate_policy(case["daily"], policies, None, warmup_days=warmup)
                    stocked = kpis[kpis["policy_type"] != "none"]
                    total = summarise_kpis(kpis, tolerance=TOLERANCE).iloc[0]
                    inner = summarise_kpis(stocked, tolerance=TOLERANCE).iloc[0]
                    rows.append(
                        {
                            "variant": variant,
                            "policy": policy,
                            "method": method,
                            "target": target,
                            "series": int(total["series"]),
                            "zero_policy_series": int((kpis["policy_type"] == "none").sum()),
                            "achieved_fill_rate": float(total["fill_rate"]),
                            "delta_pts": 100 * float(total["fill_rate"] - target),
                            "achieved_fill_rate_stocked": float(inner["fill_rate"]),
                            "delta_pts_stocked": 100 * float(inner["fill_rate"] - target),
                            "expected_fill_rate_stocked": float(inner["fill_rate_target"]),
                            "share_series_within_2pts": float(inner["share_within_tolerance"]),
                            "avg_inventory_units": float(total["inventory_units"]),
                            "orders": int(total["orders"]),
                        }
                    )
        if variant == "out_of_sample":
            frontier = service_frontier(
                case["inputs"].assign(policy_type="(s,Q)"),
                CARPARTS_CONFIG,
                case["daily"],
                None,
                targets=(0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99),
                warmup_days=warmup,
            )
    table = pd.DataFrame(rows)
    table.to_csv(OUT / "carparts_results.csv", index=False, float_format="%.4f")
    frontier.to_csv(OUT / "carparts_frontier.csv", index=False, float_format="%.4f")
    (OUT / "carparts_frontier.png").write_bytes(frontier_png(frontier))
    return {"rows": table.round(4).to_dict(orient="records"), "series": len(parts)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=1500, help="synthetic series")
    parser.add_argument("--quick", action="store_true", help="200 synthetic series, 2 targets")
    args = parser.parse_args()
    n_series = 200 if args.quick else args.series
    targets = (0.90, 0.95) if args.quick else (0.90, 0.95, 0.98)
    started = time.perf_counter()
    results = {
        "machine": f"{platform.machine()}, {platform.python_version()}",
        "synthetic": run_synthetic(n_series),
        "carparts": run_carparts(targets),
    }
    results["seconds"] = round(time.perf_counter() - started, 1)
    (OUT / "results.json").write_text(json.dumps(results, indent=2, default=float))
    print(json.dumps(results["synthetic"], indent=2))
    print(pd.DataFrame(results["carparts"]["rows"]).to_string(index=False))
    print(f"total {results['seconds']} s")


if __name__ == "__main__":
    main()
