"""Delivery routing: known optima, unservable stops reported, constraints respected."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pandas as pd
import pytest

from pipelines.planning.routing import (
    Depot,
    RoutingProblem,
    Stop,
    Vehicle,
    check_solution,
    route_map_png,
    solve_routes,
)
from pipelines.planning.vrp_io import read_cvrplib, read_solomon

DATASETS = Path(__file__).resolve().parents[2] / ".." / "shared" / "datasets" / "vrp"


def _brute_force(depot: tuple[float, float], stops: list[Stop], capacity: float, n_veh: int):
    """Shortest total distance over all assignments of stops to vehicles and all orders."""
    pts = {s.id: (s.x, s.y) for s in stops} | {"D": depot}

    def d(a, b):
        return math.dist(pts[a], pts[b])

    def best_route(ids):
        if not ids:
            return 0.0
        return min(
            d("D", p[0]) + sum(d(a, b) for a, b in itertools.pairwise(p)) + d(p[-1], "D")
            for p in itertools.permutations(ids)
        )

    demand = {s.id: s.demand for s in stops}
    best = math.inf
    for labels in itertools.product(range(n_veh), repeat=len(stops)):
        groups = [
            [s.id for s, g in zip(stops, labels, strict=True) if g == v] for v in range(n_veh)
        ]
        if any(sum(demand[i] for i in g) > capacity for g in groups):
            continue
        best = min(best, sum(best_route(g) for g in groups))
    return best


def test_small_instance_matches_brute_force_optimum():
    stops = [
        Stop("a", 10, 0, demand=4),
        Stop("b", 10, 6, demand=3),
        Stop("c", -4, 8, demand=5),
        Stop("d", -9, -3, demand=2),
        Stop("e", 3, -11, demand=4),
    ]
    problem = RoutingProblem(
        depots=(Depot("D", 0, 0, 0, 1000),),
        vehicles=(Vehicle("v1", "D", 10), Vehicle("v2", "D", 10)),
        stops=tuple(stops),
        distance="euclidean",
    )
    sol = solve_routes(problem, time_limit_s=1, objective="distance")
    optimum = _brute_force((0, 0), stops, 10, 2)
    assert sol.unserved.empty
    assert check_solution(problem, sol) == []
    assert sol.total_distance == pytest.approx(optimum, abs=1e-2)


def test_impossible_time_window_is_reported_unserved_not_no_solution():
    problem = RoutingProblem(
        depots=(Depot("D", 0, 0, open=0, close=500),),
        vehicles=(Vehicle("v1", "D", 100),),
        stops=(
            Stop("near", 5, 0, demand=1, tw_start=0, tw_end=100),
            Stop("far_early", 200, 0, demand=1, tw_start=0, tw_end=50),  # 200 min away
            Stop("backwards", 3, 3, demand=1, tw_start=60, tw_end=40),
        ),
        distance="euclidean",
    )
    sol = solve_routes(problem, time_limit_s=1)
    assert sol.feasible
    reasons = sol.unserved.set_index("stop_id")["reason"]
    assert set(reasons.index) == {"far_early", "backwards"}
    assert "time window" in reasons["far_early"] and "200.0" in reasons["far_early"]
    assert "empty time window" in reasons["backwards"]
    assert sol.routes.query("kind == 'stop'")["stop_id"].tolist() == ["near"]
    assert check_solution(problem, sol) == []


def test_capacity_and_shift_limits_are_respected():
    # 6 stops of demand 4 on a ring of radius 10; capacity 10 allows at most 2 per truck,
    # and a 60-minute shift (with 10-minute service) also allows at most 2 per truck.
    stops = tuple(
        Stop(
            f"s{k}",
            10 * math.cos(k * math.pi / 3),
            10 * math.sin(k * math.pi / 3),
            demand=4,
            service_time=10,
        )
        for k in range(6)
    )
    problem = RoutingProblem(
        depots=(Depot("D", 0, 0, 0, 1000),),
        vehicles=tuple(Vehicle(f"v{k}", "D", 10, shift_minutes=60) for k in range(4)),
        stops=stops,
        distance="euclidean",
    )
    sol = solve_routes(problem, time_limit_s=1)
    assert sol.unserved.empty
    assert check_solution(problem, sol) == []
    body = sol.routes[sol.routes["kind"] == "stop"]
    assert body.groupby("vehicle_id")["load"].max().max() <= 10
    spans = sol.routes.groupby("vehicle_id").agg(start=("departure", "min"), end=("arrival", "max"))
    assert ((spans["end"] - spans["start"]) <= 60 + 1e-6).all()
    assert sol.vehicles_used == 3
    # Depot -> neighbour pair -> depot: 10 + 10 + 10 per truck, the optimum for this ring.
    assert sol.total_distance == pytest.approx(90.0, abs=1e-2)


def test_shift_limit_that_no_route_can_meet_is_reported():
    problem = RoutingProblem(
        depots=(Depot("D", 0, 0, 0, 1000),),
        vehicles=(Vehicle("v1", "D", 10, shift_minutes=30),),
        stops=(Stop("s", 20, 0, demand=1),),
        distance="euclidean",
    )
    sol = solve_routes(problem, time_limit_s=1)
    assert sol.unserved["reason"].iloc[0].startswith("shift limit")
    assert sol.vehicles_used == 0


def test_multi_depot_vehicles_return_to_their_own_depot():
    depots = (Depot("P1", 0, 0, 0, 1000), Depot("P2", 100, 0, 0, 1000))
    stops = tuple(Stop(f"w{k}", -3 + k, 4, demand=1) for k in range(3)) + tuple(
        Stop(f"e{k}", 97 + k, -4, demand=1) for k in range(3)
    )
    problem = RoutingProblem(
        depots=depots,
        vehicles=(Vehicle("t1", "P1", 10), Vehicle("t2", "P2", 10)),
        stops=stops,
        distance="euclidean",
    )
    sol = solve_routes(problem, time_limit_s=1)
    assert sol.unserved.empty and check_solution(problem, sol) == []
    for vid, route in sol.routes.groupby("vehicle_id"):
        route = route.sort_values("sequence")
        home = {"t1": "P1", "t2": "P2"}[vid]
        assert route["stop_id"].iloc[0] == home and route["stop_id"].iloc[-1] == home
        served = set(route.query("kind == 'stop'")["stop_id"])
        assert served == {f"{'w' if home == 'P1' else 'e'}{k}" for k in range(3)}


def test_min_vehicles_mode_uses_the_capacity_lower_bound():
    stops = tuple(Stop(f"s{k}", 10 * (k % 3) - 10, 10 * (k // 3) - 5, demand=5) for k in range(6))
    problem = RoutingProblem(
        depots=(Depot("D", 0, 0, 0, 1000),),
        vehicles=tuple(Vehicle(f"v{k}", "D", 15, fixed_cost=0) for k in range(6)),
        stops=stops,
        distance="euclidean",
    )
    sol = solve_routes(problem, time_limit_s=1, objective="min_vehicles")
    assert sol.unserved.empty
    assert sol.vehicles_used == 2  # 30 units of demand / capacity 15


def test_haversine_from_frames_and_map_png():
    problem = RoutingProblem.from_frames(
        pd.DataFrame([{"id": "1000", "x": 52.52, "y": 13.40}]),  # Berlin plant
        pd.DataFrame([{"id": "T1", "depot_id": 1000, "capacity": 50}]),
        pd.DataFrame(
            [
                {"id": "Potsdam", "x": 52.39, "y": 13.06, "demand": 5},
                {"id": "Spandau", "x": 52.535, "y": 13.20, "demand": 5},
            ]
        ),
        distance="haversine",
        speed_kmh=50,
    )
    dist = problem.distance_matrix()
    assert dist[0, 1] == pytest.approx(26.9, abs=0.5)  # Berlin Mitte - Potsdam, great circle
    sol = solve_routes(problem, time_limit_s=1)
    assert sol.unserved.empty
    legs = sol.routes["distance"].sum()
    assert sol.total_distance == pytest.approx(legs)
    png = route_map_png(problem, sol)
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_bad_input_names_the_field():
    with pytest.raises(ValueError, match="vehicle 'v1' has unknown depot_id 'X'"):
        RoutingProblem(depots=(Depot("D", 0, 0),), vehicles=(Vehicle("v1", "X", 1),), stops=())
    with pytest.raises(ValueError, match="stops: unknown column"):
        RoutingProblem.from_frames(
            pd.DataFrame([{"id": "D", "x": 0, "y": 0}]),
            pd.DataFrame([{"id": "v", "depot_id": "D", "capacity": 1}]),
            pd.DataFrame([{"id": "s", "x": 0, "y": 0, "qty": 1}]),
        )


def test_read_benchmark_files(tmp_path):
    c101 = read_solomon(DATASETS / "solomon" / "C101.txt")
    assert len(c101.stops) == 100 and len(c101.vehicles) == 25
    assert c101.vehicles[0].capacity == 200 and c101.depots[0].close == 1236
    assert c101.stops[0] == Stop("1", 45, 68, 10, 912, 967, 90)
    a32 = read_cvrplib(DATASETS / "cvrplib-A" / "A-n32-k5.vrp")
    assert len(a32.stops) == 31 and len(a32.vehicles) == 5
    assert sum(s.demand for s in a32.stops) == 410
    assert (a32.distance_matrix() % 1 == 0).all()  # TSPLIB nint arcs
    bad = tmp_path / "bad.txt"
    bad.write_text(
        "X\n\nVEHICLE\nNUMBER     CAPACITY\n  2   10\n\nCUSTOMER\nhdr\n\n"
        "    0  1 1 0 0 100 0\n    1  2 x 1 0 50 1\n"
    )
    with pytest.raises(ValueError, match=r"bad.txt:11: non-numeric"):
        read_solomon(bad)
