"""What-if scenarios on a forecast table, leaving the base forecast untouched."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipelines.forecasting.panel import KEYS

_VALUE_COLUMNS = ("forecast_qty", "forecast_lower", "forecast_upper")


def _value_columns(frame: pd.DataFrame) -> list[str]:
    quantiles = [c for c in frame.columns if c.startswith("p") and c[1:].isdigit()]
    return [c for c in _VALUE_COLUMNS if c in frame.columns] + quantiles


def apply_scenario(
    forecast: pd.DataFrame,
    uplift_pct: float = 0.0,
    promotion_weeks: Iterable | None = None,
    *,
    materials: Iterable[str] | None = None,
    plants: Iterable[str] | None = None,
    analogue: pd.DataFrame | None = None,
    name: str = "scenario",
) -> pd.DataFrame:
    """A scenario copy of ``forecast`` (the engine's layout), tagged with a ``scenario`` column.

    - ``analogue``: new products forecast like existing ones. Columns material_id, plant_id
      (the new item), analogue_material_id, optional analogue_plant_id (default: same plant)
      and scale (default 1). The new item's rows become the analogue's rows times scale.
    - ``uplift_pct``: +20 means 20 % more demand in ``promotion_weeks`` (all weeks if None),
      for ``materials``/``plants`` if given (all otherwise). Points, bounds and quantiles all
      scale, so the quantiles stay ordered.
    """
    missing = [c for c in (*KEYS, "week_start", "forecast_qty") if c not in forecast.columns]
    if missing:
        raise ValueError(f"forecast is missing column(s) {missing}")
    if not np.isfinite(uplift_pct) or uplift_pct < -100:
        raise ValueError(f"uplift_pct must be a number >= -100, got {uplift_pct!r}")
    out = forecast.copy()
    values = _value_columns(out)
    if analogue is not None and len(analogue):
        out = _apply_analogues(out, analogue, values)
    mask = np.ones(len(out), dtype=bool)
    if promotion_weeks is not None:
        weeks = pd.to_datetime(pd.Index(list(promotion_weeks)))
        mask &= pd.to_datetime(out["week_start"]).isin(weeks).to_numpy()
    if materials is not None:
        mask &= out["material_id"].isin(list(materials)).to_numpy()
    if plants is not None:
        mask &= out["plant_id"].isin(list(plants)).to_numpy()
    factor = 1 + uplift_pct / 100
    out[values] = out[values].astype(float)
    out.loc[mask, values] = out.loc[mask, values].to_numpy() * factor
    out["scenario"] = name
    return out.reset_index(drop=True)


@dataclass(frozen=True)
class Promotion:
    """Extra demand in some weeks (their Mondays), on top of the scenario's overall uplift."""

    weeks: Sequence
    uplift_pct: float


def build_scenario(
    forecast: pd.DataFrame,
    name: str,
    uplift_pct: float = 0.0,
    promotions: Sequence[Promotion] = (),
    *,
    materials: Iterable[str] | None = None,
    plants: Iterable[str] | None = None,
    analogue: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """A planner's scenario: new products from analogues, ``uplift_pct`` on every week, then
    each promotion's uplift in its weeks (uplifts compound), for ``materials``/``plants``.

    Weeks, materials and plants that match nothing raise, so a typo never yields a silent
    copy of the base forecast.
    """
    if not name.strip():
        raise ValueError("a scenario needs a name")
    out = apply_scenario(
        forecast, uplift_pct, materials=materials, plants=plants, analogue=analogue, name=name
    )
    for column, wanted in (("material_id", materials), ("plant_id", plants)):
        unknown = sorted(set(wanted or ()) - set(out[column]))
        if unknown:
            raise ValueError(f"{column} {unknown} not in the forecast")
    forecast_weeks = set(pd.to_datetime(out["week_start"]))
    for promotion in promotions:
        unknown = sorted(set(pd.to_datetime(list(promotion.weeks))) - forecast_weeks)
        if unknown:
            raise ValueError(
                f"promotion week(s) {[w.date().isoformat() for w in unknown]} are not forecast "
                f"weeks; this vintage forecasts {min(forecast_weeks).date()} to "
                f"{max(forecast_weeks).date()} (week starts)"
            )
        out = apply_scenario(
            out,
            promotion.uplift_pct,
            promotion.weeks,
            materials=materials,
            plants=plants,
            name=name,
        )
    return out


def _apply_analogues(out: pd.DataFrame, analogue: pd.DataFrame, values: list[str]) -> pd.DataFrame:
    need = ["material_id", "plant_id", "analogue_material_id"]
    missing = [c for c in need if c not in analogue.columns]
    if missing:
        raise ValueError(f"analogue is missing column(s) {missing}; got {list(analogue.columns)}")
    new_rows = []
    for row in analogue.itertuples(index=False):
        ref_plant = getattr(row, "analogue_plant_id", None) or row.plant_id
        scale = float(getattr(row, "scale", 1.0) if pd.notna(getattr(row, "scale", 1.0)) else 1.0)
        if scale < 0:
            raise ValueError(f"analogue scale for {row.material_id!r} must be >= 0, got {scale}")
        ref = out[(out["material_id"] == row.analogue_material_id) & (out["plant_id"] == ref_plant)]
        if ref.empty:
            raise ValueError(
                f"analogue {row.analogue_material_id!r} at plant {ref_plant!r} (for new material "
                f"{row.material_id!r}) has no rows in the forecast"
            )
        copy = ref.copy()
        copy["material_id"] = str(row.material_id)
        copy["plant_id"] = str(row.plant_id)
        copy[values] = copy[values].astype(float) * scale
        if "model" in copy.columns:
            copy["model"] = f"analogue:{row.analogue_material_id}"
        new_rows.append(copy)
    replaced = pd.MultiIndex.from_frame(analogue[["material_id", "plant_id"]].astype(str))
    keep = ~pd.MultiIndex.from_frame(out[KEYS].astype(str)).isin(replaced)
    return pd.concat([out[keep], *new_rows], ignore_index=True)
