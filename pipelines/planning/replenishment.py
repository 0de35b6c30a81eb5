"""Weekly replenishment plan: what to order, from which vendor, when, as a MIP.

Model (per material x plant "item", vendor "source", week ``t`` of the horizon):

* an order released in week ``t`` to a source with lead time ``L`` arrives in week ``t + L``
  and serves that week's demand; orders that would arrive after the horizon are not modelled;
* the quantity is an integer number of packs (``rounding_qty``), zero or at least ``moq``;
* all-units price breaks: the whole order is priced at the tier its quantity reaches;
* end-of-week stock = previous stock + planned receipts + scheduled receipts (open POs)
  - demand + unmet demand; unmet demand is lost (not backordered) and costs
  ``shortage_cost`` per unit; an empty ``shortage_cost`` makes the item's demand a hard
  constraint; a sale is lost only when the shelf is empty (a binary switch per item-week for
  items with a safety stock, else the MIP would refuse a sale to keep safety stock);
* stock below ``safety_stock`` costs ``safety_stock_cost`` per unit and week;
* (l,S) inequalities (what arrives with a setup in week a is sold by week l or still in stock)
  tighten the fixed-order-cost relaxation; SCIP runs with few separation rounds
  (:data:`SCIP_PARAMETERS`), which measured 4x faster per item at the same gap;
* vendor capacity (units released per vendor and week), budget (purchase value released per
  week, optionally per plant) and warehouse capacity (``unit_volume`` x end-of-week stock per
  plant and week) are hard constraints;
* objective: purchase + fixed ordering + holding + shortage + below-safety-stock cost.

Scale: items that share no capacity, budget or warehouse constraint are independent and are
solved as separate MIPs, each with a share of the time limit and the heuristic's plan as a
start solution. Larger connected groups are split into blocks of at most ``block_size`` items
(whole plants first); constraints crossing blocks are first dropped, which gives a valid lower
bound, and, only if the combined plan then violates them, re-allocated to the blocks in
proportion to their use and the affected blocks re-solved (70 % / 30 % of the time limit).
The reported objective is the cost of the final plan re-simulated; the bound is the sum of the
blocks' dual bounds (0 for a part whose solver produced none), so ``gap`` is conservative.

Fallback heuristic (used when the solver is disabled, fails, or returns no solution in time):
week by week, each item's projected stock at the arrival week of a new order is checked
against its safety stock; below it, an order up to safety stock plus an EOQ-derived number of
weeks of cover is placed with the cheapest source that still has vendor capacity, budget and
warehouse room, rounded to packs and at least the MOQ.

Infeasible problems are explained by an elastic re-solve: hard constraints get penalised slack
variables, and every constraint that needs slack is reported with the items involved.
"""

from __future__ import annotations

import contextlib
import json
import math
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from pipelines.ingest.specs import ALPHA_LENGTHS

SolverName = Literal["SCIP", "HIGHS", "CBC", "heuristic"]

#: SCIP settings (SCIP .set syntax) for the many small per-item MIPs; see RESULTS.md.
SCIP_PARAMETERS = "separating/maxroundsroot = 1\nseparating/maxrounds = 0"

#: The purchase-requisition fields an SAP upload takes (EBAN names), in upload order.
SAP_PR_COLUMNS = [
    "BNFPO",
    "BSART",
    "MATNR",
    "WERKS",
    "EKORG",
    "LIFNR",
    "MENGE",
    "MEINS",
    "LFDAT",
    "FRGDT",
    "PREIS",
    "WAERS",
]
#: SAP's decimals: quantities QUAN 13,3, prices CURR 11,2.
SAP_PR_DECIMALS = {"MENGE": 3, "PREIS": 2}
#: A proposal: the SAP fields, then what a buyer reviews it by.
PROPOSAL_COLUMNS = [
    *SAP_PR_COLUMNS,
    "order_value",
    "packs",
    "release_week",
    "delivery_week",
]

INFEASIBILITY_COLUMNS = [
    "constraint",
    "plant_id",
    "vendor_id",
    "week",
    "material_ids",
    "violation",
    "message",
]

_ITEM_DEFAULTS = {
    "initial_stock": 0.0,
    "holding_cost_week": 0.0,
    "shortage_cost": np.nan,
    "safety_stock": 0.0,
    "safety_stock_cost": np.nan,
    "unit_volume": 1.0,
    "unit": "ST",
}
_SOURCE_DEFAULTS = {
    "price_breaks": None,
    "moq": 0.0,
    "rounding_qty": 1.0,
    "lead_time_weeks": 0,
    "order_cost": 0.0,
    "purch_org": "1000",
    "currency": "EUR",
}


def _require(frame: pd.DataFrame, name: str, cols: list[str]) -> pd.DataFrame:
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{name}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise ValueError(f"{name}: missing required column(s) {missing}")
    return frame.copy()


def _check_nonneg(
    frame: pd.DataFrame, name: str, cols: list[str], allow_nan: tuple[str, ...] = ()
) -> None:
    """Coerce ``cols`` to numbers >= 0 in place; NaN only where ``allow_nan`` says so."""
    for c in cols:
        vals = pd.to_numeric(frame[c], errors="coerce")
        bad = (vals < 0) | (vals.isna() & frame[c].notna())
        if c not in allow_nan:
            bad |= vals.isna()
        if bad.any():
            row = bad.to_numpy().nonzero()[0][0]
            raise ValueError(
                f"{name}: column {c!r} must be a number >= 0; bad value "
                f"{frame[c].iloc[row]!r} in row {row}"
            )
        frame[c] = vals


def _parse_breaks(value, row: int) -> tuple[tuple[float, float], ...]:
    """Price breaks as ((min_qty, unit_price), ...), from a list or a JSON string."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value == "":
        return ()
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"sources: row {row}: price_breaks is not valid JSON: {exc}") from exc
    try:
        tiers = tuple(sorted((float(q), float(p)) for q, p in value))
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"sources: row {row}: price_breaks must be [[min_qty, unit_price], ...]"
        ) from exc
    if any(q <= 0 or p < 0 for q, p in tiers):
        raise ValueError(f"sources: row {row}: price_breaks need min_qty > 0 and price >= 0")
    return tiers


@dataclass(frozen=True)
class ReplenishmentProblem:
    """Validated replenishment data; build it with :meth:`from_frames`.

    Weeks are integers 0..n_weeks-1; week 0 starts on ``start_date`` (a Monday by convention).
    """

    items: pd.DataFrame
    demand: np.ndarray
    scheduled: np.ndarray
    sources: pd.DataFrame
    vendor_capacity: pd.DataFrame
    budget: pd.DataFrame
    warehouse_capacity: pd.DataFrame
    n_weeks: int
    start_date: date
    _rows_by_item: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    @classmethod
    def from_frames(
        cls,
        demand: pd.DataFrame,
        items: pd.DataFrame,
        sources: pd.DataFrame,
        *,
        vendor_capacity: pd.DataFrame | None = None,
        budget: pd.DataFrame | None = None,
        warehouse_capacity: pd.DataFrame | None = None,
        scheduled_receipts: pd.DataFrame | None = None,
        n_weeks: int | None = None,
        start_date: date | None = None,
    ) -> ReplenishmentProblem:
        """Validate and index the input tables.

        * ``demand``: material_id, plant_id, week, qty (forecast; summed if repeated).
        * ``items``: material_id, plant_id [, initial_stock, holding_cost_week, shortage_cost
          (empty = demand must be met), safety_stock, safety_stock_cost (default half the
          shortage cost, or 10 x holding cost), unit_volume, unit (SAP MEINS, default ST)].
        * ``sources``: material_id, plant_id, vendor_id, unit_price [, price_breaks
          ([[min_qty, price], ...] or its JSON), moq, rounding_qty, lead_time_weeks,
          order_cost, purch_org (EKORG), currency].
        * ``vendor_capacity``: vendor_id, capacity [, week] (units released per week; no week
          = every week). ``budget``: amount [, week] [, plant_id] (purchase value released per
          week; no plant = all plants). ``warehouse_capacity``: plant_id, capacity [, week].
        * ``scheduled_receipts``: material_id, plant_id, week, qty (open PO schedule lines).
        """
        demand = _require(demand, "demand", ["material_id", "plant_id", "week", "qty"])
        sched = (
            pd.DataFrame(columns=["material_id", "plant_id", "week", "qty"])
            if scheduled_receipts is None
            else _require(
                scheduled_receipts, "scheduled_receipts", ["material_id", "plant_id", "week", "qty"]
            )
        )
        for frame, name in ((demand, "demand"), (sched, "scheduled_receipts")):
            _check_nonneg(frame, name, ["week", "qty"])
            if len(frame) and (frame["week"] % 1 != 0).any():
                raise ValueError(f"{name}: column 'week' must hold integer week numbers")
        T = (
            int(n_weeks)
            if n_weeks is not None
            else (int(demand["week"].max()) + 1 if len(demand) else 1)
        )
        if T <= 0:
            raise ValueError(f"n_weeks must be > 0, got {T}")
        items = _require(items, "items", ["material_id", "plant_id"])
        for c, v in _ITEM_DEFAULTS.items():
            if c not in items.columns:
                items[c] = v
            elif c not in ("shortage_cost", "safety_stock_cost"):  # empty means something
                items[c] = items[c].where(items[c].notna(), v)
        items["material_id"] = items["material_id"].astype(str)
        items["plant_id"] = items["plant_id"].astype(str)
        if items.duplicated(["material_id", "plant_id"]).any():
            dup = items[items.duplicated(["material_id", "plant_id"])].iloc[0]
            raise ValueError(
                f"items: duplicated material_id/plant_id {dup.material_id}/{dup.plant_id}"
            )
        _check_nonneg(
            items,
            "items",
            [
                "initial_stock",
                "holding_cost_week",
                "shortage_cost",
                "safety_stock",
                "safety_stock_cost",
                "unit_volume",
            ],
            allow_nan=("shortage_cost", "safety_stock_cost"),
        )
        # Below-safety-stock cost is capped at shortage_cost / (n_weeks + 1): a sale left
        # unserved to protect safety stock can then never pay, so the lost-sales MIP serves
        # demand whenever stock is on hand, as the stock simulation does.
        cap_ss = items["shortage_cost"] / (T + 1)
        default_ss = np.where(
            items["shortage_cost"].notna(), cap_ss, 10.0 * items["holding_cost_week"]
        )
        items["safety_stock_cost"] = (
            items["safety_stock_cost"]
            .fillna(pd.Series(default_ss, index=items.index))
            .clip(upper=cap_ss.fillna(np.inf))
        )
        items = items.reset_index(drop=True)
        key = {
            (m, p): i
            for i, (m, p) in enumerate(zip(items.material_id, items.plant_id, strict=True))
        }

        def to_matrix(frame: pd.DataFrame, name: str) -> np.ndarray:
            out = np.zeros((len(items), T))
            for row, rec in enumerate(frame.itertuples(index=False)):
                k = (str(rec.material_id), str(rec.plant_id))
                if k not in key:
                    raise ValueError(f"{name}: row {row}: item {k[0]}/{k[1]} is not in items")
                if int(rec.week) < T:
                    out[key[k], int(rec.week)] += float(rec.qty)
            return out

        D = to_matrix(demand, "demand")
        SR = to_matrix(sched, "scheduled_receipts")

        sources = _require(
            sources, "sources", ["material_id", "plant_id", "vendor_id", "unit_price"]
        )
        for c, v in _SOURCE_DEFAULTS.items():
            if c not in sources.columns:
                sources[c] = v
            elif v is not None:
                sources[c] = sources[c].where(sources[c].notna(), v)
        for c in ("material_id", "plant_id", "vendor_id", "purch_org", "currency"):
            sources[c] = sources[c].astype(str)
        _check_nonneg(
            sources,
            "sources",
            ["unit_price", "moq", "rounding_qty", "lead_time_weeks", "order_cost"],
        )
        sources = sources.reset_index(drop=True)
        if (sources["rounding_qty"] <= 0).any():
            row = int(sources.index[sources["rounding_qty"] <= 0][0])
            raise ValueError(f"sources: row {row}: rounding_qty must be > 0")
        if (sources["lead_time_weeks"] % 1 != 0).any():
            raise ValueError("sources: lead_time_weeks must be whole weeks")
        item_idx = []
        for row, (m, p) in enumerate(zip(sources.material_id, sources.plant_id, strict=True)):
            if (m, p) not in key:
                raise ValueError(f"sources: row {row}: item {m}/{p} is not in items")
            item_idx.append(key[(m, p)])
        sources["item"] = item_idx
        sources["lead_time_weeks"] = sources["lead_time_weeks"].astype(int)
        sources["price_breaks"] = [
            _parse_breaks(v, r) for r, v in enumerate(sources["price_breaks"].tolist())
        ]
        if sources.duplicated(["item", "vendor_id"]).any():
            raise ValueError("sources: duplicated material_id/plant_id/vendor_id rows")

        vcap = _capacity_frame(vendor_capacity, "vendor_capacity", ["vendor_id"], "capacity", T)
        bud = _capacity_frame(budget, "budget", [], "amount", T)
        wcap = _capacity_frame(
            warehouse_capacity, "warehouse_capacity", ["plant_id"], "capacity", T
        )
        return cls(
            items=items,
            demand=D,
            scheduled=SR,
            sources=sources,
            vendor_capacity=vcap,
            budget=bud,
            warehouse_capacity=wcap,
            n_weeks=T,
            start_date=start_date or date.today() - timedelta(days=date.today().weekday()),
        )

    @property
    def n_items(self) -> int:
        return len(self.items)

    def week_start(self, week: int) -> date:
        return self.start_date + timedelta(weeks=int(week))

    def sources_of(self, items: np.ndarray) -> pd.DataFrame:
        """Source rows of the given items (indexed once, as blocks ask for them often)."""
        if not self._rows_by_item:
            grouped = self.sources.groupby("item").indices
            self._rows_by_item.update({int(k): v for k, v in grouped.items()})
        empty = np.array([], dtype=int)
        rows = [self._rows_by_item.get(int(i), empty) for i in items]
        return self.sources.iloc[np.concatenate(rows) if rows else empty]


def _capacity_frame(
    frame: pd.DataFrame | None, name: str, keys: list[str], value: str, T: int
) -> pd.DataFrame:
    """Long frame (keys..., scope, week, cap) with one row per key and week (week-less = all)."""
    cols = [*keys, "plant_id", "week", "cap"] if name == "budget" else [*keys, "week", "cap"]
    if frame is None or len(frame) == 0:
        return pd.DataFrame(columns=cols)
    frame = _require(frame, name, [*keys, value])
    _check_nonneg(frame, name, [value])
    if name == "budget":
        plant = frame["plant_id"] if "plant_id" in frame else pd.Series("*", index=frame.index)
        frame["plant_id"] = plant.fillna("*").astype(str)
        keys = ["plant_id"]
    for k in keys:
        frame[k] = frame[k].astype(str)
    if "week" in frame.columns and frame["week"].notna().all():
        frame["week"] = frame["week"].astype(int)
        out = frame[frame["week"] < T]
    else:
        if "week" in frame.columns:
            raise ValueError(f"{name}: 'week' must be given on every row or on none")
        out = frame.merge(pd.DataFrame({"week": range(T)}), how="cross")
    out = out.rename(columns={value: "cap"})[[*keys, "week", "cap"]]
    if out.duplicated([*keys, "week"]).any():
        raise ValueError(f"{name}: more than one capacity row for the same key and week")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------- internals


@dataclass
class _Resource:
    """One coupling constraint family (vendor/budget/warehouse) with its weekly capacity."""

    kind: str  # vendor_capacity | budget | warehouse_capacity
    key: str  # vendor id, plant id or "*"
    cap: np.ndarray  # (T,), inf where unconstrained
    items: np.ndarray  # item indices that use it
    sources: np.ndarray  # source rows that use it (vendor/budget)


def _resources(problem: ReplenishmentProblem) -> list[_Resource]:
    T, src, items = problem.n_weeks, problem.sources, problem.items
    out: list[_Resource] = []
    for vendor, g in problem.vendor_capacity.groupby("vendor_id"):
        cap = np.full(T, np.inf)
        cap[g["week"].to_numpy()] = g["cap"].to_numpy()
        rows = src.index[src["vendor_id"] == vendor].to_numpy()
        out.append(
            _Resource("vendor_capacity", vendor, cap, np.unique(src.loc[rows, "item"]), rows)
        )
    for plant, g in problem.budget.groupby("plant_id"):
        cap = np.full(T, np.inf)
        cap[g["week"].to_numpy()] = g["cap"].to_numpy()
        item_rows = items.index if plant == "*" else items.index[items["plant_id"] == plant]
        rows = src.index[src["item"].isin(item_rows)].to_numpy()
        out.append(_Resource("budget", plant, cap, item_rows.to_numpy(), rows))
    for plant, g in problem.warehouse_capacity.groupby("plant_id"):
        cap = np.full(T, np.inf)
        cap[g["week"].to_numpy()] = g["cap"].to_numpy()
        item_rows = items.index[items["plant_id"] == plant].to_numpy()
        out.append(_Resource("warehouse_capacity", plant, cap, item_rows, np.array([], int)))
    return out


def _unit_price(price: float, breaks: tuple, qty: float) -> float:
    p = price
    for q, bp in breaks:
        if qty >= q - 1e-9:
            p = bp
    return p


@dataclass
class _BlockResult:
    items: np.ndarray
    orders: list[tuple[int, int, float]]  # (source row, release week, qty)
    status: str  # optimal | feasible | infeasible | no_solution | not_solved
    objective: float
    bound: float
    slack: list[dict] = field(default_factory=list)
    seconds: float = 0.0


def _solve_mip(
    problem: ReplenishmentProblem,
    items: np.ndarray,
    caps: list[tuple[_Resource, np.ndarray]],
    time_limit_s: float,
    solver_name: str,
    mip_gap: float,
    elastic: bool = False,
    hint: list[tuple[int, int, float]] | None = None,
) -> _BlockResult:
    """Build and solve the MIP for ``items`` under the given resource capacities.

    ``hint`` (orders, e.g. the heuristic's plan) is passed to the solver as a start solution.
    """
    from ortools.linear_solver import pywraplp

    t0 = time.perf_counter()
    T = problem.n_weeks
    solver = pywraplp.Solver.CreateSolver(solver_name)
    if solver is None:
        return _BlockResult(items, [], "no_solution", math.nan, math.nan)
    solver.SuppressOutput()
    inf = solver.infinity()
    it = problem.items
    D, SR = problem.demand, problem.scheduled
    src = problem.sources_of(items)
    item_set = {int(i): k for k, i in enumerate(items)}
    obj = solver.Objective()
    weight = 0.0
    if elastic:
        coefs = [it["holding_cost_week"].max(), it["shortage_cost"].max(), src["unit_price"].max()]
        weight = 1e3 * (max(c for c in coefs if np.isfinite(c)) + 1.0)
    # Elastic weights per unit of slack, converted to units of goods; unmet must-meet demand
    # weighs 100x more, so the diagnosis names the capacity that blocks the demand rather
    # than the demand itself, unless no capacity could help (e.g. lead time).
    slack_weight = {
        "demand": 100 * weight,
        "vendor_capacity": weight,
        "budget": weight / max(float(src["unit_price"].max()), 1e-9) if len(src) else weight,
        "warehouse_capacity": weight / max(float(it["unit_volume"].max()), 1e-9),
    }

    # Tightest order bound per source & week: remaining demand after arrival + safety stock.
    remaining = np.cumsum(D[items][:, ::-1], axis=1)[:, ::-1]  # demand from week t to the end
    vendor_cap = {r.key: c for r, c in caps if r.kind == "vendor_capacity"}

    receipts = [[[] for _ in range(T)] for _ in items]  # (coef, var) arriving per item/week
    setups = [[[] for _ in range(T)] for _ in items]  # (rounding, packs, y) with a setup
    qty_vars: dict[tuple[int, int], object] = {}
    value_terms: dict[tuple[int, int], list] = {}
    for s in src.itertuples():
        k, L, r = item_set[s.item], s.lead_time_weeks, s.rounding_qty
        ss = float(it.at[s.item, "safety_stock"])
        for t in range(T - L):
            need = remaining[k, t + L] + ss
            if need <= 0:
                continue
            top_break = s.price_breaks[-1][0] if s.price_breaks else 0.0
            ub = math.ceil(max(need, s.moq, top_break) / r - 1e-9) * r
            vc = vendor_cap.get(s.vendor_id)
            if vc is not None and not elastic and np.isfinite(vc[t]):
                ub = min(ub, math.floor(vc[t] / r + 1e-9) * r)
            if ub < max(s.moq, r) - 1e-9:
                continue
            packs = solver.IntVar(0, ub / r, "")
            needs_y = s.moq > r + 1e-9 or s.order_cost > 0 or s.price_breaks
            if needs_y:
                y = solver.BoolVar("")
                solver.Add(r * packs <= ub * y)
                if s.moq > 0:
                    solver.Add(r * packs >= s.moq * y)
                obj.SetCoefficient(y, s.order_cost)
                setups[k][t + L].append((r, packs, y))
            terms = []
            if s.price_breaks:
                tiers = [(0.0, s.unit_price), *s.price_breaks]
                tiers = [(q, p) for q, p in tiers if q <= ub + 1e-9]
                zs, qs = [], []
                for q_min, price in tiers:
                    z = solver.BoolVar("")
                    qk = solver.NumVar(0, ub, "")
                    solver.Add(qk <= ub * z)
                    if q_min > 0:
                        solver.Add(qk >= q_min * z)
                    obj.SetCoefficient(qk, price)
                    zs.append(z)
                    qs.append(qk)
                    terms.append((price, qk))
                solver.Add(solver.Sum(zs) == y)
                solver.Add(solver.Sum(qs) == r * packs)
            else:
                obj.SetCoefficient(packs, s.unit_price * r)
                terms.append((s.unit_price * r, packs))
            receipts[k][t + L].append((r, packs))
            qty_vars[(s.Index, t)] = (r, packs)
            value_terms[(s.Index, t)] = terms

    inv = np.empty((len(items), T), dtype=object)
    slack_rows: list[tuple[dict, object]] = []
    for k, i in enumerate(items):
        h = float(it.at[i, "holding_cost_week"])
        c_short = float(it.at[i, "shortage_cost"])
        ss, c_ss = float(it.at[i, "safety_stock"]), float(it.at[i, "safety_stock_cost"])
        hard = not np.isfinite(c_short)
        prev = float(it.at[i, "initial_stock"])
        max_stock = prev  # upper bound on the stock, for the lost-sales switch below
        guard = ss > 0 and c_ss > 0
        for t in range(T):
            v = solver.NumVar(0, inf, "")
            obj.SetCoefficient(v, h)
            arrive = solver.Sum([c * x for c, x in receipts[k][t]]) if receipts[k][t] else 0
            max_stock += SR[i, t] + sum(c * x.ub() for c, x in receipts[k][t])
            balance = prev + arrive + SR[i, t] - D[i, t]
            if D[i, t] > 0 and (not hard or elastic):
                short = solver.NumVar(0, D[i, t], "")
                obj.SetCoefficient(short, slack_weight["demand"] if hard else c_short)
                balance = balance + short
                if hard:
                    slack_rows.append(({"constraint": "demand", "item": int(i), "week": t}, short))
                elif guard and max_stock > D[i, t]:
                    # Sales are lost only when the shelf is empty: without this switch the
                    # MIP would refuse a sale now to keep safety stock and sell the unit later.
                    out = solver.BoolVar("")
                    solver.Add(short <= D[i, t] * out)
                    solver.Add(v <= max_stock * (1 - out))
            solver.Add(v == balance)
            if ss > 0 and c_ss > 0:
                gap_var = solver.NumVar(0, ss, "")
                obj.SetCoefficient(gap_var, c_ss)
                solver.Add(gap_var >= ss - v)
            inv[k, t] = v
            prev = v
        # (l,S)-type cuts: what arrives in week a with a setup either is sold by week l or is
        # still in stock at the end of week l. They close most of the fixed-cost LP gap.
        for a in range(T):
            if not setups[k][a]:
                continue
            qty = solver.Sum([r * x for r, x, _ in setups[k][a]])
            ys = solver.Sum([y for _, _, y in setups[k][a]])
            cum = 0.0
            for l_week in range(a, T):
                cum += D[i, l_week]
                if D[i, l_week] > 0:
                    solver.Add(qty <= cum * ys + inv[k, l_week])

    for res, cap in caps:
        for t in range(T):
            if not np.isfinite(cap[t]):
                continue
            if res.kind == "warehouse_capacity":
                terms = [
                    float(it.at[i, "unit_volume"]) * inv[item_set[int(i)], t]
                    for i in res.items
                    if int(i) in item_set
                ]
            elif res.kind == "vendor_capacity":
                terms = [
                    c * x
                    for row in res.sources
                    if (row, t) in qty_vars
                    for c, x in [qty_vars[(row, t)]]
                ]
            else:
                terms = [
                    c * x
                    for row in res.sources
                    if (row, t) in value_terms
                    for c, x in value_terms[(row, t)]
                ]
            if not terms:
                continue
            lhs = solver.Sum(terms)
            if elastic:
                sl = solver.NumVar(0, inf, "")
                obj.SetCoefficient(sl, slack_weight[res.kind])
                solver.Add(lhs <= cap[t] + sl)
                slack_rows.append(({"constraint": res.kind, "key": res.key, "week": t}, sl))
            else:
                solver.Add(lhs <= cap[t])
    obj.SetMinimization()
    if hint is not None and qty_vars:
        start = {(row, t): qty for row, t, qty in hint}
        keys = list(qty_vars)
        solver.SetHint(
            [qty_vars[k][1] for k in keys],
            [round(start.get(k, 0.0) / qty_vars[k][0]) for k in keys],
        )

    solver.SetTimeLimit(max(1, int(time_limit_s * 1000)))
    if solver_name == "SCIP" and SCIP_PARAMETERS:
        solver.SetSolverSpecificParametersAsString(SCIP_PARAMETERS)
    params = pywraplp.MPSolverParameters()
    params.SetDoubleParam(pywraplp.MPSolverParameters.RELATIVE_MIP_GAP, mip_gap)
    status = solver.Solve(params)
    has_solution = status in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE)
    if not has_solution:
        label = "infeasible" if status == pywraplp.Solver.INFEASIBLE else "no_solution"
        bound = math.nan
        if label == "no_solution":
            bound = _valid_bound(obj)
        return _BlockResult(items, [], label, math.nan, bound, seconds=time.perf_counter() - t0)
    orders = []
    for (row, t), (r, packs) in qty_vars.items():
        n = round(packs.solution_value())
        if n > 0:
            orders.append((int(row), t, n * r))
    objective = obj.Value()
    bound = _valid_bound(obj)
    if status == pywraplp.Solver.OPTIMAL and not (bound <= objective + 1e-6):
        bound = objective
    proven = status == pywraplp.Solver.OPTIMAL and objective - bound <= 1e-6 * max(
        1, abs(objective)
    )
    slack = []
    for meta, var in slack_rows:
        if var.solution_value() > 1e-6:
            slack.append({**meta, "violation": var.solution_value()})
    return _BlockResult(
        items,
        orders,
        "optimal" if proven else "feasible",
        objective,
        bound,
        slack,
        time.perf_counter() - t0,
    )


def _valid_bound(obj) -> float:
    """The solver's dual bound, or 0 (valid: every cost is >= 0) if it has none yet."""
    bound = math.nan
    with contextlib.suppress(Exception):  # some backends do not expose a bound
        bound = obj.BestBound()
    return max(bound, 0.0) if math.isfinite(bound) and abs(bound) < 1e19 else 0.0


def _solve_block(
    problem: ReplenishmentProblem,
    items: np.ndarray,
    caps: list[tuple[_Resource, np.ndarray]],
    time_limit_s: float,
    solver_name: str,
    mip_gap: float,
) -> _BlockResult:
    """Solve a block part by part: items linked by none of its capacities are separate MIPs.

    Solving small independent parts ourselves (rather than leaving it to the solver's
    presolve) guarantees each part an incumbent within its share of the time; a part that
    still gets no MIP solution is planned by the heuristic.
    """
    t0 = time.perf_counter()
    parent = {int(i): int(i) for i in items}

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for res, cap in caps:
        inside = [int(i) for i in res.items if int(i) in parent]
        if np.isfinite(cap).any():
            for i in inside[1:]:
                parent[find(i)] = find(inside[0])
    groups: dict[int, list[int]] = {}
    for i in items:
        groups.setdefault(find(int(i)), []).append(int(i))
    deadline, n_left = t0 + time_limit_s, len(items)
    orders: list[tuple[int, int, float]] = []
    objective, bound, statuses, slack = 0.0, 0.0, set(), []
    for part_list in groups.values():
        part = np.array(part_list)
        part_caps = [(r, c) for r, c in caps if np.isin(r.items, part).any()]
        share = max(0.1, (deadline - time.perf_counter()) * len(part) / n_left)
        n_left -= len(part)
        fallback = _heuristic(problem, part, part_caps)
        res = _solve_mip(problem, part, part_caps, share, solver_name, mip_gap, hint=fallback)
        if res.status == "no_solution":
            res.orders, res.status = fallback, "heuristic"
        statuses.add(res.status)
        orders += res.orders
        objective += res.objective
        bound += res.bound
        slack += res.slack
    for label in ("infeasible", "heuristic", "feasible", "optimal"):
        if label in statuses:
            break
    return _BlockResult(items, orders, label, objective, bound, slack, time.perf_counter() - t0)


def _orders_frame(problem: ReplenishmentProblem, orders: list[tuple[int, int, float]]):
    """Orders as a frame with arrival week, item, effective unit price and value."""
    src = problem.sources
    rows = np.array([o[0] for o in orders], dtype=int)
    out = pd.DataFrame(
        {
            "row": rows,
            "t": np.array([o[1] for o in orders], dtype=int),
            "qty": np.array([o[2] for o in orders], dtype=float),
        }
    )
    out["item"] = src["item"].to_numpy()[rows]
    out["arrival"] = out["t"] + src["lead_time_weeks"].to_numpy()[rows]
    price = src["unit_price"].to_numpy(float)[rows].copy()
    breaks = src["price_breaks"].to_numpy()[rows]
    for k in np.flatnonzero([bool(b) for b in breaks]):
        price[k] = _unit_price(price[k], breaks[k], out.at[k, "qty"])
    out["price"] = price
    out["value"] = out["qty"] * price
    return out


def _simulate(
    problem: ReplenishmentProblem, orders: list[tuple[int, int, float]]
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, float]]:
    """Plan, proposals and cost breakdown of a set of orders (lost-sales stock simulation)."""
    it, T = problem.items, problem.n_weeks
    n = len(it)
    of = _orders_frame(problem, orders)
    R = np.zeros((n, T))
    np.add.at(R, (of["item"].to_numpy(), of["arrival"].to_numpy()), of["qty"].to_numpy())
    D, SR = problem.demand, problem.scheduled
    stock = np.zeros((n, T))
    short = np.zeros((n, T))
    prev = it["initial_stock"].to_numpy(float)
    for t in range(T):
        avail = prev + R[:, t] + SR[:, t]
        short[:, t] = np.maximum(0.0, D[:, t] - avail)
        stock[:, t] = np.maximum(0.0, avail - D[:, t])
        prev = stock[:, t]
    h = it["holding_cost_week"].to_numpy(float)[:, None]
    c_short = np.nan_to_num(it["shortage_cost"].to_numpy(float), nan=0.0)[:, None]
    ss = it["safety_stock"].to_numpy(float)[:, None]
    c_ss = it["safety_stock_cost"].to_numpy(float)[:, None]
    below = np.maximum(0.0, ss - stock)
    plan = pd.DataFrame(
        {
            "material_id": np.repeat(it["material_id"].to_numpy(), T),
            "plant_id": np.repeat(it["plant_id"].to_numpy(), T),
            "week": np.tile(np.arange(T), n),
            "demand": D.ravel(),
            "scheduled_receipts": SR.ravel(),
            "planned_receipts": R.ravel(),
            "shortage": short.ravel(),
            "end_stock": stock.ravel(),
            "below_safety_stock": below.ravel(),
        }
    )
    costs = {
        "purchase": float(of["value"].sum()),
        "ordering": float(problem.sources["order_cost"].to_numpy()[of["row"]].sum()),
        "holding": float((h * stock).sum()),
        "shortage": float((c_short * short).sum()),
        "below_safety_stock": float((c_ss * below).sum()),
    }
    return plan, _proposals(problem, of), costs


def _alpha(value: str, field_name: str) -> str:
    n = ALPHA_LENGTHS.get(field_name)
    if n and value.isdigit():
        return value.zfill(n)
    return value.upper()


def _proposals(problem: ReplenishmentProblem, of: pd.DataFrame) -> pd.DataFrame:
    """SAP purchase-requisition rows, one per order, sorted by item and release week."""
    src, it = problem.sources, problem.items
    of = of.sort_values(["item", "t", "row"], kind="stable").reset_index(drop=True)
    s = src.iloc[of["row"].to_numpy()].reset_index(drop=True)
    out = pd.DataFrame(
        {
            "BNFPO": (np.arange(len(of)) + 1) * 10,
            "BSART": "NB",
            "MATNR": [_alpha(m, "MATNR") for m in s["material_id"]],
            "WERKS": s["plant_id"],
            "EKORG": s["purch_org"],
            "LIFNR": [_alpha(v, "LIFNR") for v in s["vendor_id"]],
            "MENGE": of["qty"].astype(float),
            "MEINS": it["unit"].astype(str).to_numpy()[of["item"].to_numpy()],
            "LFDAT": [problem.week_start(a) for a in of["arrival"]],
            "FRGDT": [problem.week_start(t) for t in of["t"]],
            "PREIS": of["price"].astype(float),
            "WAERS": s["currency"],
            "order_value": of["value"].astype(float),
            "packs": np.rint(of["qty"] / s["rounding_qty"]).astype(int),
            "release_week": of["t"].astype(int),
            "delivery_week": of["arrival"].astype(int),
        },
        columns=PROPOSAL_COLUMNS,
    )
    return out


def _components(problem: ReplenishmentProblem, resources: list[_Resource]) -> list[np.ndarray]:
    """Groups of items linked by a finite capacity, budget or warehouse constraint."""
    parent = list(range(problem.n_items))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    for res in resources:
        if not np.isfinite(res.cap).any() or len(res.items) < 2:
            continue
        root = find(int(res.items[0]))
        for i in res.items[1:]:
            parent[find(int(i))] = root
    roots = np.array([find(i) for i in range(problem.n_items)])
    return [np.flatnonzero(roots == r) for r in np.unique(roots)]


def _blocks(problem: ReplenishmentProblem, comp: np.ndarray, block_size: int) -> list[np.ndarray]:
    """Split a component into blocks of <= block_size items, keeping plants together first."""
    if len(comp) <= block_size:
        return [comp]
    it = problem.items.loc[comp]
    main_vendor = problem.sources.sort_values("unit_price").groupby("item")["vendor_id"].first()
    it = it.assign(vendor=main_vendor.reindex(comp).fillna("").to_numpy())
    blocks, current = [], []
    for _, g in it.groupby("plant_id", sort=True):
        idx = g.sort_values(["vendor", "material_id"]).index.to_numpy()
        if len(current) + len(idx) <= block_size:
            current += idx.tolist()
            continue
        if current:
            blocks.append(np.array(current))
            current = []
        for start in range(0, len(idx), block_size):
            chunk = idx[start : start + block_size].tolist()
            if len(chunk) == block_size:
                blocks.append(np.array(chunk))
            else:
                current = chunk
    if current:
        blocks.append(np.array(current))
    return blocks


_WORKER_PROBLEM: ReplenishmentProblem | None = None


def _init_worker(problem: ReplenishmentProblem) -> None:
    global _WORKER_PROBLEM
    _WORKER_PROBLEM = problem


def _solve_block_task(args) -> _BlockResult:
    return _solve_block(_WORKER_PROBLEM, *args)


@dataclass
class ReplenishmentResult:
    """Purchase proposals (SAP PR fields), the weekly plan and solver diagnostics."""

    proposals: pd.DataFrame
    plan: pd.DataFrame
    status: str  # optimal | feasible | heuristic | infeasible
    objective: float
    bound: float
    gap: float
    method: str
    infeasibility: pd.DataFrame
    costs: dict[str, float] = field(default_factory=dict)
    blocks: pd.DataFrame = field(default_factory=pd.DataFrame)
    solve_seconds: float = 0.0


def solve_replenishment(
    problem: ReplenishmentProblem,
    time_limit_s: float = 60.0,
    *,
    solver: SolverName = "SCIP",
    mip_gap: float = 0.005,
    block_size: int = 50,
    workers: int = 1,
) -> ReplenishmentResult:
    """Solve the replenishment MIP block by block; see the module docstring for the model.

    ``time_limit_s`` bounds the whole solve (split over blocks by size); ``mip_gap`` is each
    block's relative stopping gap; ``workers`` > 1 solves blocks in that many processes;
    ``solver="heuristic"`` skips the MIP and uses the documented fallback heuristic.
    """
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
    if solver not in ("SCIP", "HIGHS", "CBC", "heuristic"):
        raise ValueError(f"solver must be SCIP, HIGHS, CBC or heuristic, got {solver!r}")
    t0 = time.perf_counter()
    resources = _resources(problem)
    blocks = [
        b for comp in _components(problem, resources) for b in _blocks(problem, comp, block_size)
    ]
    block_of = np.empty(problem.n_items, dtype=int)
    for b, items in enumerate(blocks):
        block_of[items] = b

    def caps_for(items: np.ndarray, allocated: dict[tuple[int, int], np.ndarray]):
        """Resources touching the block: full capacity if inside it, else the allocation."""
        out = []
        members = set(items.tolist())
        for r_id, res in enumerate(resources):
            touched = members.intersection(res.items.tolist())
            if not touched:
                continue
            if len(touched) == len(res.items):
                out.append((res, res.cap))
            elif (r_id, int(block_of[items[0]])) in allocated:
                out.append((res, allocated[(r_id, int(block_of[items[0]]))]))
        return out

    results: list[_BlockResult] = [
        _BlockResult(b, [], "not_solved", math.nan, math.nan) for b in blocks
    ]
    if solver != "heuristic":
        tasks = [(b, caps_for(b, {}), solver, mip_gap) for b in blocks]
        results = _run_blocks(problem, tasks, time_limit_s * 0.7, workers)

    # Phase B: restore constraints that cross blocks, if the combined plan breaks them.
    orders = [o for r in results for o in r.orders]
    plan, _, _ = _simulate(problem, orders)
    stock = plan["end_stock"].to_numpy().reshape(problem.n_items, problem.n_weeks)
    of = _orders_frame(problem, orders)
    of["block"] = block_of[of["item"].to_numpy()]
    vol = problem.items["unit_volume"].to_numpy(float)
    allocated: dict[tuple[int, int], np.ndarray] = {}
    resolve: set[int] = set()
    for r_id, res in enumerate(resources):
        touched = np.unique(block_of[res.items])
        if len(touched) < 2 or not np.isfinite(res.cap).any():
            continue
        per_block = {int(b): np.zeros(problem.n_weeks) for b in touched}
        if res.kind == "warehouse_capacity":
            for b in touched:
                mine = res.items[block_of[res.items] == b]
                per_block[int(b)] = (vol[mine, None] * stock[mine]).sum(axis=0)
        else:
            col = "qty" if res.kind == "vendor_capacity" else "value"
            mine = of[of["row"].isin(res.sources)].groupby(["block", "t"])[col].sum()
            for (b, t), v in mine.items():
                per_block[int(b)][int(t)] = v
        total = sum(per_block.values())
        over = total > res.cap + 1e-6
        for b, u in per_block.items():
            share = np.where(total > 1e-9, u / np.maximum(total, 1e-9), 1.0 / len(touched))
            allocated[(r_id, b)] = np.where(np.isfinite(res.cap), res.cap * share, np.inf)
            if (u[over] > 1e-9).any():
                resolve.add(b)
    if resolve and solver != "heuristic":
        left = max(1.0, time_limit_s - (time.perf_counter() - t0))
        tasks = [
            (blocks[b], caps_for(blocks[b], allocated), solver, mip_gap) for b in sorted(resolve)
        ]
        for b, res_b in zip(
            sorted(resolve), _run_blocks(problem, tasks, left, workers), strict=True
        ):
            res_b.bound = results[b].bound  # the phase-A relaxation bound stays valid
            results[b] = res_b

    # Fallbacks: heuristic for blocks without a solution, elastic diagnosis for infeasible ones.
    infeas_rows: list[dict] = []
    methods = set()
    for b, res_b in enumerate(results):
        if res_b.status in ("optimal", "feasible", "heuristic"):
            methods.update(["mip", "heuristic"] if res_b.status == "heuristic" else ["mip"])
            continue
        caps = caps_for(blocks[b], allocated)
        if res_b.status == "infeasible":
            el = _solve_mip(
                problem,
                blocks[b],
                caps,
                max(5.0, time_limit_s * 0.1),
                "SCIP" if solver == "heuristic" else solver,
                0.01,
                elastic=True,
            )
            infeas_rows += _explain(problem, el, resources)
            res_b.orders = el.orders
            methods.add("elastic")
        else:
            res_b.orders = _heuristic(problem, blocks[b], caps)
            methods.add("heuristic")
    orders = [o for r in results for o in r.orders]
    plan, proposals, costs = _simulate(problem, orders)
    objective = float(sum(costs.values()))
    bounds = [r.bound for r in results]
    bound = float(sum(bounds)) if all(np.isfinite(bounds)) else math.nan
    gap = (objective - bound) / max(abs(objective), 1e-9) if np.isfinite(bound) else math.nan
    if infeas_rows:
        status = "infeasible"
    elif "heuristic" in methods:
        status = "heuristic"
    elif all(r.status == "optimal" for r in results) and not resolve:
        status = "optimal"
    else:
        status = "feasible"
    method = "+".join(sorted(methods)) + (f" ({len(blocks)} blocks)" if len(blocks) > 1 else "")
    blocks_df = pd.DataFrame(
        {
            "block": range(len(blocks)),
            "items": [len(b) for b in blocks],
            "status": [r.status for r in results],
            "objective": [r.objective for r in results],
            "bound": bounds,
            "seconds": [r.seconds for r in results],
            "resolved": [b in resolve for b in range(len(blocks))],
        }
    )
    return ReplenishmentResult(
        proposals=proposals,
        plan=plan,
        status=status,
        objective=objective,
        bound=bound,
        gap=max(gap, 0.0) if np.isfinite(gap) else gap,
        method=method,
        infeasibility=pd.DataFrame(infeas_rows, columns=INFEASIBILITY_COLUMNS),
        costs=costs,
        blocks=blocks_df,
        solve_seconds=time.perf_counter() - t0,
    )


def _run_blocks(
    problem: ReplenishmentProblem, tasks: list[tuple], time_limit_s: float, workers: int
) -> list[_BlockResult]:
    """Solve blocks; each gets a share of the time left proportional to its size."""
    if workers <= 1 or len(tasks) <= 1:
        out, deadline = [], time.perf_counter() + time_limit_s
        n_left = sum(len(t[0]) for t in tasks)
        for items, caps, solver, gap in tasks:
            left = max(0.5, deadline - time.perf_counter())
            out.append(_solve_block(problem, items, caps, left * len(items) / n_left, solver, gap))
            n_left -= len(items)
        return out
    n_total = sum(len(t[0]) for t in tasks)
    jobs = [
        (items, caps, max(0.5, time_limit_s * workers * len(items) / n_total), solver, gap)
        for items, caps, solver, gap in tasks
    ]
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(problem,)
    ) as pool:
        return list(pool.map(_solve_block_task, jobs))


def _explain(
    problem: ReplenishmentProblem, el: _BlockResult, resources: list[_Resource]
) -> list[dict]:
    """Turn the elastic model's slack into rows naming the constraint, week and items."""
    it, src = problem.items, problem.sources
    if el.status not in ("optimal", "feasible"):
        return [
            {
                "constraint": "unknown",
                "plant_id": None,
                "vendor_id": None,
                "week": None,
                "material_ids": ",".join(it.loc[el.items, "material_id"]),
                "violation": math.nan,
                "message": "infeasible, and the elastic diagnosis found no solution in time",
            }
        ]
    plan, _, _ = _simulate(problem, el.orders)
    stock = plan["end_stock"].to_numpy().reshape(problem.n_items, problem.n_weeks)
    ordered = {
        (int(src.at[row, "item"]), t + int(src.at[row, "lead_time_weeks"])): (row, q)
        for row, t, q in el.orders
    }
    rows = []
    by_key = {(r.kind, r.key): r for r in resources}
    for s in el.slack:
        week, amount = int(s["week"]), float(s["violation"])
        if s["constraint"] == "demand":
            i = s["item"]
            m, p = it.at[i, "material_id"], it.at[i, "plant_id"]
            min_lt = src.loc[src["item"] == i, "lead_time_weeks"].min()
            rows.append(
                {
                    "constraint": "demand",
                    "plant_id": p,
                    "vendor_id": None,
                    "week": week,
                    "material_ids": m,
                    "violation": amount,
                    "message": (
                        f"must-meet demand of {m} at plant {p} in week {week} is short by "
                        f"{amount:g} (earliest arrival of a new order: week "
                        f"{'none' if pd.isna(min_lt) else int(min_lt)})"
                    ),
                }
            )
            continue
        res = by_key[(s["constraint"], s["key"])]
        members = [int(i) for i in res.items if int(i) in set(el.items.tolist())]
        if res.kind == "warehouse_capacity":
            involved = [i for i in members if stock[i, week] > 1e-6]
            hints = []
            for i in involved:
                if (i, week) in ordered:
                    row, q = ordered[(i, week)]
                    moq = src.at[row, "moq"]
                    if q <= max(moq, src.at[row, "rounding_qty"]) + 1e-6:
                        hints.append(
                            f"{it.at[i, 'material_id']}: order of {q:g} forced by "
                            f"MOQ {moq:g}/rounding {src.at[row, 'rounding_qty']:g}"
                        )
            mats = [it.at[i, "material_id"] for i in involved]
            msg = (
                f"warehouse capacity {res.cap[week]:g} of plant {res.key} in week {week} "
                f"exceeded by {amount:g}; stock held for: {', '.join(mats) or '-'}"
            )
            rows.append(
                {
                    "constraint": res.kind,
                    "plant_id": res.key,
                    "vendor_id": None,
                    "week": week,
                    "material_ids": ",".join(mats),
                    "violation": amount,
                    "message": msg + ("; " + "; ".join(hints) if hints else ""),
                }
            )
        else:
            involved = sorted(
                {
                    int(src.at[row, "item"])
                    for row, t, _ in el.orders
                    if t == week and row in set(res.sources.tolist())
                }
            )
            mats = [it.at[i, "material_id"] for i in involved]
            what = "vendor capacity" if res.kind == "vendor_capacity" else "budget"
            scope = (
                f"vendor {res.key}"
                if res.kind == "vendor_capacity"
                else ("all plants" if res.key == "*" else f"plant {res.key}")
            )
            rows.append(
                {
                    "constraint": res.kind,
                    "plant_id": None if res.kind == "vendor_capacity" else res.key,
                    "vendor_id": res.key if res.kind == "vendor_capacity" else None,
                    "week": week,
                    "material_ids": ",".join(mats),
                    "violation": amount,
                    "message": f"{what} {res.cap[week]:g} of {scope} in week {week} "
                    f"exceeded by {amount:g}; orders for: {', '.join(mats)}",
                }
            )
    return rows


def _heuristic(
    problem: ReplenishmentProblem, items: np.ndarray, caps: list[tuple[_Resource, np.ndarray]]
) -> list[tuple[int, int, float]]:
    """Periodic-review order-up-to heuristic with the cheapest feasible source (see module doc)."""
    it, T = problem.items, problem.n_weeks
    D, SR = problem.demand, problem.scheduled
    left = {(res.kind, res.key): cap.astype(float).copy() for res, cap in caps}
    vendor_res = {res.key for res, _ in caps if res.kind == "vendor_capacity"}
    plant_budget = {res.key for res, _ in caps if res.kind == "budget"}
    wh = {res.key for res, _ in caps if res.kind == "warehouse_capacity"}
    vol = it["unit_volume"].to_numpy(float)
    R = np.zeros((len(it), T))
    orders: list[tuple[int, int, float]] = []
    srcs = {
        int(i): g.sort_values(["unit_price", "lead_time_weeks"])
        for i, g in problem.sources_of(items).groupby("item")
    }
    c_short = np.nan_to_num(it["shortage_cost"].to_numpy(float), nan=1e12)
    order = sorted(items.tolist(), key=lambda i: -c_short[i] * D[i].sum())

    def project(i: int) -> np.ndarray:
        prev, out = float(it.at[i, "initial_stock"]), np.zeros(T)
        for t in range(T):
            prev = max(0.0, prev + R[i, t] + SR[i, t] - D[i, t])
            out[t] = prev
        return out

    plant_stock = {p: np.zeros(T) for p in wh}
    for i in items:
        p = it.at[i, "plant_id"]
        if p in plant_stock:
            plant_stock[p] += vol[i] * project(i)

    for t in range(T):
        for i in order:
            if i not in srcs:
                continue
            ss = float(it.at[i, "safety_stock"])
            h, mean_d = float(it.at[i, "holding_cost_week"]), D[i].mean()
            p = it.at[i, "plant_id"]
            for s in srcs[i].itertuples():
                a = t + s.lead_time_weeks
                if a >= T:
                    continue
                before = project(i)
                avail = (
                    (before[a - 1] if a > 0 else float(it.at[i, "initial_stock"]))
                    + R[i, a]
                    + SR[i, a]
                )
                if avail - D[i, a] >= ss - 1e-9 and D[i, a] <= avail:
                    continue
                if h > 0 and mean_d > 0:
                    cover = int(np.clip(round(math.sqrt(2 * s.order_cost / (h * mean_d))), 1, 8))
                else:
                    cover = 4
                target = ss + D[i, a : a + cover].sum()
                need = target - avail
                if need <= 0:
                    continue
                r = s.rounding_qty
                qty = math.ceil(max(need, s.moq) / r - 1e-9) * r
                limit = math.inf
                if s.vendor_id in vendor_res:
                    limit = min(limit, left[("vendor_capacity", s.vendor_id)][t])
                price = _unit_price(s.unit_price, s.price_breaks, qty)
                for key in ("*", p):
                    if key in plant_budget and price > 0:
                        limit = min(limit, left[("budget", key)][t] / price)
                if p in wh:
                    room = left[("warehouse_capacity", p)][a:] - plant_stock[p][a:]
                    limit = min(limit, max(0.0, room.min()) / max(vol[i], 1e-12))
                if limit < qty:
                    qty = math.floor(limit / r + 1e-9) * r
                if qty < max(s.moq, r) - 1e-9:
                    continue
                price = _unit_price(s.unit_price, s.price_breaks, qty)
                orders.append((int(s.Index), t, float(qty)))
                R[i, a] += qty
                if s.vendor_id in vendor_res:
                    left[("vendor_capacity", s.vendor_id)][t] -= qty
                for key in ("*", p):
                    if key in plant_budget:
                        left[("budget", key)][t] -= qty * price
                if p in plant_stock:
                    plant_stock[p] += vol[i] * (project(i) - before)
    return orders


def export_purchase_requisitions(
    proposals: pd.DataFrame, path: str | Path, fmt: Literal["csv", "xlsx", "json"] = "csv"
) -> Path:
    """Write proposals for an SAP PR upload (ME51N mass upload / BAPI_PR_CREATE).

    Only the SAP fields, under their technical names and rounded to SAP's decimals; ``LIFNR``
    is the fixed vendor (EBAN-FLIEF, BAPI ``FIXED_VEND``). CSV is ``;``-separated with
    YYYYMMDD dates and a decimal point, JSON is a list of records with ISO dates, XLSX has real
    date cells.
    """
    path = Path(path)
    missing = [c for c in SAP_PR_COLUMNS if c not in proposals.columns]
    if missing:
        raise ValueError(f"proposals: missing column(s) {missing}")
    out = proposals[SAP_PR_COLUMNS].round(SAP_PR_DECIMALS)
    if fmt == "csv":
        for c in ("LFDAT", "FRGDT"):
            out[c] = pd.to_datetime(out[c]).dt.strftime("%Y%m%d")
        out.to_csv(path, sep=";", index=False)
    elif fmt == "xlsx":
        for c in ("LFDAT", "FRGDT"):
            out[c] = pd.to_datetime(out[c])
        out.to_excel(path, index=False, sheet_name="PR_UPLOAD")
    elif fmt == "json":
        for c in ("LFDAT", "FRGDT"):
            out[c] = pd.to_datetime(out[c]).dt.strftime("%Y-%m-%d")
        path.write_text(json.dumps(out.to_dict("records"), indent=1))
    else:
        raise ValueError(f"fmt must be 'csv', 'xlsx' or 'json', got {fmt!r}")
    return path


PR_EXPORT_FORMATS: tuple[Literal["csv", "xlsx", "json"], ...] = ("csv", "xlsx", "json")


def export_vintage(proposals: pd.DataFrame, folder: str | Path, origin: date) -> list[Path]:
    """A vintage's requisitions in every format, as `purchase_requisitions_<origin>.<fmt>`.
    Each file is written aside and renamed, so a reader never sees half of one."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fmt in PR_EXPORT_FORMATS:
        final = folder / f"purchase_requisitions_{origin:%Y%m%d}.{fmt}"
        partial = final.with_name(f".{final.stem}.partial.{fmt}")
        export_purchase_requisitions(proposals, partial, fmt)
        partial.replace(final)
        written.append(final)
    return written


def read_purchase_requisitions(path: str | Path) -> pd.DataFrame:
    """Read back a file written by :func:`export_purchase_requisitions` (format by suffix)."""
    path = Path(path)
    text_cols = {c: str for c in ("BSART", "MATNR", "WERKS", "EKORG", "LIFNR", "MEINS", "WAERS")}
    if path.suffix == ".csv":
        out = pd.read_csv(path, sep=";", dtype=text_cols)
        for c in ("LFDAT", "FRGDT"):
            out[c] = pd.to_datetime(out[c].astype(str), format="%Y%m%d").dt.date
    elif path.suffix == ".xlsx":
        out = pd.read_excel(path, dtype=text_cols)
        for c in ("LFDAT", "FRGDT"):
            out[c] = pd.to_datetime(out[c]).dt.date
    elif path.suffix == ".json":
        out = pd.DataFrame(json.loads(path.read_text()), columns=SAP_PR_COLUMNS)
        for c in ("LFDAT", "FRGDT"):
            out[c] = pd.to_datetime(out[c]).dt.date
    else:
        raise ValueError(f"{path}: unknown suffix {path.suffix!r}; expected .csv, .xlsx or .json")
    return out[SAP_PR_COLUMNS]
