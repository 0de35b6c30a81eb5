"""What-if scenarios on hand-built forecasts whose answers are known."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from pipelines.forecasting.scenario import Promotion, apply_scenario, build_scenario

WEEKS = pd.date_range("2024-03-11", periods=4, freq="W-MON")


def forecast(shapes: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    """A forecast in the engine's layout; bounds at 80 % and 120 % of the point."""
    rows = [
        {
            "material_id": material,
            "plant_id": plant,
            "week_start": week,
            "forecast_qty": qty,
            "forecast_lower": 0.8 * qty,
            "forecast_upper": 1.2 * qty,
            "p90": 1.1 * qty,
            "model": "ets",
        }
        for (material, plant), quantities in shapes.items()
        for week, qty in zip(WEEKS, quantities, strict=True)
    ]
    return pd.DataFrame(rows)


FLAT = forecast({("M1", "P1"): [100.0] * 4, ("M2", "P1"): [50.0] * 4})


def test_ten_percent_uplift_on_a_flat_forecast():
    base = FLAT.copy()
    out = apply_scenario(base, 10, name="plus10")
    pd.testing.assert_frame_equal(base, FLAT)
    np.testing.assert_allclose(out["forecast_qty"], np.where(out["material_id"] == "M1", 110, 55))
    np.testing.assert_allclose(out["forecast_upper"], FLAT["forecast_upper"] * 1.1)
    np.testing.assert_allclose(out["p90"], FLAT["p90"] * 1.1)
    assert set(out["scenario"]) == {"plus10"}


def test_promotion_changes_only_its_weeks_and_items_and_compounds():
    promoted = [WEEKS[1], WEEKS[2]]
    out = build_scenario(
        FLAT,
        "promo",
        10,
        [Promotion([w.date().isoformat() for w in promoted], 50)],
        materials=["M1"],
    )
    m1 = out[out["material_id"] == "M1"].set_index("week_start")["forecast_qty"]
    assert m1.to_dict() == pytest.approx(
        {WEEKS[0]: 110.0, WEEKS[1]: 165.0, WEEKS[2]: 165.0, WEEKS[3]: 110.0}
    )
    m2 = out[out["material_id"] == "M2"]["forecast_qty"]
    assert m2.tolist() == [50.0] * 4


def test_new_product_copies_the_analogue_shape_times_scale():
    base = forecast({("M1", "P1"): [10.0, 20.0, 30.0, 40.0], ("M1", "P2"): [1.0] * 4})
    analogue = pd.DataFrame(
        {"material_id": ["NEW"], "plant_id": ["P2"], "analogue_material_id": ["M1"]}
    ).assign(analogue_plant_id="P1", scale=0.5)
    out = build_scenario(base, "launch", analogue=analogue)
    new = out[out["material_id"] == "NEW"]
    assert new["forecast_qty"].tolist() == [5.0, 10.0, 15.0, 20.0]
    assert new["plant_id"].eq("P2").all() and new["model"].eq("analogue:M1").all()
    pd.testing.assert_frame_equal(
        out[out["material_id"] == "M1"].drop(columns="scenario").reset_index(drop=True), base
    )


def test_new_product_takes_the_uplift_of_its_scenario():
    analogue = pd.DataFrame(
        {"material_id": ["NEW"], "plant_id": ["P1"], "analogue_material_id": ["M2"], "scale": [2]}
    )
    out = build_scenario(FLAT, "launch", 10, analogue=analogue, materials=["NEW"])
    totals = out.groupby("material_id")["forecast_qty"].sum()
    assert totals.to_dict() == pytest.approx({"M1": 400.0, "M2": 200.0, "NEW": 440.0})


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"promotions": [Promotion(["2024-03-12"], 20)]}, "2024-03-12.*not forecast weeks"),
        ({"materials": ["M9"]}, "M9"),
        ({"plants": ["P7"]}, "P7"),
    ],
)
def test_a_typo_raises_instead_of_copying_the_base(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_scenario(FLAT, "typo", 10, **kwargs)


def test_a_scenario_needs_a_name():
    with pytest.raises(ValueError, match="name"):
        build_scenario(FLAT, " ", 10)


def test_scenarios_are_in_no_job_and_never_automatic():
    """A scenario needs a planner's config: a job, schedule or sensor must never start one."""
    from pipelines.definitions import defs
    from pipelines.forecasting.assets import SCENARIO

    definitions = defs()
    assert definitions.resolve_asset_graph().get(SCENARIO).automation_condition is None
    for job in definitions.jobs:
        assert SCENARIO not in definitions.resolve_job_def(job.name).asset_layer.selected_asset_keys
