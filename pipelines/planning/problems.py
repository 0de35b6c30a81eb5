"""Build solver problems from warehouse frames: the seam between marts and OR models.

Pure functions: the planning assets read the frames, these shape them, the solvers solve.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from pipelines.planning.replenishment import ReplenishmentProblem
from pipelines.planning.routing import Depot, RoutingProblem, Stop, Vehicle


@dataclass(frozen=True)
class ReplenishmentSettings:
    """Cost and capacity assumptions SAP does not hold; override per deployment."""

    order_cost: float = 50.0
    holding_rate_per_year: float = 0.25
    shortage_cost_factor: float = 2.0
    horizon_weeks: int = 13


def replenishment_problem(
    forecast: pd.DataFrame,
    policies: pd.DataFrame,
    stock: pd.DataFrame,
    sources: pd.DataFrame,
    open_orders: pd.DataFrame,
    origin: date,
    settings: ReplenishmentSettings,
) -> ReplenishmentProblem:
    """Forecast, policies, stock, info records and open POs -> the weekly MIP.

    - forecast: material_id, plant_id, week_start, forecast_qty
    - policies: material_id, plant_id, safety_stock, unit_cost
    - stock: material_id, plant_id, stock_qty (latest snapshot before the origin)
    - sources: material_id, plant_id, vendor_id, unit_price, moq, rounding_qty,
      planned_delivery_days, purch_org, currency
    - open_orders: material_id, plant_id, promised_date, open_qty
    """
    origin_ts = pd.Timestamp(origin)
    week = ((pd.to_datetime(forecast["week_start"]) - origin_ts).dt.days // 7).astype(int)
    demand = forecast.assign(week=week, qty=forecast["forecast_qty"].clip(lower=0))
    demand = demand[(demand["week"] >= 0) & (demand["week"] < settings.horizon_weeks)]
    items = policies[["material_id", "plant_id", "safety_stock", "unit_cost"]].merge(
        stock, on=["material_id", "plant_id"], how="left"
    )
    unit_cost = items["unit_cost"].fillna(0.0)
    items = items.assign(
        initial_stock=items["stock_qty"].fillna(0.0).clip(lower=0),
        holding_cost_week=unit_cost * settings.holding_rate_per_year / 52.0,
        shortage_cost=(unit_cost * settings.shortage_cost_factor).clip(lower=1.0),
    )
    keys = items[["material_id", "plant_id"]]
    demand = demand.merge(keys, on=["material_id", "plant_id"])  # items without a policy: none
    sources = sources.merge(keys, on=["material_id", "plant_id"])
    sources = sources.assign(
        lead_time_weeks=np.ceil(sources["planned_delivery_days"].fillna(7) / 7).astype(int),
        order_cost=settings.order_cost,
        moq=pd.to_numeric(sources["moq"]).fillna(0.0),
        rounding_qty=pd.to_numeric(sources["rounding_qty"]).fillna(1.0).clip(lower=1.0),
    )
    receipt_week = (pd.to_datetime(open_orders["promised_date"]) - origin_ts).dt.days // 7
    scheduled = open_orders.assign(week=receipt_week.clip(lower=0), qty=open_orders["open_qty"])
    scheduled = scheduled[scheduled["week"] < settings.horizon_weeks].merge(
        keys, on=["material_id", "plant_id"]
    )
    return ReplenishmentProblem.from_frames(
        demand[["material_id", "plant_id", "week", "qty"]],
        items[
            [
                "material_id",
                "plant_id",
                "initial_stock",
                "holding_cost_week",
                "shortage_cost",
                "safety_stock",
            ]
        ],
        sources[
            [
                "material_id",
                "plant_id",
                "vendor_id",
                "unit_price",
                "moq",
                "rounding_qty",
                "lead_time_weeks",
                "order_cost",
                "purch_org",
                "currency",
            ]
        ],
        scheduled_receipts=scheduled[["material_id", "plant_id", "week", "qty"]],
        n_weeks=settings.horizon_weeks,
        start_date=origin,
    )


@dataclass(frozen=True)
class FleetSettings:
    """The delivery fleet per plant; SAP has no master data for it, so it is configured."""

    vehicles_per_plant: int = 4
    capacity_kg: float = 3_000.0
    shift_minutes: float = 10 * 60.0
    depot_open_minute: float = 6 * 60.0
    window_minutes: float = 4 * 60.0
    service_minutes: float = 10.0
    speed_kmh: float = 50.0


def routing_problem(deliveries: pd.DataFrame, fleet: FleetSettings) -> RoutingProblem:
    """One day's deliveries (one row per customer and plant) -> a multi-depot VRPTW.

    deliveries: plant_id, plant_latitude, plant_longitude, customer_id, customer_latitude,
    customer_longitude, weight_kg. Customers get a morning or afternoon window by a stable
    hash of their id (SAP's delivery windows live in customer-specific tables).
    """
    plants = deliveries.drop_duplicates("plant_id")
    depots = tuple(
        Depot(
            id=str(row.plant_id),
            x=float(row.plant_latitude),
            y=float(row.plant_longitude),
            open=fleet.depot_open_minute,
            close=fleet.depot_open_minute + fleet.shift_minutes,
        )
        for row in plants.itertuples()
    )
    vehicles = tuple(
        Vehicle(
            id=f"{depot.id}-{n + 1}",
            depot_id=depot.id,
            capacity=fleet.capacity_kg,
            shift_minutes=fleet.shift_minutes,
        )
        for depot in depots
        for n in range(fleet.vehicles_per_plant)
    )
    stops = []
    for row in deliveries.itertuples():
        afternoon = sum(map(ord, str(row.customer_id))) % 2
        start = fleet.depot_open_minute + afternoon * fleet.window_minutes
        stops.append(
            Stop(
                id=f"{row.plant_id}/{row.customer_id}",
                x=float(row.customer_latitude),
                y=float(row.customer_longitude),
                demand=float(row.weight_kg),
                tw_start=start,
                tw_end=start + fleet.window_minutes,
                service_time=fleet.service_minutes,
            )
        )
    return RoutingProblem(
        depots=depots,
        vehicles=vehicles,
        stops=tuple(stops),
        distance="haversine",
        speed_kmh=fleet.speed_kmh,
        name="daily deliveries",
    )
