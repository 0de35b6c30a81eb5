"""Fan chart of history and forecast quantiles, rendered to PNG bytes (matplotlib Agg)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from pipelines.forecasting.panel import KEYS


def fan_chart_png(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    series: Sequence[tuple[str, str]],
    *,
    history_weeks: int = 104,
    dpi: int = 90,
) -> bytes:
    """PNG of one panel per (material_id, plant_id): recent history (stockout weeks marked),
    the point forecast, P50, the P10-P90 band and P95 if present.

    Uses the object-oriented Figure + Agg canvas (no pyplot state), so it is safe in threads.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = [(str(m), str(p)) for m, p in series]
    if not series:
        raise ValueError("series must name at least one (material_id, plant_id)")
    for name, frame, cols in (
        ("history", history, [*KEYS, "week_start", "demand_qty"]),
        ("forecast", forecast, [*KEYS, "week_start", "forecast_qty"]),
    ):
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ValueError(f"{name} is missing column(s) {missing}")
    ncols = 1 if len(series) == 1 else 2
    nrows = math.ceil(len(series) / ncols)
    fig = Figure(figsize=(6.4 * ncols, 3.2 * nrows), dpi=dpi)
    FigureCanvasAgg(fig)
    hist = history.assign(week_start=pd.to_datetime(history["week_start"]))
    fc = forecast.assign(week_start=pd.to_datetime(forecast["week_start"]))
    for k, (mat, plant) in enumerate(series):
        ax = fig.add_subplot(nrows, ncols, k + 1)
        h = hist[(hist["material_id"].astype(str) == mat) & (hist["plant_id"].astype(str) == plant)]
        f = fc[(fc["material_id"].astype(str) == mat) & (fc["plant_id"].astype(str) == plant)]
        h = h.sort_values("week_start")
        f = f.sort_values("week_start")
        if len(f):
            h = h[h["week_start"] >= f["week_start"].min() - pd.Timedelta(weeks=history_weeks)]
        ax.plot(h["week_start"], h["demand_qty"], color="#333333", lw=1.0, label="actual")
        if "stockout" in h.columns:
            so = h[h["stockout"].fillna(False).astype(bool)]
            ax.scatter(
                so["week_start"],
                so["demand_qty"],
                color="#d62728",
                marker="x",
                s=18,
                label="stockout (censored)",
                zorder=3,
            )
        if len(f):
            lo, hi = _band(f)
            if lo is not None:
                ax.fill_between(
                    f["week_start"], lo, hi, color="#1f77b4", alpha=0.25, label="P10-P90"
                )
            if "p95" in f.columns:
                ax.plot(f["week_start"], f["p95"], color="#1f77b4", lw=0.8, ls=":", label="P95")
            if "p50" in f.columns:
                ax.plot(f["week_start"], f["p50"], color="#1f77b4", lw=1.2, ls="--", label="P50")
            ax.plot(f["week_start"], f["forecast_qty"], color="#1f77b4", lw=1.6, label="forecast")
        model = f["model"].iloc[0] if len(f) and "model" in f.columns else "no forecast"
        ax.set_title(f"{mat} @ {plant}  ({model})", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_ylim(bottom=0)
        if len(h) == 0 and len(f) == 0:
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
        if k == 0:
            ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _band(f: pd.DataFrame) -> tuple[np.ndarray | None, np.ndarray | None]:
    for lo, hi in (("p10", "p90"), ("forecast_lower", "forecast_upper")):
        if lo in f.columns and hi in f.columns:
            return f[lo].to_numpy(dtype=float), f[hi].to_numpy(dtype=float)
    return None, None
