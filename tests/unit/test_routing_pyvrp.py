"""PyVRP routing backend: same problem and result types as OR-Tools, known answers, Solomon."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from pipelines.planning.routing import (
    Depot,
    RoutingProblem,
    Stop,
    Vehicle,
    check_solution,
    solve_routes,
)
from pipelines.planning.routing_pyvrp import solve_routes_pyvrp
from pipelines.planning.vrp_io import read_solomon

LIMIT_S = 0.5
DEPOT = Depot("D", 0, 0)


def _problem(stops, vehicles, depots=(DEPOT,)) -> RoutingProblem:
    return RoutingProblem(depots=depots, vehicles=vehicles, stops=stops, distance="euclidean")


def _stops_by_vehicle(solution) -> dict[str, list[str]]:
    body = solution.routes[solution.routes["kind"] == "stop"].sort_values("sequence")
    return {v: r["stop_id"].tolist() for v, r in body.groupby("vehicle_id")}


def test_square_tour_is_the_perimeter():
    stops = [Stop("a", 0, 10), Stop("b", 10, 10), Stop("c", 10, 0)]
    problem = _problem(stops, [Vehicle("v1", "D", capacity=10)])
    sol = solve_routes_pyvrp(problem, LIMIT_S, objective="distance")
    assert check_solution(problem, sol) == []
    assert sol.feasible and sol.unserved.empty
    assert sol.vehicles_used == 1
    assert sol.total_distance == pytest.approx(40.0)
    assert _stops_by_vehicle(sol)["v1"] in (["a", "b", "c"], ["c", "b", "a"])


def test_two_depots_each_serve_their_own_neighbours():
    depots = (Depot("west", 0, 0), Depot("east", 100, 0))
    stops = [Stop("w1", 1, 0), Stop("w2", 0, 1), Stop("e1", 99, 0), Stop("e2", 100, 1)]
    vehicles = [Vehicle("vw", "west", capacity=10), Vehicle("ve", "east", capacity=10)]
    problem = _problem(stops, vehicles, depots=depots)
    sol = solve_routes_pyvrp(problem, LIMIT_S, objective="distance")
    assert check_solution(problem, sol) == []
    assert {v: sorted(s) for v, s in _stops_by_vehicle(sol).items()} == {
        "vw": ["w1", "w2"],
        "ve": ["e1", "e2"],
    }
    assert sol.total_distance == pytest.approx(2 * (2 + math.sqrt(2)))
    ends = sol.routes[sol.routes["kind"] != "stop"]
    assert (ends["stop_id"] == ends["depot_id"]).all()


def test_unreachable_time_window_is_reported_with_a_reason():
    # 50 distance units = 50 minutes at 60 km/h, but the window closes at minute 10.
    stops = [Stop("near", 5, 0, tw_end=100), Stop("far", 50, 0, tw_start=0, tw_end=10)]
    problem = _problem(stops, [Vehicle("v1", "D", capacity=10)])
    sol = solve_routes(problem, LIMIT_S, objective="distance", backend="pyvrp")
    assert check_solution(problem, sol) == []
    assert sol.feasible
    assert sol.unserved["stop_id"].tolist() == ["far"]
    assert "time window" in sol.unserved["reason"].iloc[0]
    assert _stops_by_vehicle(sol) == {"v1": ["near"]}


def test_capacity_forces_two_routes():
    stops = [Stop("a", 10, 0, demand=6), Stop("b", 0, 10, demand=6)]
    vehicles = [Vehicle("v1", "D", capacity=10), Vehicle("v2", "D", capacity=10)]
    problem = _problem(stops, vehicles)
    sol = solve_routes_pyvrp(problem, LIMIT_S, objective="distance")
    assert check_solution(problem, sol) == []
    assert sol.vehicles_used == 2
    assert sol.total_distance == pytest.approx(40.0)
    assert sorted(len(s) for s in _stops_by_vehicle(sol).values()) == [1, 1]


def test_shift_limit_splits_routes_and_reports_an_impossible_round_trip():
    # Each 20-unit round trip takes 40 min; both together 20+20+sqrt(800) > the 60-min shift.
    stops = [Stop("a", 20, 0), Stop("b", 0, 20), Stop("far", 40, 0)]
    vehicles = [Vehicle(f"v{k}", "D", capacity=10, shift_minutes=60) for k in (1, 2)]
    problem = _problem(stops, vehicles)
    sol = solve_routes_pyvrp(problem, LIMIT_S, objective="distance")
    assert check_solution(problem, sol) == []
    assert sol.vehicles_used == 2
    assert sol.unserved["stop_id"].tolist() == ["far"]
    assert "shift limit" in sol.unserved["reason"].iloc[0]


def test_too_small_fleet_drops_a_stop_instead_of_failing():
    stops = [Stop("a", 10, 0, demand=6), Stop("b", 0, 10, demand=6)]
    problem = _problem(stops, [Vehicle("v1", "D", capacity=10)])
    sol = solve_routes_pyvrp(problem, LIMIT_S, objective="distance")
    assert check_solution(problem, sol) == []
    assert sol.vehicles_used == 1
    assert len(sol.unserved) == 1
    assert sol.unserved["reason"].iloc[0].startswith("not routed")


def test_cost_objective_picks_the_cheaper_truck():
    stops = [Stop("a", 10, 0)]
    vehicles = [
        Vehicle("dear", "D", capacity=10, cost_per_distance=2.5),
        Vehicle("cheap", "D", capacity=10, cost_per_distance=1.5),
    ]
    problem = _problem(stops, vehicles)
    sol = solve_routes_pyvrp(problem, LIMIT_S, objective="cost")
    assert list(_stops_by_vehicle(sol)) == ["cheap"]
    assert sol.objective == pytest.approx(20 * 1.5)


def test_unknown_backend_is_rejected():
    problem = _problem([Stop("a", 1, 0)], [Vehicle("v1", "D", capacity=1)])
    with pytest.raises(ValueError, match="backend"):
        solve_routes(problem, LIMIT_S, backend="gurobi")  # type: ignore[arg-type]


def test_solomon_c101_within_one_percent_of_best_known(datasets):
    problem = read_solomon(datasets / "vrp" / "solomon" / "C101.txt")
    bks = pd.read_csv(datasets / "vrp" / "solomon" / "bks_solomon.csv").set_index("instance")
    sol = solve_routes(problem, 3.0, objective="distance", backend="pyvrp")
    assert check_solution(problem, sol) == []
    assert sol.unserved.empty
    assert sol.total_distance / bks.loc["C101", "distance_only_distance"] - 1 < 0.01
