"""Hierarchical reconciliation: material x plant -> product group x plant -> plant -> total.

Base forecasts are made independently at every level (the engine runs on the aggregated
series), then made coherent either bottom-up or by MinT with a shrunk error covariance
(Wickramasuriya, Athanasopoulos & Hyndman 2019). The method is chosen by which one has the
lower mean WAPE over all levels on the rolling-origin backtest windows.

MinT is computed in its constraint form, y~ = y^ - W C' (C W C')^-1 C y^, with W = lambda D +
(1 - lambda) E'E/T never formed: only products with the (nodes x aggregates) constraint matrix
are, so 10k+ bottom series stay cheap. Reconciled bottom forecasts are floored at zero and
summed up, so every level is coherent by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from pipelines.forecasting.engine import ForecastConfig, ForecastResult, run_forecast
from pipelines.forecasting.panel import KEYS, build_panel, impute_censored

LEVELS = ("material", "product_group", "plant", "total")
METHODS = ("bottom_up", "mint_shrink")


@dataclass
class ReconciliationResult:
    """Coherent forecasts at every level, the bottom level in the engine's forecast layout,
    the chosen method and the backtest scores behind the choice."""

    forecast: (
        pd.DataFrame
    )  # level, product_group, plant_id, material_id, week_start, base_qty, forecast_qty
    bottom: pd.DataFrame  # like ForecastResult.forecast, quantiles shifted with the point forecast
    method: str
    scores: pd.DataFrame  # method, level, wape, n_points (+ level "mean")


@dataclass
class _Hierarchy:
    bottom: pd.DataFrame  # material_id, plant_id, product_group (panel order)
    nodes: pd.DataFrame  # aggregate nodes: node_id, level, product_group, plant_id
    members: list[np.ndarray]  # bottom rows of each aggregate node

    def aggregate(self, x: np.ndarray) -> np.ndarray:
        """(n_bottom, ...) -> (n_aggregate, ...) sums."""
        return np.stack([x[m].sum(axis=0) for m in self.members]) if self.members else x[:0]


def _hierarchy(keys: pd.DataFrame, product_groups: pd.DataFrame) -> _Hierarchy:
    missing = [c for c in ("material_id", "product_group") if c not in product_groups.columns]
    if missing:
        raise ValueError(
            f"product_groups is missing column(s) {missing}; got {list(product_groups.columns)}"
        )
    pg = product_groups[["material_id", "product_group"]].astype(str)
    dup = pg.duplicated("material_id") & ~pg.duplicated()
    if dup.any():
        mat = pg.loc[dup, "material_id"].iloc[0]
        raise ValueError(f"product_groups maps material_id {mat!r} to more than one group")
    bottom = keys.merge(pg.drop_duplicates(), on="material_id", how="left")
    bottom["product_group"] = bottom["product_group"].fillna("unassigned")
    nodes, members = [], []
    for (grp, plant), idx in bottom.groupby(["product_group", "plant_id"]).indices.items():
        nodes.append(("product_group", grp, plant))
        members.append(np.sort(idx))
    for plant, idx in bottom.groupby("plant_id").indices.items():
        nodes.append(("plant", None, plant))
        members.append(np.sort(idx))
    nodes.append(("total", None, None))
    members.append(np.arange(len(bottom)))
    node_df = pd.DataFrame(nodes, columns=["level", "product_group", "plant_id"])
    node_df.insert(0, "node_id", [f"N{i:06d}" for i in range(len(node_df))])
    return _Hierarchy(bottom, node_df, members)


def _shrinkage(e: np.ndarray) -> float:
    """Schafer-Strimmer intensity towards the diagonal for the error matrix e (T x n).

    Sums over all node pairs are taken through T x T products, so cost is O(T^2 n).
    """
    t = e.shape[0]
    if t < 3:
        return 1.0
    x = e - e.mean(axis=0)
    sd = x.std(axis=0, ddof=1)
    x = np.where(sd > 0, x / np.where(sd > 0, sd, 1), 0.0)
    sq = x * x
    row_sq = sq.sum(axis=1)
    sum_w2 = float(np.sum(row_sq**2) - np.sum(sq * sq))  # sum_k sum_{i!=j} w_kij^2
    gram = x @ x.T
    col_sq = sq.sum(axis=0)
    sum_wbar2 = float((np.sum(gram * gram) - np.sum(col_sq**2)) / t**2)
    var_r = t / (t - 1) ** 3 * (sum_w2 - t * sum_wbar2)
    r2 = (t / (t - 1)) ** 2 * sum_wbar2
    if r2 <= 0:
        return 1.0
    return float(np.clip(var_r / r2, 0.0, 1.0))


def _mint_bottom(
    base_b: np.ndarray, base_a: np.ndarray, err_b: np.ndarray, err_a: np.ndarray, hier: _Hierarchy
) -> np.ndarray:
    """MinT(shrink) reconciled bottom forecasts. base_*: (n, k) columns = forecast points;
    err_*: (T, n) backtest errors per node."""
    t = err_b.shape[0]
    e_all = np.hstack([err_a, err_b])
    lam = _shrinkage(e_all)
    d_a = np.mean(err_a**2, axis=0)
    d_b = np.mean(err_b**2, axis=0)
    floor = 1e-9 * max(float(np.mean(np.r_[d_a, d_b])), 1e-12)
    d_a, d_b = np.maximum(d_a, floor), np.maximum(d_b, floor)
    ec = err_a - hier.aggregate(err_b.T).T  # E C' (T x n_a)
    sd_b = np.zeros((len(d_b), len(d_a)))  # D_b S_a' (n_b x n_a)
    for j, m in enumerate(hier.members):
        sd_b[m, j] = d_b[m]
    wc_b = -lam * sd_b + (1 - lam) * err_b.T @ ec / t  # bottom rows of W C'
    s_d_st = hier.aggregate(sd_b)  # S_a D_b S_a' (n_a x n_a)
    cwc = lam * (np.diag(d_a) + s_d_st) + (1 - lam) * ec.T @ ec / t
    gap = base_a - hier.aggregate(base_b)  # C y^  (n_a x k)
    return base_b - wc_b @ np.linalg.solve(cwc, gap)


def _pivot(
    frame: pd.DataFrame, keys: pd.DataFrame, col: str, weeks: pd.DatetimeIndex
) -> np.ndarray:
    """(len(keys), len(weeks)) matrix of ``col``; NaN where the frame has no row."""
    out = np.full((len(keys), len(weeks)), np.nan)
    if frame.empty:
        return out
    pos = keys.reset_index().merge(frame[[*KEYS, "week_start", col]], on=KEYS, how="inner")
    wk = weeks.get_indexer(pd.to_datetime(pos["week_start"]))
    ok = wk >= 0
    out[pos["index"].to_numpy()[ok], wk[ok]] = pos[col].to_numpy(dtype=float)[ok]
    return out


def reconcile(
    history: pd.DataFrame,
    result: ForecastResult,
    product_groups: pd.DataFrame,
    config: ForecastConfig | None = None,
    method: str = "auto",
) -> ReconciliationResult:
    """Coherent forecasts for the hierarchy material -> product group -> plant -> total.

    ``result`` is ``run_forecast(history, config)``; ``product_groups`` maps material_id to
    product_group (materials not in it go to group "unassigned"). ``method`` is "bottom_up",
    "mint_shrink" or "auto" (the one with the lower backtest WAPE averaged over levels).
    """
    if method not in ("auto", *METHODS):
        raise ValueError(f"method must be 'auto' or one of {METHODS}, got {method!r}")
    cfg = config or ForecastConfig()
    h = cfg.horizon
    panel = build_panel(history, result.origin)
    hier = _hierarchy(panel.keys, product_groups)
    clean = (
        np.vstack(
            [impute_censored(panel.demand[i], panel.censored[i]) for i in range(len(panel.keys))]
        )
        if len(panel.keys)
        else np.zeros((0, len(panel.weeks)))
    )

    # base forecasts of the aggregate nodes: the engine on the summed (imputed) series
    agg_y = hier.aggregate(clean)
    n_a, n_t = agg_y.shape
    agg_hist = pd.DataFrame(
        {
            "material_id": np.repeat(hier.nodes["node_id"].to_numpy(), n_t),
            "plant_id": "*",
            "week_start": np.tile(panel.weeks.to_numpy(), n_a),
            "demand_qty": agg_y.ravel(),
            "stockout": False,
        }
    )
    agg_res = run_forecast(agg_hist, replace(cfg, n_jobs=1), origin=result.origin)
    agg_keys = pd.DataFrame({"material_id": hier.nodes["node_id"], "plant_id": "*"})
    fweeks = pd.date_range(result.origin, periods=h, freq="7D")
    base_b = np.nan_to_num(_pivot(result.forecast, panel.keys, "forecast_qty", fweeks))
    base_a = np.nan_to_num(_pivot(agg_res.forecast, agg_keys, "forecast_qty", fweeks))

    # backtest: per window, base forecasts of every node next to the (imputed) actuals
    errs_b, errs_a, windows = [], [], []
    for k in range(cfg.backtest_windows):
        o = n_t - h - cfg.backtest_step * (cfg.backtest_windows - 1 - k)
        if o < 1:
            continue
        wweeks = panel.weeks[o : o + h]
        bt_b = _pivot(
            result.backtest_forecasts[result.backtest_forecasts["window"] == k],
            panel.keys,
            "forecast",
            wweeks,
        )
        bt_a = _pivot(
            agg_res.backtest_forecasts[agg_res.backtest_forecasts["window"] == k],
            agg_keys,
            "forecast",
            wweeks,
        )
        # nodes without a backtest in this window (too short, new, zero class): naive
        bt_b = np.where(np.isnan(bt_b), clean[:, [o - 1]], bt_b)
        bt_a = np.where(np.isnan(bt_a), agg_y[:, [o - 1]], bt_a)
        windows.append((bt_b, bt_a, clean[:, o : o + h], agg_y[:, o : o + h]))
        errs_b.append((bt_b - clean[:, o : o + h]).T)
        errs_a.append((bt_a - agg_y[:, o : o + h]).T)
    reconcilers = {"bottom_up": lambda b, a: b}
    if windows and n_a:
        err_b, err_a = np.vstack(errs_b), np.vstack(errs_a)
        reconcilers["mint_shrink"] = lambda b, a: _mint_bottom(b, a, err_b, err_a, hier)
    elif method == "mint_shrink":
        raise ValueError("mint_shrink needs at least one backtest window; history is too short")

    score_rows = []
    for name, fn in reconcilers.items():
        abs_err = np.zeros(len(LEVELS))
        act_sum = np.zeros(len(LEVELS))
        n_pts = np.zeros(len(LEVELS), dtype=np.int64)
        for bt_b, bt_a, act_b, act_a in windows:
            rec_b = np.maximum(fn(bt_b, bt_a), 0.0)
            rec_a = hier.aggregate(rec_b)
            for li, level in enumerate(LEVELS):
                if level == "material":
                    f, a = rec_b, act_b
                else:
                    sel = (hier.nodes["level"] == level).to_numpy()
                    f, a = rec_a[sel], act_a[sel]
                abs_err[li] += np.abs(f - a).sum()
                act_sum[li] += a.sum()
                n_pts[li] += a.size
        wape = np.where(act_sum > 0, abs_err / np.where(act_sum > 0, act_sum, 1), np.nan)
        for li, level in enumerate(LEVELS):
            score_rows.append((name, level, float(wape[li]), int(n_pts[li])))
        score_rows.append((name, "mean", float(np.nanmean(wape)) if windows else np.nan, 0))
    scores = pd.DataFrame(score_rows, columns=["method", "level", "wape", "n_points"])
    if method == "auto":
        means = scores[scores["level"] == "mean"].set_index("method")["wape"]
        chosen = "bottom_up" if means.isna().all() else str(means.idxmin())
    else:
        chosen = method
    rec_b = np.maximum(reconcilers[chosen](base_b, base_a), 0.0)
    rec_a = hier.aggregate(rec_b)
    return ReconciliationResult(
        forecast=_levels_frame(hier, panel.keys, fweeks, base_b, base_a, rec_b, rec_a),
        bottom=_shift_bottom(result.forecast, panel.keys, fweeks, base_b, rec_b),
        method=chosen,
        scores=scores,
    )


def _levels_frame(hier, keys, weeks, base_b, base_a, rec_b, rec_a) -> pd.DataFrame:
    h = len(weeks)
    bottom = pd.DataFrame(
        {
            "level": "material",
            "product_group": np.repeat(hier.bottom["product_group"].to_numpy(), h),
            "plant_id": np.repeat(keys["plant_id"].to_numpy(), h),
            "material_id": np.repeat(keys["material_id"].to_numpy(), h),
            "week_start": np.tile(weeks.to_numpy(), len(keys)),
            "base_qty": base_b.ravel(),
            "forecast_qty": rec_b.ravel(),
        }
    )
    agg = pd.DataFrame(
        {
            "level": np.repeat(hier.nodes["level"].to_numpy(), h),
            "product_group": np.repeat(hier.nodes["product_group"].to_numpy(), h),
            "plant_id": np.repeat(hier.nodes["plant_id"].to_numpy(), h),
            "material_id": None,
            "week_start": np.tile(weeks.to_numpy(), len(hier.nodes)),
            "base_qty": base_a.ravel(),
            "forecast_qty": rec_a.ravel(),
        }
    )
    return pd.concat([agg, bottom], ignore_index=True)


def _shift_bottom(forecast, keys, weeks, base_b, rec_b) -> pd.DataFrame:
    """The engine's forecast table with reconciled points; quantiles move by the same amount."""
    delta = pd.DataFrame(
        {
            "material_id": np.repeat(keys["material_id"].to_numpy(), len(weeks)),
            "plant_id": np.repeat(keys["plant_id"].to_numpy(), len(weeks)),
            "week_start": np.tile(weeks.to_numpy(), len(keys)),
            "_delta": (rec_b - base_b).ravel(),
        }
    )
    out = forecast.merge(delta, on=[*KEYS, "week_start"], how="left")
    d = out.pop("_delta").fillna(0.0).to_numpy()
    qcols = [c for c in out.columns if c.startswith("p") and c[1:].isdigit()]
    qcols.sort(key=lambda c: int(c[1:]))
    out["forecast_qty"] = np.maximum(out["forecast_qty"].to_numpy() + d, 0.0)
    if qcols:
        q = np.maximum(out[qcols].to_numpy() + d[:, None], 0.0)
        out[qcols] = np.maximum.accumulate(q, axis=1)
    for col, fn in (("forecast_lower", np.minimum), ("forecast_upper", np.maximum)):
        if col in out.columns:
            out[col] = fn(np.maximum(out[col].to_numpy() + d, 0.0), out["forecast_qty"].to_numpy())
    return out
