"""The window checks of `python -m pipelines materialize`, before anything runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from pipelines.__main__ import main
from pipelines.materialize import WindowError, check_window
from pipelines.partitions import HISTORY_START

START = date(2024, 1, 1)


def test_a_window_of_two_full_weeks_inside_the_partitions_passes() -> None:
    check_window(date(2024, 1, 1), date(2024, 1, 14), START)  # Mon 1 Jan .. Sun 14 Jan


@pytest.mark.parametrize(
    ("first", "last", "says"),
    [
        (date(2023, 12, 1), date(2024, 3, 1), "set SCP_HISTORY_START=2023-12-01"),
        (date(2024, 3, 1), date(2024, 2, 1), "--to 2024-02-01 is before --from 2024-03-01"),
        (date(2024, 1, 1), date(2024, 1, 13), "fewer than two full Monday-Sunday weeks"),
    ],
)
def test_a_window_the_pipeline_cannot_run_says_how_to_fix_it(
    first: date, last: date, says: str
) -> None:
    with pytest.raises(WindowError, match=says):
        check_window(first, last, START)


def test_the_command_refuses_a_window_before_the_history_start(capsys) -> None:
    before = date.fromisoformat(HISTORY_START).replace(year=2015)
    with pytest.raises(SystemExit) as exit_info:
        main(["materialize", "--from", before.isoformat(), "--to", HISTORY_START])
    assert exit_info.value.code == 2
    assert f"set SCP_HISTORY_START={before}" in capsys.readouterr().err


def test_the_command_refuses_a_landing_zone_that_is_not_there(
    capsys, tmp_path, monkeypatch
) -> None:
    """It failed after 20 s with a stack trace about the first master extract it missed."""
    monkeypatch.setenv("SCP_LANDING_DIR", str(tmp_path / "nowhere"))
    start = date.fromisoformat(HISTORY_START)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "materialize",
                "--from",
                start.isoformat(),
                "--to",
                (start + timedelta(days=27)).isoformat(),
            ]
        )
    assert exit_info.value.code == 2
    assert f"landing zone {tmp_path / 'nowhere'} does not exist" in capsys.readouterr().err


def test_the_summary_says_nothing_it_cannot_compute(tmp_path) -> None:
    """`materialize` ends with the summary: a seasonal-naive MASE of 0 raised ZeroDivisionError
    after every run had succeeded, and a replay without demand printed `nan%`."""
    from pipelines.demo.summary import summary_lines
    from resources.warehouse import WarehouseSettings

    settings = WarehouseSettings(kind="duckdb", duckdb_path=str(tmp_path / "w.duckdb"))
    with settings.open().connect() as con:
        con.execute("create schema if not exists planning")
        con.execute(
            "create table planning.forecast_backtest as select * from (values "
            "('seasonal_naive', 0.0, 0.1, true), ('ets', 0.0, 0.1, true)) "
            "as t(model, mase, wape, selected)"
        )
        con.execute(
            "create table planning.policy_backtest (forecast_origin date, filled_demand double, "
            "total_demand double, fill_rate_target double)"
        )
        con.execute("create table planning.demand_forecast as select 1 as x")
    lines = summary_lines(None, settings)
    assert not any("nan" in line or "MASE" in line or "replayed" in line for line in lines)
    assert any(line.split() == ["forecast", "rows", "1"] for line in lines)
    assert any(line.startswith("Warehouse: ") for line in lines)
