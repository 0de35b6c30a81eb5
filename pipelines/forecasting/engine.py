"""Forecasting engine: classify, clean, backtest the model zoo per series, select, forecast,
and turn backtest errors into quantiles.

Flow per series (``_evaluate``): trim leading zeros -> impute censored weeks and cap outliers ->
rolling-origin backtest of the class's candidate models -> ensemble of the best candidates ->
pick the ensemble unless one model beats it clearly (``ensemble_margin``); among single models
the lowest backtest error wins, the simplest on ties -> refit on the whole history, falling back
to the next best model if that fit fails. Series are processed in chunks on ``n_jobs``
processes (spawned, so the parent's threads cannot deadlock them).

Quantiles come from the backtest: the selected model's errors, scaled by the series' naive
error, are pooled by demand class and horizon step; a series' quantile is its point forecast
plus the pooled quantile times its own scale. Coverage is measured by cross-fitting (each
backtest window is scored with quantiles estimated on the other windows).
"""

from __future__ import annotations

import os
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np
import pandas as pd

from pipelines.forecasting import models as zoo
from pipelines.forecasting.panel import (
    CLASSES,
    KEYS,
    Panel,
    build_panel,
    classify_panel,
    clean_series,
    impute_censored,
)
from pipelines.forecasting.plots import fan_chart_png

_FITTED_CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
_ZERO_CLASSES = ("obsolete", "dead")
_MIN_QUANTILE_SAMPLES = 40
_PARALLEL_MIN_SERIES = 200
_TIE_DECIMALS = 9  # backtest scores equal to 9 decimals are ties


@dataclass(frozen=True)
class ForecastConfig:
    """Settings of one forecast run (weeks unless stated otherwise)."""

    horizon: int = 13
    season_length: int = 52
    backtest_windows: int = 3
    backtest_step: int = 4
    min_history_weeks: int = 26  # fewer weeks since the first sale -> class "new"
    obsolete_after_weeks: int = 26  # no demand for this long -> class "obsolete", zero forecast
    quantiles: tuple[float, ...] = (0.1, 0.5, 0.9, 0.95)
    interval: tuple[float, float] = (0.1, 0.9)  # quantiles behind forecast_lower/upper
    use_prophet: bool = False
    holiday_country: str | None = "DE"  # Prophet's calendar regressor (ISO code; None = off)
    n_jobs: int = -1
    selection_metric: str = "rmsse"  # "rmsse" targets the mean (safety stock); or "mase"
    selection: str = "best"  # "best": lowest backtest error; "ensemble": always the ensemble
    ensemble_size: int = 3
    ensemble_margin: float = 0.1  # a single model must beat the ensemble by this share
    outlier_threshold: float = 5.0  # robust sigmas
    fourier_terms: int = 6  # harmonics of the seasonal profile
    min_train_weeks: int = 13  # a backtest origin needs at least this much history
    max_train_weeks: int = 520  # models see at most the last 10 years (Theta fits are O(n^2))
    new_item_weeks: int = 8  # a new item's forecast is the mean of its last weeks
    models: tuple[str, ...] | None = None  # restrict the zoo (None = all models of the class)

    def __post_init__(self) -> None:
        checks = {
            "horizon": self.horizon >= 1,
            "season_length": self.season_length >= 1,
            "backtest_windows": self.backtest_windows >= 1,
            "backtest_step": self.backtest_step >= 1,
            "min_history_weeks": self.min_history_weeks >= 1,
            "obsolete_after_weeks": self.obsolete_after_weeks >= 1,
            "ensemble_size": self.ensemble_size >= 0,
            "ensemble_margin": 0 <= self.ensemble_margin < 1,
            "outlier_threshold": self.outlier_threshold > 0,
            "fourier_terms": self.fourier_terms >= 1,
            "min_train_weeks": self.min_train_weeks >= 2,
            "max_train_weeks": self.max_train_weeks >= self.min_train_weeks,
            "new_item_weeks": self.new_item_weeks >= 1,
            "n_jobs": self.n_jobs == -1 or self.n_jobs >= 1,
            "selection_metric": self.selection_metric in ("rmsse", "mase"),
            "selection": self.selection in ("best", "ensemble"),
            "holiday_country": not self.use_prophet
            or self.holiday_country is None
            or zoo.is_known_country(self.holiday_country),
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"ForecastConfig.{name} is invalid: {getattr(self, name)!r}")
        qs = tuple(self.quantiles)
        if not qs or any(not 0 < q < 1 for q in qs) or list(qs) != sorted(set(qs)):
            raise ValueError(
                f"ForecastConfig.quantiles must be increasing values in (0, 1), got {qs!r}"
            )
        if any(round(q * 100) != q * 100 for q in qs):
            raise ValueError(f"ForecastConfig.quantiles must be whole percents, got {qs!r}")
        if not set(self.interval) <= set(qs) or self.interval[0] >= self.interval[1]:
            raise ValueError(
                f"ForecastConfig.interval {self.interval!r} must be two increasing members of "
                f"quantiles {qs!r}"
            )
        if self.models is not None:
            unknown = set(self.models) - set(zoo.ALL_MODELS)
            if unknown:
                raise ValueError(
                    f"ForecastConfig.models has unknown model(s) {sorted(unknown)}; "
                    f"known: {list(zoo.ALL_MODELS)}"
                )

    @property
    def quantile_columns(self) -> list[str]:
        return [f"p{round(q * 100)}" for q in self.quantiles]

    def workers(self) -> int:
        return len(os.sched_getaffinity(0)) if self.n_jobs == -1 else self.n_jobs


@dataclass
class ForecastResult:
    """Everything a forecast run produces (see ``run_forecast``).

    - forecast: material_id, plant_id, week_start, model, forecast_qty (mean), p10..p95,
      forecast_lower/upper (the ``interval`` quantiles widened to include forecast_qty); all >= 0
    - backtest: one row per series and candidate model (mase, rmsse, wape, bias, n_windows,
      selected); series without a backtest (new, obsolete, dead) get one row for their model
    - classification: adi, cv2, demand_class, n_weeks, last_demand_week, n_censored,
      n_outliers, model
    - residuals: sigma_weekly (std of the selected model's backtest errors; for new items the
      std of their demand), mean_weekly_forecast
    - coverage: demand_class ("all" and per class), quantile, empirical_coverage, n_points
    - backtest_forecasts: the selected model's backtest forecasts next to the actuals (window,
      window_origin, week_start, actual (NaN = censored), forecast); reconciliation uses them
    - origin: the first forecast week
    """

    forecast: pd.DataFrame
    backtest: pd.DataFrame
    classification: pd.DataFrame
    residuals: pd.DataFrame
    coverage: pd.DataFrame
    backtest_forecasts: pd.DataFrame = field(default_factory=pd.DataFrame)
    origin: pd.Timestamp | None = None


# --------------------------------------------------------------------------- per series


def candidate_models(demand_class: str, n: int, config: ForecastConfig) -> list[str]:
    """Models tried for a series, simplest first (the order breaks ties)."""
    base = zoo.SMOOTH_MODELS if demand_class in ("smooth", "erratic") else zoo.INTERMITTENT_MODELS
    names = list(base)
    if (
        config.use_prophet
        and demand_class in ("smooth", "erratic")
        and n >= 2 * config.season_length
    ):
        names.append("prophet")
    if config.models is not None:
        names = [m for m in names if m in config.models] or ["seasonal_naive"]
    return names


def _scales(y: np.ndarray) -> tuple[float, float]:
    """In-sample one-step naive MAE and MSE: the MASE / RMSSE denominators."""
    d = np.diff(y)
    mae = float(np.mean(np.abs(d))) if len(d) else 0.0
    mse = float(np.mean(d * d)) if len(d) else 0.0
    if mae <= 0:
        level = float(np.mean(np.abs(y))) if len(y) else 0.0
        mae, mse = (level, level * level) if level > 0 else (1.0, 1.0)
    return mae, mse


def _metrics(f: np.ndarray, a: np.ndarray, scale: float, scale2: float) -> np.ndarray:
    """[mase, rmsse, wape, bias] over the non-censored points (a is NaN where censored)."""
    ok = ~np.isnan(a) & ~np.isnan(f)
    if not ok.any():
        return np.full(4, np.nan)
    e = f[ok] - a[ok]
    total = a[ok].sum()
    return np.array(
        [
            np.mean(np.abs(e)) / scale,
            np.sqrt(np.mean(e * e) / scale2),
            np.abs(e).sum() / total if total > 0 else np.nan,
            e.sum() / total if total > 0 else np.nan,
        ]
    )


def _origins(n: int, config: ForecastConfig) -> list[tuple[int, int]]:
    """(window id, origin index) pairs; window ids are global, the last ends at the series end."""
    out = []
    for k in range(config.backtest_windows):
        o = n - config.horizon - config.backtest_step * (config.backtest_windows - 1 - k)
        if o >= config.min_train_weeks:
            out.append((k, o))
    return out


def _pick(names: list[str], scores: np.ndarray) -> list[str]:
    """Model names ordered best first; near-ties keep the earlier (simpler) name first."""
    order = sorted(
        (i for i in range(len(names)) if np.isfinite(scores[i])),
        key=lambda i: (round(float(scores[i]), _TIE_DECIMALS), i),
    )
    return [names[i] for i in order]


def _evaluate(
    y_obs: np.ndarray, censored: np.ndarray, demand_class: str, start: np.datetime64, cfg
) -> dict:
    """Backtest, select and forecast one fitted-class series (already trimmed)."""
    h = cfg.horizon
    y_clean, n_out = clean_series(
        y_obs, censored, demand_class, cfg.season_length, cfg.outlier_threshold
    )
    actual = np.where(censored, np.nan, y_obs)
    n = len(y_clean)
    names = candidate_models(demand_class, n, cfg)
    origins = _origins(n, cfg)
    scale, scale2 = _scales(y_clean[: origins[0][1]] if origins else y_clean)
    deseason = any(m in ("ets", "theta", "arima") for m in names)
    states: dict[str, dict] = {m: {} for m in names}
    fc = np.full((len(names), len(origins), h), np.nan)
    acts = np.full((len(origins), h), np.nan)
    for w, (_, o) in enumerate(origins):
        train = y_clean[:o]
        season = (
            zoo.estimate_seasonality(train, cfg.season_length, cfg.fourier_terms)
            if deseason
            else None
        )
        acts[w] = actual[o : o + h]
        for j, m in enumerate(names):
            try:
                fc[j, w] = zoo.fit_predict(
                    m,
                    train,
                    h,
                    season_length=cfg.season_length,
                    state=states[m],
                    season=season,
                    start=start,
                    holiday_country=cfg.holiday_country,
                )
            except Exception:  # a failed fit disqualifies the model for this series
                fc[j, w] = np.nan
    failed = np.isnan(fc).reshape(len(names), -1).any(axis=1) if origins else np.zeros(len(names))
    metrics = np.array(
        [
            _metrics(fc[j].ravel(), acts.ravel(), scale, scale2)
            if origins and not failed[j]
            else np.full(4, np.nan)
            for j in range(len(names))
        ]
    ).reshape(len(names), 4)
    col = 0 if cfg.selection_metric == "mase" else 1
    ranked = _pick(names, metrics[:, col])
    members: list[str] = []
    all_names = list(names)
    if cfg.ensemble_size >= 2 and len(ranked) >= 2:
        members = ranked[: cfg.ensemble_size]
        ens_fc = np.mean([fc[names.index(m)] for m in members], axis=0)
        fc = np.concatenate([fc, ens_fc[None]], axis=0)
        metrics = np.vstack([metrics, _metrics(ens_fc.ravel(), acts.ravel(), scale, scale2)])
        all_names.append("ensemble")
        ranked = _pick(all_names, metrics[:, col])
        ens_score = metrics[-1, col]
        best_single = metrics[names.index(ranked[0]), col] if ranked[0] != "ensemble" else None
        # combinations are the safer bet (the "forecast combination puzzle"): a single model
        # has to beat the ensemble clearly on the backtest to be preferred
        if np.isfinite(ens_score) and (
            cfg.selection == "ensemble"
            or (best_single is not None and best_single > (1 - cfg.ensemble_margin) * ens_score)
        ):
            ranked = ["ensemble", *(m for m in ranked if m != "ensemble")]
    if not ranked:  # no backtest possible (or every model failed): a class default
        ranked = ["ets" if "ets" in names else names[-1], "seasonal_naive"]
    season = (
        zoo.estimate_seasonality(y_clean, cfg.season_length, cfg.fourier_terms)
        if deseason
        else None
    )
    point, selected = None, "seasonal_naive"
    for cand in [*ranked, "seasonal_naive"]:
        parts = members if cand == "ensemble" else [cand]
        try:
            point = np.mean(
                [
                    zoo.fit_predict(
                        m,
                        y_clean,
                        h,
                        season_length=cfg.season_length,
                        state=states.setdefault(m, {}),
                        season=season,
                        start=start,
                        holiday_country=cfg.holiday_country,
                    )
                    for m in parts
                ],
                axis=0,
            )
            selected = cand
            break
        except Exception:  # fall back to the next best model
            continue
    if selected in all_names:
        sel_fc = fc[all_names.index(selected)]
    else:
        sel_fc = np.full((len(origins), h), np.nan)
    return {
        "models": all_names,
        "metrics": metrics,
        "n_windows": len(origins),
        "selected": selected,
        "point": point,
        "windows": np.array([k for k, _ in origins], dtype=np.int64),
        "bt_forecast": sel_fc,
        "bt_actual": acts,
        "scale": scale,
        "n_outliers": n_out,
        "clean_std": float(np.std(y_clean, ddof=1)) if n > 1 else 0.0,
    }


def _worker_init() -> None:
    warnings.filterwarnings("ignore")
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _run_chunk(tasks: list[tuple], cfg: ForecastConfig) -> list[tuple[int, dict]]:
    """Evaluate a chunk of (row, y, censored, class, start) tasks; runs in a worker process."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [(i, _evaluate(y, c, cls, start, cfg)) for i, y, c, cls, start in tasks]


def _run_tasks(tasks: list[tuple], cfg: ForecastConfig) -> dict[int, dict]:
    workers = cfg.workers()
    if workers <= 1 or len(tasks) < _PARALLEL_MIN_SERIES:
        return dict(_run_chunk(tasks, cfg))
    # many small chunks balance the load (intermittent series are ~100x cheaper than smooth)
    n_chunks = min(len(tasks), workers * 16)
    order = np.random.default_rng(0).permutation(len(tasks))
    chunks = [[tasks[i] for i in order[c::n_chunks]] for c in range(n_chunks)]
    out: dict[int, dict] = {}
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=get_context("spawn"), initializer=_worker_init
    ) as pool:
        for res in pool.map(_run_chunk, chunks, [cfg] * len(chunks)):
            out.update(res)
    return out


# --------------------------------------------------------------------------- quantiles


def _pooled_errors(outcomes: dict[int, dict], classes: np.ndarray) -> dict[str, np.ndarray]:
    """Flat arrays of the selected models' backtest points (censored weeks left out)."""
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("cls", "step", "win", "a", "f", "s")}
    for i, res in outcomes.items():
        a, f = res["bt_actual"], res["bt_forecast"]
        ok = ~np.isnan(a) & ~np.isnan(f)
        w_idx, j_idx = np.nonzero(ok)
        parts["cls"].append(np.full(len(j_idx), CLASSES.index(classes[i])))
        parts["step"].append(j_idx)
        parts["win"].append(res["windows"][w_idx])
        parts["a"].append(a[ok])
        parts["f"].append(f[ok])
        parts["s"].append(np.full(len(j_idx), res["scale"]))
    out = {
        k: np.concatenate(v)
        if v
        else np.zeros(0, dtype=np.int64 if k in ("cls", "step", "win") else float)
        for k, v in parts.items()
    }
    out["u"] = (out["a"] - out["f"]) / out["s"] if len(out["a"]) else np.zeros(0)
    return out


def _quantile_table(
    errors: dict[str, np.ndarray], n_cls: int, h: int, qs: np.ndarray
) -> np.ndarray:
    """Quantiles of the standardised errors u = (actual - forecast) / scale, (n_cls, h, nq).

    Per (class, step) when there are enough errors, else the class over all steps, else all
    classes at that step, else everything, else zero width.
    """
    u, cls_idx, step = errors["u"], errors["cls"], errors["step"]
    table = np.zeros((n_cls, h, len(qs)))
    enough = _MIN_QUANTILE_SAMPLES
    everything = np.quantile(u, qs) if len(u) >= enough else np.zeros(len(qs))
    by_step = [
        np.quantile(u[step == j], qs) if (step == j).sum() >= enough else everything
        for j in range(h)
    ]
    for c in range(n_cls):
        in_c = cls_idx == c
        pooled = np.quantile(u[in_c], qs) if in_c.sum() >= enough else None
        for j in range(h):
            sel = in_c & (step == j)
            if sel.sum() >= enough:
                table[c, j] = np.quantile(u[sel], qs)
            else:
                table[c, j] = pooled if pooled is not None else by_step[j]
    return table


def _apply_quantiles(point: np.ndarray, scale: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Quantile forecasts: point + q * scale, floored at 0 and monotone in q.

    ``point``/``scale`` are (n, h)/(n,) or flat (n,)/(n,) with q of shape (n, h, nq)/(n, nq).
    """
    s = scale.reshape(scale.shape + (1,) * (q.ndim - 1))
    out = np.maximum(point[..., None] + q * s, 0.0)
    return np.maximum.accumulate(out, axis=-1)


def _coverage(errors: dict[str, np.ndarray], cfg: ForecastConfig) -> pd.DataFrame:
    """Cross-fitted empirical coverage P(actual <= quantile forecast) on the backtest: each
    window is scored with quantiles estimated on the other windows. Overall and by class."""
    qs = np.asarray(cfg.quantiles)
    cols = ["demand_class", "quantile", "empirical_coverage", "n_points"]
    if len(errors["u"]) == 0:
        return pd.DataFrame({cols[0]: "all", cols[1]: qs, cols[2]: np.nan, cols[3]: 0})
    hit = np.zeros((len(errors["u"]), len(qs)), dtype=bool)
    windows = np.unique(errors["win"])
    for w in windows:
        test = errors["win"] == w
        train = {k: v[~test] for k, v in errors.items()} if len(windows) > 1 else errors
        table = _quantile_table(train, len(CLASSES), cfg.horizon, qs)
        q = table[errors["cls"][test], errors["step"][test]]
        qf = _apply_quantiles(errors["f"][test], errors["s"][test], q)
        hit[test] = errors["a"][test][:, None] <= qf + 1e-9
    rows = []
    groups = [("all", np.ones(len(hit), dtype=bool))] + [
        (c, errors["cls"] == k) for k, c in enumerate(CLASSES) if (errors["cls"] == k).any()
    ]
    for name, sel in groups:
        for j, q in enumerate(qs):
            rows.append((name, float(q), float(hit[sel, j].mean()), int(sel.sum())))
    return pd.DataFrame(rows, columns=cols)


# --------------------------------------------------------------------------- main entry


def run_forecast(
    history: pd.DataFrame, config: ForecastConfig | None = None, origin: pd.Timestamp | None = None
) -> ForecastResult:
    """Forecast every material x plant of ``history`` from ``origin`` (default: the week after
    the last history week) for ``config.horizon`` weeks. History on/after origin is ignored, so
    past vintages can be reproduced."""
    cfg = config or ForecastConfig()
    panel = build_panel(history, origin)
    cls_df = classify_panel(panel, cfg.min_history_weeks, cfg.obsolete_after_weeks)
    classes = cls_df["demand_class"].to_numpy()
    n_series, h = len(panel.keys), cfg.horizon
    tasks = []
    for i in np.flatnonzero(np.isin(classes, _FITTED_CLASSES)):
        s = max(panel.start[i], len(panel.weeks) - cfg.max_train_weeks)
        tasks.append(
            (
                int(i),
                panel.demand[i, s:],
                panel.censored[i, s:],
                classes[i],
                panel.weeks[s].to_datetime64(),
            )
        )
    outcomes = _run_tasks(tasks, cfg)
    point = np.zeros((n_series, h))
    scale = np.zeros(n_series)
    sigma = np.zeros(n_series)
    selected = np.array(["zero"] * n_series, dtype=object)
    n_outliers = np.zeros(n_series, dtype=np.int64)
    for i, res in outcomes.items():
        point[i] = res["point"]
        scale[i] = res["scale"]
        selected[i] = res["selected"]
        n_outliers[i] = res["n_outliers"]
        err = (res["bt_forecast"] - res["bt_actual"]).ravel()
        err = err[~np.isnan(err)]
        sigma[i] = float(np.std(err, ddof=1)) if len(err) > 1 else res["clean_std"]
    for i in np.flatnonzero(classes == "new"):
        s = panel.start[i]
        y, c = panel.demand[i, s:], panel.censored[i, s:]
        clean = impute_censored(y, c)
        point[i] = float(clean[-cfg.new_item_weeks :].mean())
        scale[i] = float(np.mean(np.abs(np.diff(clean)))) if len(clean) > 1 else point[i, 0]
        obs = y[~c & ~np.isnan(y)]
        sigma[i] = float(np.std(obs, ddof=1)) if len(obs) > 1 else 0.0
        selected[i] = "new_item_mean"

    errors = _pooled_errors(outcomes, classes)
    series_cls = np.array([CLASSES.index(c) for c in classes], dtype=np.int64)
    qtable = _quantile_table(errors, len(CLASSES), h, np.asarray(cfg.quantiles))
    qfc = _apply_quantiles(point, scale, qtable[series_cls])
    zero = np.isin(classes, _ZERO_CLASSES)
    point[zero] = 0.0
    qfc[zero] = 0.0
    sigma[zero] = 0.0

    coverage = _coverage(errors, cfg)
    forecast = _forecast_frame(panel, point, qfc, selected, cfg)
    backtest = _backtest_frame(panel, outcomes, selected, classes)
    residuals = panel.keys.copy()
    residuals["sigma_weekly"] = sigma
    residuals["mean_weekly_forecast"] = point.mean(axis=1)
    cls_df["n_outliers"] = n_outliers
    cls_df["model"] = selected
    return ForecastResult(
        forecast=forecast,
        backtest=backtest,
        classification=cls_df,
        residuals=residuals,
        coverage=coverage,
        backtest_forecasts=_backtest_forecast_frame(panel, outcomes, cfg),
        origin=panel.origin,
    )


def _forecast_frame(panel: Panel, point, qfc, selected, cfg: ForecastConfig) -> pd.DataFrame:
    n, h = point.shape
    weeks = pd.date_range(panel.origin, periods=h, freq="7D")
    out = pd.DataFrame(
        {
            "material_id": np.repeat(panel.keys["material_id"].to_numpy(), h),
            "plant_id": np.repeat(panel.keys["plant_id"].to_numpy(), h),
            "week_start": np.tile(weeks.to_numpy(), n),
            "model": np.repeat(selected.astype(str), h),
            "forecast_qty": point.ravel(),
        }
    )
    for j, colname in enumerate(cfg.quantile_columns):
        out[colname] = qfc[:, :, j].ravel()
    lo = qfc[:, :, list(cfg.quantiles).index(cfg.interval[0])].ravel()
    hi = qfc[:, :, list(cfg.quantiles).index(cfg.interval[1])].ravel()
    out["forecast_lower"] = np.minimum(lo, out["forecast_qty"].to_numpy())
    out["forecast_upper"] = np.maximum(hi, out["forecast_qty"].to_numpy())
    return out


def _backtest_frame(panel: Panel, outcomes: dict, selected, classes) -> pd.DataFrame:
    cols = ["model", "mase", "rmsse", "wape", "bias", "n_windows", "selected"]
    parts = []
    rows_idx = []
    for i, res in outcomes.items():
        for j, m in enumerate(res["models"]):
            parts.append((m, *res["metrics"][j], res["n_windows"], m == res["selected"]))
            rows_idx.append(i)
        if res["selected"] not in res["models"]:  # fallback model outside the candidates
            parts.append((res["selected"], np.nan, np.nan, np.nan, np.nan, 0, True))
            rows_idx.append(i)
    for i in np.flatnonzero(~np.isin(classes, _FITTED_CLASSES)):
        parts.append((selected[i], np.nan, np.nan, np.nan, np.nan, 0, True))
        rows_idx.append(int(i))
    body = pd.DataFrame(parts, columns=cols)
    keys = panel.keys.iloc[rows_idx].reset_index(drop=True)
    out = pd.concat([keys, body], axis=1)
    out["n_windows"] = out["n_windows"].astype(np.int64)
    out["selected"] = out["selected"].astype(bool)
    return out.sort_values([*KEYS, "model"]).reset_index(drop=True)


def _backtest_forecast_frame(panel: Panel, outcomes: dict, cfg: ForecastConfig) -> pd.DataFrame:
    """Selected model's backtest forecasts next to the actuals (NaN = censored week)."""
    t_end = len(panel.weeks)
    frames = []
    for i, res in outcomes.items():
        for w_pos, k in enumerate(res["windows"]):
            o = t_end - cfg.horizon - cfg.backtest_step * (cfg.backtest_windows - 1 - int(k))
            frames.append(
                (
                    i,
                    int(k),
                    o,
                    res["bt_actual"][w_pos],
                    res["bt_forecast"][w_pos],
                )
            )
    cols = [
        "material_id",
        "plant_id",
        "window",
        "window_origin",
        "week_start",
        "actual",
        "forecast",
    ]
    if not frames:
        return pd.DataFrame(columns=cols)
    h = cfg.horizon
    rows = np.repeat([f[0] for f in frames], h)
    origin_idx = np.repeat([f[2] for f in frames], h)
    week_idx = origin_idx + np.tile(np.arange(h), len(frames))
    return pd.DataFrame(
        {
            "material_id": panel.keys["material_id"].to_numpy()[rows],
            "plant_id": panel.keys["plant_id"].to_numpy()[rows],
            "window": np.repeat([f[1] for f in frames], h),
            "window_origin": panel.weeks.to_numpy()[origin_idx],
            "week_start": panel.weeks.to_numpy()[week_idx],
            "actual": np.concatenate([f[3] for f in frames]),
            "forecast": np.concatenate([f[4] for f in frames]),
        }
    )


__all__ = ["ForecastConfig", "ForecastResult", "candidate_models", "fan_chart_png", "run_forecast"]
