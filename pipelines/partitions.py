"""The shared partition definitions: daily history, weekly forecast vintages."""

import os

import dagster as dg

HISTORY_START = os.getenv("SCP_HISTORY_START", "2024-01-01")
TIMEZONE = os.getenv("SCP_TIMEZONE", "UTC")

daily_partitions = dg.DailyPartitionsDefinition(start_date=HISTORY_START, timezone=TIMEZONE)

#: A forecast vintage is named by its origin: the Monday of the first forecast week.
weekly_partitions = dg.WeeklyPartitionsDefinition(
    start_date=HISTORY_START, day_offset=1, timezone=TIMEZONE
)
