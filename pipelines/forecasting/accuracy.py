"""Forecast accuracy after the fact, forecast value added (FVA) over seasonal naive, and
degradation detection across vintages.

FVA answers "did the forecasting process beat the do-nothing forecast?": here the do-nothing
forecast is seasonal naive (the actual of the same week one season earlier), and
FVA = naive WAPE - forecast WAPE on the weeks where both exist (positive = value added).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipelines.forecasting.panel import KEYS, WEEK

_ACCURACY_COLUMNS = [
    "n_points",
    "actual_qty",
    "forecast_qty",
    "wape",
    "bias",
    "naive_wape",
    "fva",
]


def _require(df: pd.DataFrame, name: str, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} is missing column(s) {missing}; got {list(df.columns)}")


def accuracy(
    actuals: pd.DataFrame,
    forecasts: pd.DataFrame,
    classification: pd.DataFrame | None = None,
    *,
    season_length: int = 52,
    vintage_col: str | None = None,
) -> pd.DataFrame:
    """Accuracy and FVA vs seasonal naive by item, demand class, plant and in total.

    ``actuals``: material_id, plant_id, week_start, demand_qty[, stockout] (stockout weeks are
    censored and left out). ``forecasts``: material_id, plant_id, week_start, forecast_qty
    [, vintage_col]. The naive forecast of a week is the actual ``season_length`` weeks before
    (missing when that week is absent or censored). One row per group, ``level`` in
    {"item", "class", "plant", "total"}; with ``vintage_col`` every group is also split by it.
    """
    _require(actuals, "actuals", [*KEYS, "week_start", "demand_qty"])
    _require(forecasts, "forecasts", [*KEYS, "week_start", "forecast_qty"])
    if vintage_col is not None:
        _require(forecasts, "forecasts", [vintage_col])
    if season_length < 1:
        raise ValueError(f"season_length must be >= 1, got {season_length}")
    act = actuals[[*KEYS, "week_start", "demand_qty"]].copy()
    act["week_start"] = pd.to_datetime(act["week_start"])
    act["censored"] = (
        actuals["stockout"].fillna(False).astype(bool).to_numpy()
        if "stockout" in actuals.columns
        else False
    )
    act.loc[act["censored"] | act["demand_qty"].isna(), "demand_qty"] = np.nan
    naive = act[[*KEYS, "week_start", "demand_qty"]].rename(columns={"demand_qty": "naive_qty"})
    naive["week_start"] = naive["week_start"] + season_length * WEEK
    fc_cols = [*KEYS, "week_start", "forecast_qty"] + ([vintage_col] if vintage_col else [])
    fc = forecasts[fc_cols].copy()
    fc["week_start"] = pd.to_datetime(fc["week_start"])
    pts = fc.merge(act[[*KEYS, "week_start", "demand_qty"]], on=[*KEYS, "week_start"])
    pts = pts.merge(naive, on=[*KEYS, "week_start"], how="left")
    pts = pts[pts["demand_qty"].notna() & pts["forecast_qty"].notna()]
    if classification is not None:
        _require(classification, "classification", [*KEYS, "demand_class"])
        pts = pts.merge(classification[[*KEYS, "demand_class"]], on=KEYS, how="left")
    else:
        pts["demand_class"] = "all"
    pts["demand_class"] = pts["demand_class"].fillna("unclassified")
    a = pts["demand_qty"].to_numpy()
    f = pts["forecast_qty"].to_numpy()
    b = pts["naive_qty"].to_numpy()
    has_b = ~np.isnan(b)
    pts = pts.assign(
        _abs=np.abs(f - a),
        _err=f - a,
        _a_b=np.where(has_b, a, 0.0),
        _abs_b=np.where(has_b, np.abs(f - a), 0.0),
        _naive_abs=np.where(has_b, np.abs(np.nan_to_num(b) - a), 0.0),
    )
    extra = [vintage_col] if vintage_col else []
    levels = {
        "item": [*KEYS, "demand_class"],
        "class": ["demand_class"],
        "plant": ["plant_id"],
        "total": [],
    }
    frames = []
    for level, by in levels.items():
        grp = pts.groupby(by + extra, dropna=False) if by + extra else None
        sums = (
            grp.agg(
                n_points=("demand_qty", "size"),
                actual_qty=("demand_qty", "sum"),
                forecast_qty=("forecast_qty", "sum"),
                _abs=("_abs", "sum"),
                _err=("_err", "sum"),
                _a_b=("_a_b", "sum"),
                _abs_b=("_abs_b", "sum"),
                _naive_abs=("_naive_abs", "sum"),
            ).reset_index()
            if grp is not None
            else pd.DataFrame(
                {
                    "n_points": [len(pts)],
                    "actual_qty": [pts["demand_qty"].sum()],
                    "forecast_qty": [pts["forecast_qty"].sum()],
                    "_abs": [pts["_abs"].sum()],
                    "_err": [pts["_err"].sum()],
                    "_a_b": [pts["_a_b"].sum()],
                    "_abs_b": [pts["_abs_b"].sum()],
                    "_naive_abs": [pts["_naive_abs"].sum()],
                }
            )
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            act_sum = sums["actual_qty"].to_numpy()
            sums["wape"] = np.where(act_sum > 0, sums["_abs"] / act_sum, np.nan)
            sums["bias"] = np.where(act_sum > 0, sums["_err"] / act_sum, np.nan)
            base = sums["_a_b"].to_numpy()
            sums["naive_wape"] = np.where(base > 0, sums["_naive_abs"] / base, np.nan)
            sums["fva"] = np.where(base > 0, (sums["_naive_abs"] - sums["_abs_b"]) / base, np.nan)
        sums["level"] = level
        frames.append(sums)
    out = pd.concat(frames, ignore_index=True)
    cols = ["level", *KEYS, "demand_class", *extra, *_ACCURACY_COLUMNS]
    for c in cols:
        if c not in out.columns:
            out[c] = None
    return out[cols]


def accuracy_by_class(backtest: pd.DataFrame, classification: pd.DataFrame) -> pd.DataFrame:
    """Backtest accuracy of the selected models per demand class, next to seasonal naive.

    ``fva_mase`` = 1 - mean MASE(selected) / mean MASE(seasonal naive): the share of the naive
    error the selection removes. Only series with a backtest (n_windows > 0) count.
    """
    _require(backtest, "backtest", [*KEYS, "model", "mase", "wape", "bias", "selected"])
    _require(classification, "classification", [*KEYS, "demand_class"])
    tested = backtest[backtest["mase"].notna()]
    sel = tested[tested["selected"]].merge(classification[[*KEYS, "demand_class"]], on=KEYS)
    naive = tested[tested["model"] == "seasonal_naive"][[*KEYS, "mase", "wape"]]
    both = sel.merge(naive, on=KEYS, suffixes=("", "_naive"), how="left")
    both["beats_naive"] = both["mase"] < both["mase_naive"]
    out = (
        both.groupby("demand_class")
        .agg(
            n_series=("mase", "size"),
            mase=("mase", "mean"),
            mase_median=("mase", "median"),
            mase_naive=("mase_naive", "mean"),
            wape=("wape", "mean"),
            wape_naive=("wape_naive", "mean"),
            bias=("bias", "mean"),
            share_beating_naive=("beats_naive", "mean"),
            top_model=("model", lambda s: s.value_counts().index[0]),
        )
        .reset_index()
    )
    out["fva_mase"] = 1 - out["mase"] / out["mase_naive"]
    counts = classification["demand_class"].value_counts()
    rest = pd.DataFrame(
        {"demand_class": [c for c in counts.index if c not in set(out["demand_class"])]}
    )
    rest["n_series"] = [int(counts[c]) for c in rest["demand_class"]]
    return pd.concat([out, rest], ignore_index=True)


def detect_degradation(
    accuracy_history: pd.DataFrame,
    *,
    vintage_col: str = "forecast_origin",
    metric: str = "wape",
    recent: int = 4,
    baseline: int = 13,
    threshold: float = 0.25,
    keys: Sequence[str] = ("material_id", "plant_id"),
) -> pd.DataFrame:
    """Flag series whose accuracy got worse: the mean ``metric`` of the last ``recent``
    vintages exceeds the median of the ``baseline`` vintages before them by more than
    ``threshold`` (relative). Also flags series whose recent FVA is negative (worse than naive).

    ``accuracy_history``: stacked ``accuracy(..., vintage_col=...)`` outputs (item rows are used
    when a ``level`` column is present). Series with fewer than ``recent + 2`` vintages are left
    out: too little history to call a trend.
    """
    keys = list(keys)
    _require(accuracy_history, "accuracy_history", [*keys, vintage_col, metric])
    if recent < 1 or baseline < 2 or threshold < 0:
        raise ValueError("recent must be >= 1, baseline >= 2 and threshold >= 0")
    df = accuracy_history
    if "level" in df.columns:
        df = df[df["level"] == "item"]
    df = df[df[metric].notna()].sort_values([*keys, vintage_col])
    rows = []
    for key, g in df.groupby(keys, sort=True):
        if len(g) < recent + 2:
            continue
        values = g[metric].to_numpy(dtype=float)
        rec = values[-recent:]
        base = values[-recent - baseline : -recent]
        base_level = float(np.median(base))
        rec_level = float(np.mean(rec))
        ratio = rec_level / base_level if base_level > 0 else (np.inf if rec_level > 0 else 1.0)
        fva = g["fva"].to_numpy(dtype=float)[-recent:] if "fva" in g.columns else np.array([])
        worse = bool(len(fva) and np.nanmean(fva) < 0) if np.isfinite(fva).any() else False
        rows.append(
            (
                *(key if isinstance(key, tuple) else (key,)),
                base_level,
                rec_level,
                ratio,
                bool(ratio > 1 + threshold),
                worse,
            )
        )
    cols = [
        *keys,
        f"baseline_{metric}",
        f"recent_{metric}",
        "ratio",
        "degraded",
        "worse_than_naive",
    ]
    return pd.DataFrame(rows, columns=cols)
