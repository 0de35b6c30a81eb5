"""Schedules, sensors and alerts (filled in by the operations work)."""

schedules: list = []
sensors: list = []
