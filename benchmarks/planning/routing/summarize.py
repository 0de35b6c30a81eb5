"""Markdown summary of the routing benchmark CSVs (per class, tuned vs baseline, vehicles)."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def by_class(df: pd.DataFrame) -> pd.DataFrame:
    """Mean gap, feasibility and vehicle counts per class and variant, side by side."""
    g = df.groupby(["class", "variant"]).agg(
        n=("instance", "count"),
        feasible=("feasible", "sum"),
        mean_gap_pct=("gap_pct", "mean"),
        max_gap_pct=("gap_pct", "max"),
        vehicles=("vehicles", "sum"),
        ref_vehicles=("ref_vehicles", "sum"),
    )
    wide = g.unstack("variant")
    total = df.groupby("variant").agg(
        n=("instance", "count"),
        feasible=("feasible", "sum"),
        mean_gap_pct=("gap_pct", "mean"),
        max_gap_pct=("gap_pct", "max"),
        vehicles=("vehicles", "sum"),
        ref_vehicles=("ref_vehicles", "sum"),
    )
    wide.loc["all"] = total.stack().reindex(wide.columns.swaplevel()).to_numpy()
    return wide.round(2)


def vehicles_vs_hierarchical(df: pd.DataFrame) -> pd.DataFrame:
    """min_vehicles mode against the hierarchical BKS (vehicles first, then distance)."""
    m = df[df["variant"] == "minveh"].copy()
    m["extra_vehicles"] = m["vehicles"] - m["hier_bks_vehicles"]
    m["gap_to_hier_distance_pct"] = 100 * (m["distance"] / m["hier_bks_distance"] - 1)
    return (
        m.groupby("class")
        .agg(
            n=("instance", "count"),
            vehicles=("vehicles", "sum"),
            hier_bks_vehicles=("hier_bks_vehicles", "sum"),
            at_bks_vehicles=("extra_vehicles", lambda s: int((s <= 0).sum())),
            mean_gap_to_hier_distance_pct=("gap_to_hier_distance_pct", "mean"),
        )
        .round(2)
    )


def main() -> None:
    for name in sys.argv[1:] or sorted(p.name for p in HERE.glob("results_*.csv")):
        df = pd.read_csv(HERE / name)
        print(f"\n### {name}\n")
        print(by_class(df[df["variant"] != "minveh"]).to_markdown())
        if (df["variant"] == "minveh").any():
            print("\nmin_vehicles mode vs hierarchical BKS:\n")
            print(vehicles_vs_hierarchical(df).to_markdown())


if __name__ == "__main__":
    main()
