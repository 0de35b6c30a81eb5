"""Routing benchmark: Solomon VRPTW (56 instances) and CVRPLIB set A, OR-Tools vs PyVRP.

Each task solves one instance with one variant under a wall-clock budget:

* ``tuned``    - :func:`solve_routes` defaults (parallel cheapest insertion + guided local
                 search), distance-only objective (compared with the distance-only BKS);
* ``baseline`` - the plain OR-Tools model: AUTOMATIC first solution and metaheuristic, no
                 extra parameters, same model (disjunctions) and time limit;
* ``minveh``   - tuned search with the hierarchical objective (vehicles first), compared
                 with the hierarchical BKS vehicle count (Solomon only);
* ``pyvrp``    - the same problem solved by the PyVRP backend (``backend="pyvrp"``, seed 0),
                 distance-only objective.

``cpu_s`` is the CPU time the solve got: on a shared machine it shows how much of the
wall-clock budget the search really had. Distances are recomputed in floating point from the
routes (Solomon: real Euclidean, as the BKS tables use; CVRPLIB: TSPLIB nint-rounded arcs).
Feasibility is checked independently by
:func:`check_solution` plus "no stop unserved".

    .venv/bin/python benchmarks/planning/routing/run.py --budget 10 --workers 2
    .venv/bin/python benchmarks/planning/routing/run.py --budget 60 --instances C101,R101 ...
"""

from __future__ import annotations

import argparse
import csv
import sys
import time
from multiprocessing import Pool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
DATASETS = ROOT / ".." / "shared" / "datasets" / "vrp"

FIELDS = [
    "suite",
    "instance",
    "class",
    "variant",
    "budget_s",
    "seconds",
    "cpu_s",
    "vehicles",
    "distance",
    "unserved",
    "violations",
    "feasible",
    "ref_distance",
    "gap_pct",
    "ref_vehicles",
    "hier_bks_vehicles",
    "hier_bks_distance",
]


def run_one(task: tuple[str, str, str, float]) -> dict:
    import pandas as pd

    from pipelines.planning.routing import check_solution, solve_routes
    from pipelines.planning.vrp_io import read_cvrplib, read_solomon

    suite, name, variant, budget = task
    if suite == "solomon":
        problem = read_solomon(DATASETS / "solomon" / f"{name}.txt")
        bks = pd.read_csv(DATASETS / "solomon" / "bks_solomon.csv").set_index("instance").loc[name]
        ref_d, ref_v = bks["distance_only_distance"], bks["distance_only_vehicles"]
        hier_v, hier_d = bks["bks_vehicles"], bks["bks_distance"]
    else:
        bks = (
            pd.read_csv(DATASETS / "cvrplib-A" / "bks_cvrplib_A.csv")
            .set_index("instance")
            .loc[name]
        )
        # Fleet: the name's k plus two spare trucks, so capacity never forces a drop.
        problem = read_cvrplib(
            DATASETS / "cvrplib-A" / f"{name}.vrp", n_vehicles=bks["vehicles"] + 2
        )
        ref_d, ref_v, hier_v, hier_d = bks["best_known_cost"], bks["vehicles"], None, None
    kwargs: dict = {"objective": "distance"}
    if variant == "baseline":
        kwargs |= {
            "first_solution": "AUTOMATIC",
            "metaheuristic": "AUTOMATIC",
            "search_parameters": {},
        }
    elif variant == "minveh":
        kwargs["objective"] = "min_vehicles"
    elif variant == "pyvrp":
        kwargs["backend"] = "pyvrp"
    t0, c0 = time.perf_counter(), time.process_time()
    sol = solve_routes(problem, budget, **kwargs)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    violations = check_solution(problem, sol)
    feasible = not violations and len(sol.unserved) == 0
    cls = name[:2] if name.startswith("RC") else name[:1]
    cls = "A" if suite == "cvrplib" else f"{cls}{name[len(cls)]}"
    return {
        "suite": suite,
        "instance": name,
        "class": cls,
        "variant": variant,
        "budget_s": budget,
        "seconds": round(seconds, 2),
        "cpu_s": round(cpu, 2),
        "vehicles": sol.vehicles_used,
        "distance": round(sol.total_distance, 2),
        "unserved": len(sol.unserved),
        "violations": len(violations),
        "feasible": feasible,
        "ref_distance": ref_d,
        "gap_pct": round(100 * (sol.total_distance / ref_d - 1), 3),
        "ref_vehicles": ref_v,
        "hier_bks_vehicles": hier_v,
        "hier_bks_distance": hier_d,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--suite", choices=["solomon", "cvrplib"], default="solomon")
    ap.add_argument("--budget", type=float, default=10.0, help="seconds per instance and variant")
    ap.add_argument("--instances", default="all", help="comma-separated names, or 'all'")
    ap.add_argument("--variants", default="tuned,baseline", help="tuned,baseline,minveh,pyvrp")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True, help="CSV to append results to")
    args = ap.parse_args()
    folder = DATASETS / ("solomon" if args.suite == "solomon" else "cvrplib-A")
    pattern = "[CR]*.txt" if args.suite == "solomon" else "A-n*.vrp"
    names = (
        sorted(p.stem for p in folder.glob(pattern))
        if args.instances == "all"
        else args.instances.split(",")
    )
    tasks = [(args.suite, n, v, args.budget) for n in names for v in args.variants.split(",")]
    new = not args.out.exists()
    with args.out.open("a", newline="") as fh, Pool(args.workers) as pool:
        writer = csv.DictWriter(fh, fieldnames=FIELDS)
        if new:
            writer.writeheader()
        for row in pool.imap_unordered(run_one, tasks):
            writer.writerow(row)
            fh.flush()
            print(
                f"{row['instance']:10s} {row['variant']:8s} veh={row['vehicles']:3d} "
                f"dist={row['distance']:9.2f} gap={row['gap_pct']:6.2f}% "
                f"feasible={row['feasible']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
