"""The shared partition definitions: daily history, weekly forecast vintages."""

import os
from datetime import date
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import dagster as dg


def _history_start() -> str:
    """SCP_HISTORY_START, checked here so that a typo fails loading naming the setting."""
    text = os.getenv("SCP_HISTORY_START", "2024-01-01")
    try:
        date.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"SCP_HISTORY_START must be a date like 2024-01-01, got {text!r}"
        ) from None
    return text


def _timezone() -> str:
    text = os.getenv("SCP_TIMEZONE", "UTC")
    try:
        ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"SCP_TIMEZONE must be an IANA time zone like Europe/Berlin, got {text!r}"
        ) from None
    return text


HISTORY_START = _history_start()
TIMEZONE = _timezone()

daily_partitions = dg.DailyPartitionsDefinition(start_date=HISTORY_START, timezone=TIMEZONE)

#: A forecast vintage is named by its origin: the Monday of the first forecast week.
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=HISTORY_START, day_offset=1, timezone=TIMEZONE
)
