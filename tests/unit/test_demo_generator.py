"""The demo generator writes SE16N-style files that parse under the specs and behave like SAP data.

The files are parsed here with a small local pandas parser (not the ingest reader), so these
tests pin the file format itself.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipelines.demo import DemoConfig, generate
from pipelines.demo.__main__ import main
from pipelines.demo.generator import build_later_tables, build_tables
from pipelines.demo.master import make_master_data
from pipelines.demo.simulation import DemandLines, simulate
from pipelines.ingest.specs import TABLE_SPECS

SMALL = DemoConfig(materials=40, plants=2, customers=40, vendors=6, days=364, seed=7)
TINY = DemoConfig(materials=8, plants=2, customers=10, vendors=3, days=45, seed=3)
_DECIMAL = re.compile(r"^\d+,\d+-?$")


def _files(directory: Path, table: str) -> list[Path]:
    return sorted(directory.glob(f"{table}.csv")) + sorted(directory.glob(f"{table}_????????.csv"))


def _raw(directory: Path, table: str) -> pd.DataFrame:
    """All rows of a table as strings, with the file each came from."""
    spec = TABLE_SPECS[table]
    parts, sources = [], []
    for path in _files(directory, table):
        text = path.read_bytes().decode("utf-8")
        assert text.startswith("\ufeff"), path.name
        header, _, body = text[1:].partition("\r\n")
        assert header == ";".join(spec.column_names), path.name
        assert body.endswith("\r\n") and "\n" not in body.replace("\r\n", ""), path.name
        parts.append(body)
        sources += [path.name] * body.count("\r\n")
    frame = pd.read_csv(
        io.StringIO("".join(parts)),
        sep=";",
        names=spec.column_names,
        dtype=str,
        keep_default_na=False,
    )
    frame["_file"] = sources
    return frame


def _number(values: pd.Series) -> pd.Series:
    magnitude = values.str.rstrip("-").str.replace(",", ".", regex=False).astype(float)
    return magnitude.where(~values.str.endswith("-"), -magnitude)


def _parse(raw: pd.DataFrame, table: str) -> pd.DataFrame:
    """Typed rows: decimals with decimal comma and trailing minus, YYYYMMDD dates."""
    frame = raw.drop(columns="_file")
    for col in TABLE_SPECS[table].columns:
        if col.kind == "decimal":
            frame[col.name] = _number(frame[col.name])
        elif col.kind == "integer":
            frame[col.name] = frame[col.name].astype(np.int64)
        elif col.kind == "date":
            frame[col.name] = pd.to_datetime(
                frame[col.name].replace("00000000", None), format="%Y%m%d"
            )
    return frame


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("demo")
    return out, generate(SMALL, out)


@pytest.fixture(scope="module")
def raw_tables(small: tuple[Path, dict[str, int]]) -> dict[str, pd.DataFrame]:
    return {name: _raw(small[0], name) for name in TABLE_SPECS}


@pytest.fixture(scope="module")
def tables(raw_tables: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    return {name: _parse(raw, name) for name, raw in raw_tables.items()}


def _in_base_unit(items: pd.DataFrame, marm: pd.DataFrame, qty: str = "KWMENG") -> pd.DataFrame:
    """VBAP / LIPS with `qty` converted from the sales unit (VRKME) to the base unit.

    UMREN sales units = UMREZ base units.
    """
    units = marm.rename(columns={"MEINH": "VRKME"})
    merged = items.merge(units, on=["MATNR", "VRKME"], how="left", validate="many_to_one")
    assert merged["UMREZ"].notna().all(), "every sales unit has a MARM conversion"
    return merged.assign(**{qty: merged[qty] * merged["UMREZ"] / merged["UMREN"]})


def _weekly_demand(vbap: pd.DataFrame, start: date, days: int) -> pd.DataFrame:
    week = (vbap["ERDAT"] - pd.Timestamp(start)).dt.days // 7
    table = vbap.assign(week=week).pivot_table(
        index="week", columns=["MATNR", "WERKS"], values="KWMENG", aggfunc="sum"
    )
    return table.reindex(range(days // 7)).fillna(0.0)


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    first, again, other = tmp_path / "a", tmp_path / "b", tmp_path / "c"
    generate(TINY, first)
    generate(TINY, again)
    generate(DemoConfig(**{**TINY.__dict__, "seed": 4}), other)
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (first / name).read_bytes() == (again / name).read_bytes(), name
    assert (first / "VBAP_20240102.csv").read_bytes() != (other / "VBAP_20240102.csv").read_bytes()
    assert (first / "MARA.csv").read_bytes() != (other / "MARA.csv").read_bytes()


def test_counts_equal_file_lines_and_summary(small: tuple[Path, dict[str, int]]) -> None:
    out, counts = small
    assert list(counts) == list(TABLE_SPECS)
    for table, expected in counts.items():
        lines = sum(
            path.read_bytes().count(b"\r\n") - 1 for path in _files(out, table)
        )  # minus header
        assert lines == expected, table
        assert expected > 0, table
    summary = json.loads((out / "_generator_summary.json").read_text(encoding="utf-8"))
    assert summary["rows"] == counts
    assert summary["config"]["start"] == "2024-01-01"
    assert summary["config"]["materials"] == SMALL.materials


def test_partitioned_files_are_named_by_their_partition_day(
    small: tuple[Path, dict], raw_tables: dict[str, pd.DataFrame]
) -> None:
    out, _ = small
    for spec in TABLE_SPECS.values():
        if not spec.is_partitioned:
            assert [p.name for p in _files(out, spec.name)] == [f"{spec.name}.csv"]
            continue
        raw = raw_tables[spec.name]
        assert (raw["_file"] == spec.name + "_" + raw[spec.partition_column] + ".csv").all()
    # MARD has a snapshot every day of the window.
    assert len(_files(out, "MARD")) == SMALL.days


def test_values_follow_se16n_conventions(raw_tables: dict[str, pd.DataFrame]) -> None:
    seen_minus, seen_empty_date = set(), set()
    for spec in TABLE_SPECS.values():
        raw = raw_tables[spec.name]
        for col in spec.columns:
            values = raw[col.name]
            if col.kind == "decimal":
                assert values.str.match(_DECIMAL).all(), (spec.name, col.name)
                if values.str.endswith("-").any():
                    seen_minus.add(f"{spec.name}.{col.name}")
            elif col.kind == "date":
                assert values.str.fullmatch(r"\d{8}").all(), (spec.name, col.name)
                if (values == "00000000").any():
                    seen_empty_date.add(f"{spec.name}.{col.name}")
            elif col.alpha_length:
                filled = values[values != ""]
                assert filled.str.fullmatch(rf"\d{{{col.alpha_length}}}").all(), (
                    spec.name,
                    col.name,
                )
    assert {"MSEG.MENGE", "MSEG.DMBTR", "EKBE.MENGE"} <= seen_minus
    assert "VBAK.VDATU" in seen_empty_date
    assert raw_tables["MARA"]["MATNR"].str.startswith("000000000000").all()
    for table, column in [("KNA1", "KUNNR"), ("LFA1", "LIFNR"), ("VBAK", "VBELN")]:
        assert raw_tables[table][column].str.startswith("00").all(), column
    assert raw_tables["VBAP"]["POSNR"].str.fullmatch(r"\d{6}").all()  # NUMC with zeros


def test_keys_unique_required_present_and_allowed_values(
    tables: dict[str, pd.DataFrame],
) -> None:
    for name, spec in TABLE_SPECS.items():
        frame = tables[name]
        assert not frame.duplicated(list(spec.key)).any(), name
        for col in spec.columns:
            if col.required:
                assert frame[col.name].notna().all(), (name, col.name)
                if col.kind in ("text", "alpha"):
                    assert (frame[col.name] != "").all(), (name, col.name)
        for column, allowed in spec.allowed_values.items():
            assert frame[column].isin(allowed).all(), (name, column)


def test_stock_snapshots_equal_opening_stock_plus_goods_movements(
    tables: dict[str, pd.DataFrame],
) -> None:
    mard, mseg = tables["MARD"], tables["MSEG"]
    assert (mard["LABST"] >= 0).all()
    stock = mard.pivot_table(index="DATUM", columns=["MATNR", "WERKS"], values="LABST")
    moved = mseg.pivot_table(
        index="BUDAT_MKPF", columns=["MATNR", "WERKS"], values="MENGE", aggfunc="sum"
    )
    moved = moved.reindex(index=stock.index, columns=stock.columns).fillna(0.0)
    assert set(mseg.groupby(["MATNR", "WERKS"]).groups) <= set(stock.columns)
    exists = stock.notna()
    # No movement before a material exists at the plant (first MARD snapshot).
    assert (moved.where(~exists, 0.0) == 0).all().all()
    opening = stock.bfill().iloc[0] - moved.cumsum().where(exists).bfill().iloc[0]
    assert (opening >= 0).all()
    expected = opening + moved.cumsum()
    diff = (stock - expected).where(exists)
    assert np.nanmax(np.abs(diff.to_numpy())) == 0
    # Each issue is signed and flagged: H negative, S positive.
    assert ((mseg["SHKZG"] == "H") == (mseg["MENGE"] < 0)).all()
    assert set(mseg["BWART"]) == {"101", "102", "261", "551", "601", "602"}


def test_reversals_cancel_a_posting_of_the_same_quantity(tables: dict[str, pd.DataFrame]) -> None:
    mseg = tables["MSEG"]
    for reversal, original in (("102", "101"), ("602", "601")):
        rev = mseg[mseg["BWART"] == reversal]
        assert len(rev) > 0
        keys = ["MATNR", "WERKS", "BUDAT_MKPF"]
        orig = mseg[mseg["BWART"] == original].assign(MENGE=lambda f: -f["MENGE"])
        matched = rev.merge(orig, on=[*keys, "MENGE"], how="left", indicator=True)
        assert (matched["_merge"] == "both").all(), reversal


def test_contract_customers_order_in_full_and_the_rest_ship_what_they_order(
    tables: dict[str, pd.DataFrame],
) -> None:
    vbak, mseg = tables["VBAK"], tables["MSEG"]
    vbap = _in_base_unit(tables["VBAP"], tables["MARM"])
    issues = mseg[mseg["BWART"].isin(["601", "602"])]
    issued = -issues.groupby(["KDAUF", "MATNR"])["MENGE"].sum().rename_axis(["VBELN", "MATNR"])
    items = vbap.merge(vbak[["VBELN", "KUNNR"]], on="VBELN")
    items = items.assign(
        issued=pd.MultiIndex.from_frame(items[["VBELN", "MATNR"]]).map(issued).fillna(0.0)
    )
    master = make_master_data(
        np.random.default_rng(SMALL.seed),
        SMALL.materials,
        SMALL.plants,
        SMALL.customers,
        SMALL.vendors,
        SMALL.days,
    )
    contract_kunnr = {f"{k:010d}" for k in master.customers.kunnr[master.customers.contract]}
    contract = items["KUNNR"].isin(contract_kunnr)
    assert 0.2 < len(contract_kunnr) / SMALL.customers < 0.3
    # Other customers' orders are what shipped (a stockout was a lost sale, no order).
    assert (items.loc[~contract, "issued"] == items.loc[~contract, "KWMENG"]).all()
    # Contract customers' orders keep the requested quantity; only the stock on hand shipped.
    short = items[contract & (items["issued"] < items["KWMENG"])]
    assert (items["issued"] <= items["KWMENG"]).all()
    assert (short["issued"] == 0).any() and (short["issued"] > 0).any()
    assert vbap.groupby("VBELN").size().max() > 1  # several lines per order happen
    dated = vbak.dropna(subset=["VDATU"])
    lead = (dated["VDATU"] - dated["ERDAT"]).dt.days
    assert lead.between(0, 10).all() and lead.mean() > 1
    assert set(vbap["VBELN"]) == set(vbak["VBELN"])


def test_units_currencies_deliveries_and_addresses_fit_together(
    tables: dict[str, pd.DataFrame],
) -> None:
    vbak, vbap, likp, lips = (tables[n] for n in ("VBAK", "VBAP", "LIKP", "LIPS"))
    base_unit = tables["MARA"].set_index("MATNR")["MEINS"]
    alternative = vbap["VRKME"] != vbap["MATNR"].map(base_unit)
    assert 0 < alternative.mean() < 0.5  # some items are sold in cartons or packs
    marm = tables["MARM"]
    assert (
        (marm[marm["MEINH"] == marm["MATNR"].map(base_unit)][["UMREZ", "UMREN"]] == 1).all().all()
    )
    # Yen orders: every item in the header's currency, amounts stored shifted (TCURX JPY = 0).
    assert tables["TCURX"].set_index("CURRKEY")["CURRDEC"]["JPY"] == 0
    assert set(vbak["WAERK"]) == {"EUR", "JPY"}
    items = vbap.merge(vbak[["VBELN", "WAERK"]], on="VBELN", suffixes=("", "_header"))
    assert (items["WAERK"] == items["WAERK_header"]).all()
    # One delivery per order that shipped, one item per order item that shipped, in its unit.
    assert likp["VBELN"].is_unique and set(likp["VBELN"]) == set(lips["VBELN"])
    delivered = lips.merge(
        vbap, left_on=["VGBEL", "VGPOS"], right_on=["VBELN", "POSNR"], suffixes=("", "_order")
    )
    assert len(delivered) == len(lips) < len(vbap)
    assert (delivered.groupby("VBELN")["VGBEL"].nunique() == 1).all()
    for column in ("MATNR", "WERKS", "ERDAT", "VRKME"):
        assert (delivered[column] == delivered[f"{column}_order"]).all(), column
    assert delivered["LFIMG"].between(1, delivered["KWMENG"]).all()
    assert (delivered["LFIMG"] < delivered["KWMENG"]).any()  # partial deliveries
    assert (
        (delivered["LFIMG"] < delivered["KWMENG"])
        & (delivered["VRKME"] != delivered["MATNR"].map(base_unit))
    ).any()
    assert (lips["MEINS"] == lips["MATNR"].map(base_unit)).all()
    # Every plant and customer has exactly one address, and the ADRC coordinates are KNA1's.
    adrv, adrc = tables["ADRV"], tables["ADRC"]
    owners = adrv.groupby("APPL_TABLE")["APPL_KEY"].apply(lambda k: set(k.str[3:]))
    assert owners["T001W"] == set(tables["T001W"]["WERKS"])
    assert owners["KNA1"] == set(tables["KNA1"]["KUNNR"])
    addresses = adrv[adrv["APPL_TABLE"] == "KNA1"].merge(adrc, on="ADDRNUMBER")
    located = addresses.assign(KUNNR=addresses["APPL_KEY"].str[3:]).merge(
        tables["KNA1"], on="KUNNR", suffixes=("", "_kna1")
    )
    assert len(located) == len(tables["KNA1"])
    assert (located["LATITUDE"] == located["LATITUDE_kna1"]).all()


def test_deliveries_carry_the_goods_issues_some_after_the_requested_date(
    tables: dict[str, pd.DataFrame],
) -> None:
    likp, mseg, vbak = tables["LIKP"], tables["MSEG"], tables["VBAK"]
    lips = _in_base_unit(tables["LIPS"], tables["MARM"], qty="LFIMG")
    issues = mseg[mseg["BWART"].isin(["601", "602"])]
    issued = -issues.groupby(["KDAUF", "MATNR"])["MENGE"].sum()
    shipped = lips.groupby(["VGBEL", "MATNR"])["LFIMG"].sum().rename_axis(["KDAUF", "MATNR"])
    pd.testing.assert_series_equal(
        shipped.sort_index(), issued[issued != 0].sort_index(), check_names=False
    )
    # The goods issue posts on the delivery's actual goods issue day.
    order_of_delivery = lips.drop_duplicates("VBELN").set_index("VBELN")["VGBEL"]
    deliveries = likp.assign(KDAUF=likp["VBELN"].map(order_of_delivery))
    posted = issues[issues["BWART"] == "601"].groupby("KDAUF")["BUDAT_MKPF"].agg(["min", "max"])
    deliveries = deliveries.join(posted, on="KDAUF")
    assert (deliveries["min"] == deliveries["WADAT_IST"]).all()
    assert (deliveries["max"] == deliveries["WADAT_IST"]).all()
    # Planned on the order day; most leave then, a few after the requested delivery date.
    deliveries = deliveries.merge(vbak, left_on="KDAUF", right_on="VBELN", suffixes=("", "_so"))
    assert (deliveries["WADAT"] == deliveries["ERDAT_so"]).all()
    assert (deliveries["WADAT_IST"] >= deliveries["WADAT"]).all()
    late = deliveries["WADAT_IST"] > deliveries["LFDAT"]
    assert 0.02 < late.mean() < 0.12
    assert ((deliveries["WADAT_IST"] - deliveries["LFDAT"]).dt.days[late] <= 3).all()


def test_goods_receipts_arrive_after_a_lead_time_varying_around_the_planned_one(
    tables: dict[str, pd.DataFrame],
) -> None:
    ekko, ekpo, eket, ekbe = tables["EKKO"], tables["EKPO"], tables["EKET"], tables["EKBE"]
    eina, eine = tables["EINA"], tables["EINE"]
    planned = eket.merge(ekpo, on=["EBELN", "EBELP"]).merge(ekko[["EBELN", "LIFNR"]], on="EBELN")
    planned = planned.merge(eina, on=["MATNR", "LIFNR"]).merge(eine, on=["INFNR", "WERKS"])
    assert len(planned) == len(eket)
    assert ((planned["EINDT"] - planned["BEDAT"]).dt.days == planned["APLFZ"]).all()

    receipts = ekbe[ekbe["BWART"] == "101"].merge(eket, on=["EBELN", "EBELP"])
    actual = (receipts["BUDAT"] - receipts["BEDAT"]).dt.days
    plan = (receipts["EINDT"] - receipts["BEDAT"]).dt.days
    ratio = actual / plan
    assert 0.85 < ratio.median() < 1.3
    assert (receipts["BUDAT"] > receipts["EINDT"]).mean() > 0.1  # some late
    assert (receipts["BUDAT"] < receipts["EINDT"]).mean() > 0.05  # some early
    assert (actual - plan).std() > 1
    # WEMNG is what the receipts (net of reversals) brought in.
    received = ekbe.groupby(["EBELN", "EBELP"])["MENGE"].sum()
    wemng = eket.set_index(["EBELN", "EBELP"])["WEMNG"]
    assert np.allclose(received.reindex(wemng.index).fillna(0.0), wemng)
    assert (eket["WEMNG"] <= eket["MENGE"]).all()


def test_weekly_demand_mixes_syntetos_boylan_classes(tables: dict[str, pd.DataFrame]) -> None:
    weekly = _weekly_demand(_in_base_unit(tables["VBAP"], tables["MARM"]), SMALL.start, SMALL.days)
    classes = []
    for _, series in weekly.items():
        nonzero = series[series > 0]
        adi = len(series) / len(nonzero)
        cv2 = (nonzero.std(ddof=0) / nonzero.mean()) ** 2
        classes.append(
            ("smooth" if cv2 < 0.49 else "erratic")
            if adi < 1.32
            else ("intermittent" if cv2 < 0.49 else "lumpy")
        )
    assert "smooth" in classes
    assert {"intermittent", "lumpy"} & set(classes)
    assert len(set(classes)) >= 3


def test_demand_has_a_weekday_pattern_and_life_cycles(tables: dict[str, pd.DataFrame]) -> None:
    vbap, mara, marc = _in_base_unit(tables["VBAP"], tables["MARM"]), tables["MARA"], tables["MARC"]
    per_day = vbap.groupby("ERDAT")["KWMENG"].sum()
    per_day = per_day.reindex(pd.date_range(SMALL.start, periods=SMALL.days), fill_value=0.0)
    weekday_mean = per_day.groupby(per_day.index.dayofweek).mean()
    assert weekday_mean[[5, 6]].max() < 0.3 * weekday_mean[[0, 1, 2, 3, 4]].min()

    # New items: created inside the window, stocked from then on, sold only afterwards.
    first_sale = vbap.groupby("MATNR")["ERDAT"].min()
    first_stock = tables["MARD"].groupby("MATNR")["DATUM"].min()
    launched = mara[mara["ERSDA"] > pd.Timestamp(SMALL.start)].set_index("MATNR")["ERSDA"]
    assert len(launched) > 0
    assert (first_stock[launched.index] == launched).all()
    assert (first_sale.reindex(launched.index).dropna() > launched).all()

    # Discontinued items (MMSTA set) stop selling well before the window ends.
    discontinued = marc.loc[marc["MMSTA"] != "", "MATNR"].unique()
    assert len(discontinued) > 0
    last_sale = vbap.groupby("MATNR")["ERDAT"].max().reindex(discontinued).dropna()
    assert len(last_sale) > 0
    assert (last_sale < pd.Timestamp(SMALL.start) + pd.Timedelta(days=SMALL.days - 14)).all()


def test_stockouts_occur_between_sales(tables: dict[str, pd.DataFrame]) -> None:
    mard, vbap = tables["MARD"], tables["VBAP"]
    sales = vbap.groupby(["MATNR", "WERKS"])["ERDAT"].agg(["min", "max"])
    empty = mard[mard["LABST"] == 0].merge(sales, left_on=["MATNR", "WERKS"], right_index=True)
    stockouts = empty[(empty["DATUM"] > empty["min"]) & (empty["DATUM"] < empty["max"])]
    series_out = stockouts.groupby(["MATNR", "WERKS"]).size()
    n_series = mard.groupby(["MATNR", "WERKS"]).ngroups
    assert len(series_out) >= 3
    assert len(series_out) < n_series  # not every series runs dry
    assert len(stockouts) < 0.2 * len(mard)


def test_master_data_is_plausible(tables: dict[str, pd.DataFrame]) -> None:
    t001w, kna1, marc, mbew, eine = (tables[n] for n in ("T001W", "KNA1", "MARC", "MBEW", "EINE"))
    for frame in (t001w, kna1):
        assert frame["LATITUDE"].between(35, 60).all()
        assert frame["LONGITUDE"].between(-10, 25).all()
    assert set(kna1["LAND1"]) <= {"DE", "FR", "NL", "BE", "AT", "IT", "ES"}
    assert (marc["DISMM"] == "VB").all() and (marc["PLIFZ"] > 0).all()
    assert ((marc["BSTMI"] % marc["BSTRF"]) == 0).all()
    assert (mbew["VERPR"] > 0).all() and set(mbew["VPRSV"]) <= {"S", "V"}
    assert (eine["MINBM"] > 0).all() and (eine["NORBM"] >= eine["MINBM"]).all()
    vendors_per_material = tables["EINA"].groupby("MATNR")["LIFNR"].nunique()
    assert set(vendors_per_material) <= {1, 2} and 2 in set(vendors_per_material)


def test_regeneration_replaces_earlier_demo_files_only(tmp_path: Path) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("mine", encoding="utf-8")
    generate(TINY, tmp_path)
    shorter = DemoConfig(**{**TINY.__dict__, "days": 10})
    counts = generate(shorter, tmp_path)
    assert keep.read_text(encoding="utf-8") == "mine"
    assert len(_files(tmp_path, "MARD")) == 10
    assert (
        sum(p.read_bytes().count(b"\r\n") - 1 for p in _files(tmp_path, "VBAP")) == counts["VBAP"]
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [("materials", 0), ("plants", -1), ("days", 0), ("customers", 1), ("seed", -5)],
)
def test_bad_config_names_the_parameter(field: str, value: int) -> None:
    with pytest.raises(ValueError, match=f"DemoConfig.{field}"):
        DemoConfig(**{**TINY.__dict__, field: value})


def test_cli_writes_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--materials", "3", "--plants", "1", "--customers", "4", "--vendors", "2"]
    assert main([*args, "--days", "14", "--start", "2025-03-01", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "MARD_20250314.csv").exists()
    assert not (tmp_path / "MARD_20250315.csv").exists()
    assert "rows written" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["--start", "01.03.2025", "--out", str(tmp_path)])


def test_short_lines_of_contract_customers_are_ordered_in_full_and_shipped_in_part() -> None:
    config = DemoConfig(materials=3, plants=1, customers=4, vendors=2, days=10, seed=5)
    rng = np.random.default_rng(config.seed)
    master = make_master_data(rng, 3, 1, 4, 2, config.days)
    sim = simulate(rng, master, config.start, config.days)
    [contract] = np.flatnonzero(master.customers.contract)
    other = (contract + 1) % 4
    # (day, series, customer, requested, delivered by the stock of the day)
    requests = [
        (2, 0, contract, 10, 4),  # short: ordered 10, ships 4
        (2, 0, other, 6, 0),  # lost sale: no order at all
        (2, 1, contract, 5, 0),  # ordered, ships nothing: no delivery item, no 601
        (2, 1, other, 3, 3),
        (4, 1, contract, 7, 0),  # an order that ships nothing: no delivery
    ]
    day, series, customer, qty, delivered = (np.array(col) for col in zip(*requests, strict=True))
    lines = DemandLines(day, series, customer, qty, np.zeros(len(day)))
    sim = replace(sim, lines=lines, delivered=delivered)
    tables, shipments = build_tables(rng, master, sim, config)
    tables.update(build_later_tables(np.random.default_rng(0), master, tables, shipments))

    marm = pd.DataFrame(tables["MARM"])
    vbap = _in_base_unit(pd.DataFrame(tables["VBAP"]), marm)
    lips = _in_base_unit(pd.DataFrame(tables["LIPS"]), marm, qty="LFIMG")
    vbak, likp, mseg = (pd.DataFrame(tables[name]) for name in ("VBAK", "LIKP", "MSEG"))
    matnr = master.materials.matnr[master.series.material]
    kunnr = master.customers.kunnr
    order_of = dict(zip(vbak["KUNNR"] * 100 + vbak["ERDAT"], vbak["VBELN"], strict=True))
    key = [(order_of[kunnr[c] * 100 + d], matnr[s]) for d, s, c, _, _ in requests]
    ordered = vbap.set_index(["VBELN", "MATNR"])["KWMENG"]
    assert ordered.to_dict() == {key[i]: qty[i] for i in (0, 2, 3, 4)}
    assert lips.set_index(["VGBEL", "MATNR"])["LFIMG"].to_dict() == {key[0]: 4, key[3]: 3}
    items = lips.merge(vbap, left_on=["VGBEL", "VGPOS"], right_on=["VBELN", "POSNR"])
    assert (items["VRKME_x"] == items["VRKME_y"]).all()
    issues = mseg[mseg["BWART"].isin(["601", "602"])].groupby(["KDAUF", "MATNR"])["MENGE"].sum()
    assert issues.to_dict() == {key[0]: -4, key[3]: -3}
    assert len(vbak) == 3
    assert set(likp["VBELN"]) == set(lips["VBELN"]) and len(likp) == 2


def test_a_table_added_to_the_specs_needs_demo_rows_unless_optional(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calendar = replace(TABLE_SPECS["T001W"], name="ZPLANT_CAL", optional=True)
    monkeypatch.setitem(TABLE_SPECS, "ZPLANT_CAL", calendar)
    counts = generate(TINY, tmp_path / "optional")
    assert "ZPLANT_CAL" not in counts and counts["T001W"] > 0

    monkeypatch.setitem(TABLE_SPECS, "ZPLANT_CAL", replace(calendar, optional=False))
    with pytest.raises(ValueError, match="table spec ZPLANT_CAL is required, but the demo"):
        generate(TINY, tmp_path / "required")
