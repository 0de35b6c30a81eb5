"""Inventory policy maths: lot sizes, safety stock, reorder points and order-up-to levels.

Everything here is a pure function over numbers or DataFrames so the maths can be checked
against textbook values and replayed by `pipelines.planning.simulation` without Dagster.

Units: demand is per week (the forecast bucket), lead times and review periods are in days
and are converted to weeks before they meet demand, so sigma_LTD always combines like with
like: sigma_LTD = sqrt(L * sigma_d^2 + d^2 * sigma_L^2) with L, sigma_L in weeks.

Conventions shared with the simulation: an order is triggered when the inventory position
(on hand - backorders + on order) is at or below the reorder point s; an order placed at the
end of day t with a lead time of L days arrives at the end of day t + L. Unmet demand is
backordered.

Reorder-point policies ((s,Q), (s,S)) are checked at every MRP run (daily by default),
not continuously, so the maths is the periodic-review kind: the fill rate takes the
position after each check as uniform on (s, s+Q] and charges the shortage of the next r
days, E[L_{L+r}(Y) - L_L(Y)], to their demand; the CSL adds the undershoot below s to the
lead-time demand. With lumpy daily demand the continuous-review textbook formulas promise
several points more than a daily replay delivers; these do not (benchmarks/planning/policy).
The textbook continuous-review formulas remain available (reorder_review_days=0, and the
scalar functions below).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import numpy as np
import pandas as pd
from scipy import special, stats

TargetType = Literal["csl", "fill_rate"]
PolicyType = Literal["(s,Q)", "(s,S)", "(R,S)"]
DistributionChoice = Literal["auto", "normal", "gamma", "poisson", "negative_binomial"]

TARGET_TYPES: tuple[str, ...] = ("csl", "fill_rate")
POLICY_TYPES: tuple[str, ...] = ("(s,Q)", "(s,S)", "(R,S)")
NO_POLICY = "none"
DEMAND_CLASSES: tuple[str, ...] = (
    "smooth",
    "erratic",
    "intermittent",
    "lumpy",
    "new",
    "obsolete",
    "dead",
)
ZERO_POLICY_CLASSES: frozenset[str] = frozenset({"obsolete", "dead"})

#: Default service targets per ABC-XYZ class. A items (high value) and X items
#: (predictable) get the highest targets; fast-moving A/B items are steered by fill rate
#: (share of units served from stock), slow C items by cycle service level (share of
#: replenishment cycles without a stockout). "A" etc. apply when XYZ is unknown,
#: "default" when ABC is unknown too.
DEFAULT_CLASS_TARGETS: Mapping[str, tuple[TargetType, float]] = {
    "AX": ("fill_rate", 0.99),
    "AY": ("fill_rate", 0.98),
    "AZ": ("fill_rate", 0.97),
    "A": ("fill_rate", 0.98),
    "BX": ("fill_rate", 0.97),
    "BY": ("fill_rate", 0.96),
    "BZ": ("fill_rate", 0.95),
    "B": ("fill_rate", 0.96),
    "CX": ("csl", 0.95),
    "CY": ("csl", 0.92),
    "CZ": ("csl", 0.90),
    "C": ("csl", 0.92),
    "default": ("fill_rate", 0.95),
}

#: Default policy per ABC class: A items get (s,S) (order up to a level, so a big demand
#: that undershoots s is made good at once), B items a fixed lot (s,Q), C items a weekly
#: periodic review (R,S) that bundles many cheap items into one ordering run.
DEFAULT_POLICY_BY_ABC: Mapping[str, PolicyType] = {"A": "(s,S)", "B": "(s,Q)", "C": "(R,S)"}

_NORMAL, _GAMMA, _POISSON, _NBINOM = 0, 1, 2, 3
_FAMILY_NAMES = {
    _NORMAL: "normal",
    _GAMMA: "gamma",
    _POISSON: "poisson",
    _NBINOM: "negative_binomial",
}
_FAMILY_CODES = {name: code for code, name in _FAMILY_NAMES.items()}
_BY_CSL, _BY_LOT, _BY_CONTINUOUS, _BY_PERIODIC = 0, 1, 2, 3


@dataclass(frozen=True)
class PolicyConfig:
    """Planning parameters for `compute_policies`; every field has a working default.

    class_targets: ABC-XYZ class -> (target type, target), see DEFAULT_CLASS_TARGETS.
    policy_by_abc / default_policy: which policy an ABC class gets.
    order_cost: fixed cost per purchase order, used when the input row has none.
    holding_rate: annual holding cost as a share of unit cost.
    review_period_days: review period R of (R,S) policies.
    reorder_review_days: how often reorder-point policies ((s,Q), (s,S)) are checked
      (1 = every daily MRP run); the maths accounts for the demand between checks.
      0 = continuous review, the textbook formulas.
    lead_time_cv: lead-time std as a share of the mean when receipts gave no std.
    demand_cv_fallback: weekly forecast-error std as a share of mean when none is given.
    distribution: "auto" chooses per row (see choose_distribution); a name forces it.
    discrete_max_mean: below this mean demand over the protection interval (units) a
      discrete distribution (Poisson or negative binomial) is used.
    poisson_max_vmr: variance-to-mean ratio up to which slow movers are Poisson.
    normal_max_cv: coefficient of variation up to which fast movers are normal (else gamma).
    min_rounding_qty: rounding value when the purchasing info record has none
      (1 = whole units; 0 = no rounding).
    fallback_cover_weeks: lot size in weeks of demand when EOQ is undefined (no unit cost).
    weeks_per_year: converts weekly demand to the annual demand of the EOQ.
    """

    class_targets: Mapping[str, tuple[TargetType, float]] = field(
        default_factory=lambda: dict(DEFAULT_CLASS_TARGETS)
    )
    policy_by_abc: Mapping[str, PolicyType] = field(
        default_factory=lambda: dict(DEFAULT_POLICY_BY_ABC)
    )
    default_policy: PolicyType = "(s,Q)"
    order_cost: float = 50.0
    holding_rate: float = 0.25
    review_period_days: float = 7.0
    reorder_review_days: float = 1.0
    lead_time_cv: float = 0.2
    demand_cv_fallback: float = 0.5
    distribution: DistributionChoice = "auto"
    discrete_max_mean: float = 10.0
    poisson_max_vmr: float = 1.1
    normal_max_cv: float = 0.5
    min_rounding_qty: float = 1.0
    fallback_cover_weeks: float = 4.0
    weeks_per_year: float = 365.0 / 7.0

    def __post_init__(self) -> None:
        if "default" not in self.class_targets:
            raise ValueError("PolicyConfig.class_targets needs a 'default' entry")
        for key, (kind, target) in self.class_targets.items():
            _check_target(kind, target, f"PolicyConfig.class_targets[{key!r}]")
        for key, policy in {**self.policy_by_abc, "default_policy": self.default_policy}.items():
            if policy not in POLICY_TYPES:
                raise ValueError(
                    f"PolicyConfig policy for {key!r} is {policy!r}; expected one of {POLICY_TYPES}"
                )
        if self.distribution != "auto" and self.distribution not in _FAMILY_CODES:
            raise ValueError(
                f"PolicyConfig.distribution is {self.distribution!r}; expected 'auto' or one of "
                f"{tuple(_FAMILY_CODES)}"
            )
        positive = {
            "order_cost": self.order_cost,
            "review_period_days": self.review_period_days,
            "weeks_per_year": self.weeks_per_year,
            "fallback_cover_weeks": self.fallback_cover_weeks,
        }
        non_negative = {
            "holding_rate": self.holding_rate,
            "reorder_review_days": self.reorder_review_days,
            "lead_time_cv": self.lead_time_cv,
            "demand_cv_fallback": self.demand_cv_fallback,
            "discrete_max_mean": self.discrete_max_mean,
            "poisson_max_vmr": self.poisson_max_vmr,
            "normal_max_cv": self.normal_max_cv,
            "min_rounding_qty": self.min_rounding_qty,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"PolicyConfig.{name} must be > 0, got {value}")
        for name, value in non_negative.items():
            if not value >= 0:
                raise ValueError(f"PolicyConfig.{name} must be >= 0, got {value}")


def _check_target(kind: object, target: object, where: str) -> None:
    if kind not in TARGET_TYPES:
        raise ValueError(f"{where}: target type {kind!r} is not one of {TARGET_TYPES}")
    if not (isinstance(target, int | float) and 0 < target < 1):
        raise ValueError(f"{where}: service target {target!r} must lie strictly between 0 and 1")


def _scalar_or_array(value: np.ndarray) -> float | np.ndarray:
    return float(value) if np.ndim(value) == 0 else value


# --------------------------------------------------------------------------------------
# Textbook building blocks (scalar or array in, same shape out)
# --------------------------------------------------------------------------------------


def eoq(order_cost: float, holding_cost: float, annual_demand: float) -> float | np.ndarray:
    """Economic order quantity sqrt(2 K lambda / h): the lot size that balances ordering and
    holding cost. holding_cost is per unit and year, annual_demand in units per year."""
    k, h, lam = (np.asarray(v, dtype=float) for v in (order_cost, holding_cost, annual_demand))
    for name, value in (("order_cost", k), ("annual_demand", lam)):
        if np.any(value < 0):
            raise ValueError(f"eoq: {name} must be >= 0")
    if np.any(h <= 0):
        raise ValueError("eoq: holding_cost must be > 0")
    return _scalar_or_array(np.sqrt(2.0 * k * lam / h))


def round_order_quantity(
    quantity: float, moq: float = 0.0, rounding_qty: float = 0.0
) -> float | np.ndarray:
    """Apply the purchasing info record: at least the minimum order quantity, then up to a
    multiple of the rounding value (SAP rounds up so the lot never falls below the MOQ)."""
    q, m, r = (np.asarray(v, dtype=float) for v in (quantity, moq, rounding_qty))
    m = np.where(np.isnan(m), 0.0, m)
    r = np.where(np.isnan(r), 0.0, r)
    if np.any(m < 0) or np.any(r < 0):
        raise ValueError("round_order_quantity: moq and rounding_qty must be >= 0")
    q = np.maximum(q, m)
    safe_r = np.where(r > 0, r, 1.0)
    # Subtract a hair before ceil so 300.0000000001 does not become the next multiple.
    rounded = np.where(r > 0, np.ceil(q / safe_r - 1e-9) * safe_r, q)
    return _scalar_or_array(rounded)


def sigma_lead_time_demand(
    mean_demand: float, sigma_demand: float, mean_lead_time: float, sigma_lead_time: float
) -> float | np.ndarray:
    """Std of demand over a random lead time, sqrt(L sigma_d^2 + d^2 sigma_L^2).

    Demand and lead time must use the same time unit (e.g. units per week and weeks)."""
    d, sd, lt, slt = (
        np.asarray(v, dtype=float)
        for v in (mean_demand, sigma_demand, mean_lead_time, sigma_lead_time)
    )
    for name, value in (
        ("mean_demand", d),
        ("sigma_demand", sd),
        ("mean_lead_time", lt),
        ("sigma_lead_time", slt),
    ):
        if np.any(value < 0):
            raise ValueError(f"sigma_lead_time_demand: {name} must be >= 0")
    return _scalar_or_array(np.sqrt(lt * sd**2 + d**2 * slt**2))


def standard_normal_loss(z: float) -> float | np.ndarray:
    """G(z) = E[(Z - z)^+] = phi(z) - z (1 - Phi(z)): expected units short per unit sigma."""
    z = np.asarray(z, dtype=float)
    return _scalar_or_array(stats.norm.pdf(z) - z * stats.norm.sf(z))


def normal_fill_rate(
    safety_stock: float, sigma_ltd: float, order_quantity: float
) -> float | np.ndarray:
    """Fill rate of a continuous-review (s,Q) policy with normal lead-time demand:
    1 - sigma [G(k) - G(k + Q/sigma)] / Q with k = SS / sigma (expected shortage per cycle
    over the lot size; the second term removes shortages already counted in earlier cycles)."""
    ss, sigma, q = (np.asarray(v, dtype=float) for v in (safety_stock, sigma_ltd, order_quantity))
    if np.any(q <= 0):
        raise ValueError("normal_fill_rate: order_quantity must be > 0")
    if np.any(sigma < 0):
        raise ValueError("normal_fill_rate: sigma_ltd must be >= 0")
    ss, sigma, q = np.broadcast_arrays(ss, sigma, q)
    family = np.full(ss.shape, _NORMAL)
    return _scalar_or_array(
        _continuous_review_fill_rate(family, ss, q, 0.0, sigma**2).reshape(ss.shape)
    )


def _continuous_review_fill_rate(family, level, lot, mean, variance) -> np.ndarray:
    """1 - [L(s) - L(s + Q)] / Q: expected units short per cycle over the lot size."""
    short = _loss(family, level, mean, variance) - _loss(family, level + lot, mean, variance)
    return np.clip(1.0 - short / lot, 0.0, 1.0)


def safety_stock(
    service_target: float,
    sigma_ltd: float,
    target_type: TargetType = "csl",
    order_quantity: float | None = None,
) -> float | np.ndarray:
    """Safety stock under normal lead-time demand, never negative.

    CSL: z * sigma with z = Phi^-1(CSL). Fill rate beta: k * sigma where
    sigma [G(k) - G(k + Q/sigma)] = (1 - beta) Q (needs order_quantity)."""
    target = np.asarray(service_target, dtype=float)
    sigma = np.asarray(sigma_ltd, dtype=float)
    if np.any((target <= 0) | (target >= 1)):
        raise ValueError("safety_stock: service_target must lie strictly between 0 and 1")
    if np.any(sigma < 0):
        raise ValueError("safety_stock: sigma_ltd must be >= 0")
    if target_type == "csl":
        return _scalar_or_array(np.maximum(stats.norm.ppf(target) * sigma, 0.0))
    if target_type != "fill_rate":
        raise ValueError(f"safety_stock: target_type {target_type!r} not in {TARGET_TYPES}")
    if order_quantity is None:
        raise ValueError("safety_stock: a fill-rate target needs order_quantity")
    q = np.asarray(order_quantity, dtype=float)
    if np.any(q <= 0):
        raise ValueError("safety_stock: order_quantity must be > 0")
    shape = np.broadcast(target, sigma, q).shape
    target, sigma, q = (np.broadcast_to(a, shape).ravel() for a in (target, sigma, q))
    family = np.full(target.shape, _NORMAL)
    level = _smallest_level(
        lambda at, x: (
            _continuous_review_fill_rate(family[at], x, q[at], 0.0, sigma[at] ** 2) >= target[at]
        ),
        lo=np.zeros(target.shape),
        hi=8.0 * sigma + q,
        integer=False,
    )
    return _scalar_or_array(level.reshape(shape))


def reorder_point(
    mean_demand: float, mean_lead_time: float, safety_stock: float
) -> float | np.ndarray:
    """Reorder point = expected demand over the lead time + safety stock (same time unit)."""
    d, lt, ss = (np.asarray(v, dtype=float) for v in (mean_demand, mean_lead_time, safety_stock))
    if np.any(d < 0) or np.any(lt < 0):
        raise ValueError("reorder_point: mean_demand and mean_lead_time must be >= 0")
    return _scalar_or_array(d * lt + ss)


# --------------------------------------------------------------------------------------
# Exact (s,S) optimisation (Zheng & Federgruen 1991)
# --------------------------------------------------------------------------------------


class SSPolicy(NamedTuple):
    """An (s,S) policy (order up to S when the inventory position is at or below s) and its
    expected cost per period."""

    reorder_point: int
    order_up_to: int
    cost: float


class _SSCostModel:
    """Per-period cost pieces of a periodic-review (s,S) policy with zero lead time.

    G(y) is the one-period expected holding + backorder cost at inventory level y; m and M
    are the renewal mass and function of the demand process (Zheng & Federgruen 1991)."""

    def __init__(self, h: float, p: float, k: float, pmf: np.ndarray) -> None:
        if h <= 0 or p <= 0 or k <= 0:
            raise ValueError("(s,S) optimisation needs holding_cost, stockout_cost, fixed_cost > 0")
        if pmf.ndim != 1 or pmf.size == 0 or np.any(pmf < 0) or not np.isclose(pmf.sum(), 1.0):
            raise ValueError(
                "demand_pmf must be a non-empty 1-D list of probabilities summing to 1"
            )
        if pmf[0] >= 1.0:
            raise ValueError("demand_pmf puts all mass on zero demand; no (s,S) policy is needed")
        self.h, self.p, self.k, self.pmf = h, p, k, pmf
        self.support = np.arange(pmf.size)
        self.mean = float(self.support @ pmf)
        self.m = np.array([1.0 / (1.0 - pmf[0])])

    def g(self, y: int) -> float:
        short = float(np.clip(self.support - y, 0, None) @ self.pmf)
        return self.h * (y - self.mean + short) + self.p * short

    def _renewal(self, n: int) -> np.ndarray:
        while self.m.size < n:
            j = self.m.size
            upto = min(j, self.pmf.size - 1)
            # m(j) = m(0) * sum_{l=1..j} p_l m(j-l)
            tail = self.m[j - upto : j][::-1]
            self.m = np.append(self.m, self.m[0] * float(self.pmf[1 : upto + 1] @ tail))
        return self.m[:n]

    def cost(self, s: int, big_s: int) -> float:
        n = big_s - s
        if n <= 0:
            raise ValueError(f"(s,S) cost needs S > s, got s={s}, S={big_s}")
        m = self._renewal(n)
        gs = np.array([self.g(big_s - d) for d in range(n)])
        return (self.k + float(m @ gs)) / float(m.sum())


def s_S_cost(
    reorder_point: int,
    order_up_to: int,
    holding_cost: float,
    stockout_cost: float,
    fixed_cost: float,
    demand_pmf: Sequence[float],
) -> float:
    """Exact expected cost per period of an (s,S) policy under discrete demand per period
    (demand_pmf[k] = P(demand = k)), zero lead time, backorders."""
    model = _SSCostModel(holding_cost, stockout_cost, fixed_cost, np.asarray(demand_pmf, float))
    return model.cost(int(reorder_point), int(order_up_to))


def optimal_s_S(
    holding_cost: float,
    stockout_cost: float,
    fixed_cost: float,
    demand_pmf: Sequence[float],
) -> SSPolicy:
    """Optimal (s,S) by Zheng & Federgruen's algorithm: exact for discrete demand per period
    (demand_pmf[k] = P(demand = k)), per-period holding h and backorder cost p, fixed cost K."""
    model = _SSCostModel(holding_cost, stockout_cost, fixed_cost, np.asarray(demand_pmf, float))
    # y*: minimiser of the convex one-period cost G.
    y_star = 0
    while model.g(y_star + 1) < model.g(y_star):
        y_star += 1
    while model.g(y_star - 1) < model.g(y_star):
        y_star -= 1
    big_s0 = y_star
    s = y_star - 1
    while model.cost(s, big_s0) > model.g(s):
        s -= 1
    best_s, best_big_s = s, big_s0
    best_cost = model.cost(s, big_s0)
    big_s = big_s0 + 1
    while model.g(big_s) <= best_cost:
        if model.cost(s, big_s) < best_cost:
            best_big_s = big_s
            while model.cost(s, best_big_s) <= model.g(s + 1):
                s += 1
            best_s = s
            best_cost = model.cost(s, best_big_s)
        big_s += 1
    return SSPolicy(best_s, best_big_s, best_cost)


def optimal_s_S_poisson(
    holding_cost: float, stockout_cost: float, fixed_cost: float, mean_demand: float
) -> SSPolicy:
    """Optimal (s,S) for Poisson(mean_demand) demand per period (see optimal_s_S)."""
    if mean_demand <= 0:
        raise ValueError("optimal_s_S_poisson: mean_demand must be > 0")
    upper = int(stats.poisson.ppf(1.0 - 1e-15, mean_demand)) + 1
    pmf = stats.poisson.pmf(np.arange(upper + 1), mean_demand)
    return optimal_s_S(holding_cost, stockout_cost, fixed_cost, pmf / pmf.sum())


# --------------------------------------------------------------------------------------
# Vectorised demand distributions over the protection interval
# --------------------------------------------------------------------------------------


def choose_distribution(mean: np.ndarray, variance: np.ndarray, config: PolicyConfig) -> np.ndarray:
    """Distribution of demand over the protection interval, per row.

    Slow movers (mean below config.discrete_max_mean units) are counted in whole units:
    Poisson when the variance-to-mean ratio is near one, negative binomial when demand is
    overdispersed. Fast movers are normal unless the CV is high, where a normal would put
    real mass below zero and a right-skewed gamma fits better."""
    mean = np.asarray(mean, dtype=float)
    variance = np.asarray(variance, dtype=float)
    if config.distribution != "auto":
        return np.full(mean.shape, _FAMILY_CODES[config.distribution])
    with np.errstate(divide="ignore", invalid="ignore"):
        vmr = np.where(mean > 0, variance / mean, 0.0)
        cv = np.where(mean > 0, np.sqrt(variance) / mean, 0.0)
    slow = mean < config.discrete_max_mean
    return np.select(
        [variance <= 0, slow & (vmr <= config.poisson_max_vmr), slow, cv <= config.normal_max_cv],
        [_NORMAL, _POISSON, _NBINOM, _NORMAL],
        default=_GAMMA,
    )


def _nb_params(mean: np.ndarray, variance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """scipy nbinom (n, p) from mean and variance (variance > mean)."""
    excess = np.where(variance > mean, variance - mean, 1.0)
    return mean**2 / excess, np.where(variance > 0, mean / np.maximum(variance, 1e-300), 1.0)


def _family_masks(
    family: np.ndarray, mean: np.ndarray, variance: np.ndarray
) -> dict[int, np.ndarray]:
    """Rows per family; degenerate rows (no variance, or no mean for the families that live
    on the positive axis) are left out of all masks and handled as a point mass. Negative
    binomial rows without overdispersion fall back to Poisson, which is their limit."""
    random = (variance > 0) & (mean > 0)
    nb = (family == _NBINOM) & random & (variance > mean)
    return {
        _NORMAL: (family == _NORMAL) & (variance > 0),
        _GAMMA: (family == _GAMMA) & random,
        _POISSON: (((family == _POISSON) | (family == _NBINOM)) & (mean > 0)) & ~nb,
        _NBINOM: nb,
    }


def _rows(family, x, mean, variance) -> tuple[np.ndarray, ...]:
    """Broadcast to a common shape as writable 1-D float arrays (family as int)."""
    arrays = np.broadcast_arrays(
        np.asarray(family), *(np.asarray(v, dtype=float) for v in (x, mean, variance))
    )
    return tuple(np.array(a, ndmin=1).ravel() for a in arrays)


def _loss(family: np.ndarray, x, mean, variance) -> np.ndarray:
    """First-order loss E[(D - x)^+] per row."""
    family, x, mean, variance = _rows(family, x, mean, variance)
    out = np.maximum(mean - x, 0.0)  # point mass at the mean
    masks = _family_masks(family, mean, variance)
    if (m := masks[_NORMAL]).any():
        sd = np.sqrt(variance[m])
        z = (x[m] - mean[m]) / sd
        out[m] = sd * (stats.norm.pdf(z) - z * stats.norm.sf(z))
    if (m := masks[_GAMMA]).any():
        shape, scale = mean[m] ** 2 / variance[m], variance[m] / mean[m]
        xm = np.maximum(x[m], 0.0) / scale
        positive = mean[m] * special.gammaincc(shape + 1, xm) - x[m] * special.gammaincc(shape, xm)
        out[m] = np.where(x[m] > 0, positive, mean[m] - x[m])
    if (m := masks[_POISSON]).any():
        k = np.floor(x[m])
        out[m] = mean[m] * stats.poisson.sf(k - 1, mean[m]) - x[m] * stats.poisson.sf(k, mean[m])
    if (m := masks[_NBINOM]).any():
        n, p = _nb_params(mean[m], variance[m])
        k = np.floor(x[m])
        out[m] = mean[m] * stats.nbinom.sf(k - 1, n + 1, p) - x[m] * stats.nbinom.sf(k, n, p)
    return np.maximum(out, 0.0)


def _cdf(family: np.ndarray, x, mean, variance) -> np.ndarray:
    """P(D <= x) per row."""
    family, x, mean, variance = _rows(family, x, mean, variance)
    out = (x >= mean).astype(float)
    masks = _family_masks(family, mean, variance)
    if (m := masks[_NORMAL]).any():
        out[m] = stats.norm.cdf(x[m], mean[m], np.sqrt(variance[m]))
    if (m := masks[_GAMMA]).any():
        shape, scale = mean[m] ** 2 / variance[m], variance[m] / mean[m]
        out[m] = special.gammainc(shape, np.maximum(x[m], 0.0) / scale)
    if (m := masks[_POISSON]).any():
        out[m] = stats.poisson.cdf(np.floor(x[m]), mean[m])
    if (m := masks[_NBINOM]).any():
        n, p = _nb_params(mean[m], variance[m])
        out[m] = stats.nbinom.cdf(np.floor(x[m]), n, p)
    return out


def _ppf(family: np.ndarray, q, mean, variance) -> np.ndarray:
    """Smallest x with P(D <= x) >= q per row (whole units for discrete families)."""
    family, q, mean, variance = _rows(family, q, mean, variance)
    out = mean.copy()
    masks = _family_masks(family, mean, variance)
    if (m := masks[_NORMAL]).any():
        out[m] = mean[m] + np.sqrt(variance[m]) * stats.norm.ppf(q[m])
    if (m := masks[_GAMMA]).any():
        shape, scale = mean[m] ** 2 / variance[m], variance[m] / mean[m]
        out[m] = special.gammaincinv(shape, q[m]) * scale
    if (m := masks[_POISSON]).any():
        out[m] = stats.poisson.ppf(q[m], mean[m])
    if (m := masks[_NBINOM]).any():
        n, p = _nb_params(mean[m], variance[m])
        out[m] = stats.nbinom.ppf(q[m], n, p)
    return out


def _second_loss(family: np.ndarray, x, mean, variance) -> np.ndarray:
    """Integrated loss per row. Continuous families: int_x^inf L(y) dy = E[((D-x)^+)^2] / 2.
    Discrete families (x whole): sum_{y >= x} L(y) = E[(D-x)(D-x+1); D > x] / 2."""
    family, x, mean, variance = _rows(family, x, mean, variance)
    out = 0.5 * np.maximum(mean - x, 0.0) ** 2  # point mass at the mean
    masks = _family_masks(family, mean, variance)
    if (m := masks[_NORMAL]).any():
        z = (x[m] - mean[m]) / np.sqrt(variance[m])
        out[m] = 0.5 * variance[m] * ((z**2 + 1) * stats.norm.sf(z) - z * stats.norm.pdf(z))
    if (m := masks[_GAMMA]).any():
        a, scale, xm = mean[m] ** 2 / variance[m], variance[m] / mean[m], x[m]
        u = np.maximum(xm, 0.0) / scale
        positive = 0.5 * (
            scale**2 * a * (a + 1) * special.gammaincc(a + 2, u)
            - 2 * xm * scale * a * special.gammaincc(a + 1, u)
            + xm**2 * special.gammaincc(a, u)
        )
        out[m] = np.where(xm > 0, positive, 0.5 * (variance[m] + (mean[m] - xm) ** 2))
    discrete = []
    if (m := masks[_POISSON]).any():
        k, mu = np.floor(x[m]), mean[m]
        first = mu * stats.poisson.sf(k - 1, mu)  # E[D; D > k]
        factorial2 = mu**2 * stats.poisson.sf(k - 2, mu)  # E[D(D-1); D > k]
        discrete.append((m, k, first, factorial2, stats.poisson.sf(k, mu)))
    if (m := masks[_NBINOM]).any():
        k, mu = np.floor(x[m]), mean[m]
        n, p = _nb_params(mu, variance[m])
        first = mu * stats.nbinom.sf(k - 1, n + 1, p)
        factorial2 = n * (n + 1) * ((1 - p) / p) ** 2 * stats.nbinom.sf(k - 2, n + 2, p)
        discrete.append((m, k, first, factorial2, stats.nbinom.sf(k, n, p)))
    for m, k, first, factorial2, tail in discrete:
        second = factorial2 + first  # E[D^2; D > k]
        out[m] = 0.5 * (second - (2 * k - 1) * first + (k**2 - k) * tail)
    return np.maximum(out, 0.0)


def _lot_fill_rate(family, level, lot, mean_p, var_p, mean_l, var_l, review_demand) -> np.ndarray:
    """Fill rate of a reorder-point policy reviewed every r days ((s,nQ), and (s,S) with
    Q = S - s).

    After each review the inventory position Y is uniform on (s, s+Q] (exact for (s,nQ)),
    and the demand of the next r days meets Y less the demand of the lead time, so the
    shortage per review is E[L_{L+r}(Y) - L_L(Y)] (P = protection L + r, L = lead time),
    served out of the demand of r days. Whole-unit families sum over Y = s+1 .. s+Q."""
    whole = (family == _POISSON) | (family == _NBINOM)
    q = np.where(whole, np.maximum(np.rint(lot), 1.0), lot)
    lo = np.where(whole, level + 1, level)
    hi = lo + q

    def integrated(mean, var):
        return _second_loss(family, lo, mean, var) - _second_loss(family, hi, mean, var)

    short = integrated(mean_p, var_p) - integrated(mean_l, var_l)
    return np.clip(1.0 - short / (q * review_demand), 0.0, 1.0)


def _periodic_fill_rate(family, level, mean_p, var_p, mean_l, var_l, review_demand) -> np.ndarray:
    """Fill rate of (R,S): shortage per review cycle is E[(D(R+L) - S)^+] - E[(D(L) - S)^+],
    served out of the demand of one review period."""
    short = _loss(family, level, mean_p, var_p) - _loss(family, level, mean_l, var_l)
    return np.clip(1.0 - short / review_demand, 0.0, 1.0)


def _undershoot(mean_r: np.ndarray, var_r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of how far the inventory position falls below s before a review
    sees it (renewal theory: E[U] = E[D^2] / 2E[D], E[U^2] = E[D^3] / 3E[D] for the demand
    D between reviews; the third moment assumes a gamma shape)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        m1 = np.where(mean_r > 0, mean_r, 1.0)
        mean_u = (var_r + m1**2) / (2 * m1)
        third = m1**3 + 3 * m1 * var_r + 2 * var_r**2 / m1
        var_u = np.maximum(third / (3 * m1) - mean_u**2, 0.0)
    return np.where(mean_r > 0, mean_u, 0.0), np.where(mean_r > 0, var_u, 0.0)


def _smallest_level(
    meets: Callable[[np.ndarray, np.ndarray], np.ndarray],
    lo: np.ndarray,
    hi: np.ndarray,
    integer: bool,
) -> np.ndarray:
    """Vectorised search for the smallest level with meets(rows, level) True per row, given
    that meets is monotone in the level; meets is asked only about the rows still open.
    Rows already met at lo return lo."""
    lo = np.asarray(lo, dtype=float).copy()
    hi = np.asarray(hi, dtype=float).copy()
    if integer:
        lo, hi = np.floor(lo), np.ceil(hi)
    everything = np.arange(lo.size)
    missing = everything
    for _ in range(200):  # widen hi until it meets the target (doubling)
        missing = missing[~meets(missing, hi[missing])]
        if missing.size == 0:
            break
        hi[missing] = 2.0 * hi[missing] + 1.0
    done = meets(everything, lo)
    low, high = lo.copy(), np.where(done, lo, hi)
    # Invariant for open rows: meets(low) False, meets(high) True.
    for _ in range(200):
        tolerance = 1.0 if integer else 1e-8 * np.maximum(1.0, np.abs(high))
        open_rows = np.flatnonzero(high - low > tolerance)
        if open_rows.size == 0:
            break
        mid = (low[open_rows] + high[open_rows]) / 2.0
        mid = np.floor(mid) if integer else mid
        ok = meets(open_rows, mid)
        high[open_rows[ok]] = mid[ok]
        low[open_rows[~ok]] = mid[~ok]
    return high


# --------------------------------------------------------------------------------------
# compute_policies
# --------------------------------------------------------------------------------------

REQUIRED_COLUMNS: tuple[str, ...] = (
    "material_id",
    "plant_id",
    "abc_class",
    "xyz_class",
    "demand_class",
    "mean_weekly_demand",
    "sigma_weekly",
    "lead_time_mean_days",
    "lead_time_std_days",
    "planned_lead_time_days",
    "unit_cost",
    "moq",
    "rounding_qty",
)
#: Optional per-row overrides: order_cost, holding_rate, service_target, target_type, policy_type.
OPTIONAL_COLUMNS: tuple[str, ...] = (
    "order_cost",
    "holding_rate",
    "service_target",
    "target_type",
    "policy_type",
)
_NUMERIC_COLUMNS: tuple[str, ...] = (
    "mean_weekly_demand",
    "sigma_weekly",
    "lead_time_mean_days",
    "lead_time_std_days",
    "planned_lead_time_days",
    "unit_cost",
    "moq",
    "rounding_qty",
    "order_cost",
    "holding_rate",
    "service_target",
)
POLICY_COLUMNS: tuple[str, ...] = (
    "material_id",
    "plant_id",
    "abc_class",
    "xyz_class",
    "demand_class",
    "policy_type",
    "target_type",
    "service_target",
    "distribution",
    "mean_weekly_demand",
    "lead_time_days",
    "lead_time_std_days",
    "review_period_days",
    "mean_ltd",
    "sigma_ltd",
    "safety_stock",
    "reorder_point",
    "order_quantity",
    "order_up_to",
    "eoq",
    "moq",
    "rounding_qty",
    "unit_cost",
    "expected_fill_rate",
    "expected_csl",
    "expected_avg_inventory",
    "expected_orders_per_year",
    "explanation",
)


def _row_label(frame: pd.DataFrame, index) -> str:
    row = frame.loc[index]
    return f"row {index} (material_id={row['material_id']!r}, plant_id={row['plant_id']!r})"


def _clean_class(values: pd.Series, allowed: str, column: str) -> pd.Series:
    cleaned = values.astype("string").str.strip().str.upper().fillna("")
    bad = ~cleaned.isin([*allowed, ""])
    if bad.any():
        raise ValueError(
            f"compute_policies: column {column!r} has {cleaned[bad].iloc[0]!r} at row "
            f"{cleaned[bad].index[0]}; expected one of {list(allowed)} or empty"
        )
    return cleaned


def _validated_inputs(inputs: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in inputs.columns]
    if missing:
        raise ValueError(f"compute_policies: inputs lack columns {missing}")
    frame = inputs.copy()
    for column in OPTIONAL_COLUMNS:
        if column not in frame.columns:
            frame[column] = np.nan
    for column in _NUMERIC_COLUMNS:
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = converted.isna() & frame[column].notna()
        if bad.any():
            raise ValueError(
                f"compute_policies: column {column!r} is not numeric at "
                f"{_row_label(frame, bad.idxmax())}: {frame.loc[bad.idxmax(), column]!r}"
            )
        negative = converted < 0
        if negative.any():
            raise ValueError(
                f"compute_policies: column {column!r} is negative at "
                f"{_row_label(frame, negative.idxmax())}"
            )
        frame[column] = converted.astype(float)
    if frame["mean_weekly_demand"].isna().any():
        at = frame["mean_weekly_demand"].isna().idxmax()
        raise ValueError(
            f"compute_policies: mean_weekly_demand is missing at {_row_label(frame, at)}"
        )
    duplicated = frame.duplicated(["material_id", "plant_id"])
    if duplicated.any():
        raise ValueError(
            f"compute_policies: duplicate material_id x plant_id at "
            f"{_row_label(frame, duplicated.idxmax())}"
        )
    frame["abc_class"] = _clean_class(frame["abc_class"], "ABC", "abc_class")
    frame["xyz_class"] = _clean_class(frame["xyz_class"], "XYZ", "xyz_class")
    demand_class = frame["demand_class"].astype("string").str.strip().str.lower()
    bad = demand_class.notna() & ~demand_class.isin(DEMAND_CLASSES)
    if bad.any():
        raise ValueError(
            f"compute_policies: demand_class {demand_class[bad].iloc[0]!r} at "
            f"{_row_label(frame, bad.idxmax())} is not one of {DEMAND_CLASSES}"
        )
    frame["demand_class"] = demand_class.astype(object).where(demand_class.notna(), None)
    for column, allowed in (("target_type", TARGET_TYPES), ("policy_type", POLICY_TYPES)):
        bad = frame[column].notna() & ~frame[column].isin(allowed)
        if bad.any():
            raise ValueError(
                f"compute_policies: column {column!r} has {frame.loc[bad.idxmax(), column]!r} "
                f"at {_row_label(frame, bad.idxmax())}; expected one of {allowed}"
            )
    bad = frame["service_target"].notna() & (frame["service_target"] >= 1)
    if bad.any():
        raise ValueError(
            f"compute_policies: service_target must be < 1 at {_row_label(frame, bad.idxmax())}"
        )
    return frame


def _none_if_empty(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values != "", None)


def _resolve_targets(frame: pd.DataFrame, config: PolicyConfig) -> tuple[pd.Series, pd.Series]:
    """Target type and value per row: row override, else ABC+XYZ, ABC, XYZ, default."""
    targets = config.class_targets

    def lookup(abc: str, xyz: str) -> tuple[str, float]:
        for key in (abc + xyz, abc, xyz):
            if key and key in targets:
                return targets[key]
        return targets["default"]

    keys = list(zip(frame["abc_class"], frame["xyz_class"], strict=True))
    resolved = {key: lookup(*key) for key in set(keys)}
    kind = pd.Series([resolved[k][0] for k in keys], index=frame.index, dtype=object)
    value = pd.Series([resolved[k][1] for k in keys], index=frame.index, dtype=float)
    kind = frame["target_type"].where(frame["target_type"].notna(), kind)
    value = frame["service_target"].where(frame["service_target"].notna(), value)
    zero = value <= 0
    if zero.any():
        raise ValueError(
            f"compute_policies: service_target must be > 0 at {_row_label(frame, zero.idxmax())}"
        )
    return kind, value


def compute_policies(inputs: pd.DataFrame, config: PolicyConfig | None = None) -> pd.DataFrame:
    """One inventory policy per material x plant, vectorised over rows.

    Inputs: one row per (material_id, plant_id) with the columns in REQUIRED_COLUMNS (and any
    of OPTIONAL_COLUMNS as per-row overrides). Output: POLICY_COLUMNS. Obsolete or dead
    items and items without demand get the zero policy ("none").

    Per row: service target from the ABC-XYZ class; lot = EOQ, then MOQ and rounding; demand
    over the protection interval from the weekly forecast error and the lead-time spread
    (sigma_LTD = sqrt(L sigma_d^2 + d^2 sigma_L^2), L in weeks); a distribution chosen by
    mean and dispersion; then the smallest reorder point (or order-up-to level) that meets
    the target, never below the mean demand it covers (safety stock >= 0). mean_ltd and
    sigma_ltd describe that demand: over the lead time for (s,Q)/(s,S), over review period
    plus lead time for (R,S)."""
    config = config or PolicyConfig()
    frame = _validated_inputs(inputs).reset_index(drop=True)
    target_type, target = _resolve_targets(frame, config)
    abc = frame["abc_class"]
    policy = abc.map(dict(config.policy_by_abc)).fillna(config.default_policy)
    policy = frame["policy_type"].where(frame["policy_type"].notna(), policy)

    d = frame["mean_weekly_demand"].to_numpy()
    zero = (d <= 0) | frame["demand_class"].isin(list(ZERO_POLICY_CLASSES)).to_numpy()
    sigma_missing = frame["sigma_weekly"].isna().to_numpy()
    sd = np.where(sigma_missing, config.demand_cv_fallback * d, frame["sigma_weekly"].to_numpy())

    observed_lt = frame["lead_time_mean_days"].notna().to_numpy()
    lt_days = np.where(
        observed_lt, frame["lead_time_mean_days"], frame["planned_lead_time_days"]
    ).astype(float)
    no_lt = np.isnan(lt_days) & ~zero
    if no_lt.any():
        at = int(np.argmax(no_lt))
        raise ValueError(
            "compute_policies: neither lead_time_mean_days nor planned_lead_time_days is given "
            f"at {_row_label(frame, at)}"
        )
    lt_days = np.nan_to_num(lt_days)
    std_missing = frame["lead_time_std_days"].isna().to_numpy()
    lt_std_days = np.where(
        std_missing, config.lead_time_cv * lt_days, frame["lead_time_std_days"].to_numpy()
    )

    periodic = (policy == "(R,S)").to_numpy()
    # Reorder-point policies are reviewed every MRP run, (R,S) every review period.
    review_days = np.where(periodic, config.review_period_days, config.reorder_review_days)
    lt_w, lt_std_w, review_w = lt_days / 7.0, lt_std_days / 7.0, review_days / 7.0
    lt_var_term = d**2 * lt_std_w**2
    mean_l, var_l = d * lt_w, lt_w * sd**2 + lt_var_term  # demand over the lead time
    mean_p = d * (lt_w + review_w)  # ... over the protection interval L + r
    var_p = (lt_w + review_w) * sd**2 + lt_var_term
    review_demand = d * review_w
    # Safety stock is measured against the demand the level must cover on average:
    # the lead time for a reorder point, review period + lead time for an order-up-to level.
    mean_ss = np.where(periodic, mean_p, mean_l)
    var_ss = np.where(periodic, var_p, var_l)
    # A cycle is out of stock when lead-time demand plus the undershoot below s exceeds s.
    under_mean, under_var = _undershoot(review_demand, review_w * sd**2)
    mean_c = np.where(periodic, mean_p, mean_l + under_mean)
    var_c = np.where(periodic, var_p, var_l + under_var)

    # Lot size: EOQ (or weeks of cover without a unit cost), then MOQ and rounding.
    order_cost = frame["order_cost"].fillna(config.order_cost).to_numpy()
    holding = (
        frame["holding_rate"].fillna(config.holding_rate).to_numpy()
        * frame["unit_cost"].fillna(0.0).to_numpy()
    )
    annual = d * config.weeks_per_year
    has_cost = holding > 0
    eoq_units = np.where(
        has_cost,
        np.sqrt(2.0 * order_cost * annual / np.where(has_cost, holding, 1.0)),
        config.fallback_cover_weeks * d,
    )
    rounding = frame["rounding_qty"].to_numpy()
    rounding = np.where(np.isnan(rounding) | (rounding <= 0), config.min_rounding_qty, rounding)
    moq = frame["moq"].fillna(0.0).to_numpy()
    lot = np.asarray(round_order_quantity(eoq_units, moq, rounding), dtype=float)

    family = choose_distribution(mean_p, var_p, config)
    integer = (family == _POISSON) | (family == _NBINOM)
    # Whole-unit undershoot: the position stops on a unit, half a unit above the continuous one.
    mean_c = np.where(integer & ~periodic, np.maximum(mean_c - 0.5 * (under_mean > 0), 0), mean_c)
    csl = (target_type == "csl").to_numpy()
    beta = target.to_numpy()
    safe_lot = np.where(lot > 0, lot, 1.0)
    safe_review = np.maximum(review_demand, 1e-12)

    # Which formula each row's target needs: CSL, reorder point reviewed every r days,
    # reorder point reviewed continuously, or order-up-to level.
    formula = np.select(
        [csl, periodic, review_demand > 0], [_BY_CSL, _BY_PERIODIC, _BY_LOT], _BY_CONTINUOUS
    )

    def fill_rate(rows: np.ndarray, level: np.ndarray, kind: np.ndarray) -> np.ndarray:
        out = np.empty(rows.size)
        for code in np.unique(kind):
            at = kind == code
            r, x = rows[at], level[at]
            f, mp, vp, ml, vl = family[r], mean_p[r], var_p[r], mean_l[r], var_l[r]
            if code == _BY_PERIODIC:
                out[at] = _periodic_fill_rate(f, x, mp, vp, ml, vl, safe_review[r])
            elif code == _BY_LOT:
                out[at] = _lot_fill_rate(f, x, safe_lot[r], mp, vp, ml, vl, safe_review[r])
            else:
                out[at] = _continuous_review_fill_rate(f, x, safe_lot[r], ml, vl)
        return out

    def meets(rows: np.ndarray, level: np.ndarray) -> np.ndarray:
        out = np.empty(rows.size, dtype=bool)
        by_csl = csl[rows]
        r = rows[by_csl]
        out[by_csl] = _cdf(family[r], level[by_csl], mean_c[r], var_c[r]) >= beta[r]
        r = rows[~by_csl]
        out[~by_csl] = fill_rate(r, level[~by_csl], formula[r]) >= beta[r]
        return out

    level = mean_ss.copy()
    active = ~zero
    for is_integer in (False, True):
        rows = np.flatnonzero(active & (integer == is_integer))
        if rows.size == 0:
            continue
        # Safety stock is never planned negative; in whole units the floor is the mean
        # rounded down, so the floor itself never adds stock the target does not need.
        floor = np.floor(mean_ss[rows] + 1e-9) if is_integer else mean_ss[rows]
        hi = np.maximum(_ppf(family[rows], 1.0 - 1e-9, mean_p[rows], var_p[rows]), floor)
        level[rows] = _smallest_level(
            lambda at, x, rows=rows: meets(rows[at], x), floor, hi + 1.0, is_integer
        )
    level = np.where(zero, 0.0, level)
    ss = np.where(zero, 0.0, np.maximum(level - mean_ss, 0.0))
    everything = np.arange(len(frame))
    fill = fill_rate(
        everything,
        level,
        np.where(
            csl,
            np.select([periodic, review_demand > 0], [_BY_PERIODIC, _BY_LOT], _BY_CONTINUOUS),
            formula,
        ),
    )
    expected_csl = _cdf(family, level, mean_c, var_c)
    is_s_S = (policy == "(s,S)").to_numpy()
    cycle_stock = np.where(periodic, review_demand, lot) / 2.0
    orders_per_year = np.where(periodic, 365.0 / np.maximum(review_days, 1e-9), annual / safe_lot)

    out = pd.DataFrame(
        {
            "material_id": frame["material_id"],
            "plant_id": frame["plant_id"],
            "abc_class": _none_if_empty(abc),
            "xyz_class": _none_if_empty(frame["xyz_class"]),
            "demand_class": frame["demand_class"],
            "policy_type": np.where(zero, NO_POLICY, policy),
            "target_type": target_type,
            "service_target": target,
            "distribution": np.where(zero, None, [_FAMILY_NAMES[int(f)] for f in family]),
            "mean_weekly_demand": d,
            "lead_time_days": lt_days,
            "lead_time_std_days": lt_std_days,
            "review_period_days": review_days,
            "mean_ltd": np.where(zero, 0.0, mean_ss),
            "sigma_ltd": np.where(zero, 0.0, np.sqrt(var_ss)),
            "safety_stock": ss,
            "reorder_point": np.where(zero, 0.0, np.where(periodic, np.nan, level)),
            "order_quantity": np.where(zero, 0.0, lot),
            "order_up_to": np.where(
                zero, 0.0, np.where(periodic, level, np.where(is_s_S, level + lot, np.nan))
            ),
            "eoq": np.where(zero, 0.0, eoq_units),
            "moq": moq,
            "rounding_qty": rounding,
            "unit_cost": frame["unit_cost"],
            "expected_fill_rate": np.where(zero, np.nan, fill),
            "expected_csl": np.where(zero, np.nan, expected_csl),
            "expected_avg_inventory": np.where(zero, 0.0, ss + cycle_stock),
            "expected_orders_per_year": np.where(zero, 0.0, orders_per_year),
        }
    )
    out["explanation"] = _explanations(
        out, zero, observed_lt, std_missing, sigma_missing, has_cost, config
    )
    return out.loc[:, list(POLICY_COLUMNS)]


def _explanations(
    out: pd.DataFrame,
    zero: np.ndarray,
    observed_lt: np.ndarray,
    std_missing: np.ndarray,
    sigma_missing: np.ndarray,
    has_cost: np.ndarray,
    config: PolicyConfig,
) -> list[str]:
    """One sentence per row that tells a planner where each number came from."""
    texts = []
    columns = zip(
        out.itertuples(index=False),
        zero,
        observed_lt,
        std_missing,
        sigma_missing,
        has_cost,
        strict=True,
    )
    for row, is_zero, observed, no_std, no_sigma, costed in columns:
        if is_zero:
            reason = (
                f"demand class {row.demand_class}"
                if row.demand_class in ZERO_POLICY_CLASSES
                else "no demand"
            )
            texts.append(f"zero policy: {reason}")
            continue
        cls = f"{row.abc_class or '?'}{row.xyz_class or '?'}"
        protect = row.lead_time_days + (
            row.review_period_days if row.policy_type == "(R,S)" else 0.0
        )
        parts = [
            f"class {cls}: {row.target_type} target {row.service_target:.1%} via {row.policy_type}",
            f"{row.distribution} demand over {protect:.1f} d (mean {row.mean_ltd:.2f}, "
            f"sd {row.sigma_ltd:.2f})",
            f"SS {row.safety_stock:.1f}"
            + (" (target met without safety stock)" if row.safety_stock == 0 else ""),
            f"lot {row.order_quantity:g} from "
            + (f"EOQ {row.eoq:.1f}" if costed else f"{config.fallback_cover_weeks:g} weeks cover")
            + f", MOQ {row.moq:g}, rounding {row.rounding_qty:g}",
        ]
        level = row.order_up_to if row.policy_type == "(R,S)" else row.reorder_point
        if level < row.mean_ltd:
            parts.append(f"level {level:g} is the mean rounded down to whole units")
        if not observed:
            parts.append("lead time = planned (no receipts)")
        if no_std:
            parts.append(f"lead-time std = {config.lead_time_cv:g} x mean")
        if no_sigma:
            parts.append(f"forecast error std = {config.demand_cv_fallback:g} x mean")
        texts.append("; ".join(parts))
    return texts
