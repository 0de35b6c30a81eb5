"""Markdown summary of the routing benchmark CSVs (per class, per variant, vehicles).

    .venv/bin/python benchmarks/planning/routing/summarize.py [results_x.csv ...]
    .venv/bin/python benchmarks/planning/routing/summarize.py --side-by-side a.csv b.csv

``--side-by-side`` puts several runs in one table, each variant labelled with its file, so
runs made at different times (e.g. PyVRP now, OR-Tools tuned earlier) can be compared.
"""

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


def headline(df: pd.DataFrame) -> pd.DataFrame:
    """Per variant: feasibility, mean gap, instances within 1 %, distance ratio to baseline.

    The ratio pairs each instance with the ``baseline`` row of the same run (mean of ratios).
    """
    out = df.groupby("variant").agg(
        n=("instance", "count"),
        feasible=("feasible", "sum"),
        mean_gap_pct=("gap_pct", "mean"),
        within_1pct=("gap_pct", lambda g: int((g <= 1.0).sum())),
        vehicles=("vehicles", "sum"),
    )
    if "cpu_s" in df:
        out["mean_cpu_s"] = df.groupby("variant")["cpu_s"].mean()
    if (df["variant"] == "baseline").any():
        base = df[df["variant"] == "baseline"].set_index("instance")["distance"]
        ratio = df["distance"] / df["instance"].map(base)
        out["distance_vs_baseline"] = ratio.groupby(df["variant"]).mean()
    return out.round(3)


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


def mean_gap_by_class(df: pd.DataFrame) -> pd.DataFrame:
    """Compact view: mean gap % per class (rows) and variant (columns), plus ``all``."""
    wide = df.pivot_table(index="class", columns="variant", values="gap_pct", aggfunc="mean")
    wide.loc["all"] = df.groupby("variant")["gap_pct"].mean()
    return wide.round(2)


def side_by_side(names: list[str]) -> pd.DataFrame:
    """All runs in one frame, variants renamed ``variant (file stem)``."""
    frames = []
    for name in names:
        df = pd.read_csv(HERE / name)
        df["variant"] = df["variant"] + " (" + Path(name).stem.removeprefix("results_") + ")"
        frames.append(df[~df["variant"].str.startswith("minveh")])
    return pd.concat(frames, ignore_index=True)


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["--side-by-side"]:
        df = side_by_side(args[1:])
        print(headline(df).to_markdown())
        print()
        print(mean_gap_by_class(df).to_markdown())
        return
    for name in args or sorted(p.name for p in HERE.glob("results_*.csv")):
        df = pd.read_csv(HERE / name)
        print(f"\n### {name}\n")
        print(headline(df[df["variant"] != "minveh"]).to_markdown())
        print()
        print(by_class(df[df["variant"] != "minveh"]).to_markdown())
        if (df["variant"] == "minveh").any():
            print("\nmin_vehicles mode vs hierarchical BKS:\n")
            print(vehicles_vs_hierarchical(df).to_markdown())


if __name__ == "__main__":
    main()
