"""PyVRP backend for :func:`pipelines.planning.routing.solve_routes` (``backend="pyvrp"``).

Takes the same :class:`RoutingProblem` and returns the same :class:`RoutingSolution` as the
OR-Tools model, so callers and :func:`check_solution` do not care which solver ran. PyVRP's
hybrid genetic search is the state of the art on Solomon-type VRPTW instances
(benchmarks/planning/routing/RESULTS.md compares both backends).

Integer scaling follows routing.py: distances, times and demands are multiplied by
:data:`SCALE`; arc distances and demands are rounded to the nearest integer, travel times and
service times are rounded *up* and time windows inwards, so a route PyVRP accepts is feasible
in real time.

Stops that no vehicle could serve even alone are filtered out first (same reasons as the
OR-Tools model); every other stop is an optional PyVRP client, so an over-subscribed fleet
never makes the model infeasible. Its prize is :data:`PRIZE_MARGIN` times the cost of serving
it on a dedicated round trip from the dearest truck's depot: while a truck is idle, dropping a
stop never pays. The prize is deliberately not the OR-Tools "more than any whole plan" bound:
PyVRP's penalties for time warp and excess load are capped (``PenaltyParams.max_penalty``),
and prizes that large made infeasible plans look better than feasible ones, so on an
over-subscribed 80-stop day it left 42 stops unserved where OR-Tools left 3 (now 1-2).
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pipelines.planning.routing import (
    SCALE,
    Objective,
    RoutingProblem,
    RoutingSolution,
    _schedule,
    split_servable,
    unrouted,
)

if TYPE_CHECKING:
    from pyvrp import ProblemData

#: A stop's prize in dedicated round trips (see the module docstring); margins 1, 3 and 10
#: served within one stop of each other on three over-subscribed test days.
PRIZE_MARGIN = 3


def _up(minutes: float) -> int:
    return int(math.ceil(minutes * SCALE - 1e-6))


def _down(minutes: float) -> int:
    return int(math.floor(minutes * SCALE + 1e-6))


def build_data(
    problem: RoutingProblem, active: list[int], objective: Objective
) -> tuple[ProblemData, list[list[str]]]:
    """PyVRP ``ProblemData`` for the ``active`` stops, plus the vehicle ids per vehicle type.

    One vehicle type per distinct (depot, capacity, shift, fixed cost, rate): identical
    trucks are interchangeable, which PyVRP's search exploits. As in routing.py, each distinct
    ``cost_per_distance`` gets its own arc cost matrix (a PyVRP routing profile).
    """
    import pyvrp

    n_dep = len(problem.depots)
    nodes = list(range(n_dep)) + [n_dep + i for i in active]
    dist = problem.distance_matrix()[np.ix_(nodes, nodes)]
    travel = np.ceil(problem.travel_minutes()[np.ix_(nodes, nodes)] * SCALE - 1e-6)
    travel = travel.astype(np.int64)
    np.fill_diagonal(travel, 0)

    locations = [pyvrp.Location(x=float(x), y=float(y)) for x, y in problem.coordinates()[nodes]]
    depots = [
        pyvrp.Depot(location=k, tw_early=_up(d.open), tw_late=_down(d.close), name=d.id)
        for k, d in enumerate(problem.depots)
    ]

    depot_pos = {d.id: k for k, d in enumerate(problem.depots)}
    groups: dict[tuple, list[str]] = defaultdict(list)
    for v in problem.vehicles:
        rate = v.cost_per_distance if objective == "cost" else 1.0
        fixed = v.fixed_cost if objective == "cost" else 0.0
        groups[(v.depot_id, v.capacity, v.shift_minutes, fixed, rate)].append(v.id)
    rates = sorted({key[4] for key in groups})
    costs = [np.rint(dist * rate * SCALE).astype(np.int64) for rate in rates]
    n_arcs_bound = len(nodes) + len(problem.vehicles)
    max_arc_cost = max(int(c.max()) for c in costs)
    vehicle_types = []
    # Per stop: the cost of a dedicated round trip on the dearest truck (fixed cost included).
    round_trip = np.zeros(len(nodes), dtype=np.int64)
    for (depot_id, capacity, shift, fixed, rate), ids in groups.items():
        d = problem.depots[depot_pos[depot_id]]
        profile = rates.index(rate)
        if objective == "min_vehicles":
            fixed_cost = n_arcs_bound * max(max_arc_cost, 1)
        else:
            fixed_cost = int(round(fixed * SCALE))
        cost = costs[profile]
        di = depot_pos[depot_id]
        round_trip = np.maximum(round_trip, fixed_cost + cost[di, :] + cost[:, di])
        vehicle_types.append(
            pyvrp.VehicleType(
                num_available=len(ids),
                capacity=[_down(capacity)],
                start_depot=di,
                end_depot=di,
                fixed_cost=fixed_cost,
                tw_early=_up(d.open),
                tw_late=_down(d.close),
                shift_duration=_down(shift),
                profile=profile,
            )
        )
    clients = [
        pyvrp.Client(
            location=k,
            delivery=[int(round(problem.stops[i].demand * SCALE))],
            service_duration=_up(problem.stops[i].service_time),
            tw_early=max(_up(problem.stops[i].tw_start), 0),
            tw_late=_down(problem.stops[i].tw_end),
            prize=PRIZE_MARGIN * int(round_trip[k]) + 1,
            required=False,
            name=problem.stops[i].id,
        )
        for k, i in enumerate(active, start=n_dep)
    ]
    data = pyvrp.ProblemData(
        locations=locations,
        clients=clients,
        depots=depots,
        vehicle_types=vehicle_types,
        distance_matrices=costs,
        duration_matrices=[travel] * len(costs),
    )
    return data, list(groups.values())


def solve_routes_pyvrp(
    problem: RoutingProblem,
    time_limit_s: float = 10.0,
    *,
    objective: Objective = "cost",
    seed: int = 0,
) -> RoutingSolution:
    """Solve with PyVRP's hybrid genetic search for ``time_limit_s`` wall-clock seconds.

    ``objective`` has the same meaning as in :func:`solve_routes`; ``seed`` makes runs
    repeatable (for the same number of iterations, which a time limit does not fix).
    """
    import pyvrp
    from pyvrp.stop import MaxRuntime

    t0 = time.perf_counter()
    unserved, active = split_servable(problem, time_limit_s, objective)

    sequences: list[tuple[int, list[int]]] = []
    cost = 0
    if active:
        data, type_vehicle_ids = build_data(problem, active, objective)
        result = pyvrp.solve(
            data, stop=MaxRuntime(time_limit_s), seed=seed, collect_stats=False, display=False
        )
        vehicle_pos = {v.id: k for k, v in enumerate(problem.vehicles)}
        free = [list(ids) for ids in type_vehicle_ids]
        # A route with time warp or excess load (only if no feasible plan was found) is dropped
        # and its stops reported as not routed, so the plan returned is always feasible.
        for route in result.best.routes():
            if not route.is_feasible():
                continue
            seq = [active[act.idx] for act in route if act.is_client()]
            sequences.append((vehicle_pos[free[route.vehicle_type()].pop(0)], seq))
            cost += route.distance_cost() + route.fixed_vehicle_cost()
    served = {i for _, seq in sequences for i in seq}
    unserved += unrouted(problem, active, served, time_limit_s)
    routes = _schedule(problem, sorted(sequences))
    return RoutingSolution(
        routes=routes,
        unserved=pd.DataFrame(unserved, columns=["stop_id", "reason"]),
        total_distance=float(routes["distance"].sum()) if len(routes) else 0.0,
        vehicles_used=len(sequences),
        status="feasible",
        objective=cost / SCALE,
        solve_seconds=time.perf_counter() - t0,
    )
