"""Daily delivery routing (multi-depot VRPTW) on OR-Tools' routing solver.

The problem data model (frozen, typed dataclasses) is kept apart from the solver, as in
PyVRP: build a :class:`RoutingProblem` (directly or with :meth:`RoutingProblem.from_frames`),
then call :func:`solve_routes`.

Units: times are minutes (time windows, service times, shifts, depot hours), distances are
kilometres for ``distance="haversine"`` (coordinates in degrees, ``x`` = latitude,
``y`` = longitude) or coordinate units for ``distance="euclidean"``. Travel time is
``distance / speed_kmh * 60``; the default 60 makes one distance unit one minute, which is
the Solomon benchmark convention.

OR-Tools needs integer costs and transits. Distances, times and demands are multiplied by
:data:`SCALE` (1000) before rounding: arc costs are rounded to the nearest integer, travel
times are rounded *up* so that a route the solver accepts is also feasible in real time.
Reported arrivals and distances are recomputed in floating point from the chosen sequences.

A stop that cannot be served is never allowed to make the whole model infeasible: every stop
sits in a penalty disjunction whose penalty exceeds the cost of any complete plan, and stops
that no vehicle could serve even alone are filtered out beforehand and reported with the
constraint that rules them out.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

#: Integer scale factor: 1 distance unit, 1 minute and 1 demand unit are 1000 solver units.
SCALE = 1000
EARTH_RADIUS_KM = 6371.0088

DistanceKind = Literal["haversine", "euclidean"]
Objective = Literal["cost", "distance", "min_vehicles"]

ROUTE_COLUMNS = [
    "vehicle_id",
    "depot_id",
    "sequence",
    "stop_id",
    "kind",
    "arrival",
    "service_start",
    "departure",
    "load",
    "distance",
]


@dataclass(frozen=True)
class Depot:
    """A plant that vehicles leave from and return to, open ``open``..``close`` (minutes)."""

    id: str
    x: float
    y: float
    open: float = 0.0
    close: float = 24 * 60.0


@dataclass(frozen=True)
class Vehicle:
    """A truck based at ``depot_id``; ``fixed_cost`` is paid once if it leaves the depot."""

    id: str
    depot_id: str
    capacity: float
    shift_minutes: float = 24 * 60.0
    fixed_cost: float = 0.0
    cost_per_distance: float = 1.0


@dataclass(frozen=True)
class Stop:
    """A customer delivery: ``demand`` units, served within ``tw_start``..``tw_end``."""

    id: str
    x: float
    y: float
    demand: float = 0.0
    tw_start: float = 0.0
    tw_end: float = 24 * 60.0
    service_time: float = 0.0


@dataclass(frozen=True)
class RoutingProblem:
    """One day's routing problem. Node order everywhere: depots first, then stops.

    ``arc_decimals`` rounds each arc's distance to that many decimals before use
    (TSPLIB/CVRPLIB ``EUC_2D`` uses 0); ``None`` keeps real distances.
    ``circuity`` multiplies straight-line distances to approximate road distances.
    """

    depots: tuple[Depot, ...]
    vehicles: tuple[Vehicle, ...]
    stops: tuple[Stop, ...]
    distance: DistanceKind = "haversine"
    speed_kmh: float = 60.0
    circuity: float = 1.0
    arc_decimals: int | None = None
    name: str = ""
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "depots", tuple(self.depots))
        object.__setattr__(self, "vehicles", tuple(self.vehicles))
        object.__setattr__(self, "stops", tuple(self.stops))
        if self.distance not in ("haversine", "euclidean"):
            raise ValueError(f"distance must be 'haversine' or 'euclidean', got {self.distance!r}")
        if not self.speed_kmh > 0:
            raise ValueError(f"speed_kmh must be > 0, got {self.speed_kmh}")
        if not self.circuity > 0:
            raise ValueError(f"circuity must be > 0, got {self.circuity}")
        if not self.depots:
            raise ValueError("depots: at least one depot is required")
        if not self.vehicles:
            raise ValueError("vehicles: at least one vehicle is required")
        ids = [d.id for d in self.depots] + [s.id for s in self.stops]
        dup = pd.Series(ids)[pd.Series(ids).duplicated()].tolist()
        if dup:
            raise ValueError(f"depot/stop ids must be unique; duplicated: {dup[:5]}")
        vdup = pd.Series([v.id for v in self.vehicles]).duplicated()
        if vdup.any():
            raise ValueError("vehicles: duplicated vehicle ids")
        depot_ids = {d.id for d in self.depots}
        for v in self.vehicles:
            if v.depot_id not in depot_ids:
                raise ValueError(f"vehicles: vehicle {v.id!r} has unknown depot_id {v.depot_id!r}")
            if v.capacity < 0 or v.shift_minutes < 0 or v.fixed_cost < 0:
                raise ValueError(f"vehicles: vehicle {v.id!r} has a negative capacity/shift/cost")
        for d in self.depots:
            if d.close < d.open:
                raise ValueError(f"depots: depot {d.id!r} closes ({d.close}) before it opens")
        for s in self.stops:
            if s.demand < 0 or s.service_time < 0:
                raise ValueError(f"stops: stop {s.id!r} has a negative demand or service_time")
            if not all(map(math.isfinite, (s.x, s.y, s.demand, s.tw_start, s.tw_end))):
                raise ValueError(f"stops: stop {s.id!r} has a missing/non-finite value")

    @classmethod
    def from_frames(
        cls,
        depots: pd.DataFrame,
        vehicles: pd.DataFrame,
        stops: pd.DataFrame,
        **kwargs,
    ) -> RoutingProblem:
        """Build from DataFrames whose columns are the dataclass fields (optional ones may lack)."""
        return cls(
            depots=tuple(_rows(Depot, depots, "depots")),
            vehicles=tuple(_rows(Vehicle, vehicles, "vehicles")),
            stops=tuple(_rows(Stop, stops, "stops")),
            **kwargs,
        )

    @property
    def n_nodes(self) -> int:
        return len(self.depots) + len(self.stops)

    def coordinates(self) -> np.ndarray:
        """(n_nodes, 2) array of (x, y), depots first."""
        pts = [(d.x, d.y) for d in self.depots] + [(s.x, s.y) for s in self.stops]
        return np.asarray(pts, dtype=float)

    def distance_matrix(self) -> np.ndarray:
        """Arc distances (km or units) between all nodes, depots first."""
        if "dist" not in self._cache:
            xy = self.coordinates()
            if self.distance == "euclidean":
                diff = xy[:, None, :] - xy[None, :, :]
                dist = np.sqrt((diff**2).sum(axis=-1))
            else:
                lat, lon = np.radians(xy[:, 0]), np.radians(xy[:, 1])
                dlat = lat[:, None] - lat[None, :]
                dlon = lon[:, None] - lon[None, :]
                a = (
                    np.sin(dlat / 2) ** 2
                    + np.cos(lat)[:, None] * np.cos(lat)[None, :] * np.sin(dlon / 2) ** 2
                )
                dist = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
            dist = dist * self.circuity
            if self.arc_decimals is not None:
                # TSPLIB nint: floor(x + 0.5), not banker's rounding.
                f = 10.0**self.arc_decimals
                dist = np.floor(dist * f + 0.5) / f
            self._cache["dist"] = dist
        return self._cache["dist"]

    def travel_minutes(self) -> np.ndarray:
        """Driving time in minutes between all nodes."""
        return self.distance_matrix() / self.speed_kmh * 60.0


@dataclass
class RoutingSolution:
    """Routes (one row per visit, depot start/end rows included) and unserved stops.

    ``routes.distance`` is the leg distance from the previous node; ``load`` is the
    quantity delivered so far on the route; times are minutes.
    """

    routes: pd.DataFrame
    unserved: pd.DataFrame
    total_distance: float
    vehicles_used: int
    status: str
    objective: float
    solve_seconds: float = 0.0

    @property
    def feasible(self) -> bool:
        return self.status in ("optimal", "feasible")


def _rows(cls, frame: pd.DataFrame, what: str) -> list:
    names = [f.name for f in cls.__dataclass_fields__.values() if f.init]
    missing = [c for c in ("id",) if c not in frame.columns]
    if missing:
        raise ValueError(f"{what}: missing required column(s) {missing}")
    unknown = [c for c in frame.columns if c not in names]
    if unknown:
        raise ValueError(f"{what}: unknown column(s) {unknown}; expected a subset of {names}")
    out = []
    for i, rec in enumerate(frame.to_dict("records")):
        try:
            rec = {k: v for k, v in rec.items() if not (isinstance(v, float) and math.isnan(v))}
            for key in ("id", "depot_id"):
                if key in rec:
                    rec[key] = str(rec[key])
            out.append(cls(**rec))
        except TypeError as exc:
            raise ValueError(f"{what}: row {i}: {exc}") from exc
    return out


def _unservable_reason(problem: RoutingProblem, stop_idx: int) -> str | None:
    """Why no vehicle could serve stop ``stop_idx`` even on a dedicated round trip, if so."""
    s = problem.stops[stop_idx]
    if s.tw_start > s.tw_end:
        return f"empty time window: tw_start {s.tw_start:g} > tw_end {s.tw_end:g}"
    node = len(problem.depots) + stop_idx
    tt = problem.travel_minutes()
    depot_pos = {d.id: i for i, d in enumerate(problem.depots)}
    reasons: list[str] = []
    for v in problem.vehicles:
        di = depot_pos[v.depot_id]
        d = problem.depots[di]
        t_out, t_back = tt[di, node], tt[node, di]
        if s.demand > v.capacity + 1e-9:
            reasons.append(f"capacity: demand {s.demand:g} > vehicle capacity {v.capacity:g}")
            continue
        earliest = d.open + t_out
        if earliest > s.tw_end + 1e-9:
            reasons.append(
                f"time window: earliest arrival {earliest:.1f} from depot {d.id} "
                f"is after tw_end {s.tw_end:g}"
            )
            continue
        start = max(earliest, s.tw_start)
        back = start + s.service_time + t_back
        if back > d.close + 1e-9:
            reasons.append(
                f"depot hours: return to depot {d.id} at {back:.1f} is after close {d.close:g}"
            )
            continue
        depart = max(d.open, s.tw_start - t_out)
        duration = back - depart
        if duration > v.shift_minutes + 1e-9:
            reasons.append(
                f"shift limit: round trip {duration:.1f} min > shift {v.shift_minutes:g} min"
            )
            continue
        return None
    return "; ".join(dict.fromkeys(reasons))


def _search_parameters(
    time_limit_s: float,
    first_solution: str,
    metaheuristic: str,
    log: bool,
    overrides: dict[str, object],
):
    from google.protobuf.duration_pb2 import Duration
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2
    from ortools.util import optional_boolean_pb2

    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = getattr(
        routing_enums_pb2.FirstSolutionStrategy, first_solution
    )
    params.local_search_metaheuristic = getattr(
        routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic
    )
    params.time_limit.CopyFrom(
        Duration(seconds=int(time_limit_s), nanos=int(time_limit_s % 1 * 1e9))
    )
    params.log_search = log
    for dotted, value in overrides.items():
        *path, leaf = dotted.split(".")
        msg = params
        for part in path:
            msg = getattr(msg, part)
        if not hasattr(msg, leaf):
            raise ValueError(f"search_parameters: unknown routing parameter {dotted!r}")
        if isinstance(value, bool) and leaf.startswith("use_") and path:
            value = optional_boolean_pb2.BOOL_TRUE if value else optional_boolean_pb2.BOOL_FALSE
        setattr(msg, leaf, value)
    return params


def split_servable(
    problem: RoutingProblem, time_limit_s: float, objective: str
) -> tuple[list[tuple[str, str]], list[int]]:
    """Check the solve settings; return (stop id, reason) of unservable stops and the indices
    of the stops a solver gets, the same for every backend."""
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s must be > 0, got {time_limit_s}")
    if objective not in ("cost", "distance", "min_vehicles"):
        raise ValueError(f"objective must be cost, distance or min_vehicles, got {objective!r}")
    unserved: list[tuple[str, str]] = []
    active: list[int] = []
    for i in range(len(problem.stops)):
        reason = _unservable_reason(problem, i)
        if reason:
            unserved.append((problem.stops[i].id, reason))
        else:
            active.append(i)
    return unserved, active


def unrouted(
    problem: RoutingProblem, active: list[int], served: set[int], time_limit_s: float
) -> list[tuple[str, str]]:
    """(stop id, reason) of the servable stops the solver's best plan left out."""
    return [
        (
            problem.stops[i].id,
            "not routed: no room within vehicle capacity, time windows and shift "
            f"limits in the best plan found in {time_limit_s:g} s",
        )
        for i in active
        if i not in served
    ]


def solve_routes(
    problem: RoutingProblem,
    time_limit_s: float = 10.0,
    *,
    objective: Objective = "cost",
    first_solution: str = "PARALLEL_CHEAPEST_INSERTION",
    metaheuristic: str = "GUIDED_LOCAL_SEARCH",
    search_parameters: dict[str, object] | None = None,
    log_search: bool = False,
    backend: Literal["ortools", "pyvrp"] = "ortools",
) -> RoutingSolution:
    """Solve the VRPTW; always returns routes plus an ``unserved`` table with reasons.

    ``objective``: ``"cost"`` = distance x ``cost_per_distance`` + vehicle fixed costs;
    ``"distance"`` = total distance only; ``"min_vehicles"`` = fewest vehicles first, then
    distance (a fixed cost per vehicle larger than any plan's distance).
    ``search_parameters`` sets further RoutingSearchParameters fields by dotted name, e.g.
    ``{"guided_local_search_lambda_coefficient": 0.2,
    "local_search_operators.use_cross_exchange": True}``; lambda and operator variants tried
    on Solomon did not beat the defaults (benchmarks/planning/routing/RESULTS.md).
    ``first_solution="AUTOMATIC"`` with ``metaheuristic="AUTOMATIC"`` is the plain OR-Tools
    search (the benchmark baseline). The time limit is always set.
    ``backend="pyvrp"`` solves the same model with PyVRP (:mod:`routing_pyvrp`, seed 0); the
    OR-Tools search options are then ignored.
    """
    if backend == "pyvrp":
        from pipelines.planning.routing_pyvrp import solve_routes_pyvrp

        return solve_routes_pyvrp(problem, time_limit_s, objective=objective)
    if backend != "ortools":
        raise ValueError(f"backend must be 'ortools' or 'pyvrp', got {backend!r}")
    from ortools.constraint_solver import pywrapcp

    t0 = time.perf_counter()
    n_dep = len(problem.depots)
    unserved, active = split_servable(problem, time_limit_s, objective)

    nodes = list(range(n_dep)) + [n_dep + i for i in active]  # model node -> problem node
    dist = problem.distance_matrix()[np.ix_(nodes, nodes)]
    travel = problem.travel_minutes()[np.ix_(nodes, nodes)]
    service = np.array([0.0] * n_dep + [problem.stops[i].service_time for i in active])
    demand = np.array([0.0] * n_dep + [problem.stops[i].demand for i in active])

    depot_pos = {d.id: i for i, d in enumerate(problem.depots)}
    vehicles = problem.vehicles
    starts = [depot_pos[v.depot_id] for v in vehicles]
    manager = pywrapcp.RoutingIndexManager(len(nodes), len(vehicles), starts, starts)
    routing = pywrapcp.RoutingModel(manager)

    # Arc cost per distinct cost_per_distance (registered transit matrices, no Python callback).
    cost_cb: dict[float, int] = {}
    max_arc_cost = 0
    for v_idx, v in enumerate(vehicles):
        rate = 1.0 if objective != "cost" else v.cost_per_distance
        if rate not in cost_cb:
            mat = np.rint(dist * rate * SCALE).astype(np.int64)
            max_arc_cost = max(max_arc_cost, int(mat.max()))
            cost_cb[rate] = routing.RegisterTransitMatrix(mat.tolist())
        routing.SetArcCostEvaluatorOfVehicle(cost_cb[rate], v_idx)

    n_arcs_bound = len(nodes) + len(vehicles)
    if objective == "min_vehicles":
        fixed = [(n_arcs_bound * max(max_arc_cost, 1))] * len(vehicles)
    elif objective == "cost":
        fixed = [int(round(v.fixed_cost * SCALE)) for v in vehicles]
    else:
        fixed = [0] * len(vehicles)
    for v_idx, f in enumerate(fixed):
        routing.SetFixedCostOfVehicle(f, v_idx)
    # Larger than the cost of any plan that serves everyone, so dropping never pays.
    penalty = n_arcs_bound * max_arc_cost + sum(fixed) + 1

    # Time: service time at the origin + travel, rounded up.
    time_mat = (
        np.ceil(travel * SCALE - 1e-6).astype(np.int64)
        + np.rint(service * SCALE).astype(np.int64)[:, None]
    )
    np.fill_diagonal(time_mat, 0)
    time_cb = routing.RegisterTransitMatrix(time_mat.tolist())
    horizon = int(math.ceil(max(d.close for d in problem.depots) * SCALE))
    routing.AddDimension(time_cb, horizon, horizon, False, "Time")
    time_dim = routing.GetDimensionOrDie("Time")
    for k, i in enumerate(active, start=n_dep):
        s = problem.stops[i]
        lo = int(math.ceil(s.tw_start * SCALE - 1e-6))
        hi = int(math.floor(s.tw_end * SCALE + 1e-6))
        time_dim.CumulVar(manager.NodeToIndex(k)).SetRange(max(lo, 0), min(hi, horizon))
        routing.AddDisjunction([manager.NodeToIndex(k)], penalty)
    for v_idx, v in enumerate(vehicles):
        d = problem.depots[depot_pos[v.depot_id]]
        lo, hi = int(math.ceil(d.open * SCALE)), int(math.floor(d.close * SCALE))
        time_dim.CumulVar(routing.Start(v_idx)).SetRange(lo, hi)
        time_dim.CumulVar(routing.End(v_idx)).SetRange(lo, hi)
        time_dim.SetSpanUpperBoundForVehicle(int(math.floor(v.shift_minutes * SCALE)), v_idx)
        routing.AddVariableMaximizedByFinalizer(time_dim.CumulVar(routing.Start(v_idx)))
        routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(v_idx)))

    demand_cb = routing.RegisterUnaryTransitVector(np.rint(demand * SCALE).astype(int).tolist())
    caps = [int(math.floor(v.capacity * SCALE + 1e-6)) for v in vehicles]
    routing.AddDimensionWithVehicleCapacity(demand_cb, 0, caps, True, "Load")

    params = _search_parameters(
        time_limit_s, first_solution, metaheuristic, log_search, search_parameters or {}
    )
    assignment = routing.SolveWithParameters(params)
    elapsed = time.perf_counter() - t0

    if assignment is None:
        # Cannot happen with disjunctions unless the limit hit before a first solution.
        unserved += [
            (problem.stops[i].id, f"no solution found within time limit {time_limit_s:g} s")
            for i in active
        ]
        return RoutingSolution(
            routes=pd.DataFrame(columns=ROUTE_COLUMNS),
            unserved=pd.DataFrame(unserved, columns=["stop_id", "reason"]),
            total_distance=0.0,
            vehicles_used=0,
            status="no_solution",
            objective=math.nan,
            solve_seconds=elapsed,
        )

    sequences: list[tuple[int, list[int]]] = []
    served: set[int] = set()
    for v_idx in range(len(vehicles)):
        idx = routing.Start(v_idx)
        seq: list[int] = []
        idx = assignment.Value(routing.NextVar(idx))
        while not routing.IsEnd(idx):
            seq.append(active[manager.IndexToNode(idx) - n_dep])
            idx = assignment.Value(routing.NextVar(idx))
        if seq:
            sequences.append((v_idx, seq))
            served.update(seq)
    unserved += unrouted(problem, active, served, time_limit_s)
    routes = _schedule(problem, sequences)
    total = float(routes["distance"].sum()) if len(routes) else 0.0
    status_map = {1: "feasible", 2: "feasible", 3: "feasible", 7: "optimal"}
    status = status_map.get(routing.status(), "feasible")
    return RoutingSolution(
        routes=routes,
        unserved=pd.DataFrame(unserved, columns=["stop_id", "reason"]),
        total_distance=total,
        vehicles_used=len(sequences),
        status=status,
        objective=assignment.ObjectiveValue() / SCALE,
        solve_seconds=elapsed,
    )


def _schedule(problem: RoutingProblem, sequences: Sequence[tuple[int, list[int]]]) -> pd.DataFrame:
    """Float-exact timetable for fixed stop sequences, departing as late as keeps the end time."""
    n_dep = len(problem.depots)
    dist = problem.distance_matrix()
    tt = problem.travel_minutes()
    depot_pos = {d.id: i for i, d in enumerate(problem.depots)}
    rows: list[dict] = []
    for v_idx, seq in sequences:
        v = problem.vehicles[v_idx]
        di = depot_pos[v.depot_id]
        d = problem.depots[di]
        path = [di] + [n_dep + i for i in seq] + [di]
        stops = [problem.stops[i] for i in seq]

        def forward(depart: float, path=path, stops=stops) -> tuple[list, list]:
            arr, start = [depart], [depart]
            t = depart
            for k, s in enumerate(stops, start=1):
                a = t + tt[path[k - 1], path[k]]
                b = max(a, s.tw_start)
                arr.append(a)
                start.append(b)
                t = b + s.service_time
            end = t + tt[path[-2], path[-1]]
            arr.append(end)
            start.append(end)
            return arr, start

        _, start = forward(d.open)
        # Latest service starts that keep the same end time, back to the depot departure.
        latest = start[-1]
        for k in range(len(stops), 0, -1):
            s = stops[k - 1]
            latest = min(s.tw_end, latest - tt[path[k], path[k + 1]] - s.service_time)
            latest = max(latest, start[k])
        depart = max(d.open, latest - tt[path[0], path[1]])
        arr, start = forward(depart)
        load = 0.0
        for k, node in enumerate(path):
            kind = "start" if k == 0 else ("end" if k == len(path) - 1 else "stop")
            if kind == "stop":
                s = stops[k - 1]
                load += s.demand
                sid, dep = s.id, start[k] + s.service_time
            else:
                sid, dep = d.id, start[k]
            rows.append(
                {
                    "vehicle_id": v.id,
                    "depot_id": d.id,
                    "sequence": k,
                    "stop_id": sid,
                    "kind": kind,
                    "arrival": arr[k],
                    "service_start": start[k],
                    "departure": dep,
                    "load": load,
                    "distance": 0.0 if k == 0 else float(dist[path[k - 1], node]),
                }
            )
    return pd.DataFrame(rows, columns=ROUTE_COLUMNS)


def check_solution(
    problem: RoutingProblem, solution: RoutingSolution, tol: float = 1e-6
) -> list[str]:
    """Independent feasibility check of a solution's routes; returns the violations found."""
    issues: list[str] = []
    stops = {s.id: s for s in problem.stops}
    vehicles = {v.id: v for v in problem.vehicles}
    depots = {d.id: d for d in problem.depots}
    seen: list[str] = []
    for vid, r in solution.routes.groupby("vehicle_id", sort=False):
        r = r.sort_values("sequence")
        v = vehicles[vid]
        d = depots[v.depot_id]
        if r.iloc[0]["stop_id"] != v.depot_id or r.iloc[-1]["stop_id"] != v.depot_id:
            issues.append(f"vehicle {vid}: does not start and end at depot {v.depot_id}")
        body = r[r["kind"] == "stop"]
        seen += body["stop_id"].tolist()
        if body["stop_id"].map(lambda s: stops[s].demand).sum() > v.capacity + tol:
            issues.append(f"vehicle {vid}: load exceeds capacity {v.capacity:g}")
        for rec in body.itertuples():
            s = stops[rec.stop_id]
            if rec.service_start < s.tw_start - tol or rec.service_start > s.tw_end + tol:
                issues.append(f"vehicle {vid}: stop {s.id} served at {rec.service_start:.3f}")
        start, end = r.iloc[0]["departure"], r.iloc[-1]["arrival"]
        if start < d.open - tol or end > d.close + tol:
            issues.append(f"vehicle {vid}: outside depot hours ({start:.2f}-{end:.2f})")
        if end - start > v.shift_minutes + tol:
            issues.append(
                f"vehicle {vid}: route lasts {end - start:.2f} > shift {v.shift_minutes:g}"
            )
    counts = pd.Series(seen, dtype=object).value_counts()
    issues += [f"stop {s} visited {c} times" for s, c in counts.items() if c > 1]
    missing = set(stops) - set(seen) - set(solution.unserved["stop_id"])
    issues += [f"stop {s} neither routed nor reported unserved" for s in sorted(missing)]
    return issues


def route_map_png(problem: RoutingProblem, solution: RoutingSolution, *, dpi: int = 100) -> bytes:
    """A PNG map of the routes (one colour per vehicle, depots as squares, unserved as x)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    coords = {d.id: (d.x, d.y) for d in problem.depots} | {s.id: (s.x, s.y) for s in problem.stops}

    def xy(ids) -> tuple[list[float], list[float]]:
        pts = [coords[i] for i in ids]
        # Maps show longitude across and latitude up.
        if problem.distance == "haversine":
            return [p[1] for p in pts], [p[0] for p in pts]
        return [p[0] for p in pts], [p[1] for p in pts]

    fig, ax = plt.subplots(figsize=(7, 7))
    cmap = plt.get_cmap("tab20")
    for k, (vid, r) in enumerate(solution.routes.groupby("vehicle_id", sort=False)):
        xs, ys = xy(r.sort_values("sequence")["stop_id"])
        ax.plot(xs, ys, "-o", color=cmap(k % 20), ms=3, lw=1.2, label=str(vid))
    xs, ys = xy([s.id for s in problem.stops])
    ax.scatter(xs, ys, s=6, c="grey", zorder=1)
    if len(solution.unserved):
        xs, ys = xy(solution.unserved["stop_id"])
        ax.scatter(xs, ys, marker="x", s=40, c="red", zorder=3, label="unserved")
    xs, ys = xy([d.id for d in problem.depots])
    ax.scatter(xs, ys, marker="s", s=80, c="black", zorder=4, label="depot")
    ax.set_title(
        f"{problem.name or 'routes'}: {solution.vehicles_used} vehicles, "
        f"distance {solution.total_distance:,.1f}, unserved {len(solution.unserved)}"
    )
    if problem.distance == "haversine":
        ax.set_xlabel("longitude")
        ax.set_ylabel("latitude")
    if solution.vehicles_used <= 20:
        ax.legend(fontsize=7, loc="best")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
