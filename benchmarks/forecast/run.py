"""Forecast benchmark: accuracy on carparts and M4 weekly, engine choices per model, speed.

    .venv/bin/python benchmarks/forecast/run.py                 # everything (~15 min, 2 cores)
    .venv/bin/python benchmarks/forecast/run.py --only accuracy  # or: models, speed
    .venv/bin/python benchmarks/forecast/run.py --sizes 1000,10000,50000

Writes benchmarks/forecast/results.json; RESULTS.md records and discusses the figures.
Datasets are read from ../shared/datasets/demand (never copied into the repo).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / ".." / "shared" / "datasets" / "demand"
OUT = Path(__file__).resolve().parent / "results.json"
sys.path.insert(0, str(REPO))

from benchmarks.forecast.synthetic import synthetic_history  # noqa: E402
from pipelines.forecasting import ForecastConfig, run_forecast  # noqa: E402
from pipelines.forecasting import models as zoo  # noqa: E402
from pipelines.forecasting.panel import impute_censored  # noqa: E402

END = pd.Timestamp("2026-01-05")  # a Monday: first forecast period of every benchmark panel


# --------------------------------------------------------------------------- data


def load_carparts() -> tuple[list[np.ndarray], np.ndarray]:
    """Training arrays (first 39 months, NaN = blank) and the 12-month holdout (NaN = blank)."""
    df = pd.read_csv(DATA / "carparts.csv")
    values = df.drop(columns=["Part"]).to_numpy(dtype=float)
    return [row for row in values[:, :-12]], values[:, -12:]


def load_m4_weekly() -> tuple[list[np.ndarray], np.ndarray]:
    train = pd.read_csv(DATA / "M4-Weekly-train.csv")
    test = pd.read_csv(DATA / "M4-Weekly-test.csv")
    assert (train["V1"] == test["V1"]).all(), "M4 train/test ids differ"
    trains = [r[~np.isnan(r)] for r in train.drop(columns=["V1"]).to_numpy(dtype=float)]
    return trains, test.drop(columns=["V1"]).to_numpy(dtype=float)


def to_history(trains: list[np.ndarray]) -> pd.DataFrame:
    """Arrays -> the engine's weekly contract (periods become consecutive Mondays; NaN =
    censored, i.e. stockout)."""
    parts = []
    for i, y in enumerate(trains):
        weeks = pd.date_range(end=END - pd.Timedelta(days=7), periods=len(y), freq="7D")
        parts.append(
            pd.DataFrame(
                {
                    "material_id": f"S{i:05d}",
                    "plant_id": "P",
                    "week_start": weeks,
                    "demand_qty": np.nan_to_num(y),
                    "stockout": np.isnan(y),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


# --------------------------------------------------------------------------- metrics


def score(fc: np.ndarray, trains: list[np.ndarray], test: np.ndarray, m: int) -> dict:
    """Mean/median MASE (in-sample seasonal naive at lag m, the M4 definition), mean RMSSE
    (same scaling, squared: the M5 metric, minimised by the mean), M4 sMAPE (0/0 counted as 0),
    pooled bias = sum(f - a) / sum(a). Holdout blanks are skipped."""
    mases, rmsses, smapes = [], [], []
    err_sum = act_sum = 0.0
    excluded = 0
    for i, y in enumerate(trains):
        a, f = test[i], fc[i]
        ok = ~np.isnan(a)
        if not ok.any():
            excluded += 1
            continue
        a, f = a[ok], f[ok]
        yc = impute_censored(y, np.isnan(y))
        scale = np.mean(np.abs(yc[m:] - yc[:-m])) if len(yc) > m else 0.0
        denom = np.abs(a) + np.abs(f)
        smapes.append(
            np.mean(np.where(denom > 0, 200 * np.abs(f - a) / np.where(denom > 0, denom, 1), 0))
        )
        err_sum += float(np.sum(f - a))
        act_sum += float(np.sum(a))
        if scale > 0:
            mases.append(np.mean(np.abs(f - a)) / scale)
            rmsses.append(np.sqrt(np.mean((f - a) ** 2) / np.mean((yc[m:] - yc[:-m]) ** 2)))
    return {
        "mase": float(np.mean(mases)),
        "mase_median": float(np.median(mases)),
        "rmsse": float(np.mean(rmsses)),
        "smape": float(np.mean(smapes)),
        "bias": err_sum / act_sum if act_sum else float("nan"),
        "n_series": len(smapes),
        "n_mase": len(mases),
        "excluded_no_holdout": excluded,
    }


# --------------------------------------------------------------------------- methods


def engine_forecast(trains, cfg: ForecastConfig, column: str = "forecast_qty"):
    """(forecast matrix of ``column``, the run's result, seconds)."""
    hist = to_history(trains)
    t0 = time.perf_counter()
    res = run_forecast(hist, cfg, origin=END)
    secs = time.perf_counter() - t0
    ids = [f"S{i:05d}" for i in range(len(trains))]

    def matrix(col: str) -> np.ndarray:
        piv = res.forecast.pivot(index="material_id", columns="week_start", values=col)
        return piv.reindex(ids).to_numpy()

    return matrix(column), matrix("p50"), res, secs


def holdout_coverage(res, trains, test) -> dict:
    """Share of holdout actuals at or below each forecast quantile (true out-of-sample)."""
    ids = [f"S{i:05d}" for i in range(len(trains))]
    out = {}
    for q in ("p10", "p50", "p90", "p95"):
        piv = res.forecast.pivot(index="material_id", columns="week_start", values=q)
        qf = piv.reindex(ids).to_numpy()
        ok = ~np.isnan(test)
        out[q] = round(float(np.mean(test[ok] <= qf[ok] + 1e-9)), 3)
    return out


def _sf(model_factory, y, h):
    return np.asarray(model_factory().forecast(y=y, h=h)["mean"], float)


def baselines(
    trains: list[np.ndarray], h: int, m: int, m_theta: int
) -> tuple[dict[str, np.ndarray], dict]:
    """Reference methods fitted on the (imputed) training data, each on every series.

    Theta is the M4 benchmark (statsforecast ``Theta``: classical multiplicative seasonal
    adjustment when the 90 % ACF test says so) at frequency ``m_theta``; SES/Holt/damped and
    their mean (M4 "Comb") are fitted without seasonal adjustment, as M4 did for weekly data."""
    from statsforecast.models import AutoETS, Theta

    def theta_std(y):
        try:
            f = _sf(lambda: Theta(season_length=m_theta), y, h)
            if np.all(np.isfinite(f)):
                return f
        except Exception:  # seasonal decomposition fails on series with zeros
            pass
        return _sf(lambda: Theta(season_length=1), y, h)

    methods = {
        "seasonal_naive": lambda y: zoo.seasonal_naive(y, h, m),
        "naive": lambda y: np.full(h, y[-1]),
        "ets": lambda y: _sf(lambda: AutoETS(season_length=1, model="ZZN"), y, h),
        "theta": theta_std,
        "croston": lambda y: zoo.croston(y, h),
        "ses": lambda y: _sf(lambda: AutoETS(season_length=1, model="ANN"), y, h),
        "holt": lambda y: _sf(lambda: AutoETS(season_length=1, model="AAN", damped=False), y, h),
        "damped": lambda y: _sf(lambda: AutoETS(season_length=1, model="AAN", damped=True), y, h),
    }
    out, secs = {}, {}
    clean = [impute_censored(y, np.isnan(y)) for y in trains]
    for name, fn in methods.items():
        t0 = time.perf_counter()
        out[name] = np.array([fn(y) for y in clean])
        secs[name] = time.perf_counter() - t0
    out["comb"] = (out["ses"] + out["holt"] + out["damped"]) / 3
    secs["comb"] = secs["ses"] + secs["holt"] + secs["damped"]
    return out, secs


def accuracy_suite(name, trains, test, cfg: ForecastConfig, m_scale: int, m_theta: int) -> dict:
    h = test.shape[1]
    print(f"[{name}] {len(trains)} series, horizon {h}", flush=True)
    rows, timing = {}, {}
    extra = {}
    for label, c in [("selected", cfg), ("ensemble", _replace(cfg, selection="ensemble"))]:
        fc, p50, res, secs = engine_forecast(trains, c)
        rows[label] = score(fc, trains, test, m_scale)
        rows[f"{label} (P50)"] = score(p50, trains, test, m_scale)
        timing[label] = timing[f"{label} (P50)"] = secs
        if label == "selected":
            extra["selected_models"] = (
                res.backtest[res.backtest["selected"]]["model"].value_counts().to_dict()
            )
            extra["classes"] = res.classification["demand_class"].value_counts().to_dict()
            extra["holdout_coverage"] = holdout_coverage(res, trains, test)
            cov = res.coverage[res.coverage["demand_class"] == "all"]
            extra["backtest_coverage"] = dict(
                zip(cov["quantile"], cov["empirical_coverage"], strict=True)
            )
    base, secs = baselines(trains, h, cfg.season_length, m_theta)
    timing.update(secs)
    for label, fc in base.items():
        rows[label] = score(np.maximum(fc, 0), trains, test, m_scale)
    for label in rows:
        rows[label]["seconds"] = round(timing.get(label, float("nan")), 2)
    naive = rows["seasonal_naive"]["mase"]
    for r in rows.values():
        r["mase_vs_seasonal_naive"] = r["mase"] / naive - 1
    print(pd.DataFrame(rows).T.round(3).to_string(), flush=True)
    print(extra, flush=True)
    return {"methods": rows, **extra, "config": cfg.__dict__}


def _replace(cfg, **kw):
    from dataclasses import replace

    return replace(cfg, **kw)


# --------------------------------------------------------------------------- engines per model


def model_engines(n: int = 100) -> dict:
    """ms per fit+forecast (13 weeks) on 104-week smooth series, per model and library, and
    M4-weekly MASE of the two ARIMA searches on a sample."""
    warnings.filterwarnings("ignore")
    from statsforecast.models import (
        AutoARIMA,
        AutoETS,
        CrostonClassic,
        DynamicOptimizedTheta,
    )
    from statsmodels.tsa.arima.model import ARIMA as SmArima
    from statsmodels.tsa.forecasting.theta import ThetaModel
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    hist = synthetic_history(n * 3, 104, seed=11)
    ys = [g["demand_qty"].to_numpy() for _, g in hist.groupby("material_id")]
    smooth = [y for y in ys if (y > 0).mean() > 0.95][:n]
    inter = [y for y in ys if (y > 0).mean() < 0.6][:n]
    h = 13
    cases = {
        "ets/statsforecast AutoETS(ZZN)": (
            smooth,
            lambda y: _sf(lambda: AutoETS(model="ZZN"), y, h),
        ),
        "ets/statsmodels ExponentialSmoothing(damped)": (
            smooth,
            lambda y: ExponentialSmoothing(y, trend="add", damped_trend=True).fit().forecast(h),
        ),
        "theta/statsforecast DOTM": (smooth, lambda y: _sf(DynamicOptimizedTheta, y, h)),
        "theta/statsmodels ThetaModel": (
            smooth,
            lambda y: ThetaModel(y, period=1, deseasonalize=False).fit().forecast(h),
        ),
        "arima/own CSS grid (identify)": (smooth, lambda y: zoo.arima(y, h, {})),
        "arima/statsforecast AutoARIMA": (
            smooth,
            lambda y: _sf(lambda: AutoARIMA(season_length=1), y, h),
        ),
        "arima/statsmodels ARIMA(1,1,1) fixed": (
            smooth,
            lambda y: SmArima(y, order=(1, 1, 1)).fit().forecast(h),
        ),
        "croston/own": (inter, lambda y: zoo.croston(y, h)),
        "croston/statsforecast CrostonClassic": (inter, lambda y: _sf(CrostonClassic, y, h)),
    }
    out = {}
    for label, (data, fn) in cases.items():
        fn(data[0])
        t0 = time.perf_counter()
        for y in data:
            fn(y)
        out[label] = round((time.perf_counter() - t0) / len(data) * 1000, 2)
        print(f"{label:48s} {out[label]:8.2f} ms/series", flush=True)
    # accuracy of the two ARIMA searches on an M4 weekly sample
    trains, test = load_m4_weekly()
    idx = np.random.default_rng(0).choice(len(trains), 60, replace=False)
    tr, te = [trains[i][-520:] for i in idx], test[idx]  # the engine's max_train_weeks
    acc = {}
    for label, fn in {
        "own CSS grid": lambda y: zoo.arima(y, 13, {}),
        "statsforecast AutoARIMA": lambda y: _sf(lambda: AutoARIMA(season_length=1), y, 13),
    }.items():
        t0 = time.perf_counter()
        fc = np.array([fn(y) for y in tr])
        acc[label] = {**score(fc, tr, te, 1), "seconds": round(time.perf_counter() - t0, 2)}
        print(f"M4 weekly sample ARIMA {label}: {acc[label]}", flush=True)
    return {"ms_per_series": out, "arima_m4_sample_last520": acc}


# --------------------------------------------------------------------------- speed


def _usage() -> tuple[float, float, int, int]:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime, c.ru_utime + c.ru_stime, s.ru_maxrss, c.ru_maxrss


def _vm_hwm_mb(pid: str, default: float) -> float:
    """Peak resident memory of a process (VmHWM). ru_maxrss of children is no use here: a
    spawned worker is forked from the parent first, so it reports the parent's size."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return max(default, int(line.split()[1]) / 1024)
    except OSError:
        pass
    return default


class WorkerCpu:
    """Polls /proc for this process's children (the engine's workers) and keeps each one's
    latest CPU seconds, to show that the work is spread over every worker."""

    def __init__(self) -> None:
        import threading

        self.cpu: dict[int, float] = {}
        self.hwm: dict[int, float] = {}  # peak RSS (VmHWM) of each worker, MB
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._tick = os.sysconf("SC_CLK_TCK")

    def _poll(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.5):
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                except OSError:
                    continue
                if int(fields[1]) == me:  # fields[1] is the parent pid
                    self.cpu[int(pid)] = (int(fields[11]) + int(fields[12])) / self._tick
                    self.hwm[int(pid)] = _vm_hwm_mb(pid, self.hwm.get(int(pid), 0.0))

    def __enter__(self) -> WorkerCpu:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def speed(sizes: list[int], weeks: int, sample: int) -> dict:
    cores = len(os.sched_getaffinity(0))
    out = {"cores": cores, "weeks": weeks, "runs": []}
    cfg = ForecastConfig()
    for n in sizes:
        hist = synthetic_history(n, weeks, seed=n)
        cpu0_self, cpu0_child, _, _ = _usage()
        t0 = time.perf_counter()
        with WorkerCpu() as workers:
            res = run_forecast(hist, cfg)
        wall = time.perf_counter() - t0
        cpu1_self, cpu1_child, rss_self, _ = _usage()
        cpu = (cpu1_self - cpu0_self) + (cpu1_child - cpu0_child)
        row = {
            "series": n,
            "seconds": round(wall, 1),
            "series_per_minute": round(n / wall * 60),
            "cpu_seconds": round(cpu, 1),
            "cores_busy": round(cpu / wall, 2),
            "cpu_seconds_per_worker": sorted(round(v, 1) for v in workers.cpu.values() if v > 1),
            "idle_2core_estimate_seconds": round(cpu / cores, 1),
            "loadavg_1min_after": round(os.getloadavg()[0], 1),
            "peak_rss_main_mb": round(rss_self / 1024),
            "peak_rss_worker_mb": sorted(round(v) for v in workers.hwm.values() if v > 0),
            "classes": res.classification["demand_class"].value_counts().to_dict(),
        }
        out["runs"].append(row)
        print(row, flush=True)
        if n == sizes[0]:
            out["statsmodels_loop"] = statsmodels_loop(hist, sample, cfg, row)
    for a, b in zip(out["runs"], out["runs"][1:], strict=False):
        b["time_growth_vs_prev"] = round(b["seconds"] / a["seconds"], 2)
        b["size_growth_vs_prev"] = round(b["series"] / a["series"], 2)
    return out


def statsmodels_loop(hist: pd.DataFrame, sample: int, cfg: ForecastConfig, ours: dict) -> dict:
    """The plain alternative: per series, statsmodels ETS (damped), ARIMA(1,1,1) and Theta
    refitted at the same 3 backtest origins + the final origin, one process. Compared in CPU
    seconds per series, which the shared machine does not distort the way it distorts wall time
    (the pipeline's figure covers all its candidate models, selection and quantiles)."""
    warnings.filterwarnings("ignore")
    from statsmodels.tsa.arima.model import ARIMA as SmArima
    from statsmodels.tsa.forecasting.theta import ThetaModel
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    ids = hist["material_id"].unique()[:sample]
    t0, c0 = time.perf_counter(), time.process_time()
    for mid in ids:
        y = hist.loc[hist["material_id"] == mid, "demand_qty"].to_numpy(dtype=float) + 1e-3
        n = len(y)
        for o in [n - 21, n - 17, n - 13, n]:
            train = y[:o]
            ExponentialSmoothing(train, trend="add", damped_trend=True).fit().forecast(13)
            SmArima(train, order=(1, 1, 1)).fit().forecast(13)
            ThetaModel(train, period=1, deseasonalize=False).fit().forecast(13)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    ours_cpu = ours["cpu_seconds"] / ours["series"]
    res = {
        "series": sample,
        "seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
        "cpu_ms_per_series": round(cpu / sample * 1000),
        "pipeline_cpu_ms_per_series": round(ours_cpu * 1000, 1),
        "cpu_ratio": round(cpu / sample / ours_cpu, 1),
    }
    print("statsmodels loop", res, flush=True)
    return res


# --------------------------------------------------------------------------- main


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=["accuracy", "models", "speed"], default=None)
    ap.add_argument("--sizes", default="1000,10000")
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--sample", type=int, default=20)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    results["machine"] = {
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "loadavg_at_start": os.getloadavg(),
    }
    t_all = time.perf_counter()
    if args.only in (None, "accuracy"):
        trains, test = load_carparts()
        cfg = ForecastConfig(
            horizon=12, season_length=12, min_history_weeks=12, obsolete_after_weeks=24
        )
        results["carparts"] = accuracy_suite("carparts", trains, test, cfg, m_scale=12, m_theta=12)
        trains, test = load_m4_weekly()
        # M4 weekly: MASE scaled at lag 1 and Theta at frequency 1, as in the official M4 code
        results["m4_weekly"] = accuracy_suite(
            "m4_weekly", trains, test, ForecastConfig(), m_scale=1, m_theta=1
        )
        OUT.write_text(json.dumps(results, indent=1, default=str))
    if args.only in (None, "models"):
        results["model_engines"] = model_engines()
        OUT.write_text(json.dumps(results, indent=1, default=str))
    if args.only in (None, "speed"):
        sizes = [int(s) for s in args.sizes.split(",")]
        key = f"speed_{args.weeks}w_{'_'.join(map(str, sizes))}"
        results[key] = speed(sizes, args.weeks, args.sample)
        OUT.write_text(json.dumps(results, indent=1, default=str))
    results["machine"]["loadavg_at_end"] = os.getloadavg()
    results["machine"]["total_seconds"] = round(time.perf_counter() - t_all, 1)
    OUT.write_text(json.dumps(results, indent=1, default=str))
    print(f"total {time.perf_counter() - t_all:.0f} s; wrote {OUT}")


if __name__ == "__main__":
    main()
