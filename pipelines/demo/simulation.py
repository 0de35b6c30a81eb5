"""Simulate demand and a reorder-point replenishment, day by day, for every material x plant.

Demand is drawn as sales order lines (a compound Poisson process whose rate follows weekday,
yearly season, trend, promotions and life cycle). Each day receipts arrive, orders are served
from stock (the unserved rest is lost), other issues are posted, the end-of-day stock is
recorded and, on working days, items at or below their reorder point are ordered. All series
are advanced together with numpy, so the loop runs once per day, not once per series.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, timedelta

import numpy as np

from pipelines.demo.master import FAR, WEEKDAY_FACTORS, MasterData

#: Trailing window of the planner's demand forecast behind the reorder point.
FORECAST_DAYS = 28
#: Requested quantity of an event that takes all remaining stock (obsolete write-off).
ALL_STOCK = 2**40
_HOLIDAYS = {(1, 1), (12, 24), (12, 25), (12, 26), (12, 31)}


@dataclass(frozen=True)
class DemandLines:
    """Requested sales order lines, sorted by (day, series, customer), one per combination."""

    day: np.ndarray
    series: np.ndarray
    customer: np.ndarray
    qty: np.ndarray
    discount: np.ndarray  # promotion price discount on the line


@dataclass(frozen=True)
class StockEvents:
    """Non-sales issues: kind 0 = consumption (261), kind 1 = scrapping (551)."""

    day: np.ndarray
    kind: np.ndarray
    series: np.ndarray
    qty: np.ndarray  # requested; the posted quantity is capped by stock


@dataclass(frozen=True)
class PurchaseItems:
    """Purchase order items as placed, with their (possibly split) receipts."""

    series: np.ndarray
    day: np.ndarray
    slot: np.ndarray  # info record slot (0 main vendor, 1 second vendor)
    qty: np.ndarray
    planned: np.ndarray  # planned delivery time (EINE-APLFZ)
    arrival: np.ndarray  # (n, 2) receipt days, -1 for no second part
    part_qty: np.ndarray  # (n, 2)


@dataclass(frozen=True)
class SimulationResult:
    lines: DemandLines
    delivered: np.ndarray  # per demand line
    events: StockEvents
    event_qty: np.ndarray  # posted quantity per event
    purchases: PurchaseItems
    stock: np.ndarray  # (days, n) end-of-day stock


def calendar(start: date, days: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weekday (Monday 0), day of year and public-holiday flag of each day in the window."""
    dates = [start + timedelta(days=i) for i in range(days)]
    dow = (start.weekday() + np.arange(days)) % 7
    doy = np.array([d.timetuple().tm_yday for d in dates])
    holiday = np.array([(d.month, d.day) in _HOLIDAYS for d in dates])
    return dow, doy, holiday


def seasonality(master: MasterData, start: date, days: int) -> np.ndarray:
    """Yearly seasonal factor per (day, material), mean 1 over a year."""
    mats = master.materials
    _, doy, _ = calendar(start, days)
    return 1 + mats.season_amp * np.cos(2 * np.pi * (doy[:, None] - mats.season_peak) / 365.25)


def demand_intensity(master: MasterData, start: date, days: int) -> tuple[np.ndarray, np.ndarray]:
    """Expected order lines per (day, series), and the promotion discount per (day, series)."""
    mats, series = master.materials, master.series
    n_mat = len(mats.matnr)
    dow, _, holiday = calendar(start, days)
    t = np.arange(days)[:, None]
    season = seasonality(master, start, days)
    trend = np.exp(mats.trend * t / 365.0)
    launch = np.clip((t - mats.intro_day) / mats.ramp_days, 0, 1)
    fading = mats.phaseout_day < FAR
    span = np.maximum(mats.end_day - mats.phaseout_day, 1)
    fade = np.where(fading, np.clip((mats.end_day - t) / span, 0, 1), 1.0)
    uplift = np.ones((days, n_mat))
    discount = np.zeros((days, n_mat))
    for m, lo, hi, up, disc in mats.promotions:
        uplift[lo:hi, m] *= up
        discount[lo:hi, m] = np.maximum(discount[lo:hi, m], disc)
    per_material = season * trend * launch * fade * uplift
    calendar_factor = WEEKDAY_FACTORS[dow] * np.where(holiday, 0.15, 1.0)
    rate = per_material[:, series.material] * series.line_rate * calendar_factor[:, None]
    return rate, discount[:, series.material]


def draw_demand(
    rng: np.random.Generator, master: MasterData, rate: np.ndarray, discount: np.ndarray
) -> DemandLines:
    """Order lines with gamma-Poisson sizes, each from a customer of the series' plant."""
    series, mats, customers = master.series, master.materials, master.customers
    days, n = rate.shape
    counts = rng.poisson(rate).ravel()
    cell = np.repeat(np.arange(days * n, dtype=np.int64), counts)
    s = cell % n
    mu = mats.size_mean[series.material[s]]
    k = mats.size_shape[series.material[s]]
    qty = 1 + rng.poisson(rng.gamma(k, (mu - 1) / k))

    plant = series.plant[s]
    u = rng.random(len(s))
    customer = np.empty(len(s), dtype=np.int64)
    for p in range(len(master.plants.werks)):
        own = np.flatnonzero(customers.plant == p)
        cum = np.cumsum(customers.weight[own])
        mask = plant == p
        pick = np.searchsorted(cum / cum[-1], u[mask], side="right")
        customer[mask] = own[np.minimum(pick, len(own) - 1)]

    # One line per customer, material, plant and day: merge repeats of the same request.
    n_cust = len(customers.kunnr)
    key, inverse = np.unique(cell * n_cust + customer, return_inverse=True)
    merged_qty = np.bincount(inverse, weights=qty).astype(np.int64)
    cell = key // n_cust
    return DemandLines(
        day=cell // n,
        series=cell % n,
        customer=key % n_cust,
        qty=merged_qty,
        discount=discount.ravel()[cell],
    )


def draw_stock_events(rng: np.random.Generator, master: MasterData, days: int) -> StockEvents:
    """Occasional internal consumption and scrapping, plus write-off of discontinued stock."""
    series, mats = master.series, master.materials
    n = len(series.material)
    users = rng.random(n) < 0.15
    n_use = rng.poisson(0.02 * days, n) * users
    use_s = np.repeat(np.arange(n), n_use)
    use_qty = rng.integers(1, np.maximum(np.ceil(mats.size_mean[series.material[use_s]]), 1) + 1)
    n_scrap = rng.poisson(0.0025 * days, n)
    scrap_s = np.repeat(np.arange(n), n_scrap)
    writeoff_day = mats.end_day[series.material] + 30
    writeoff_s = np.flatnonzero(writeoff_day < days)

    s = np.concatenate([use_s, scrap_s, writeoff_s])
    day = np.concatenate(
        [rng.integers(0, days, len(use_s) + len(scrap_s)), writeoff_day[writeoff_s]]
    )
    kind = np.concatenate([np.zeros(len(use_s), int), np.ones(len(scrap_s) + len(writeoff_s), int)])
    qty = np.concatenate(
        [use_qty, rng.integers(1, 4, len(scrap_s)), np.full(len(writeoff_s), ALL_STOCK)]
    )
    exists = day >= mats.created_day[series.material[s]]
    key, inverse = np.unique(((day * 2 + kind) * n + s)[exists], return_inverse=True)
    summed = np.bincount(inverse, weights=qty[exists].astype(np.float64))
    return StockEvents(
        day=key // (2 * n),
        kind=(key // n) % 2,
        series=key % n,
        qty=np.minimum(summed, ALL_STOCK).astype(np.int64),
    )


def planner_forecast(master: MasterData, requested: np.ndarray, start: date) -> np.ndarray:
    """Daily demand forecast behind the reorder point.

    The trailing mean of requested quantity, rescaled by the known seasonal profile from the
    trailing window to the coming lead time. Before enough history (window start, product
    launch) the planner uses the expected rate. Promotions are not anticipated, which is one
    way stockouts happen.
    """
    series, mats = master.series, master.materials
    days, n = requested.shape
    w = FORECAST_DAYS
    horizon = int(series.plifz.max()) // 2 + 1
    season = seasonality(master, start - timedelta(days=w), days + w + horizon)[:, series.material]
    season_sum = np.vstack([np.zeros((1, n)), np.cumsum(season, axis=0)])
    d = np.arange(days)
    trailing_season = (season_sum[d + w] - season_sum[d]) / w
    ahead = season[d[:, None] + w + series.plifz // 2, np.arange(n)]

    csum = np.vstack([np.zeros((1, n)), np.cumsum(requested, axis=0)])
    lo = np.maximum(d - w, 0)
    window = csum[d] - csum[lo]
    have = (d - lo)[:, None]
    trailing = (window + (w - have) * series.mean_demand * trailing_season) / w
    fc = trailing * ahead / trailing_season
    launching = d[:, None] < mats.intro_day[series.material] + w
    return np.where(launching, series.mean_demand * ahead, fc)


def _to_weekday(day: np.ndarray, start_dow: int) -> np.ndarray:
    """Goods are received on working days: Saturday and Sunday receipts move to Monday."""
    dow = (start_dow + day) % 7
    return day + np.where(dow == 5, 2, np.where(dow == 6, 1, 0))


def simulate(
    rng: np.random.Generator, master: MasterData, start: date, days: int
) -> SimulationResult:
    """Run demand, receipts, issues and reorder-point purchasing over the window."""
    series, mats = master.series, master.materials
    n = len(series.material)
    rate, discount = demand_intensity(master, start, days)
    lines = draw_demand(rng, master, rate, discount)
    events = draw_stock_events(rng, master, days)
    requested = np.bincount(lines.day * n + lines.series, lines.qty, days * n).reshape(days, n)
    forecast = planner_forecast(master, requested, start)
    rop_all = forecast * (series.plifz + 1) + series.eisbe

    created = mats.created_day[series.material]
    # A new item is first ordered to arrive shortly before its launch.
    order_from = np.maximum(created, mats.intro_day[series.material] - series.plifz - 7)
    phaseout = mats.phaseout_day[series.material]
    start_dow = start.weekday()
    opening = np.where(  # stock before the first day; new items start empty
        created < 0,
        np.rint(
            series.eisbe
            + series.mean_demand * series.plifz * rng.uniform(0.3, 1.0, n)
            + series.lot * rng.random(n)
        ),
        0,
    ).astype(np.int64)

    on_hand = opening
    on_order = np.zeros(n, dtype=np.int64)
    arrivals = np.zeros((days, n), dtype=np.int64)
    stock = np.empty((days, n), dtype=np.int64)
    delivered = np.zeros(len(lines.qty), dtype=np.int64)
    event_qty = np.zeros(len(events.qty), dtype=np.int64)
    line_bounds = np.searchsorted(lines.day, np.arange(days + 1))
    event_bounds = np.searchsorted(events.day * 2 + events.kind, np.arange(2 * days + 1))
    purchases: list[PurchaseItems] = []

    for d in range(days):
        on_hand += arrivals[d]
        on_order -= arrivals[d]

        a, b = line_bounds[d], line_bounds[d + 1]
        if b > a:
            s, q = lines.series[a:b], lines.qty[a:b]
            before = np.cumsum(q) - q
            first = np.r_[True, s[1:] != s[:-1]]
            before -= before[first][np.cumsum(first) - 1]
            served = np.clip(on_hand[s] - before, 0, q)
            delivered[a:b] = served
            on_hand -= np.bincount(s, served, n).astype(np.int64)

        for kind in (0, 1):
            a, b = event_bounds[2 * d + kind], event_bounds[2 * d + kind + 1]
            if b > a:
                s = events.series[a:b]
                posted = np.minimum(events.qty[a:b], on_hand[s])
                event_qty[a:b] = posted
                on_hand[s] -= posted

        stock[d] = on_hand
        if (start_dow + d) % 7 >= 5:
            continue
        ip = on_hand + on_order
        rop = rop_all[d]
        due = np.flatnonzero((order_from <= d) & (d < phaseout) & (ip <= rop))
        if due.size:
            placed = _place_orders(rng, master, d, due, rop[due] - ip[due], start_dow)
            purchases.append(placed)
            on_order[due] += placed.qty
            for j in (0, 1):
                day_j = placed.arrival[:, j]
                inside = (day_j >= 0) & (day_j < days)
                np.add.at(arrivals, (day_j[inside], due[inside]), placed.part_qty[inside, j])

    return SimulationResult(
        lines=lines,
        delivered=delivered,
        events=events,
        event_qty=event_qty,
        purchases=_stack(purchases),
        stock=stock,
    )


def _place_orders(
    rng: np.random.Generator,
    master: MasterData,
    day: int,
    due: np.ndarray,
    shortfall: np.ndarray,
    start_dow: int,
) -> PurchaseItems:
    """Order fixed lots from an info-record vendor; draw the actual (noisy, late) lead time."""
    series, vendors = master.series, master.vendors
    m = len(due)
    lot = series.lot[due]
    qty = (np.floor(shortfall / lot).astype(np.int64) + 1) * lot
    slot = np.where((series.vendor[due, 1] >= 0) & (rng.random(m) < 0.2), 1, 0)
    minbm = series.minbm[due, slot]
    qty = np.maximum(qty, minbm)
    vendor = series.vendor[due, slot]
    planned = series.aplfz[due, slot]
    ratio = np.exp(rng.normal(vendors.lt_bias[vendor], vendors.lt_sigma[vendor]))
    actual = np.maximum(np.rint(planned * ratio).astype(np.int64), 1)
    actual += np.where(rng.random(m) < 0.04, rng.integers(3, 16, m), 0)
    d_start, d_end, d_extra = vendors.disruption[vendor].T
    actual += np.where((d_start <= day) & (day < d_end), d_extra, 0)
    first = _to_weekday(day + actual, start_dow)
    split = (rng.random(m) < 0.07) & (qty >= 2)
    q1 = np.where(split, np.maximum(np.floor(qty * rng.uniform(0.4, 0.8, m)), 1), qty)
    q1 = q1.astype(np.int64)
    second = np.where(split, _to_weekday(first + rng.integers(2, 11, m), start_dow), -1)
    return PurchaseItems(
        series=due,
        day=np.full(m, day),
        slot=slot,
        qty=qty,
        planned=planned,
        arrival=np.column_stack([first, second]),
        part_qty=np.column_stack([q1, qty - q1]),
    )


def _stack(parts: list[PurchaseItems]) -> PurchaseItems:
    if not parts:
        empty, pairs = np.zeros(0, np.int64), np.zeros((0, 2), np.int64)
        return PurchaseItems(empty, empty, empty, empty, empty, pairs, pairs)
    return PurchaseItems(
        *(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(PurchaseItems))
    )
