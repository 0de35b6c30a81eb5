"""Replenishment scale benchmark: decomposed MIP vs the (s,S)-style heuristic (and, where it
fits, the undecomposed MIP) on synthetic SAP-shaped instances of 100, 1,000 and 10,000
material-plants over 13 weeks, without coupling constraints (independent items) and with
vendor capacities, weekly budgets and warehouse capacities.

    .venv/bin/python benchmarks/planning/replenishment/run.py --sizes 100,1000,10000

Reports objective, best bound, gap, wall and CPU seconds (this process plus worker
processes), blocks and re-solved blocks, and the heuristic's objective for the same instance.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[2]))
sys.path.insert(0, str(HERE))

from generate import make_instance  # noqa: E402

from pipelines.planning.replenishment import solve_replenishment  # noqa: E402

LIMITS = {100: 30.0, 1000: 120.0, 10000: 300.0}


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure(label: str, problem, **kwargs) -> dict:
    cpu0, t0 = _cpu(), time.perf_counter()
    res = solve_replenishment(problem, **kwargs)
    row = {
        "variant": label,
        "status": res.status,
        "method": res.method,
        "objective": round(res.objective, 2),
        "bound": None if res.bound != res.bound else round(res.bound, 2),
        "gap_pct": None if res.gap != res.gap else round(100 * res.gap, 3),
        "wall_s": round(time.perf_counter() - t0, 1),
        "cpu_s": round(_cpu() - cpu0, 1),
        "blocks": len(res.blocks),
        "resolved_blocks": int(res.blocks["resolved"].sum()) if len(res.blocks) else 0,
        "proposals": len(res.proposals),
        "costs": {k: round(v, 2) for k, v in res.costs.items()},
        **{k: v for k, v in kwargs.items() if k != "solver" or v == "heuristic"},
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="100,1000,10000")
    ap.add_argument("--coupled", default="false,true", help="instance kinds to run")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "results.json")
    args = ap.parse_args()
    results = json.loads(args.out.read_text()) if args.out.exists() else []
    for coupled in [c == "true" for c in args.coupled.split(",")]:
        for n in map(int, args.sizes.split(",")):
            t0 = time.perf_counter()
            problem = make_instance(n, seed=0, coupled=coupled)
            base = {
                "n_items": n,
                "coupled": coupled,
                "n_sources": len(problem.sources),
                "n_weeks": problem.n_weeks,
                "generate_s": round(time.perf_counter() - t0, 1),
            }
            limit = LIMITS.get(n, 300.0)
            runs = [measure("mip_decomposed", problem, time_limit_s=limit, workers=args.workers)]
            runs.append(measure("heuristic", problem, time_limit_s=limit, solver="heuristic"))
            if n <= 100:
                runs.append(measure("mip_monolithic", problem, time_limit_s=limit, block_size=n))
            for r in runs:
                r["objective_vs_heuristic"] = round(r["objective"] / runs[1]["objective"], 4)
                results.append(base | r)
            args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
