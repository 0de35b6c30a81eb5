"""Replay inventory policies against actual daily demand and actual lead times.

The planning maths in `inventory` promises a fill rate or cycle service level; this module
checks the promise on history: every series is stepped day by day, all series at once as
numpy vectors, with the same conventions as `inventory` (order when the inventory position
is at or below s; an order placed at the end of day t with lead time L arrives at the end
of day t + L; unmet demand is backordered and served from the next receipt).

Day order: demand is served from on-hand stock, then receipts due today arrive, then the
policy reviews the inventory position and may order. End-of-day stock is after receipts,
as an SAP stock snapshot (MARD) would show it, and a day that ends with zero stock on hand
is a stockout day (the project's definition). The cycle service level is the share of
replenishment cycles in which no demand had to wait (no backorder after any day's demand,
the textbook stockout event); a cycle runs from one receipt to the next under
(s,Q) and (s,S), and is one review period under (R,S) (whether or not the review ordered),
matching how `inventory` states each policy's CSL.
"""

from __future__ import annotations

import io
import zlib
from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

from pipelines.planning.inventory import (
    NO_POLICY,
    PolicyConfig,
    TargetType,
    compute_policies,
    round_order_quantity,
)

LeadTimeSampling = Literal["bootstrap", "sequential"]
KEYS = ["material_id", "plant_id"]
_KIND = {NO_POLICY: 0, "(s,Q)": 1, "(s,S)": 2, "(R,S)": 3}

KPI_COLUMNS: tuple[str, ...] = (
    "material_id",
    "plant_id",
    "policy_type",
    "target_type",
    "service_target",
    "start_date",
    "end_date",
    "days_measured",
    "total_demand",
    "filled_demand",
    "fill_rate",
    "fill_rate_target",
    "fill_rate_delta",
    "cycles",
    "cycle_service_level",
    "csl_target",
    "csl_delta",
    "achieved_service",
    "service_delta",
    "avg_inventory_units",
    "avg_inventory_value",
    "expected_avg_inventory",
    "avg_inventory_delta",
    "orders",
    "expected_orders",
    "orders_delta",
    "stockout_days",
    "shortage_days",
    "unit_cost",
    "lead_time_source",
)


def _require(frame: pd.DataFrame, columns: Sequence[str], name: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"simulate_policy: {name} lacks columns {missing}")


def _numeric(frame: pd.DataFrame, column: str, name: str, allow_nan: bool = False) -> pd.Series:
    values = pd.to_numeric(frame[column], errors="coerce")
    bad = (values.isna() & (frame[column].notna() | (not allow_nan))) | (values < 0)
    if bad.any():
        at = bad.idxmax()
        raise ValueError(
            f"simulate_policy: {name} column {column!r} needs a number >= 0 at row {at} "
            f"(material_id={frame.loc[at, 'material_id']!r}, "
            f"plant_id={frame.loc[at, 'plant_id']!r}): {frame.loc[at, column]!r}"
        )
    return values.astype(float)


def _prepare_demand(daily_demand: pd.DataFrame) -> pd.DataFrame:
    _require(daily_demand, [*KEYS, "date", "demand_qty"], "daily_demand")
    frame = daily_demand.loc[:, [*KEYS, "date", "demand_qty"]].copy()
    frame["demand_qty"] = _numeric(frame, "demand_qty", "daily_demand")
    dates = pd.to_datetime(frame["date"], errors="coerce")
    if dates.isna().any():
        at = dates.isna().idxmax()
        raise ValueError(
            f"simulate_policy: daily_demand column 'date' is not a date at row {at}: "
            f"{frame.loc[at, 'date']!r}"
        )
    frame["date"] = dates.dt.normalize()
    return frame.groupby([*KEYS, "date"], as_index=False, sort=True)["demand_qty"].sum()


def _policy_arrays(policies: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per-series policy parameters as arrays, checked for the values each policy needs."""
    kinds = policies["policy_type"].map(_KIND)
    if kinds.isna().any():
        at = kinds.isna().idxmax()
        raise ValueError(
            f"simulate_policy: policies column 'policy_type' has "
            f"{policies.loc[at, 'policy_type']!r} at row {at}; expected one of {list(_KIND)}"
        )
    kind = kinds.to_numpy(int)
    col = {
        c: pd.to_numeric(policies[c], errors="coerce").to_numpy(float)
        if c in policies.columns
        else np.full(len(policies), np.nan)
        for c in (
            "reorder_point",
            "order_quantity",
            "order_up_to",
            "review_period_days",
            "moq",
            "rounding_qty",
        )
    }
    s, q, big_s = col["reorder_point"], col["order_quantity"], col["order_up_to"]
    review = np.rint(np.nan_to_num(col["review_period_days"]))
    problems = {
        "(s,Q) needs a finite reorder_point and order_quantity > 0": (kind == 1)
        & ~(np.isfinite(s) & (q > 0)),
        "(s,S) needs finite reorder_point < order_up_to": (kind == 2) & ~(big_s > s),
        "(R,S) needs a finite order_up_to and review_period_days >= 1": (kind == 3)
        & ~(np.isfinite(big_s) & (review >= 1)),
    }
    for message, bad in problems.items():
        if bad.any():
            at = int(np.argmax(bad))
            row = policies.iloc[at]
            raise ValueError(
                f"simulate_policy: policies row {at} (material_id={row['material_id']!r}, "
                f"plant_id={row['plant_id']!r}): {message}"
            )
    top = np.select([kind == 1, kind == 2, kind == 3], [s + q, big_s, big_s], default=0.0)
    return {
        "kind": kind,
        "s": np.where(kind == 3, -np.inf, np.nan_to_num(s)),
        "q": np.nan_to_num(q),
        "big_s": np.nan_to_num(big_s),
        "review": np.maximum(review, 1).astype(int),
        "moq": np.nan_to_num(col["moq"]),
        "rounding": np.nan_to_num(col["rounding_qty"]),
        "start_level": top,
    }


def _lead_time_matrix(
    series: pd.DataFrame,
    lead_times: pd.DataFrame | None,
    fallback: np.ndarray,
    n_orders: int,
    seed: int,
    sampling: LeadTimeSampling,
) -> tuple[np.ndarray, np.ndarray]:
    """Lead time in whole days of the k-th order of each series, and where it came from.

    sequential: the observed lead times in the given order, repeated; bootstrap: drawn with
    replacement by a generator seeded from (seed, series key), so a series gets the same
    draws whichever other series are simulated with it."""
    if sampling not in ("bootstrap", "sequential"):
        raise ValueError(f"simulate_policy: lead_time_sampling {sampling!r} is not supported")
    samples: dict[tuple, np.ndarray] = {}
    if lead_times is not None and len(lead_times):
        _require(lead_times, [*KEYS, "lead_time_days"], "lead_times")
        values = _numeric(lead_times, "lead_time_days", "lead_times")
        for key, group in values.groupby([lead_times[k] for k in KEYS], sort=False):
            samples[key] = np.rint(group.to_numpy()).astype(np.int64)
    matrix = np.zeros((len(series), n_orders), dtype=np.int32)
    source = np.empty(len(series), dtype=object)
    for i, (mat, plant) in enumerate(zip(series["material_id"], series["plant_id"], strict=True)):
        sample = samples.get((mat, plant))
        if sample is None:
            if not np.isfinite(fallback[i]):
                raise ValueError(
                    f"simulate_policy: no lead_times rows and no policy lead_time_days for "
                    f"material_id={mat!r}, plant_id={plant!r}"
                )
            matrix[i] = int(round(fallback[i]))
            source[i] = "policy"
        elif sampling == "sequential":
            matrix[i] = np.resize(sample, n_orders)
            source[i] = "sequential"
        else:
            rng = np.random.default_rng([seed, zlib.crc32(f"{mat}\x1f{plant}".encode())])
            matrix[i] = rng.choice(sample, size=n_orders, replace=True)
            source[i] = "bootstrap"
    return matrix, source


def _unit_costs(series: pd.DataFrame, unit_cost: pd.DataFrame | float | None) -> np.ndarray:
    if unit_cost is None:
        if "unit_cost" in series.columns:
            return pd.to_numeric(series["unit_cost"], errors="coerce").to_numpy(float)
        return np.full(len(series), np.nan)
    if isinstance(unit_cost, pd.DataFrame):
        _require(unit_cost, [*KEYS, "unit_cost"], "unit_cost")
        merged = series[KEYS].merge(unit_cost[[*KEYS, "unit_cost"]], on=KEYS, how="left")
        return pd.to_numeric(merged["unit_cost"], errors="coerce").to_numpy(float)
    return np.full(len(series), float(unit_cost))


def simulate_policy(
    daily_demand: pd.DataFrame,
    policies: pd.DataFrame,
    lead_times: pd.DataFrame | None,
    unit_cost: pd.DataFrame | float | None = None,
    seed: int = 0,
    *,
    lead_time_sampling: LeadTimeSampling = "bootstrap",
    warmup_days: int = 0,
) -> pd.DataFrame:
    """Replay each series' policy on its demand history and report KPIs against targets.

    daily_demand: material_id, plant_id, date, demand_qty (rows of a day are summed; missing
    days between a series' first and last date count as zero demand).
    policies: compute_policies output (or the same columns built by hand); series without
    demand history are not simulated.
    lead_times: material_id, plant_id, lead_time_days, observed receipts in time order;
    series without rows use the policy's lead_time_days.
    unit_cost: None (policies' unit_cost), one number, or a frame with material_id,
    plant_id, unit_cost.
    warmup_days: days at the start that run the policy but are left out of the KPIs (the
    simulation starts at the policy's top level, s + Q or S).

    Targets: fill rate and CSL are compared with the service target of the same type and
    otherwise with the policy's expected value; inventory and orders with their plan."""
    _require(policies, [*KEYS, "policy_type"], "policies")
    if warmup_days < 0:
        raise ValueError("simulate_policy: warmup_days must be >= 0")
    demand = _prepare_demand(daily_demand)
    duplicated = policies.duplicated(KEYS)
    if duplicated.any():
        at = duplicated.idxmax()
        raise ValueError(
            f"simulate_policy: policies has a second row for material_id="
            f"{policies.loc[at, 'material_id']!r}, plant_id={policies.loc[at, 'plant_id']!r}"
        )
    series = (
        policies.merge(demand[KEYS].drop_duplicates(), on=KEYS, how="inner")
        .sort_values(KEYS, kind="stable")
        .reset_index(drop=True)
    )
    spans = demand.groupby(KEYS, sort=False)["date"].agg(["min", "max"])
    spans = series[KEYS].merge(spans.reset_index(), on=KEYS, how="left")
    start = spans["min"].to_numpy("datetime64[D]")
    length = ((spans["max"] - spans["min"]).dt.days + 1).to_numpy(int)
    n, horizon = len(series), int(length.max()) if len(series) else 0

    code = demand.merge(series[KEYS].reset_index(), on=KEYS, how="inner")
    day = (code["date"].to_numpy("datetime64[D]") - start[code["index"]]).astype(int)
    qty = np.zeros((n, horizon))
    qty[code["index"].to_numpy(), day] = code["demand_qty"].to_numpy()

    p = _policy_arrays(series)
    fallback = (
        pd.to_numeric(series["lead_time_days"], errors="coerce").to_numpy(float)
        if "lead_time_days" in series.columns
        else np.full(n, np.nan)
    )
    lt, lt_source = _lead_time_matrix(
        series, lead_times, fallback, max(horizon, 1), seed, lead_time_sampling
    )
    kpis = _run(qty, length, p, lt, warmup_days)
    return _kpi_frame(series, kpis, start, length, warmup_days, lt_source, unit_cost)


def _run(
    qty: np.ndarray,
    length: np.ndarray,
    p: dict[str, np.ndarray],
    lt: np.ndarray,
    warmup: int,
) -> dict[str, np.ndarray]:
    """Step all series through their days at once; returns KPI accumulators per series."""
    n, horizon = qty.shape
    ring = int(lt.max()) + 1 if lt.size else 1
    arrivals = np.zeros((n, ring))
    net = p["start_level"].astype(float).copy()  # on hand - backorders
    on_order = np.zeros(n)
    placed = np.zeros(n, dtype=int)
    kind, s, q, big_s, review = p["kind"], p["s"], p["q"], p["big_s"], p["review"]
    by_level = (kind == 2) | (kind == 3)
    safe_q = np.where(q > 0, q, 1.0)
    acc = {
        name: np.zeros(n)
        for name in (
            "demand",
            "filled",
            "on_hand",
            "days",
            "orders",
            "stockout_days",
            "shortage_days",
            "cycles",
            "cycles_ok",
        )
    }
    started = np.zeros(n, dtype=bool)  # a receipt has opened a measured cycle
    cycle_short = np.zeros(n, dtype=bool)
    rows = np.arange(n)
    for t in range(horizon):
        active = t < length
        measured = active & (t >= warmup)
        demand = qty[:, t]
        filled = np.minimum(demand, np.maximum(net, 0.0))
        net -= demand
        backordered = net < -1e-9  # a customer waits: the cycle has a stockout
        receipt = arrivals[:, t % ring].copy()
        arrivals[:, t % ring] = 0.0
        net += receipt
        on_order -= receipt

        position = net + on_order
        lots = np.floor((np.where(kind == 1, s, position) - position) / safe_q) + 1.0
        order = np.where(kind == 1, lots * q, big_s - position)
        trigger = np.select(
            [kind == 1, kind == 2, kind == 3],
            [position <= s, position <= s, position < big_s],
            default=False,
        )
        trigger &= active & (t % review == 0)
        if trigger.any():
            idx = rows[trigger]
            amount = order[idx]
            level_based = by_level[idx]
            amount[level_based] = round_order_quantity(
                amount[level_based], p["moq"][idx][level_based], p["rounding"][idx][level_based]
            )
            days = lt[idx, np.minimum(placed[idx], lt.shape[1] - 1)]
            placed[idx] += 1
            now = days == 0
            net[idx[now]] += amount[now]
            receipt[idx[now]] += amount[now]
            later = idx[~now]
            arrivals[later, (t + days[~now]) % ring] += amount[~now]
            on_order[later] += amount[~now]
            acc["orders"][idx] += measured[idx]

        on_hand = np.maximum(net, 0.0)
        short = demand - filled > 1e-9
        # A replenishment cycle ends with a receipt; under (R,S) it is the review period,
        # whether or not the review ordered (the standard per-period CSL of (R,S)).
        closing = active & np.where(kind == 3, (t + 1) % review == 0, receipt > 0)
        cycle_short |= backordered & started & measured
        counted = closing & started
        acc["cycles"] += counted
        acc["cycles_ok"] += counted & ~cycle_short
        cycle_short &= ~closing
        started |= closing & (t + 1 >= warmup)

        acc["demand"] += np.where(measured, demand, 0.0)
        acc["filled"] += np.where(measured, filled, 0.0)
        acc["on_hand"] += np.where(measured, on_hand, 0.0)
        acc["days"] += measured
        acc["stockout_days"] += measured & (on_hand <= 1e-9)
        acc["shortage_days"] += measured & short
    return acc


def _kpi_frame(
    series: pd.DataFrame,
    acc: dict[str, np.ndarray],
    start: np.ndarray,
    length: np.ndarray,
    warmup: int,
    lt_source: np.ndarray,
    unit_cost: pd.DataFrame | float | None,
) -> pd.DataFrame:
    def column(name: str, default: object = np.nan) -> pd.Series:
        if name in series.columns:
            return series[name]
        return pd.Series(default, index=series.index)

    def numeric(name: str) -> np.ndarray:
        return pd.to_numeric(column(name), errors="coerce").to_numpy(float)

    with np.errstate(divide="ignore", invalid="ignore"):
        days = acc["days"]
        fill_rate = np.where(acc["demand"] > 0, acc["filled"] / acc["demand"], np.nan)
        csl = np.where(acc["cycles"] > 0, acc["cycles_ok"] / acc["cycles"], np.nan)
        avg_on_hand = np.where(days > 0, acc["on_hand"] / days, np.nan)
    target_type = column("target_type", None)
    target = numeric("service_target")
    is_fill = (target_type == "fill_rate").to_numpy()
    is_csl = (target_type == "csl").to_numpy()
    fill_target = np.where(is_fill, target, numeric("expected_fill_rate"))
    csl_target = np.where(is_csl, target, numeric("expected_csl"))
    achieved = np.select([is_fill, is_csl], [fill_rate, csl], default=np.nan)
    cost = _unit_costs(series, unit_cost)
    expected_orders = numeric("expected_orders_per_year") * days / 365.0
    expected_inventory = numeric("expected_avg_inventory")
    end = start + (length - 1).astype("timedelta64[D]")
    out = pd.DataFrame(
        {
            "material_id": series["material_id"],
            "plant_id": series["plant_id"],
            "policy_type": series["policy_type"],
            "target_type": target_type,
            "service_target": target,
            "start_date": pd.to_datetime(start),
            "end_date": pd.to_datetime(end),
            "days_measured": days.astype(int),
            "total_demand": acc["demand"],
            "filled_demand": acc["filled"],
            "fill_rate": fill_rate,
            "fill_rate_target": fill_target,
            "fill_rate_delta": fill_rate - fill_target,
            "cycles": acc["cycles"].astype(int),
            "cycle_service_level": csl,
            "csl_target": csl_target,
            "csl_delta": csl - csl_target,
            "achieved_service": achieved,
            "service_delta": achieved - target,
            "avg_inventory_units": avg_on_hand,
            "avg_inventory_value": avg_on_hand * cost,
            "expected_avg_inventory": expected_inventory,
            "avg_inventory_delta": avg_on_hand - expected_inventory,
            "orders": acc["orders"].astype(int),
            "expected_orders": expected_orders,
            "orders_delta": acc["orders"] - expected_orders,
            "stockout_days": acc["stockout_days"].astype(int),
            "shortage_days": acc["shortage_days"].astype(int),
            "unit_cost": cost,
            "lead_time_source": lt_source,
        }
    )
    return out.loc[:, list(KPI_COLUMNS)]


def summarise_kpis(
    kpis: pd.DataFrame, by: Sequence[str] = (), tolerance: float = 0.02
) -> pd.DataFrame:
    """Aggregate simulate_policy output: fill rate weighted by demand, CSL by cycles, targets
    weighted the same way, inventory value summed, and the share of series whose achieved
    service lies within +/- tolerance of its target."""
    frame = kpis.assign(
        _target_fill=kpis["fill_rate_target"] * kpis["total_demand"],
        _target_csl=kpis["csl_target"] * kpis["cycles"],
        _ok_cycles=kpis["cycle_service_level"] * kpis["cycles"],
        _has_service=kpis["service_delta"].notna(),
        _within=kpis["service_delta"].abs() <= tolerance,
        _all="all",
    )
    keys = list(by) or ["_all"]
    grouped = frame.groupby(keys, dropna=False)
    out = grouped.agg(
        series=("material_id", "size"),
        total_demand=("total_demand", "sum"),
        filled_demand=("filled_demand", "sum"),
        target_fill=("_target_fill", "sum"),
        cycles=("cycles", "sum"),
        ok_cycles=("_ok_cycles", "sum"),
        target_csl=("_target_csl", "sum"),
        inventory_value=("avg_inventory_value", "sum"),
        inventory_units=("avg_inventory_units", "sum"),
        orders=("orders", "sum"),
        stockout_days=("stockout_days", "sum"),
        with_target=("_has_service", "sum"),
        within=("_within", "sum"),
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        out["fill_rate"] = out["filled_demand"] / out["total_demand"]
        out["fill_rate_target"] = out.pop("target_fill") / out["total_demand"]
        out["cycle_service_level"] = out.pop("ok_cycles") / out["cycles"]
        out["csl_target"] = out.pop("target_csl") / out["cycles"]
        out["share_within_tolerance"] = out.pop("within") / out["with_target"]
    out["fill_rate_delta"] = out["fill_rate"] - out["fill_rate_target"]
    out["csl_delta"] = out["cycle_service_level"] - out["csl_target"]
    out = out.reset_index()
    return out.drop(columns=["_all"]) if not by else out


def _scenario_inputs(
    inputs: pd.DataFrame,
    lead_times: pd.DataFrame | None,
    service_target: float | None,
    target_type: TargetType | None,
    lead_time_factor: float,
    lead_time_shift_days: float,
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    if lead_time_factor <= 0:
        raise ValueError("what_if: lead_time_factor must be > 0")
    changed = inputs.copy()
    if service_target is not None:
        changed["service_target"] = service_target
    if target_type is not None:
        changed["target_type"] = target_type
    for column in ("lead_time_mean_days", "planned_lead_time_days"):
        changed[column] = (
            pd.to_numeric(changed[column]) * lead_time_factor + lead_time_shift_days
        ).clip(lower=0)
    changed["lead_time_std_days"] = pd.to_numeric(changed["lead_time_std_days"]) * lead_time_factor
    if lead_times is None:
        return changed, None
    sample = lead_times.copy()
    sample["lead_time_days"] = (
        pd.to_numeric(sample["lead_time_days"]) * lead_time_factor + lead_time_shift_days
    ).clip(lower=0)
    return changed, sample


def what_if(
    inputs: pd.DataFrame,
    config: PolicyConfig,
    daily_demand: pd.DataFrame,
    lead_times: pd.DataFrame | None,
    *,
    service_target: float | None = None,
    target_type: TargetType | None = None,
    lead_time_factor: float = 1.0,
    lead_time_shift_days: float = 0.0,
    seed: int = 0,
    warmup_days: int = 0,
    lead_time_sampling: LeadTimeSampling = "bootstrap",
) -> pd.DataFrame:
    """Recompute policies under a changed service target and/or lead time (new lead time =
    old x factor + shift, applied to the plan and to the replayed receipts alike) and
    simulate both; returns simulate_policy KPIs with scenario = "baseline" | "what_if"."""
    changed_inputs, changed_lead_times = _scenario_inputs(
        inputs, lead_times, service_target, target_type, lead_time_factor, lead_time_shift_days
    )
    frames = []
    for scenario, rows, sample in (
        ("baseline", inputs, lead_times),
        ("what_if", changed_inputs, changed_lead_times),
    ):
        policies = compute_policies(rows, config)
        kpis = simulate_policy(
            daily_demand,
            policies,
            sample,
            seed=seed,
            lead_time_sampling=lead_time_sampling,
            warmup_days=warmup_days,
        )
        frames.append(kpis.assign(scenario=scenario))
    return pd.concat(frames, ignore_index=True)


def service_frontier(
    inputs: pd.DataFrame,
    config: PolicyConfig,
    daily_demand: pd.DataFrame | None = None,
    lead_times: pd.DataFrame | None = None,
    *,
    targets: Sequence[float] = (0.80, 0.85, 0.90, 0.93, 0.95, 0.97, 0.98, 0.99),
    target_type: TargetType = "fill_rate",
    seed: int = 0,
    warmup_days: int = 0,
    lead_time_sampling: LeadTimeSampling = "bootstrap",
) -> pd.DataFrame:
    """Inventory investment against service level, one row per target applied to all items.

    Planned figures come from compute_policies (safety stock and expected average inventory
    valued at unit cost, demand-weighted expected fill rate); with daily_demand the same
    policies are also simulated and the achieved service and inventory are added."""
    rows = []
    for target in targets:
        policies = compute_policies(
            inputs.assign(service_target=float(target), target_type=target_type), config
        )
        cost = pd.to_numeric(policies["unit_cost"], errors="coerce")
        weight = policies["mean_weekly_demand"].where(policies["policy_type"] != NO_POLICY, 0.0)
        row = {
            "service_target": float(target),
            "target_type": target_type,
            "safety_stock_value": float((policies["safety_stock"] * cost).sum()),
            "planned_inventory_value": float((policies["expected_avg_inventory"] * cost).sum()),
            "expected_fill_rate": float(
                (policies["expected_fill_rate"].fillna(0) * weight).sum() / weight.sum()
            )
            if weight.sum() > 0
            else np.nan,
        }
        if daily_demand is not None:
            kpis = simulate_policy(
                daily_demand,
                policies,
                lead_times,
                seed=seed,
                lead_time_sampling=lead_time_sampling,
                warmup_days=warmup_days,
            )
            total = summarise_kpis(kpis).iloc[0]
            row.update(
                achieved_fill_rate=float(total["fill_rate"]),
                achieved_csl=float(total["cycle_service_level"]),
                simulated_inventory_value=float(total["inventory_value"]),
                orders=int(total["orders"]),
                stockout_days=int(total["stockout_days"]),
            )
        rows.append(row)
    return pd.DataFrame(rows)


def frontier_png(frontier: pd.DataFrame) -> bytes:
    """PNG of service level against inventory value for a service_frontier result: the
    planned curve, and the simulated one where the frontier was simulated."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if frontier.empty:
        raise ValueError("frontier_png: the frontier has no rows")
    figure = Figure(figsize=(7.5, 4.8), dpi=110)
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    kind = str(frontier["target_type"].iloc[0]).replace("_", " ")
    ax.plot(
        frontier["planned_inventory_value"],
        frontier["expected_fill_rate"],
        marker="o",
        label="planned (expected fill rate)",
    )
    if "achieved_fill_rate" in frontier.columns:
        ax.plot(
            frontier["simulated_inventory_value"],
            frontier["achieved_fill_rate"],
            marker="s",
            label="simulated on history (achieved fill rate)",
        )
        for x, y, target in zip(
            frontier["simulated_inventory_value"],
            frontier["achieved_fill_rate"],
            frontier["service_target"],
            strict=True,
        ):
            ax.annotate(f"{target:.0%}", (x, y), textcoords="offset points", xytext=(4, -10))
    ax.set_xlabel("average inventory value")
    ax.set_ylabel("fill rate")
    ax.set_title(f"Service frontier ({kind} targets)")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="lower right")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
