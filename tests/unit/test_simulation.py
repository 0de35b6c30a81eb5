"""Policy replay on demand series whose right answers can be worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.planning.inventory import PolicyConfig, compute_policies
from pipelines.planning.simulation import (
    KPI_COLUMNS,
    frontier_png,
    service_frontier,
    simulate_policy,
    summarise_kpis,
    what_if,
)


def _constant_demand(material: str, days: int, qty: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "material_id": material,
            "plant_id": "1000",
            "date": pd.date_range("2024-01-01", periods=days, freq="D"),
            "demand_qty": qty,
        }
    )


def _policy(material: str, policy_type: str = "(s,Q)", **values) -> dict:
    row = {
        "material_id": material,
        "plant_id": "1000",
        "policy_type": policy_type,
        "reorder_point": np.nan,
        "order_quantity": np.nan,
        "order_up_to": np.nan,
        "review_period_days": 0.0,
        "lead_time_days": 5.0,
    }
    row.update(values)
    return row


def _one(kpis: pd.DataFrame, material: str) -> pd.Series:
    return kpis.set_index("material_id").loc[material]


def test_constant_demand_with_covering_reorder_point_never_runs_out() -> None:
    # 10/day, lead time 5 days, s = 50 covers the lead-time demand exactly: the receipt
    # lands at the end of the day the last unit is sold.
    kpis = simulate_policy(
        _constant_demand("M1", 100),
        pd.DataFrame([_policy("M1", reorder_point=50.0, order_quantity=100.0)]),
        None,
    )
    row = _one(kpis, "M1")
    assert row["fill_rate"] == 1.0
    assert row["cycle_service_level"] == 1.0
    assert row["stockout_days"] == 0
    assert row["orders"] == 10  # IP hits 50 on days 9, 19, ..., 99
    assert row["lead_time_source"] == "policy"
    assert list(kpis.columns) == list(KPI_COLUMNS)


def test_constant_demand_with_low_reorder_point_has_computable_stockouts() -> None:
    # s = 40: the order placed when 40 are left arrives after 5 days, so on the 5th day of
    # every cycle 10 units are short and the day before ends with an empty shelf.
    # Start at s + Q = 140: orders on days 9, 19, ..., 99 (10), receipts on days 14, ...,
    # 94 (9), each after one short day: 90 of 1,000 units short.
    kpis = simulate_policy(
        _constant_demand("M1", 100),
        pd.DataFrame([_policy("M1", reorder_point=40.0, order_quantity=100.0)]),
        pd.DataFrame({"material_id": ["M1"], "plant_id": ["1000"], "lead_time_days": [5]}),
    )
    row = _one(kpis, "M1")
    assert row["total_demand"] == 1000.0
    assert row["filled_demand"] == 910.0
    assert row["fill_rate"] == pytest.approx(0.91)
    assert row["shortage_days"] == 9
    assert row["stockout_days"] == 9  # days 13, 23, ..., 93 end with zero on hand
    assert row["orders"] == 10
    assert row["cycles"] == 8  # receipts 14..94 close 8 complete cycles, each with a shortage
    assert row["cycle_service_level"] == 0.0


def test_periodic_review_order_up_to() -> None:
    # (R,S) with R = 7, L = 3: S = 10 x (7 + 3) = 100 covers every cycle; S = 90 leaves
    # the last day before each receipt short by 10.
    policies = pd.DataFrame(
        [
            _policy("ok", "(R,S)", order_up_to=100.0, review_period_days=7, lead_time_days=3.0),
            _policy("low", "(R,S)", order_up_to=90.0, review_period_days=7, lead_time_days=3.0),
        ]
    )
    demand = pd.concat([_constant_demand("ok", 70), _constant_demand("low", 70)])
    kpis = simulate_policy(demand, policies, None)
    assert _one(kpis, "ok")["fill_rate"] == 1.0
    # low: starts at 90; reviews on days 0, 7, ..., 63 order 70 (80 on day 0), receipts on
    # days 3, 10, ..., 66. Days 9, 16, ..., 65 are short 10 each: 9 short days.
    low = _one(kpis, "low")
    assert low["shortage_days"] == 9
    assert low["filled_demand"] == 700.0 - 90.0
    assert low["orders"] == 10


def test_order_up_to_respects_rounding() -> None:
    # (s,S) = (10, 20), 3/day, rounding 5, lead time 0: on day 3 the position is 8, the
    # order 12 is rounded to 15 and arrives at once (23 on hand); then every 5 days.
    # End-of-day stock: 17 14 11 23 | 20 17 14 11 23 | ... -> (65 + 4 x 85) / 24.
    policies = pd.DataFrame(
        [
            _policy(
                "M1",
                "(s,S)",
                reorder_point=10.0,
                order_up_to=20.0,
                rounding_qty=5.0,
                lead_time_days=0.0,
            )
        ]
    )
    row = _one(simulate_policy(_constant_demand("M1", 24, qty=3.0), policies, None), "M1")
    assert row["orders"] == 5
    assert row["fill_rate"] == 1.0
    assert row["avg_inventory_units"] == pytest.approx(405 / 24)


def test_sequential_lead_times_are_used_in_order() -> None:
    # 10/day, s = 50, Q = 100, lead times 5, 8, 5, 8, ...: every 8-day order leaves three
    # days (30 units) short; orders on days 19 and 39 take 8 days -> 60 of 500 short.
    lead_times = pd.DataFrame(
        {"material_id": "M1", "plant_id": "1000", "lead_time_days": [5.0, 8.0]}
    )
    row = _one(
        simulate_policy(
            _constant_demand("M1", 50),
            pd.DataFrame([_policy("M1", reorder_point=50.0, order_quantity=100.0)]),
            lead_times,
            lead_time_sampling="sequential",
        ),
        "M1",
    )
    assert row["fill_rate"] == pytest.approx(0.88)
    assert row["shortage_days"] == 6
    assert row["orders"] == 5
    assert row["lead_time_source"] == "sequential"


def _random_case(n_series: int = 3, days: int = 400) -> tuple[pd.DataFrame, ...]:
    rng = np.random.default_rng(42)
    demand = pd.concat(
        pd.DataFrame(
            {
                "material_id": f"M{i}",
                "plant_id": "1000",
                "date": pd.date_range("2023-01-01", periods=days),
                "demand_qty": rng.poisson(3 + 2 * i, days).astype(float),
            }
        )
        for i in range(n_series)
    )
    lead_times = pd.DataFrame(
        {
            "material_id": np.repeat([f"M{i}" for i in range(n_series)], 6),
            "plant_id": "1000",
            "lead_time_days": np.tile([2, 4, 7, 10, 12, 20], n_series),
        }
    )
    inputs = pd.DataFrame(
        {
            "material_id": [f"M{i}" for i in range(n_series)],
            "plant_id": "1000",
            "abc_class": "B",
            "xyz_class": "X",
            "demand_class": "smooth",
            "mean_weekly_demand": [7.0 * (3 + 2 * i) for i in range(n_series)],
            "sigma_weekly": [np.sqrt(7.0 * (3 + 2 * i)) for i in range(n_series)],
            "lead_time_mean_days": 9.2,
            "lead_time_std_days": 5.9,
            "planned_lead_time_days": 10.0,
            "unit_cost": 4.0,
            "moq": 0.0,
            "rounding_qty": 1.0,
        }
    )
    return demand, lead_times, inputs


def test_bootstrap_is_deterministic_per_seed_and_per_series() -> None:
    demand, lead_times, inputs = _random_case()
    policies = compute_policies(inputs)
    first = simulate_policy(demand, policies, lead_times, seed=7)
    again = simulate_policy(demand, policies, lead_times, seed=7)
    other = simulate_policy(demand, policies, lead_times, seed=8)
    pd.testing.assert_frame_equal(first, again)
    assert not first["filled_demand"].equals(other["filled_demand"])
    # A series' draws do not depend on which other series run with it.
    alone = simulate_policy(demand[demand["material_id"] == "M1"], policies, lead_times, seed=7)
    together = first[first["material_id"] == "M1"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, together)


def test_warmup_days_are_left_out() -> None:
    kpis = simulate_policy(
        _constant_demand("M1", 100),
        pd.DataFrame([_policy("M1", reorder_point=40.0, order_quantity=100.0)]),
        None,
        warmup_days=20,
    )
    row = _one(kpis, "M1")
    assert row["days_measured"] == 80
    assert row["total_demand"] == 800.0
    assert row["filled_demand"] == 800.0 - 8 * 10  # short days 24, 34, ..., 84, 94


def test_zero_policy_serves_nothing() -> None:
    kpis = simulate_policy(_constant_demand("M1", 30), pd.DataFrame([_policy("M1", "none")]), None)
    row = _one(kpis, "M1")
    assert row["fill_rate"] == 0.0
    assert row["orders"] == 0
    assert row["stockout_days"] == 30


def test_targets_and_deltas_come_from_the_policy() -> None:
    demand, lead_times, inputs = _random_case()
    policies = compute_policies(inputs.assign(service_target=0.95, target_type="fill_rate"))
    kpis = simulate_policy(demand, policies, lead_times, warmup_days=30)
    assert (kpis["fill_rate_target"] == 0.95).all()
    assert np.allclose(kpis["service_delta"], kpis["fill_rate"] - 0.95)
    assert np.allclose(kpis["csl_target"], policies.set_index("material_id")["expected_csl"])
    assert np.allclose(kpis["avg_inventory_value"], kpis["avg_inventory_units"] * 4.0)


def test_simulation_agrees_with_the_planned_fill_rate_on_long_history() -> None:
    # Poisson daily demand and fixed lead times, a long horizon: the achieved fill rate
    # should sit close to the planned one (the maths and the replay share conventions).
    rng = np.random.default_rng(2024)
    days = 6000
    means = [0.4, 2.0, 12.0]
    demand = pd.concat(
        pd.DataFrame(
            {
                "material_id": f"M{i}",
                "plant_id": "1000",
                "date": pd.date_range("2000-01-01", periods=days),
                "demand_qty": rng.poisson(mean, days).astype(float),
            }
        )
        for i, mean in enumerate(means)
    )
    inputs = pd.DataFrame(
        {
            "material_id": [f"M{i}" for i in range(len(means))],
            "plant_id": "1000",
            "abc_class": "B",
            "xyz_class": "X",
            "demand_class": "smooth",
            "mean_weekly_demand": [7 * m for m in means],
            "sigma_weekly": [np.sqrt(7 * m) for m in means],
            "lead_time_mean_days": 6.0,
            "lead_time_std_days": 0.0,
            "planned_lead_time_days": 6.0,
            "unit_cost": 10.0,
            "moq": 0.0,
            "rounding_qty": 1.0,
            "service_target": 0.95,
            "target_type": "fill_rate",
            "policy_type": ["(s,Q)", "(s,S)", "(R,S)"],
        }
    )
    policies = compute_policies(inputs)
    kpis = simulate_policy(demand, policies, None, warmup_days=60)
    planned = policies.set_index("material_id")["expected_fill_rate"]
    achieved = kpis.set_index("material_id")["fill_rate"]
    assert (achieved - planned).abs().max() < 0.015


def test_what_if_higher_target_and_longer_lead_time() -> None:
    demand, lead_times, inputs = _random_case()
    config = PolicyConfig()
    result = what_if(
        inputs, config, demand, lead_times, service_target=0.99, target_type="fill_rate"
    )
    assert set(result["scenario"]) == {"baseline", "what_if"}
    totals = summarise_kpis(result, by=["scenario"]).set_index("scenario")
    assert totals.loc["what_if", "inventory_value"] > totals.loc["baseline", "inventory_value"]
    assert totals.loc["what_if", "fill_rate"] >= totals.loc["baseline", "fill_rate"]

    slower = what_if(inputs, config, demand, lead_times, lead_time_factor=2.0)
    by_scenario = summarise_kpis(slower, by=["scenario"]).set_index("scenario")
    # Twice the lead time, replanned: more stock is needed to hold the service level.
    assert (
        by_scenario.loc["what_if", "inventory_value"]
        > by_scenario.loc["baseline", "inventory_value"]
    )


def test_service_frontier_and_png() -> None:
    demand, lead_times, inputs = _random_case()
    frontier = service_frontier(
        inputs, PolicyConfig(), demand, lead_times, targets=(0.85, 0.95, 0.99)
    )
    assert list(frontier["service_target"]) == [0.85, 0.95, 0.99]
    assert frontier["planned_inventory_value"].is_monotonic_increasing
    assert frontier["safety_stock_value"].is_monotonic_increasing
    assert frontier["achieved_fill_rate"].iloc[-1] > frontier["achieved_fill_rate"].iloc[0]
    png = frontier_png(frontier)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000
    planned_only = service_frontier(inputs, PolicyConfig(), targets=(0.9, 0.95))
    assert "achieved_fill_rate" not in planned_only.columns
    assert frontier_png(planned_only).startswith(b"\x89PNG")


def test_bad_inputs_are_named() -> None:
    policies = pd.DataFrame([_policy("M1", reorder_point=40.0, order_quantity=100.0)])
    with pytest.raises(ValueError, match="daily_demand lacks columns \\['demand_qty'\\]"):
        simulate_policy(_constant_demand("M1", 5).drop(columns="demand_qty"), policies, None)
    negative = _constant_demand("M1", 5).assign(demand_qty=[1.0, 2.0, -3.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="'demand_qty' needs a number >= 0 at row 2"):
        simulate_policy(negative, policies, None)
    with pytest.raises(ValueError, match="'policy_type' has '\\(x,y\\)'"):
        simulate_policy(_constant_demand("M1", 5), policies.assign(policy_type="(x,y)"), None)
    with pytest.raises(ValueError, match="\\(s,Q\\) needs"):
        simulate_policy(_constant_demand("M1", 5), policies.assign(order_quantity=0.0), None)
