"""Synthetic SAP-shaped replenishment instances for the scale benchmark (seeded, reproducible)."""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd

from pipelines.planning.replenishment import ReplenishmentProblem


def make_instance(
    n_items: int, seed: int = 0, n_weeks: int = 13, coupled: bool = True
) -> ReplenishmentProblem:
    """``n_items`` material-plants over ``n_plants = max(1, n_items // 1000)`` plants.

    Vendors are regional (each plant group of up to 2 plants has its own 10 vendors), so
    vendor capacities link at most two plants; 30% of vendors have a weekly capacity of 1.6x
    the mean demand they supply as main source; warehouse capacity per plant (6 weeks of mean
    demand volume) and a weekly budget per plant (2x the mean weekly spend) bind only in some
    weeks. Demand is intermittent for a fifth of the items. ``coupled=False`` drops vendor
    capacities, budgets and warehouse capacities (every item is then independent).
    """
    rng = np.random.default_rng(seed)
    n_plants = max(1, n_items // 1000)
    plants = [f"P{p + 1:03d}" for p in range(n_plants)]
    per_plant = np.full(n_plants, n_items // n_plants)
    per_plant[: n_items - per_plant.sum()] += 1
    rows = []
    for p, k in zip(plants, per_plant, strict=True):
        rows += [(f"{100000 + m}", p) for m in range(k)]
    items = pd.DataFrame(rows, columns=["material_id", "plant_id"])
    n = len(items)
    price = np.round(rng.lognormal(3.0, 0.8, n), 2)
    mean_d = rng.lognormal(3.0, 1.0, n)
    items["holding_cost_week"] = np.round(price * 0.25 / 52, 4)
    items["shortage_cost"] = np.round(price * rng.uniform(0.5, 2.0, n), 2)
    items["initial_stock"] = np.round(mean_d * rng.uniform(0, 3, n))
    items["safety_stock"] = np.round(mean_d * rng.uniform(0.3, 1.0, n))
    items["unit_volume"] = np.round(rng.uniform(0.01, 0.2, n), 3)
    items["unit"] = "ST"

    weeks = np.arange(n_weeks)
    season = 1 + 0.2 * np.sin(2 * np.pi * weeks / 13)
    lam = mean_d[:, None] * season[None, :]
    qty = rng.poisson(lam)
    intermittent = rng.random(n) < 0.2
    qty[intermittent] *= rng.random((intermittent.sum(), n_weeks)) < 0.3
    demand = pd.DataFrame(
        {
            "material_id": np.repeat(items.material_id, n_weeks),
            "plant_id": np.repeat(items.plant_id, n_weeks),
            "week": np.tile(weeks, n),
            "qty": qty.ravel(),
        }
    )
    demand = demand[demand.qty > 0]

    src_rows = []
    groups = {p: i // 2 for i, p in enumerate(plants)}
    for i, it in enumerate(items.itertuples()):
        g = groups[it.plant_id]
        vendors = rng.choice(10, size=rng.integers(1, 4), replace=False)
        for rank, v in enumerate(vendors):
            unit = float(np.round(price[i] * (1 + 0.06 * rank) * rng.uniform(0.97, 1.03), 2))
            pack = float(rng.choice([1, 5, 10, 12, 24, 50]))
            breaks = (
                json.dumps([[float(pack * 20), round(unit * 0.97, 2)]])
                if rng.random() < 0.3
                else None
            )
            src_rows.append(
                {
                    "material_id": it.material_id,
                    "plant_id": it.plant_id,
                    "vendor_id": f"{2000 + g * 10 + v}",
                    "unit_price": unit,
                    "price_breaks": breaks,
                    "moq": float(pack * rng.integers(1, 5)),
                    "rounding_qty": pack,
                    "lead_time_weeks": int(rng.integers(1, 5)),
                    "order_cost": float(np.round(rng.uniform(20, 150), 2)),
                    "purch_org": "1000",
                    "currency": "EUR",
                }
            )
    sources = pd.DataFrame(src_rows)
    # Vendor capacity: 70% of what the vendor would supply as a main source, for 3 vendors/group.
    main = sources.groupby(["material_id", "plant_id"]).head(1)
    load = main.merge(
        pd.DataFrame(
            {"material_id": items.material_id, "plant_id": items.plant_id, "mean_d": mean_d}
        )
    )
    per_vendor = load.groupby("vendor_id")["mean_d"].sum()
    limited = per_vendor.index[rng.random(len(per_vendor)) < 0.3]
    vendor_capacity = pd.DataFrame(
        {"vendor_id": limited, "capacity": np.round(per_vendor[limited].to_numpy() * 1.6)}
    )
    vol = (items.unit_volume * mean_d * 6).groupby(items.plant_id).sum()
    warehouse_capacity = pd.DataFrame({"plant_id": vol.index, "capacity": np.round(vol.values)})
    spend = (pd.Series(price * mean_d).groupby(items.plant_id).sum()) * 2.0
    budget = pd.DataFrame({"plant_id": spend.index, "amount": np.round(spend.values)})
    return ReplenishmentProblem.from_frames(
        demand,
        items,
        sources,
        vendor_capacity=vendor_capacity if coupled else None,
        budget=budget if coupled else None,
        warehouse_capacity=warehouse_capacity if coupled else None,
        n_weeks=n_weeks,
        start_date=date(2025, 1, 6),
    )
