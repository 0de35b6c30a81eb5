"""Model zoo: one function per model, each mapping a clean training array to an h-step forecast.

Every model works on plain numpy arrays (no dates, no NaN: censored weeks are imputed before).
Models whose structure is identified from the data (ETS form, ARIMA order) take a ``state`` dict:
the first call identifies and stores the structure, later calls only re-estimate the
parameters. The engine identifies on the earliest backtest origin, so backtests stay honest and
each series pays for one identification instead of one per origin.

statsforecast and prophet are imported inside the functions: importing them costs ~0.6-1.5 s
and the code location must load fast.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

SMOOTH_MODELS = ("seasonal_naive", "ets", "theta", "arima")
INTERMITTENT_MODELS = ("seasonal_naive", "croston", "sba", "tsb", "adida", "imapa")
ALL_MODELS = (*SMOOTH_MODELS, *INTERMITTENT_MODELS[1:], "prophet")

_ALPHA_GRID = np.linspace(0.02, 1.0, 50)


# --------------------------------------------------------------------------- seasonality


class Seasonality:
    """A seasonal profile over phases 0..m-1 (phase of index t is t mod m), additive or ratio.

    The profile is a Fourier fit to the detrended series: K harmonics instead of m free indices,
    so two years of weekly data (one detrended value per week of year) are not over-fitted.
    """

    def __init__(self, profile: np.ndarray, multiplicative: bool, m: int):
        self.profile = profile
        self.multiplicative = multiplicative
        self.m = m

    def remove(self, y: np.ndarray) -> np.ndarray:
        s = self.profile[np.arange(len(y)) % self.m]
        return y / s if self.multiplicative else y - s

    def add(self, f: np.ndarray, start: int) -> np.ndarray:
        s = self.profile[np.arange(start, start + len(f)) % self.m]
        return f * s if self.multiplicative else f + s


def estimate_seasonality(
    y: np.ndarray, m: int, fourier_terms: int, alpha: float = 0.01
) -> Seasonality | None:
    """Seasonal profile of ``y`` with period ``m``, or None when there is no significant one.

    Detrend (centred moving average with two or more seasons, a straight line with 1.5 to 2),
    regress the detrended series on K Fourier harmonics and keep the profile only if the
    regression's F-test rejects "no seasonality" at ``alpha``. (M4's autocorrelation test was
    tried first: it misses even a clean sine wave with three seasons of data, because its limit
    grows with every autocorrelation below lag m.)
    """
    from scipy.special import fdtrc

    n = len(y)
    if m <= 1 or n < m + m // 2:
        return None
    if n >= 2 * m:
        kernel = np.ones(m + 1) if m % 2 == 0 else np.ones(m)
        if m % 2 == 0:
            kernel[0] = kernel[-1] = 0.5
        trend = np.convolve(y, kernel / m, mode="valid")
        offset = (len(kernel) - 1) // 2
        idx = np.arange(offset, offset + len(trend))
    else:
        idx = np.arange(n)
        trend = np.polyval(np.polyfit(idx, y, 1), idx)
    multiplicative = bool(y.min() > 0 and trend.min() > 0)
    detrended = y[idx] / trend if multiplicative else y[idx] - trend
    k = max(1, min(fourier_terms, m // 2))

    def design(t: np.ndarray) -> np.ndarray:
        cols = []
        for j in range(1, k + 1):
            w = 2 * np.pi * j * (t % m) / m
            cols += [np.sin(w), np.cos(w)]
        return np.column_stack([np.ones(len(t)), *cols])

    x = design(idx)
    coef, *_ = np.linalg.lstsq(x, detrended, rcond=None)
    rss = float(np.sum((detrended - x @ coef) ** 2))
    tss = float(np.sum((detrended - detrended.mean()) ** 2))
    dof = len(idx) - x.shape[1]
    if tss <= 0 or dof <= 0:
        return None
    if rss > 1e-12 * tss:
        f_stat = ((tss - rss) / (x.shape[1] - 1)) / (rss / dof)
        if fdtrc(x.shape[1] - 1, dof, f_stat) > alpha:
            return None
    profile = design(np.arange(m)) @ coef
    if multiplicative:
        profile = np.clip(profile / profile.mean(), 0.05, None)
    else:
        profile = profile - profile.mean()
    return Seasonality(profile, multiplicative, m)


# --------------------------------------------------------------------------- simple models


def seasonal_naive(y: np.ndarray, h: int, m: int) -> np.ndarray:
    """Last season repeated; the last value when there is less than one season of data."""
    if m > 1 and len(y) >= m:
        return y[len(y) - m + (np.arange(h) % m)].astype(float)
    return np.full(h, float(y[-1]))


def _ses_path(y: np.ndarray, alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Run SES for several alphas at once: (final levels, in-sample one-step SSE) per alpha."""
    level = np.full(len(alphas), float(y[0]))
    sse = np.zeros(len(alphas))
    for v in y[1:]:
        err = v - level
        sse += err * err
        level = level + alphas * err
    return level, sse


def ses_optimized(y: np.ndarray) -> float:
    """SES level with alpha chosen on a grid by in-sample one-step SSE."""
    if len(y) < 2:
        return float(y[-1])
    levels, sse = _ses_path(y, _ALPHA_GRID)
    return float(levels[int(np.argmin(sse))])


def _croston_parts(y: np.ndarray, alpha: float) -> tuple[float, float]:
    """Smoothed demand size and inter-demand interval (both SES, mean-initialised)."""
    idx = np.flatnonzero(y > 0)
    if len(idx) == 0:
        return 0.0, 1.0
    sizes = y[idx]
    # the interval before the first demand is unknown once leading zeros are trimmed
    intervals = np.diff(idx).astype(float) if len(idx) > 1 else np.array([float(len(y) - idx[0])])
    z = float(sizes.mean())
    p = float(intervals.mean())
    for s in sizes:
        z += alpha * (s - z)
    for q in intervals:
        p += alpha * (q - p)
    return z, max(p, 1.0)


def croston(y: np.ndarray, h: int, alpha: float = 0.1) -> np.ndarray:
    """Croston (1972): smoothed size / smoothed interval."""
    z, p = _croston_parts(y, alpha)
    return np.full(h, z / p)


def sba(y: np.ndarray, h: int, alpha: float = 0.1) -> np.ndarray:
    """Syntetos-Boylan approximation: Croston times (1 - alpha/2), removing Croston's bias."""
    z, p = _croston_parts(y, alpha)
    return np.full(h, (1 - alpha / 2) * z / p)


def tsb(y: np.ndarray, h: int, alpha: float = 0.1, beta: float = 0.1) -> np.ndarray:
    """Teunter-Syntetos-Babai: smooths demand probability every period, so it decays to zero."""
    occ = (y > 0).astype(float)
    if occ.sum() == 0:
        return np.zeros(h)
    d = float(occ.mean())
    z = float(y[y > 0].mean())
    for v, o in zip(y, occ, strict=True):
        d += beta * (o - d)
        if o:
            z += alpha * (v - z)
    return np.full(h, d * z)


def _mean_interval(y: np.ndarray) -> float:
    nz = int((y > 0).sum())
    return len(y) / nz if nz else float(len(y))


def _aggregate_forecast(y: np.ndarray, k: int) -> float:
    """Per-period forecast from SES on non-overlapping k-period sums (aligned to the end)."""
    usable = (len(y) // k) * k
    if usable == 0:
        return float(y.mean())
    buckets = y[len(y) - usable :].reshape(-1, k).sum(axis=1)
    return ses_optimized(buckets) / k


def adida(y: np.ndarray, h: int) -> np.ndarray:
    """ADIDA: aggregate at the mean inter-demand interval, forecast with SES, disaggregate."""
    k = max(1, int(round(_mean_interval(y))))
    return np.full(h, _aggregate_forecast(y, k))


def imapa(y: np.ndarray, h: int) -> np.ndarray:
    """IMAPA: mean of the aggregate forecasts at every level 1..mean interval."""
    kmax = max(1, int(round(_mean_interval(y))))
    return np.full(h, np.mean([_aggregate_forecast(y, k) for k in range(1, kmax + 1)]))


# --------------------------------------------------------------------------- statsforecast models


def ets(y: np.ndarray, h: int, state: dict) -> np.ndarray:
    """Non-seasonal ETS (seasonality removed beforehand); form identified once by AICc."""
    from statsforecast.models import AutoETS

    form = state.get("ets")
    if form is None:
        fit = AutoETS(season_length=1, model="ZZN").fit(y)
        comp = fit.model_["components"]
        state["ets"] = (comp[:2] + "N", comp[3] == "D")
        return fit.predict(h)["mean"]
    model, damped = form
    if model[0] == "M" and y.min() <= 0:
        model = "A" + model[1:]
    return AutoETS(
        season_length=1, model=model, damped=damped if model[1] != "N" else None
    ).forecast(y=y, h=h)["mean"]


def theta(y: np.ndarray, h: int) -> np.ndarray:
    """Dynamic optimised Theta (Fiorucci et al. 2016), the strongest Theta variant in M4."""
    from statsforecast.models import DynamicOptimizedTheta

    return DynamicOptimizedTheta(season_length=1).forecast(y=y, h=h)["mean"]


_ARIMA_GRID = ((0, 1), (1, 0), (1, 1), (2, 1))  # (p, q) tried at the KPSS-chosen d


def _least_squares(fun: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, bound: np.ndarray):
    """Small Levenberg-Marquardt for 1-5 parameters with |x| <= bound (finite differences).

    scipy.optimize.least_squares spends ~6 ms per call in Python overhead on these tiny problems;
    this loop needs ~1 ms, which matters at 10k series x 4 origins x 4 orders.
    """
    x = x0.astype(float)
    r = fun(x)
    cost = float(r @ r)
    lam = 1e-3
    for _ in range(50):
        jac = np.empty((len(r), len(x)))
        for j in range(len(x)):
            step = 1e-6 * max(1.0, abs(x[j]))
            xp = x.copy()
            xp[j] += step
            jac[:, j] = (fun(xp) - r) / step
        grad = jac.T @ r
        hess = jac.T @ jac
        improved = False
        while lam < 1e10:
            try:
                delta = np.linalg.solve(hess + lam * np.diag(np.diag(hess) + 1e-12), -grad)
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            xn = np.clip(x + delta, -bound, bound)
            rn = fun(xn)
            cn = float(rn @ rn)
            if cn < cost:
                improved = cost - cn > 1e-10 * max(cost, 1e-300)
                x, r, cost, lam = xn, rn, cn, max(lam / 10, 1e-12)
                break
            lam *= 10
        if not improved:
            break
    return x


class _ArimaFit:
    """ARMA(p, q) on the d-times differenced series, with a constant (the mean for d = 0, the
    drift for d = 1) if ``const``; fitted by conditional sum of squares."""

    def __init__(self, y: np.ndarray, p: int, d: int, q: int, const: bool = True):
        from scipy.signal import lfilter

        self.y, self.p, self.d, self.q = y, p, d, q
        w = np.diff(y, n=d) if d else y.astype(float)
        self.w = w
        mean = const
        self.mean = mean
        a_poly, b_poly = np.ones(p + 1), np.ones(q + 1)

        def resid(theta: np.ndarray) -> np.ndarray:
            a_poly[1:] = -theta[int(mean) : int(mean) + p]
            b_poly[1:] = theta[int(mean) + p :]
            return lfilter(a_poly, b_poly, w - theta[0] if mean else w)[p:]

        x0 = np.r_[[w.mean()] if mean else [], np.zeros(p + q)]
        bound = np.r_[[np.inf] if mean else [], np.full(p + q, 0.99)]
        self.theta = _least_squares(resid, x0, bound) if len(x0) else x0
        self.resid_full = lfilter(np.r_[1.0, -self.ar], np.r_[1.0, self.ma], w - self.mu)
        e = self.resid_full[p:]
        self.sigma2 = float(np.mean(e * e)) if len(e) else np.nan
        if p and np.any(np.abs(np.roots(np.r_[1.0, -self.ar])) >= 1.0):
            self.sigma2 = np.nan  # roots outside the circle: reject (explosive forecasts)
        if q and np.any(np.abs(np.roots(np.r_[1.0, self.ma])) >= 1.0):
            self.sigma2 = np.nan

    @property
    def mu(self) -> float:
        return float(self.theta[0]) if self.mean else 0.0

    @property
    def ar(self) -> np.ndarray:
        return self.theta[int(self.mean) : int(self.mean) + self.p]

    @property
    def ma(self) -> np.ndarray:
        return self.theta[int(self.mean) + self.p :]

    def predict(self, h: int) -> np.ndarray:
        w = list(self.w - self.mu)
        e = list(self.resid_full)
        out = []
        for _ in range(h):
            v = sum(self.ar[i] * w[-1 - i] for i in range(self.p) if len(w) > i)
            v += sum(self.ma[j] * e[-1 - j] for j in range(self.q) if len(e) > j)
            w.append(v)
            e.append(0.0)
            out.append(v + self.mu)
        f = np.array(out)
        return self.y[-1] + np.cumsum(f) if self.d else f


def arima(y: np.ndarray, h: int, state: dict) -> np.ndarray:
    """Non-seasonal ARIMA with automatic order: d by KPSS, (p, q) and drift by AICc on a grid.

    Fitted by conditional sum of squares (a C filter inside a small LM loop). statsforecast's
    AutoARIMA (CSS-ML, BFGS with numerical gradients in Python) cost ~350 ms per identification
    here; this takes a few ms (benchmarks/forecast/RESULTS.md compares their accuracy).
    """
    spec = state.get("arima")
    if spec is None:
        from statsforecast.arima import ndiffs

        d = int(min(ndiffs(y, max_d=1), 1)) if len(y) > 8 else 1
        consts = (True,) if d == 0 else (False, True)  # d = 1: with and without drift
        best: tuple[float, tuple | None, _ArimaFit | None] = (np.inf, None, None)
        for (p, q), const in ((pq, c) for pq in _ARIMA_GRID for c in consts):
            fit = _ArimaFit(y, p, d, q, const)
            n = len(fit.w) - p
            k = p + q + int(const) + 1
            if not np.isfinite(fit.sigma2) or fit.sigma2 <= 0 or n - k - 1 <= 0:
                continue
            aicc = n * np.log(fit.sigma2) + 2 * k + 2 * k * (k + 1) / (n - k - 1)
            if aicc < best[0]:
                best = (aicc, (p, d, q, const), fit)
        if best[2] is None:
            raise FloatingPointError("no ARIMA order could be fitted")
        state["arima"] = best[1]
        return best[2].predict(h)
    fit = _ArimaFit(y, *spec)
    if not np.isfinite(fit.sigma2):
        raise FloatingPointError(f"ARIMA{spec} is not stationary/invertible on this window")
    return fit.predict(h)


def _quiet_prophet() -> None:
    """cmdstanpy logs every fit at INFO and re-arms its logger when it has no handler;
    prophet logs an error at import when plotly is missing. Neither is ours to show."""
    for name, level in (("cmdstanpy", logging.ERROR), ("prophet", logging.ERROR)):
        logger = logging.getLogger(name)
        logger.setLevel(level)
        logger.propagate = False
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
    logging.getLogger("prophet.plot").setLevel(logging.CRITICAL)


def is_known_country(code: str) -> bool:
    import holidays

    return code in holidays.list_supported_countries()


def holiday_days_per_week(weeks: pd.DatetimeIndex, country: str) -> np.ndarray:
    """Public holidays falling in each Monday-Sunday week: fewer selling days, less demand."""
    import holidays

    years = range(weeks.min().year, (weeks.max() + np.timedelta64(6, "D")).year + 1)
    days = np.array(sorted(holidays.country_holidays(country, years=years)), dtype="datetime64[D]")
    starts = weeks.to_numpy().astype("datetime64[D]")
    return (
        np.searchsorted(days, starts + np.timedelta64(7, "D")) - np.searchsorted(days, starts)
    ).astype(float)


def prophet(
    y: np.ndarray, h: int, start: np.datetime64, holiday_country: str | None = None
) -> np.ndarray:
    """Prophet with yearly seasonality on weekly dates and, given a country, the number of
    public holidays per week as a calendar regressor; ~0.5 s per fit, so it is off by default."""
    import pandas as pd

    _quiet_prophet()
    from prophet import Prophet

    ds = pd.date_range(start=pd.Timestamp(start), periods=len(y) + h, freq="W-MON")
    frame = pd.DataFrame({"ds": ds})
    model = Prophet(
        yearly_seasonality=True,
        weekly_seasonality=False,
        daily_seasonality=False,
        uncertainty_samples=0,
    )
    if holiday_country:
        frame["holiday_days"] = holiday_days_per_week(ds, holiday_country)
        model.add_regressor("holiday_days")
    model.fit(frame.iloc[: len(y)].assign(y=y))
    return model.predict(frame.iloc[len(y) :])["yhat"].to_numpy()


_DESEASONALISED = frozenset({"ets", "theta", "arima"})


def fit_predict(
    name: str,
    y: np.ndarray,
    h: int,
    *,
    season_length: int,
    state: dict,
    season: Seasonality | None,
    start: np.datetime64,
    holiday_country: str | None = None,
) -> np.ndarray:
    """h-step point forecast of model ``name`` trained on ``y`` (clean, no NaN), floored at 0.

    ETS, Theta and ARIMA see the series with ``season`` removed and get it added back, which is
    how the M4 benchmarks treat seasonality and keeps those fits non-seasonal (fast).
    """
    if name == "seasonal_naive":
        f = seasonal_naive(y, h, season_length)
    elif name in _DESEASONALISED:
        x = season.remove(y) if season is not None else y
        if name == "ets":
            f = ets(x, h, state)
        elif name == "arima":
            f = arima(x, h, state)
        else:
            f = theta(x, h)
        f = season.add(np.asarray(f, float), len(y)) if season is not None else f
    elif name == "croston":
        f = croston(y, h)
    elif name == "sba":
        f = sba(y, h)
    elif name == "tsb":
        f = tsb(y, h)
    elif name == "adida":
        f = adida(y, h)
    elif name == "imapa":
        f = imapa(y, h)
    elif name == "prophet":
        f = prophet(y, h, start, holiday_country)
    else:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(ALL_MODELS)}")
    f = np.asarray(f, dtype=float)
    if not np.all(np.isfinite(f)):
        raise FloatingPointError(f"model {name} produced a non-finite forecast")
    return np.maximum(f, 0.0)
