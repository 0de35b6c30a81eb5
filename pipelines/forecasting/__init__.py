"""Demand forecasting: classification, model zoo, backtest selection, quantiles,
reconciliation, scenarios and accuracy tracking (pure functions, no Dagster)."""

from pipelines.forecasting.accuracy import accuracy, accuracy_by_class, detect_degradation
from pipelines.forecasting.engine import ForecastConfig, ForecastResult, run_forecast
from pipelines.forecasting.panel import classify_demand
from pipelines.forecasting.plots import fan_chart_png
from pipelines.forecasting.reconcile import ReconciliationResult, reconcile
from pipelines.forecasting.scenario import apply_scenario

__all__ = [
    "ForecastConfig",
    "ForecastResult",
    "ReconciliationResult",
    "accuracy",
    "accuracy_by_class",
    "apply_scenario",
    "classify_demand",
    "detect_degradation",
    "fan_chart_png",
    "reconcile",
    "run_forecast",
]
