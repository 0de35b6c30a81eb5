"""Inventory policy maths against textbook values, stockpyl as an oracle, and properties."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from stockpyl import loss_functions as spl_loss
from stockpyl.eoq import economic_order_quantity
from stockpyl.ss import s_s_cost_discrete, s_s_discrete_exact

from pipelines.planning import inventory as inv
from pipelines.planning.inventory import (
    PolicyConfig,
    compute_policies,
    eoq,
    normal_fill_rate,
    optimal_s_S,
    optimal_s_S_poisson,
    reorder_point,
    round_order_quantity,
    s_S_cost,
    safety_stock,
    sigma_lead_time_demand,
    standard_normal_loss,
)

CONTINUOUS = PolicyConfig(reorder_review_days=0)


def _row(**overrides) -> dict:
    row = {
        "material_id": "M1",
        "plant_id": "1000",
        "abc_class": "B",
        "xyz_class": "X",
        "demand_class": "smooth",
        "mean_weekly_demand": 100.0,
        "sigma_weekly": 20.0,
        "lead_time_mean_days": 63.0,
        "lead_time_std_days": 14.0,
        "planned_lead_time_days": 60.0,
        "unit_cost": 0.9,
        "moq": 0.0,
        "rounding_qty": np.nan,
    }
    row.update(overrides)
    return row


def _random_inputs(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mean = rng.gamma(0.6, 30.0, n)
    return pd.DataFrame(
        {
            "material_id": [f"M{i:05d}" for i in range(n)],
            "plant_id": "1000",
            "abc_class": rng.choice(["A", "B", "C", None], n),
            "xyz_class": rng.choice(["X", "Y", "Z", None], n),
            "demand_class": rng.choice(["smooth", "erratic", "intermittent", "lumpy", "new"], n),
            "mean_weekly_demand": mean,
            "sigma_weekly": mean * rng.uniform(0.05, 2.5, n),
            "lead_time_mean_days": rng.uniform(1, 45, n),
            "lead_time_std_days": np.where(rng.random(n) < 0.2, np.nan, rng.uniform(0, 6, n)),
            "planned_lead_time_days": 14.0,
            "unit_cost": rng.uniform(0.5, 200, n),
            "moq": rng.choice([0.0, 10.0, 100.0], n),
            "rounding_qty": rng.choice([np.nan, 1.0, 6.0, 25.0], n),
        }
    )


# ---------------------------------------------------------------- textbook values


def test_eoq_textbook_value_and_stockpyl() -> None:
    assert eoq(8, 0.225, 1300) == pytest.approx(304.05, abs=0.005)
    assert eoq(8, 0.225, 1300) == pytest.approx(economic_order_quantity(8, 0.225, 1300)[0])


def test_eoq_rejects_non_positive_holding_cost() -> None:
    with pytest.raises(ValueError, match="holding_cost"):
        eoq(8, 0.0, 1300)


@pytest.mark.parametrize(
    ("quantity", "moq", "rounding", "expected"),
    [
        (304.05, 500, 0, 500),  # MOQ wins
        (304.05, 0, 40, 320),  # rounded up to a multiple of 40
        (304.05, 310, 25, 325),  # MOQ, then rounding
        (300.0, 0, 50, 300),  # already a multiple
        (304.05, np.nan, np.nan, 304.05),  # no info record
    ],
)
def test_round_order_quantity(quantity, moq, rounding, expected) -> None:
    assert round_order_quantity(quantity, moq, rounding) == pytest.approx(expected)


def test_worked_example_sigma_ltd_and_safety_stock() -> None:
    sigma = sigma_lead_time_demand(100, 20, 9, 2)
    assert sigma == pytest.approx(208.8, abs=0.05)
    ss = safety_stock(0.95, sigma)
    assert ss == pytest.approx(343.5, abs=0.1)
    assert reorder_point(100, 9, ss) == pytest.approx(900 + 343.46, abs=0.01)


def test_sigma_ltd_is_the_same_in_days_as_in_weeks() -> None:
    weekly = sigma_lead_time_demand(100, 20, 9, 2)
    daily = sigma_lead_time_demand(100 / 7, 20 / np.sqrt(7), 63, 14)
    assert daily == pytest.approx(weekly)


def test_compute_policies_reproduces_worked_example_in_days() -> None:
    inputs = pd.DataFrame(
        [_row(service_target=0.95, target_type="csl", policy_type="(s,Q)", order_cost=8.0)]
    )
    out = compute_policies(inputs, CONTINUOUS).iloc[0]
    assert out["distribution"] == "normal"
    assert out["mean_ltd"] == pytest.approx(900.0)
    assert out["sigma_ltd"] == pytest.approx(208.8, abs=0.05)
    assert out["safety_stock"] == pytest.approx(343.5, abs=0.1)
    assert out["reorder_point"] == pytest.approx(1243.5, abs=0.1)
    assert out["expected_csl"] == pytest.approx(0.95)


def test_compute_policies_eoq_with_moq_and_rounding() -> None:
    config = PolicyConfig(weeks_per_year=52.0, holding_rate=0.25)
    base = {"mean_weekly_demand": 25.0, "unit_cost": 0.9, "order_cost": 8.0}
    inputs = pd.DataFrame(
        [
            _row(material_id="plain", **base),
            _row(material_id="moq", moq=500.0, **base),
            _row(material_id="rounded", rounding_qty=40.0, **base),
        ]
    )
    out = compute_policies(inputs, config).set_index("material_id")
    assert out.loc["plain", "eoq"] == pytest.approx(304.05, abs=0.005)
    assert out.loc["plain", "order_quantity"] == 305.0  # whole units by default
    assert out.loc["moq", "order_quantity"] == 500.0
    assert out.loc["rounded", "order_quantity"] == 320.0


# ---------------------------------------------------------------- exact (s,S)


def test_optimal_s_S_poisson_textbook_example() -> None:
    policy = optimal_s_S_poisson(holding_cost=1, stockout_cost=4, fixed_cost=5, mean_demand=6)
    assert (policy.reorder_point, policy.order_up_to) == (4, 10)
    assert policy.cost == pytest.approx(8.034, abs=5e-4)
    assert policy.cost == pytest.approx(s_s_discrete_exact(1, 4, 5, True, 6)[2], rel=1e-9)


@pytest.mark.parametrize(
    ("h", "p", "k", "mean"),
    [(1, 4, 5, 3), (1, 10, 50, 10), (2, 5, 20, 4), (0.5, 9, 100, 15), (1, 19, 1, 2)],
)
def test_optimal_s_S_poisson_matches_stockpyl(h, p, k, mean) -> None:
    s, big_s, cost = s_s_discrete_exact(h, p, k, True, mean)
    policy = optimal_s_S_poisson(h, p, k, mean)
    assert (policy.reorder_point, policy.order_up_to) == (int(s), int(big_s))
    assert policy.cost == pytest.approx(cost, rel=1e-9)


def test_s_S_cost_matches_stockpyl() -> None:
    pmf = stats.poisson.pmf(np.arange(60), 6)
    for s, big_s in [(4, 10), (0, 15), (6, 7)]:
        expected = s_s_cost_discrete(s, big_s, 1, 4, 5, True, 6)
        assert s_S_cost(s, big_s, 1, 4, 5, pmf / pmf.sum()) == pytest.approx(expected, rel=1e-9)


def test_optimal_s_S_generic_pmf_matches_brute_force() -> None:
    pmf = np.array([0.30, 0.05, 0.05, 0.10, 0.20, 0.0, 0.0, 0.15, 0.15])  # lumpy demand
    policy = optimal_s_S(holding_cost=1, stockout_cost=9, fixed_cost=12, demand_pmf=pmf)
    costs = {
        (s, big_s): s_S_cost(s, big_s, 1, 9, 12, pmf)
        for s in range(-5, 20)
        for big_s in range(s + 1, 40)
    }
    best = min(costs, key=costs.get)
    assert (policy.reorder_point, policy.order_up_to) == best
    assert policy.cost == pytest.approx(costs[best], rel=1e-12)


def test_optimal_s_S_rejects_bad_pmf() -> None:
    with pytest.raises(ValueError, match="demand_pmf"):
        optimal_s_S(1, 4, 5, [0.5, 0.2])


# ---------------------------------------------------------------- loss functions, fill rate


@pytest.mark.parametrize("z", [-2.0, -0.5, 0.0, 0.7, 1.3, 2.5])
def test_standard_normal_loss_matches_stockpyl(z) -> None:
    assert standard_normal_loss(z) == pytest.approx(spl_loss.standard_normal_loss(z)[0])


def test_fill_rate_textbook_example() -> None:
    # Weekly demand N(2500, 500), lead time 2 weeks, Q = 10,000, SS = 1,000:
    # ESC = 25.13 and fill rate 0.9975 (Chopra & Meindl, evaluating the fill rate).
    sigma = 500 * np.sqrt(2)
    assert normal_fill_rate(1000, sigma, 10_000) == pytest.approx(0.9975, abs=5e-5)


def test_fill_rate_safety_stock_solves_the_loss_equation() -> None:
    # Same item, desired fill rate 0.975: sigma G(k) - sigma G(k + Q/sigma) = (1-0.975) Q.
    sigma, q = 500 * np.sqrt(2), 10_000
    ss = safety_stock(0.975, sigma, "fill_rate", order_quantity=q)
    k = ss / sigma
    short = sigma * (
        spl_loss.standard_normal_loss(k)[0] - spl_loss.standard_normal_loss(k + q / sigma)[0]
    )
    assert short == pytest.approx(0.025 * q, rel=1e-6)
    assert ss == pytest.approx(67, abs=1)


def test_fill_rate_safety_stock_is_zero_when_the_lot_alone_suffices() -> None:
    assert safety_stock(0.5, 10.0, "fill_rate", order_quantity=1000) == 0.0


def test_loss_functions_match_stockpyl() -> None:
    for x in (2, 6, 11):
        assert inv._loss(np.array([inv._POISSON]), x, 6, 6)[0] == pytest.approx(
            spl_loss.poisson_loss(x, 6)[0]
        )
        assert inv._loss(np.array([inv._NBINOM]), x, 6, 16)[0] == pytest.approx(
            spl_loss.negative_binomial_loss(x, mean=6, sd=4)[0]
        )
        # stockpyl's discrete second-order loss is our sum from x + 1.
        assert inv._second_loss(np.array([inv._POISSON]), x + 1, 6, 6)[0] == pytest.approx(
            spl_loss.poisson_second_loss(x, 6)[0]
        )
        assert inv._second_loss(np.array([inv._NBINOM]), x + 1, 6, 16)[0] == pytest.approx(
            spl_loss.negative_binomial_second_loss(x, mean=6, sd=4)[0]
        )
    for x in (60.0, 100.0, 170.0):
        assert inv._loss(np.array([inv._GAMMA]), x, 100, 2500)[0] == pytest.approx(
            spl_loss.gamma_loss(x, 4, 25)[0]
        )
        assert inv._second_loss(np.array([inv._GAMMA]), x, 100, 2500)[0] == pytest.approx(
            spl_loss.gamma_second_loss(x, 4, 25)[0]
        )
        assert inv._second_loss(np.array([inv._NORMAL]), x, 100, 400)[0] == pytest.approx(
            spl_loss.normal_second_loss(x, 100, 20)[0]
        )


def test_poisson_fill_rate_matches_the_exact_continuous_review_formula() -> None:
    # Poisson demand, continuous review (r,Q): fill rate = (1/Q) sum_{y=r+1..r+Q} F(y - 1)
    # (Zipkin), an independent way to the same number.
    inputs = pd.DataFrame(
        [
            _row(
                mean_weekly_demand=3.5,
                sigma_weekly=np.sqrt(3.5),
                lead_time_mean_days=14.0,
                lead_time_std_days=0.0,
                service_target=0.99,
                target_type="fill_rate",
                policy_type="(s,Q)",
                unit_cost=20.0,
                order_cost=2.0,
            )
        ]
    )
    out = compute_policies(inputs, CONTINUOUS).iloc[0]
    assert out["distribution"] == "poisson"
    r, q = int(out["reorder_point"]), int(out["order_quantity"])
    exact = stats.poisson.cdf(np.arange(r, r + q), 7.0).mean()
    assert out["expected_fill_rate"] == pytest.approx(exact, abs=1e-9)
    below = stats.poisson.cdf(np.arange(r - 1, r - 1 + q), 7.0).mean()
    assert r > 7  # above the mean lead-time demand: the zero-safety-stock floor is not binding
    assert exact >= 0.99 > below  # the smallest whole reorder point that meets the target


def test_normal_fill_rate_target_through_compute_policies() -> None:
    inputs = pd.DataFrame(
        [_row(service_target=0.99, target_type="fill_rate", policy_type="(s,Q)", moq=300.0)]
    )
    out = compute_policies(inputs, CONTINUOUS).iloc[0]
    k = out["safety_stock"] / out["sigma_ltd"]
    ratio = out["order_quantity"] / out["sigma_ltd"]
    by_stockpyl = (
        1
        - out["sigma_ltd"]
        * (spl_loss.standard_normal_loss(k)[0] - spl_loss.standard_normal_loss(k + ratio)[0])
        / out["order_quantity"]
    )
    assert by_stockpyl == pytest.approx(0.99, abs=1e-6)
    assert out["expected_fill_rate"] == pytest.approx(0.99, abs=1e-6)


# ---------------------------------------------------------------- compute_policies behaviour


def test_distribution_choice_by_mean_and_dispersion() -> None:
    inputs = pd.DataFrame(
        [
            _row(material_id="slow", mean_weekly_demand=1.0, sigma_weekly=1.0),
            _row(material_id="lumpy", mean_weekly_demand=1.0, sigma_weekly=4.0),
            _row(material_id="fast", mean_weekly_demand=100.0, sigma_weekly=20.0),
            _row(material_id="erratic", mean_weekly_demand=100.0, sigma_weekly=300.0),
        ]
    ).assign(lead_time_std_days=0.0)
    out = compute_policies(inputs).set_index("material_id")["distribution"]
    assert out.to_dict() == {
        "slow": "poisson",
        "lumpy": "negative_binomial",
        "fast": "normal",
        "erratic": "gamma",
    }


def test_default_class_targets_and_policies() -> None:
    inputs = pd.DataFrame(
        [
            _row(material_id="ax", abc_class="A", xyz_class="X"),
            _row(material_id="cz", abc_class="C", xyz_class="Z"),
            _row(material_id="none", abc_class=None, xyz_class=None),
        ]
    )
    out = compute_policies(inputs).set_index("material_id")
    assert tuple(out.loc["ax", ["target_type", "service_target", "policy_type"]]) == (
        "fill_rate",
        0.99,
        "(s,S)",
    )
    assert tuple(out.loc["cz", ["target_type", "service_target", "policy_type"]]) == (
        "csl",
        0.90,
        "(R,S)",
    )
    assert tuple(out.loc["none", ["target_type", "service_target", "policy_type"]]) == (
        "fill_rate",
        0.95,
        "(s,Q)",
    )
    custom = PolicyConfig(class_targets={"AX": ("csl", 0.9), "default": ("csl", 0.8)})
    overridden = compute_policies(inputs, custom).set_index("material_id")
    assert overridden.loc["ax", "service_target"] == 0.9
    assert overridden.loc["cz", "service_target"] == 0.8


def test_policy_shapes() -> None:
    inputs = pd.DataFrame(
        [
            _row(material_id="sq", policy_type="(s,Q)"),
            _row(material_id="ss", policy_type="(s,S)"),
            _row(material_id="rs", policy_type="(R,S)"),
        ]
    )
    out = compute_policies(inputs).set_index("material_id")
    assert np.isnan(out.loc["sq", "order_up_to"])
    assert out.loc["ss", "order_up_to"] == pytest.approx(
        out.loc["ss", "reorder_point"] + out.loc["ss", "order_quantity"]
    )
    assert np.isnan(out.loc["rs", "reorder_point"])
    assert out.loc["rs", "review_period_days"] == 7.0
    # (R,S) protects review period + lead time: 70 days of 100/week.
    assert out.loc["rs", "mean_ltd"] == pytest.approx(1000.0)
    assert out.loc["rs", "order_up_to"] == pytest.approx(
        out.loc["rs", "mean_ltd"] + out.loc["rs", "safety_stock"]
    )


def test_lead_time_fallbacks_are_explained() -> None:
    inputs = pd.DataFrame(
        [_row(lead_time_mean_days=np.nan, lead_time_std_days=np.nan, planned_lead_time_days=30.0)]
    )
    out = compute_policies(inputs, PolicyConfig(lead_time_cv=0.3)).iloc[0]
    assert out["lead_time_days"] == 30.0
    assert out["lead_time_std_days"] == pytest.approx(9.0)
    assert "planned" in out["explanation"] and "0.3 x mean" in out["explanation"]


def test_missing_lead_time_names_the_row() -> None:
    inputs = pd.DataFrame([_row(lead_time_mean_days=np.nan, planned_lead_time_days=np.nan)])
    with pytest.raises(ValueError, match="material_id='M1'"):
        compute_policies(inputs)


def test_bad_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="lack columns \\['moq'\\]"):
        compute_policies(pd.DataFrame([_row()]).drop(columns="moq"))
    with pytest.raises(ValueError, match="'mean_weekly_demand' is negative at row 0"):
        compute_policies(pd.DataFrame([_row(mean_weekly_demand=-1.0)]))
    with pytest.raises(ValueError, match="'abc_class' has 'D'"):
        compute_policies(pd.DataFrame([_row(abc_class="D")]))
    with pytest.raises(ValueError, match="service_target must be < 1"):
        compute_policies(pd.DataFrame([_row(service_target=1.0)]))
    with pytest.raises(ValueError, match="class_targets"):
        PolicyConfig(class_targets={"default": ("fill_rate", 1.5)})


# ---------------------------------------------------------------- properties


def test_properties_on_random_inputs() -> None:
    inputs = _random_inputs(400, seed=3)
    out = compute_policies(inputs)
    assert (out["safety_stock"] >= 0).all()
    active = out["policy_type"] != "none"
    fill = active & (out["target_type"] == "fill_rate")
    csl = active & (out["target_type"] == "csl")
    assert (out.loc[fill, "expected_fill_rate"] >= out.loc[fill, "service_target"] - 1e-6).all()
    assert (out.loc[csl, "expected_csl"] >= out.loc[csl, "service_target"] - 1e-6).all()
    lot = out["order_quantity"][active]
    assert (lot >= inputs.loc[active, "moq"]).all()
    assert (out["policy_type"].isin(["(s,Q)", "(s,S)", "(R,S)"]) == active).all()


@pytest.mark.parametrize("target_type", ["csl", "fill_rate"])
def test_higher_target_means_more_safety_stock(target_type) -> None:
    inputs = _random_inputs(300, seed=5).assign(target_type=target_type)
    low = compute_policies(inputs.assign(service_target=0.90))
    high = compute_policies(inputs.assign(service_target=0.98))
    assert (high["safety_stock"] >= low["safety_stock"] - 1e-9).all()
    assert (high["safety_stock"] > low["safety_stock"]).mean() > 0.8


def test_zero_demand_and_dead_items_get_the_zero_policy() -> None:
    inputs = pd.DataFrame(
        [
            _row(material_id="zero", mean_weekly_demand=0.0, sigma_weekly=0.0),
            _row(material_id="dead", demand_class="dead"),
            _row(material_id="obsolete", demand_class="obsolete"),
        ]
    )
    out = compute_policies(inputs)
    assert (out["policy_type"] == "none").all()
    for column in ("safety_stock", "reorder_point", "order_quantity", "order_up_to"):
        assert (out[column] == 0).all()
    assert out["explanation"].str.startswith("zero policy").all()


def test_ten_thousand_rows_in_seconds() -> None:
    inputs = _random_inputs(10_000, seed=11)
    started = time.perf_counter()
    out = compute_policies(inputs)
    assert len(out) == 10_000
    assert time.perf_counter() - started < 10.0
