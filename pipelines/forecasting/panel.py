"""Weekly history -> dense series panel, demand classification and series cleaning.

A panel is a (series x week) matrix: it lets every later step work on numpy rows instead of
pandas groups, which is what keeps 10k+ series fast. Weeks without a row are zero demand (no
order); weeks flagged ``stockout`` (or with a missing quantity) are *censored*: what was sold
is only a lower bound of demand, so they count as missing, not as zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

KEYS = ["material_id", "plant_id"]
HISTORY_COLUMNS = ["material_id", "plant_id", "week_start", "demand_qty", "stockout"]
ADI_CUTOFF = 1.32  # Syntetos & Boylan (2005)
CV2_CUTOFF = 0.49
CLASSES = ("smooth", "erratic", "intermittent", "lumpy", "new", "obsolete", "dead")
WEEK = pd.Timedelta(days=7)


@dataclass
class Panel:
    """Dense weekly panel: row i of ``demand``/``censored`` belongs to ``keys`` row i."""

    keys: pd.DataFrame
    weeks: pd.DatetimeIndex
    demand: np.ndarray  # float, NaN where the quantity is unknown
    censored: np.ndarray  # bool, stockout week or unknown quantity
    start: np.ndarray  # index of the first week with demand > 0 (len(weeks) if none)
    origin: pd.Timestamp


def validate_history(history: pd.DataFrame) -> pd.DataFrame:
    """Check the input contract and return a typed copy; errors name the column and row."""
    if not isinstance(history, pd.DataFrame):
        raise TypeError(f"history must be a pandas DataFrame, got {type(history).__name__}")
    missing = [c for c in HISTORY_COLUMNS if c not in history.columns]
    if missing:
        raise ValueError(
            f"history is missing column(s) {missing}; expected {HISTORY_COLUMNS}, "
            f"got {list(history.columns)}"
        )
    df = history[HISTORY_COLUMNS].copy()
    for col in KEYS:
        if df[col].isna().any():
            row = int(np.flatnonzero(df[col].isna().to_numpy())[0])
            raise ValueError(f"history column {col!r} is empty at row {row}")
        df[col] = df[col].astype(str)
    try:
        df["week_start"] = pd.to_datetime(df["week_start"]).dt.tz_localize(None).dt.normalize()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"history column 'week_start' is not a date: {exc}") from exc
    if df["week_start"].isna().any():
        row = int(np.flatnonzero(df["week_start"].isna().to_numpy())[0])
        raise ValueError(f"history column 'week_start' is empty at row {row}")
    not_monday = df["week_start"].dt.dayofweek.to_numpy() != 0
    if not_monday.any():
        row = int(np.flatnonzero(not_monday)[0])
        raise ValueError(
            f"history column 'week_start' must hold Mondays; row {row} has "
            f"{df['week_start'].iloc[row].date()} ({df['week_start'].iloc[row].day_name()})"
        )
    qty = pd.to_numeric(df["demand_qty"], errors="coerce")
    bad = qty.isna() & df["demand_qty"].notna()
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"history column 'demand_qty' is not numeric at row {row}: "
            f"{df['demand_qty'].iloc[row]!r}"
        )
    if (qty < 0).any():
        row = int(np.flatnonzero((qty < 0).to_numpy())[0])
        raise ValueError(f"history column 'demand_qty' is negative at row {row}: {qty.iloc[row]}")
    df["demand_qty"] = qty.astype(float)
    df["stockout"] = df["stockout"].fillna(False).astype(bool)
    dup = df.duplicated(["material_id", "plant_id", "week_start"])
    if dup.any():
        row = int(np.flatnonzero(dup.to_numpy())[0])
        r = df.iloc[row]
        raise ValueError(
            f"history has duplicate rows for material_id={r.material_id!r}, "
            f"plant_id={r.plant_id!r}, week_start={r.week_start.date()} (row {row})"
        )
    return df


def resolve_origin(history: pd.DataFrame, origin: pd.Timestamp | None) -> pd.Timestamp:
    """First forecast week: the given Monday, or the week after the last history week."""
    if origin is None:
        if history.empty:
            raise ValueError("history is empty and no origin was given")
        return pd.Timestamp(history["week_start"].max()) + WEEK
    ts = pd.Timestamp(origin).tz_localize(None).normalize()
    if ts.dayofweek != 0:
        raise ValueError(f"origin must be a Monday (week start), got {ts.date()} ({ts.day_name()})")
    return ts


def build_panel(history: pd.DataFrame, origin: pd.Timestamp | None = None) -> Panel:
    """Validated history -> Panel of the weeks before ``origin`` (later rows are ignored)."""
    df = validate_history(history)
    origin = resolve_origin(df, origin)
    df = df[df["week_start"] < origin]
    keys = df[KEYS].drop_duplicates().sort_values(KEYS).reset_index(drop=True)
    if df.empty:
        weeks = pd.DatetimeIndex([], dtype="datetime64[ns]")
    else:
        weeks = pd.date_range(df["week_start"].min(), origin - WEEK, freq="7D")
    n, t = len(keys), len(weeks)
    demand = np.zeros((n, t))
    censored = np.zeros((n, t), dtype=bool)
    if n and t:
        row = (
            df[KEYS]
            .merge(keys.reset_index(), on=KEYS, how="left")["index"]
            .to_numpy(dtype=np.int64)
        )
        col = ((df["week_start"] - weeks[0]) // WEEK).to_numpy(dtype=np.int64)
        qty = df["demand_qty"].to_numpy()
        demand[row, col] = qty
        censored[row, col] = df["stockout"].to_numpy() | np.isnan(qty)
    positive = np.nan_to_num(demand) > 0
    first = positive.argmax(axis=1) if t else np.zeros(n, dtype=np.int64)
    start = np.where(positive.any(axis=1), first, t)
    return Panel(keys, weeks, demand, censored, start, origin)


def classify_series(
    y: np.ndarray, censored: np.ndarray, min_history_weeks: int, obsolete_after_weeks: int
) -> tuple[str, float, float, int, int]:
    """(class, ADI, CV2, n_weeks, index of last demand) of one series trimmed at its first sale.

    Precedence: dead (never a demand) > obsolete (no demand for ``obsolete_after_weeks``)
    > new (fewer than ``min_history_weeks`` since the first sale) > Syntetos-Boylan quadrant.
    ADI = observed weeks / weeks with demand; CV2 = squared coefficient of variation of the
    non-zero sizes; both on uncensored weeks only.
    """
    n = len(y)
    pos = np.flatnonzero(np.nan_to_num(y) > 0)
    if n == 0 or len(pos) == 0:
        return "dead", float("nan"), float("nan"), 0, -1
    last = int(pos[-1])
    obs = y[~censored & ~np.isnan(y)]
    sizes = obs[obs > 0]
    adi = len(obs) / len(sizes) if len(sizes) else float("nan")
    cv2 = float(sizes.var() / sizes.mean() ** 2) if len(sizes) else float("nan")
    if n - 1 - last >= obsolete_after_weeks:
        cls = "obsolete"
    elif n < min_history_weeks or len(sizes) == 0:
        cls = "new"
    elif adi < ADI_CUTOFF:
        cls = "smooth" if cv2 < CV2_CUTOFF else "erratic"
    else:
        cls = "intermittent" if cv2 < CV2_CUTOFF else "lumpy"
    return cls, float(adi), cv2, n, last


def classify_panel(panel: Panel, min_history_weeks: int, obsolete_after_weeks: int) -> pd.DataFrame:
    """Classification table for every series of the panel (row order = panel order)."""
    rows = []
    for i in range(len(panel.keys)):
        s = panel.start[i]
        cls, adi, cv2, n, last = classify_series(
            panel.demand[i, s:], panel.censored[i, s:], min_history_weeks, obsolete_after_weeks
        )
        rows.append((cls, adi, cv2, n, panel.weeks[s + last] if last >= 0 else pd.NaT))
    out = panel.keys.copy()
    stats = pd.DataFrame(rows, columns=["demand_class", "_adi", "_cv2", "n_weeks", "_last"])
    out["adi"] = stats["_adi"].to_numpy()
    out["cv2"] = stats["_cv2"].to_numpy()
    out["demand_class"] = stats["demand_class"].to_numpy()
    out["n_weeks"] = stats["n_weeks"].to_numpy(dtype=np.int64)
    out["last_demand_week"] = pd.to_datetime(stats["_last"])
    out["n_censored"] = [
        int(panel.censored[i, panel.start[i] :].sum()) for i in range(len(panel.keys))
    ]
    return out


def classify_demand(
    history: pd.DataFrame,
    *,
    min_history_weeks: int = 26,
    obsolete_after_weeks: int = 26,
    origin: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """ADI/CV2 demand classes per material x plant (smooth/erratic/intermittent/lumpy/new/
    obsolete/dead) from the weekly history, using only weeks before ``origin``."""
    if min_history_weeks < 1 or obsolete_after_weeks < 1:
        raise ValueError("min_history_weeks and obsolete_after_weeks must be >= 1")
    panel = build_panel(history, origin)
    return classify_panel(panel, min_history_weeks, obsolete_after_weeks)


def impute_censored(y: np.ndarray, censored: np.ndarray, radius: int = 4) -> np.ndarray:
    """Replace censored weeks by the mean of uncensored weeks within +-radius (or overall).

    The recorded sales of a stockout week are a lower bound, so the estimate never goes below it.
    """
    bad = censored | np.isnan(y)
    if not bad.any():
        return y.astype(float)
    good = ~bad
    if not good.any():
        return np.nan_to_num(y).astype(float)
    vals = np.where(good, y, 0.0)
    kernel = np.ones(2 * radius + 1)
    n = len(y)  # full convolution sliced: mode="same" breaks when the series is shorter
    sums = np.convolve(vals, kernel)[radius : radius + n]
    counts = np.convolve(good.astype(float), kernel)[radius : radius + n]
    local = np.where(counts > 0, sums / np.maximum(counts, 1), vals[good].mean())
    out = np.where(good, y, np.maximum(local, np.nan_to_num(y)))
    return out.astype(float)


def cap_outliers(
    y: np.ndarray, censored: np.ndarray, demand_class: str, season_length: int, threshold: float
) -> tuple[np.ndarray, int]:
    """Cap isolated spikes and dips; returns (capped series, number of weeks capped).

    Smooth/erratic: a week is an outlier when it is more than ``threshold`` robust sigmas
    (1.4826 MAD) away from its 9-week rolling median *and* from the same week one season
    before/after (so a recurring seasonal peak is kept). Intermittent/lumpy: only demand sizes
    far above the median size are capped, because zeros are the normal state.
    """
    y = y.astype(float)
    n = len(y)
    ok = ~censored
    if demand_class in ("intermittent", "lumpy"):
        pos = ok & (y > 0)
        sizes = y[pos]
        if len(sizes) < 5:
            return y, 0
        med = np.median(sizes)
        sigma = 1.4826 * np.median(np.abs(sizes - med))
        if sigma <= 0:
            return y, 0
        hi = med + threshold * sigma
        mask = pos & (y > hi)
        y[mask] = hi
        return y, int(mask.sum())
    if n < 9:
        return y, 0
    padded = np.pad(y, 4, mode="edge")
    med = np.median(sliding_window_view(padded, 9), axis=1)
    resid = y - med
    sigma = 1.4826 * np.median(np.abs(resid[ok])) if ok.any() else 0.0
    if sigma <= 0:
        return y, 0
    mask = ok & (np.abs(resid) > threshold * sigma)
    if season_length > 1 and n > season_length:
        same = np.full(n, np.nan)
        m = season_length
        same[m:] = y[:-m]
        later = np.full(n, np.nan)
        later[:-m] = y[m:]
        ref = np.where(np.isnan(same), later, same)
        seasonal_ok = np.abs(y - ref) <= threshold * sigma
        mask &= ~np.where(np.isnan(ref), False, seasonal_ok)
    if not mask.any():
        return y, 0
    y[mask] = np.clip(y[mask], med[mask] - threshold * sigma, med[mask] + threshold * sigma)
    return y, int(mask.sum())


def clean_series(
    y: np.ndarray,
    censored: np.ndarray,
    demand_class: str,
    season_length: int,
    outlier_threshold: float,
) -> tuple[np.ndarray, int]:
    """Series ready for fitting: censored weeks imputed, outliers capped, never negative."""
    imputed = impute_censored(y, censored)
    capped, n_out = cap_outliers(imputed, censored, demand_class, season_length, outlier_threshold)
    return np.maximum(capped, 0.0), n_out
