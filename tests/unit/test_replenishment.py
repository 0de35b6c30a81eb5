"""Replenishment MIP: hand-checked optima, lot-size rules, multi-sourcing, diagnosis, exports."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from pipelines.planning import replenishment as rp
from pipelines.planning.replenishment import (
    PROPOSAL_COLUMNS,
    SAP_PR_COLUMNS,
    SAP_PR_DECIMALS,
    ReplenishmentProblem,
    export_purchase_requisitions,
    export_vintage,
    read_purchase_requisitions,
    solve_replenishment,
)

START = date(2025, 1, 6)  # a Monday


def _problem(demand, items=None, sources=None, **kwargs) -> ReplenishmentProblem:
    items = items if items is not None else [{"material_id": "A", "plant_id": "P1"}]
    return ReplenishmentProblem.from_frames(
        pd.DataFrame(demand, columns=["material_id", "plant_id", "week", "qty"]),
        pd.DataFrame(items),
        pd.DataFrame(sources),
        start_date=START,
        **kwargs,
    )


def test_tiny_instance_reaches_the_hand_computed_optimum():
    # 100 units in weeks 1 and 2, lead time 1. One order of 200 in week 0 costs
    # 2000 + 150 + 100 held for a week = 2250; two orders cost 2000 + 300 = 2300.
    problem = _problem(
        [("A", "P1", 1, 100), ("A", "P1", 2, 100)],
        items=[
            {"material_id": "A", "plant_id": "P1", "holding_cost_week": 1.0, "shortage_cost": 50.0}
        ],
        sources=[
            {
                "material_id": "A",
                "plant_id": "P1",
                "vendor_id": "V1",
                "unit_price": 10.0,
                "lead_time_weeks": 1,
                "order_cost": 150.0,
            }
        ],
        n_weeks=3,
    )
    res = solve_replenishment(problem, time_limit_s=10)
    assert res.status == "optimal" and res.method == "mip"
    assert res.objective == pytest.approx(2250.0)
    assert res.bound == pytest.approx(2250.0) and res.gap == pytest.approx(0.0, abs=1e-9)
    assert res.costs == pytest.approx(
        {"purchase": 2000, "ordering": 150, "holding": 100, "shortage": 0, "below_safety_stock": 0}
    )
    (pr,) = res.proposals.to_dict("records")
    assert pr["MENGE"] == 200 and pr["LIFNR"] == "V1" and pr["WERKS"] == "P1"
    assert pr["FRGDT"] == START and pr["LFDAT"] == date(2025, 1, 13)
    assert pr["PREIS"] == 10.0 and pr["MEINS"] == "ST" and pr["EKORG"] == "1000"
    plan = res.plan.set_index("week")
    assert plan["end_stock"].tolist() == [0, 100, 0]


def test_moq_rounding_and_price_breaks_are_respected():
    problem = _problem(
        [("A", "P1", 1, 37), ("B", "P1", 1, 90)],
        items=[
            {"material_id": "A", "plant_id": "P1", "holding_cost_week": 0.01, "shortage_cost": 99},
            {"material_id": "B", "plant_id": "P1", "holding_cost_week": 0.01, "shortage_cost": 99},
        ],
        sources=[
            # A: at least 50, in packs of 12 -> the cheapest feasible order is 60 (5 packs).
            {
                "material_id": "A",
                "plant_id": "P1",
                "vendor_id": "V1",
                "unit_price": 5.0,
                "moq": 50,
                "rounding_qty": 12,
                "lead_time_weeks": 1,
            },
            # B: 90 x 10.0 = 900 > 100 x 8.5 = 850: the price break makes ordering 100 cheaper.
            {
                "material_id": "B",
                "plant_id": "P1",
                "vendor_id": "V1",
                "unit_price": 10.0,
                "price_breaks": "[[100, 8.5]]",
                "lead_time_weeks": 1,
            },
        ],
        n_weeks=2,
    )
    res = solve_replenishment(problem, time_limit_s=10)
    props = res.proposals.set_index("MATNR")
    assert props.loc["A", "MENGE"] == 60 and props.loc["A", "packs"] == 5
    assert props.loc["B", "MENGE"] == 100 and props.loc["B", "PREIS"] == 8.5
    assert res.objective == pytest.approx(60 * 5.0 + 23 * 0.01 + 850 + 10 * 0.01)


def test_multi_sourcing_uses_the_cheap_vendor_until_its_capacity_binds():
    problem = _problem(
        [("A", "P1", 1, 150)],
        items=[{"material_id": "A", "plant_id": "P1", "shortage_cost": 100.0}],
        sources=[
            {
                "material_id": "A",
                "plant_id": "P1",
                "vendor_id": "CHEAP",
                "unit_price": 4.0,
                "lead_time_weeks": 1,
            },
            {
                "material_id": "A",
                "plant_id": "P1",
                "vendor_id": "DEAR",
                "unit_price": 6.0,
                "lead_time_weeks": 1,
            },
        ],
        vendor_capacity=pd.DataFrame([{"vendor_id": "CHEAP", "capacity": 100}]),
        n_weeks=2,
    )
    res = solve_replenishment(problem, time_limit_s=10)
    by_vendor = res.proposals.set_index("LIFNR")["MENGE"].to_dict()
    assert by_vendor == {"CHEAP": 100, "DEAR": 50}
    assert res.objective == pytest.approx(100 * 4 + 50 * 6)


def test_lead_time_makes_early_demand_a_reported_shortage():
    problem = _problem(
        [("A", "P1", 0, 10), ("A", "P1", 2, 10)],
        items=[{"material_id": "A", "plant_id": "P1", "shortage_cost": 20.0, "initial_stock": 4}],
        sources=[
            {
                "material_id": "A",
                "plant_id": "P1",
                "vendor_id": "V1",
                "unit_price": 1.0,
                "lead_time_weeks": 2,
            }
        ],
        scheduled_receipts=pd.DataFrame(
            [{"material_id": "A", "plant_id": "P1", "week": 1, "qty": 3}]
        ),
        n_weeks=3,
    )
    res = solve_replenishment(problem, time_limit_s=10)
    plan = res.plan.set_index("week")
    assert plan.loc[0, "shortage"] == 6  # 4 in stock, nothing can arrive before week 2
    assert plan.loc[2, "planned_receipts"] == 7  # 10 needed, 3 come from the open PO
    assert res.objective == pytest.approx(6 * 20 + 7 * 1.0)


def test_infeasible_moq_above_warehouse_capacity_is_explained():
    problem = _problem(
        [("A", "P1", 1, 20)],
        items=[
            {"material_id": "A", "plant_id": "P1", "shortage_cost": None, "holding_cost_week": 0.1}
        ],  # empty shortage cost: demand must be met
        sources=[
            {
                "material_id": "A",
                "plant_id": "P1",
                "vendor_id": "V1",
                "unit_price": 2.0,
                "moq": 500,
                "lead_time_weeks": 1,
            }
        ],
        warehouse_capacity=pd.DataFrame([{"plant_id": "P1", "capacity": 100}]),
        n_weeks=2,
    )
    res = solve_replenishment(problem, time_limit_s=10)
    assert res.status == "infeasible"
    (row,) = res.infeasibility.to_dict("records")
    assert row["constraint"] == "warehouse_capacity" and row["plant_id"] == "P1"
    assert row["week"] == 1 and row["material_ids"] == "A"
    assert row["violation"] == pytest.approx(380.0)  # 500 received - 20 used - 100 capacity
    assert "MOQ 500" in row["message"]


def test_heuristic_fallback_when_solver_disabled_or_failing(monkeypatch):
    kwargs = dict(
        demand=[("A", "P1", w, 30) for w in range(1, 8)],
        items=[
            {
                "material_id": "A",
                "plant_id": "P1",
                "holding_cost_week": 0.05,
                "shortage_cost": 10.0,
                "safety_stock": 10,
            }
        ],
        sources=[
            {
                "material_id": "A",
                "plant_id": "P1",
                "vendor_id": "V1",
                "unit_price": 2.0,
                "moq": 40,
                "rounding_qty": 20,
                "lead_time_weeks": 1,
                "order_cost": 25,
            }
        ],
        n_weeks=8,
    )
    mip = solve_replenishment(_problem(**kwargs), time_limit_s=10)
    heur = solve_replenishment(_problem(**kwargs), time_limit_s=10, solver="heuristic")
    assert heur.status == "heuristic" and heur.method == "heuristic"
    assert np.isnan(heur.bound) and np.isnan(heur.gap)
    assert heur.plan["shortage"].iloc[1:].sum() == 0  # weeks 1.. fully served
    assert (heur.proposals["MENGE"] >= 40).all() and (heur.proposals["MENGE"] % 20 == 0).all()
    assert mip.objective <= heur.objective <= 1.5 * mip.objective

    def failing(problem, items, *args, **kw):
        return rp._BlockResult(items, [], "no_solution", np.nan, np.nan)

    monkeypatch.setattr(rp, "_solve_mip", failing)
    forced = solve_replenishment(_problem(**kwargs), time_limit_s=10)
    assert forced.status == "heuristic" and "heuristic" in forced.method
    assert forced.objective == pytest.approx(heur.objective)


def test_decomposed_solve_restores_a_vendor_capacity_crossing_blocks():
    items = [
        {"material_id": m, "plant_id": p, "shortage_cost": 100.0}
        for m, p in (("A", "P1"), ("A", "P2"))
    ]
    sources = [
        {
            "material_id": "A",
            "plant_id": p,
            "vendor_id": v,
            "unit_price": price,
            "lead_time_weeks": 1,
        }
        for p in ("P1", "P2")
        for v, price in (("CHEAP", 4.0), ("DEAR", 6.0))
    ]
    kwargs = dict(
        demand=[("A", "P1", 1, 80), ("A", "P2", 1, 80)],
        items=items,
        sources=sources,
        vendor_capacity=pd.DataFrame([{"vendor_id": "CHEAP", "capacity": 100}]),
        n_weeks=2,
    )
    whole = solve_replenishment(_problem(**kwargs), time_limit_s=10)
    split = solve_replenishment(_problem(**kwargs), time_limit_s=10, block_size=1)
    assert split.blocks["resolved"].all() and "2 blocks" in split.method
    cheap = split.proposals.query("LIFNR == 'CHEAP'")["MENGE"].sum()
    assert cheap == 100
    assert split.objective == pytest.approx(whole.objective) == pytest.approx(100 * 4 + 60 * 6)
    assert split.bound <= split.objective  # phase-A relaxation bound stays valid


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "json"])
def test_purchase_requisition_exports_round_trip(tmp_path, fmt):
    problem = _problem(
        [("4711", "1000", 1, 12), ("4711", "1000", 3, 8), ("B-7", "1000", 2, 5)],
        items=[
            {"material_id": "4711", "plant_id": "1000", "shortage_cost": 9, "unit": "KG"},
            {"material_id": "B-7", "plant_id": "1000", "shortage_cost": 9},
        ],
        sources=[
            {
                "material_id": m,
                "plant_id": "1000",
                "vendor_id": "300",
                "unit_price": 1.25,
                "lead_time_weeks": 1,
                "purch_org": "1000",
                "currency": "EUR",
            }
            for m in ("4711", "B-7")
        ],
        n_weeks=4,
    )
    props = solve_replenishment(problem, time_limit_s=10).proposals
    assert list(props.columns) == PROPOSAL_COLUMNS
    assert props["MATNR"].tolist()[0] == "000000000000004711"  # SAP ALPHA form
    assert props["LIFNR"].unique().tolist() == ["0000000300"]
    assert "B-7" in props["MATNR"].tolist()
    path = export_purchase_requisitions(props, tmp_path / f"pr.{fmt}", fmt=fmt)
    back = read_purchase_requisitions(path)
    expected = props[SAP_PR_COLUMNS].round(SAP_PR_DECIMALS)
    pd.testing.assert_frame_equal(back, expected, check_dtype=False)


def test_a_vintage_is_exported_whole_in_every_format_with_sap_decimals(tmp_path):
    proposals = pd.DataFrame(
        {
            "BNFPO": [10],
            "BSART": ["NB"],
            "MATNR": ["000000000000004711"],
            "WERKS": ["1000"],
            "EKORG": ["1000"],
            "LIFNR": ["0000000300"],
            "MENGE": [11773.999999999998],
            "MEINS": ["ST"],
            "LFDAT": [date(2025, 3, 3)],
            "FRGDT": [date(2025, 2, 24)],
            "PREIS": [1.2549999],
            "WAERS": ["EUR"],
            "order_value": [14775.87],
        }
    )
    files = export_vintage(proposals, tmp_path / "exports", date(2025, 2, 24))

    assert sorted(p.name for p in (tmp_path / "exports").iterdir()) == [
        "purchase_requisitions_20250224.csv",
        "purchase_requisitions_20250224.json",
        "purchase_requisitions_20250224.xlsx",
    ]
    assert files[0].read_text().splitlines() == [
        ";".join(SAP_PR_COLUMNS),
        "10;NB;000000000000004711;1000;1000;0000000300;11774.0;ST;20250303;20250224;1.25;EUR",
    ]
    for path in files:
        back = read_purchase_requisitions(path)
        assert list(back.columns) == SAP_PR_COLUMNS  # no review columns in an SAP upload
        assert back.MENGE.tolist() == [11774.0] and back.PREIS.tolist() == [1.25]


def test_bad_input_names_table_row_and_column():
    with pytest.raises(ValueError, match=r"sources: row 0: item X/P1 is not in items"):
        _problem(
            [],
            sources=[{"material_id": "X", "plant_id": "P1", "vendor_id": "V", "unit_price": 1}],
            n_weeks=2,
        )
    with pytest.raises(ValueError, match=r"items: column 'holding_cost_week' .* row 0"):
        _problem(
            [],
            items=[{"material_id": "A", "plant_id": "P1", "holding_cost_week": -1}],
            sources=[{"material_id": "A", "plant_id": "P1", "vendor_id": "V", "unit_price": 1}],
            n_weeks=2,
        )
    with pytest.raises(ValueError, match="time_limit_s must be > 0"):
        solve_replenishment(
            _problem(
                [],
                sources=[{"material_id": "A", "plant_id": "P1", "vendor_id": "V", "unit_price": 1}],
                n_weeks=1,
            ),
            time_limit_s=0,
        )
