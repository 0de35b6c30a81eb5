"""The YAML mapping engine: every expression, filter and option, and every error message."""

from __future__ import annotations

import codecs
import copy
import json
import math
import re
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from pipelines.ingest.__main__ import main as cli
from pipelines.ingest.landing import LandingNameError, parse_landing_name
from pipelines.ingest.mapping import (
    SUMMARY_FILE,
    MappedTable,
    MappingError,
    Sources,
    load_mapping,
    map_sources,
    map_tables,
    mapping_issues,
    parse_mapping,
    write_landing,
)
from pipelines.ingest.reader import SapFileReader
from pipelines.ingest.specs import SAP_DECIMALS, SAP_LENGTHS, TABLE_SPECS

# Five unit rows of SHINE's T006 (headerless, column order of SAP's hdbtabledata).
T006_ROWS = """\
000,EA,X,X,0,X, , , ,AAAADL,1,1,0,0.000000,0,0,EA, ,0, , ,0, 
000,G,X,X,3,X, , , ,MASS,1,1000,0,0.000000,0,0,GRM,X,0, , ,0, 
000,KG,X,X,3,X, , , ,MASS,1,1,0,0.000000,0,0,KGM,X,0, , ,0, 
000,ST,X,X,0,X, , , ,AAAADL,1,1,0,0.000000,0,0,PCE,X,0, , ,0, 
000,TO,X,X,3,X, , , ,MASS,1000,1,0,0.000000,0,0,TNE,X,0, , ,0, 
000,M,X,X,2,X, , , ,LENGTH,1,1,0,0.000000,0,0,MTR,X,0, , ,0, 
000,GC,X,X,0,X, , , ,TEMP,1,1,0,273.150000,0,0,CEL,X,0, , ,0, 
"""
T006_COLUMNS = [
    "MANDT", "MSEHI", "KZEX3", "KZEX6", "ANDEC", "KZKEH", "KZWOB", "KZ1EH", "KZ2EH", "DIMID",
    "ZAEHL", "NENNR", "EXP10", "ADDKO", "EXPON", "DECAN", "ISOCODE", "PRIMARY", "TEMP_VALUE",
    "TEMP_UNIT", "FAMUNIT", "PRESS_VAL", "PRESS_UNIT",
]  # fmt: skip

FILES = {
    "products.csv": (
        "PRODUCTID,TYPE,NAME,WEIGHT,WUNIT,PRICE,CURRENCY,SUPPLIER,CREATED\n"
        "HT-1000,PR,Notebook,4.2,KG,956,EUR,100000000,2012-10-03\n"
        "HT-1001,PR,Screen,250,G,1249.5,USD,100000002,2013-01-31\n"
        "AD-1000,AD,Flyer,0.5,TO,0,EUR,100000002,2014-02-28\n"
    ),
    "partners.csv": (
        "ID,ROLE,NAME,ADDRESS\n"
        "100000000,1,SAP,1\n"
        "100000001,2,Becker; Berlin,2\n"
        "100000002,1,Talpa,9\n"
    ),
    "addresses.csv": "ADDRESSID,CITY,LAT,LON\n1,Walldorf,49.2936736,8.6417\n2,Berlin,52.6,13.3\n",
    "orders.csv": (
        "ORDER,CREATED,CUSTOMER,STATUS\n"
        "500000000,2015-01-01,100000001,N\n"
        "500000001,2015-01-02,100000000,X\n"
        "500000002,2016-03-04,100000001,N\n"
    ),
    "items.csv": (
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n"
        "500000000,10,HT-1000,2,EA,1912\n"
        "500000000,20,HT-1001,3,EA,3748.5\n"
        "500000001,10,HT-1000,1,EA,956\n"
        "500000002,10,AD-1000,5,EA,0\n"
    ),
    "T006.csv": T006_ROWS,
}


@pytest.fixture
def source(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    for name, text in FILES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def base_document() -> dict[str, Any]:
    """A mapping of the test exports that exercises most features at once."""
    return {
        "version": 1,
        "files": {"T006.csv": {"columns": T006_COLUMNS}},
        "codes": {"unit": {"EA": "ST", "KG": "KG", "G": "G", "TO": "TO"}},
        "lookups": {"order": {"file": "orders.csv", "key": "ORDER", "by": "ORDER"}},
        "defaults": {"WERKS": "1000"},
        "tables": {
            "VBAP": {
                "source": "items.csv",
                "columns": {
                    "VBELN": "ORDER",
                    "POSNR": "ITEM",
                    "MATNR": "PRODUCT",
                    "KWMENG": {
                        "convert": "QTY",
                        "from": "UNIT",
                        "to": {"const": "ST"},
                        "units": "T006.csv",
                    },
                    "VRKME": {"code": "UNIT", "map": "unit"},
                    "NETWR": "AMOUNT",
                    "ERDAT": {"lookup": "order", "value": "CREATED"},
                },
            }
        },
    }


def mapped(source: Path, document: dict[str, Any]) -> dict[str, MappedTable]:
    config = parse_mapping(document)
    return map_tables(config, Sources(config, source))


def with_table(table: str, block: Any) -> dict[str, Any]:
    document = base_document()
    document["tables"] = {table: block}
    return document


def column(tables: dict[str, MappedTable], table: str, name: str) -> list:
    values = tables[table].data[name]
    return [None if pd.isna(v) else v for v in values]


def dates(*texts: str) -> list[pd.Timestamp]:
    return [pd.Timestamp(t) for t in texts]


# -- expressions -------------------------------------------------------------------------------


def test_source_columns_are_typed_by_the_target_column(source: Path):
    vbap = mapped(source, base_document())["VBAP"].data
    assert vbap["VBELN"].tolist() == ["0500000000", "0500000000", "0500000001", "0500000002"]
    assert vbap["POSNR"].tolist() == [10, 20, 10, 10]
    assert str(vbap["POSNR"].dtype) == "Int64"
    assert vbap["NETWR"].tolist() == [1912.0, 3748.5, 956.0, 0.0]
    assert vbap["MATNR"].tolist() == ["HT-1000", "HT-1001", "HT-1000", "AD-1000"]
    assert vbap["ERDAT"].tolist() == dates("2015-01-01", "2015-01-01", "2015-01-02", "2016-03-04")
    assert vbap["WERKS"].tolist() == ["1000"] * 4  # global default
    assert vbap["WAERK"].isna().all()  # not mapped, no default


def test_const_and_concat(source: Path):
    tables = mapped(
        source,
        with_table(
            "EINA",
            {
                "source": "products.csv",
                "columns": {
                    "INFNR": {"concat": [{"const": "IR"}, "PRODUCTID", "TYPE"], "sep": "-"},
                    "MATNR": "PRODUCTID",
                    "LIFNR": {"concat": [{"const": 7}, {"const": None}]},
                },
            },
        ),
    )
    assert column(tables, "EINA", "INFNR") == ["IR-HT-1000-PR", "IR-HT-1001-PR", "IR-AD-1000-AD"]
    assert column(tables, "EINA", "LIFNR") == ["0000000007"] * 3  # empty parts count as ""


def test_concat_of_empty_parts_is_empty(source: Path):
    tables = mapped(
        source,
        with_table(
            "MAKT",
            {
                "source": "products.csv",
                "columns": {
                    "MATNR": "PRODUCTID",
                    "SPRAS": {"const": "E"},
                    "MAKTX": {"concat": [{"const": None}, {"const": None}], "sep": "-"},
                },
            },
        ),
    )
    assert column(tables, "MAKT", "MAKTX") == [None, None, None]


def test_lookups_named_inline_composite_filtered_and_unmatched(source: Path):
    document = with_table(
        "KNA1",
        {
            "source": "partners.csv",
            "columns": {
                "KUNNR": "ID",
                "NAME1": "NAME",
                "ORT01": {
                    "lookup": {"file": "addresses.csv", "key": "ADDRESSID", "by": "ADDRESS"},
                    "value": "CITY",
                },
                "LATITUDE": {"lookup": "address", "value": "LAT"},
                # composite key, and a filtered lookup that finds only Walldorf
                "PSTLZ": {
                    "lookup": {
                        "file": "addresses.csv",
                        "key": ["ADDRESSID", "CITY"],
                        "by": ["ADDRESS", {"const": "Walldorf"}],
                    },
                    "value": {"concat": [{"const": "DE"}, "ADDRESSID"]},
                },
                "LAND1": {
                    "lookup": {
                        "file": "addresses.csv",
                        "key": "ADDRESSID",
                        "by": "ADDRESS",
                        "where": [{"source": "CITY", "equals": "Berlin"}],
                    },
                    "value": {"const": "DE"},
                },
            },
        },
    )
    document["lookups"]["address"] = {"file": "addresses.csv", "key": "ADDRESSID", "by": "ADDRESS"}
    tables = mapped(source, document)
    assert column(tables, "KNA1", "ORT01") == ["Walldorf", "Berlin", None]  # address 9 is missing
    assert column(tables, "KNA1", "LATITUDE") == [49.2936736, 52.6, None]
    assert column(tables, "KNA1", "PSTLZ") == ["DE1", None, None]
    assert column(tables, "KNA1", "LAND1") == [None, "DE", None]


def test_date_with_its_own_format(source: Path):
    (source / "dated.csv").write_text("ID,DAY\n1,31.01.2015\n2,\n")
    tables = mapped(
        source,
        with_table(
            "MARA",
            {
                "source": "dated.csv",
                "columns": {
                    "MATNR": "ID",
                    "MTART": {"const": "HAWA"},
                    "ERSDA": {"date": "DAY", "format": "DD.MM.YYYY"},
                },
            },
        ),
    )
    assert column(tables, "MARA", "ERSDA") == [pd.Timestamp("2015-01-31"), None]
    assert column(tables, "MARA", "MATNR") == ["000000000000000001", "000000000000000002"]


@pytest.mark.parametrize(
    ("ersda", "expected"),
    [
        ("US", ["2015-01-31", "2015-01-02"]),  # the file's format
        ({"date": "UK", "format": "DD/MM/YYYY"}, ["2015-01-31", "2015-02-01"]),
    ],
)
def test_dates_of_a_us_sap_logon_and_of_a_day_first_excel_file(
    source: Path, ersda: Any, expected: list[str]
):
    """A file's format MM/DD/YYYY (SAP user date format 2), a column's DD/MM/YYYY (Excel, UK):
    the same text, `01/02/2015`, is 2 January in one and 1 February in the other."""
    (source / "dated.csv").write_text(
        "ID,US,UK\n1,01/31/2015,31/01/2015\n2,01/02/2015,01/02/2015\n"
    )
    columns = {"MATNR": "ID", "MTART": {"const": "HAWA"}, "ERSDA": ersda}
    document = with_table("MARA", {"source": "dated.csv", "columns": columns})
    document["files"]["dated.csv"] = {"date_format": "MM/DD/YYYY"}
    tables = mapped(source, document)
    assert column(tables, "MARA", "ERSDA") == dates(*expected)


def test_multiply_by_a_number_and_by_a_column(source: Path):
    document = base_document()
    columns = document["tables"]["VBAP"]["columns"]
    columns["NETWR"] = {"multiply": "AMOUNT", "by": -1}
    columns["KWMENG"] = {"multiply": "QTY", "by": "ITEM"}
    tables = mapped(source, document)
    assert column(tables, "VBAP", "NETWR") == [-1912.0, -3748.5, -956.0, -0.0]
    assert column(tables, "VBAP", "KWMENG") == [20.0, 60.0, 10.0, 50.0]


def test_convert_by_t006_and_by_explicit_factors(source: Path):
    tables = mapped(
        source,
        with_table(
            "MARA",
            [
                {
                    "source": "products.csv",
                    "columns": {
                        "MATNR": "PRODUCTID",
                        "MTART": {"const": "HAWA"},
                        "BRGEW": {
                            "convert": "WEIGHT",
                            "from": "WUNIT",
                            "to": {"const": "KG"},
                            "units": "T006.csv",
                        },
                    },
                },
                {
                    "source": "products.csv",
                    "columns": {
                        "MATNR": {"concat": ["PRODUCTID", {"const": "X"}]},
                        "MTART": {"const": "HAWA"},
                        "BRGEW": {
                            "convert": "WEIGHT",
                            "from": "WUNIT",
                            "factors": {"KG": 1000, "G": 1, "TO": 1e6},
                        },
                    },
                },
            ],
        ),
    )
    weights = column(tables, "MARA", "BRGEW")
    assert weights[:3] == pytest.approx([4.2, 0.25, 500.0])  # KG, G -> KG, TO -> KG
    assert weights[3:] == pytest.approx([4200.0, 250.0, 500000.0])  # to grams


def test_code_tables_with_each_unmapped_policy(source: Path):
    def material_types(unmapped: str) -> list:
        return column(
            mapped(
                source,
                with_table(
                    "MARA",
                    {
                        "source": "products.csv",
                        "columns": {
                            "MATNR": "PRODUCTID",
                            "MTART": {"code": "TYPE", "map": {"PR": "HAWA"}, "unmapped": unmapped},
                        },
                    },
                ),
            ),
            "MARA",
            "MTART",
        )

    assert material_types("keep") == ["HAWA", "HAWA", "AD"]
    assert material_types("empty") == ["HAWA", "HAWA", None]


def test_year_of_a_date(source: Path):
    document = base_document()
    document["tables"] = {
        "MKPF": {
            "source": "orders.csv",
            "columns": {
                "MBLNR": "ORDER",
                "MJAHR": {"year": "CREATED"},
                "BUDAT": "CREATED",
            },
        }
    }
    assert column(mapped(source, document), "MKPF", "MJAHR") == [2015, 2015, 2016]


# -- filters -----------------------------------------------------------------------------------


@pytest.fixture
def partners(source: Path):
    """The partner ids LFA1 keeps under a list of filters."""

    def kept(where: list) -> list[int]:
        document = with_table(
            "LFA1", {"source": "partners.csv", "where": where, "columns": {"LIFNR": "ID"}}
        )
        return [int(v) for v in column(mapped(source, document), "LFA1", "LIFNR")]

    return kept


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([{"source": "ROLE", "equals": "1"}], [100000000, 100000002]),
        ([{"source": "ROLE", "equals": 2}], [100000001]),  # a number compares as a number
        ([{"source": "NAME", "in": ["SAP", "Talpa"]}], [100000000, 100000002]),
        ([{"source": "NAME", "not_in": ["SAP"]}], [100000001, 100000002]),
        ([{"source": "ID", "min": 100000001}, {"source": "ID", "max": 100000001}], [100000001]),
        ([{"source": "NAME", "min": "T"}], [100000002]),  # text compares as text
        (
            [{"source": "ID", "in_file": {"file": "orders.csv", "column": "CUSTOMER"}}],
            [100000000, 100000001],
        ),
        (
            [
                {
                    "any": [
                        {"source": "ROLE", "equals": "2"},
                        {"source": "ADDRESS", "equals": "9"},
                    ]
                }
            ],
            [100000001, 100000002],
        ),
    ],
)
def test_row_filters(partners, where, expected):
    assert partners(where) == expected


def test_empty_values_satisfy_only_not_in(source: Path):
    (source / "gaps.csv").write_text("ID,FLAG\n1,X\n2,\n3,Y\n")

    def kept(condition: dict) -> list:
        tables = mapped(
            source,
            with_table(
                "LFA1",
                {"source": "gaps.csv", "where": [condition], "columns": {"LIFNR": "ID"}},
            ),
        )
        return [int(v) for v in column(tables, "LFA1", "LIFNR")]

    assert kept({"source": "FLAG", "not_in": ["X"]}) == [2, 3]
    assert kept({"source": "FLAG", "in": ["X", "Y"]}) == [1, 3]
    assert kept({"source": "FLAG", "min": "A"}) == [1, 3]


def test_date_filters_on_source_and_target_columns(source: Path):
    document = base_document()
    document["tables"] = {
        "VBAK": {
            "source": "orders.csv",
            "where": [{"source": "CREATED", "max": date(2015, 12, 31)}],
            "columns": {"VBELN": "ORDER", "ERDAT": "CREATED", "KUNNR": "CUSTOMER"},
        },
        "VBAP": copy.deepcopy(base_document()["tables"]["VBAP"])
        | {"where": [{"target": "ERDAT", "min": date(2015, 1, 2)}]},
    }
    tables = mapped(source, document)
    assert column(tables, "VBAK", "VBELN") == ["0500000000", "0500000001"]
    assert column(tables, "VBAP", "VBELN") == ["0500000001", "0500000002"]
    assert tables["VBAP"].filtered_rows == 2


def test_source_filters_run_before_conversions(source: Path):
    """A row the filter drops never reaches the unit conversion that would fail on it."""
    (source / "odd.csv").write_text("ORDER,ITEM,QTY,UNIT\n1,10,1,EA\n2,10,1,BOX\n")
    document = base_document()
    document["tables"] = {
        "VBAP": {
            "source": "odd.csv",
            "where": [{"source": "UNIT", "not_in": ["BOX"]}],
            "columns": {
                "VBELN": "ORDER",
                "POSNR": "ITEM",
                "MATNR": {"const": "M"},
                "ERDAT": {"const": date(2015, 1, 1)},
                "KWMENG": {"convert": "QTY", "from": "UNIT", "factors": {"EA": 1}},
            },
        }
    }
    assert column(mapped(source, document), "VBAP", "KWMENG") == [1.0]


# -- table options -----------------------------------------------------------------------------


def test_for_each_defaults_and_inline_rows(source: Path):
    document = base_document()
    document["defaults"] = {"WERKS": "9999", "DISMM": "PD"}
    document["tables"] = {
        "T001W": {"rows": [{"WERKS": "1000", "NAME1": "Main", "LATITUDE": 49.5}, {"WERKS": 1100}]},
        "MARC": {
            "source": "products.csv",
            "for_each": {"WERKS": ["1000", 1100]},
            "defaults": {"PLIFZ": 14, "DISMM": "VB"},
            "columns": {"MATNR": "PRODUCTID", "EISBE": "PRICE"},
        },
    }
    tables = mapped(source, document)
    assert column(tables, "T001W", "WERKS") == ["1000", "1100"]
    assert column(tables, "T001W", "LATITUDE") == [49.5, None]
    assert column(tables, "MARC", "MATNR") == ["HT-1000", "HT-1001", "AD-1000"] * 2
    assert column(tables, "MARC", "WERKS") == ["1000"] * 3 + ["1100"] * 3  # for_each wins
    assert column(tables, "MARC", "PLIFZ") == [14] * 6
    assert column(tables, "MARC", "DISMM") == ["VB"] * 6  # the table default wins
    assert tables["MARC"].origin(3) == "products.csv line 2"
    assert [tables["T001W"].origin(i) for i in range(2)] == [
        "tables.T001W.rows[0]",
        "tables.T001W.rows[1]",
    ]


def test_defaults_fill_empty_mapped_values(source: Path):
    (source / "gaps.csv").write_text("ID,TYPE\n1,ZZ\n2,\n")
    tables = mapped(
        source,
        with_table(
            "MARA",
            {
                "source": "gaps.csv",
                "defaults": {"MTART": "HAWA"},
                "columns": {"MATNR": "ID", "MTART": "TYPE"},
            },
        ),
    )
    assert column(tables, "MARA", "MTART") == ["ZZ", "HAWA"]


def test_blocks_stack_and_window_keeps_transactional_days(source: Path):
    document = base_document()
    document["window"] = {"from": date(2015, 1, 1), "to": "2015-12-31"}
    document["tables"]["VBAP"] = [
        document["tables"]["VBAP"],
        copy.deepcopy(document["tables"]["VBAP"]),
    ]
    document["tables"]["VBAP"][1]["columns"]["POSNR"] = {"multiply": "ITEM", "by": 10}
    table = mapped(source, document)["VBAP"]
    assert table.data["POSNR"].tolist() == [10, 20, 10, 100, 200, 100]
    assert table.outside_window == 2  # the 2016 order's item, from both blocks
    assert table.source_rows == 8


def test_rows_outside_the_window_are_left_out_before_filters_and_conversions(source: Path):
    replace_file(
        source,
        "items.csv",
        FILES["items.csv"].replace("500000002,10,AD-1000,5,EA,0", "500000002,10,AD-1000,x,XX,0"),
    )
    document = base_document()
    document["tables"]["VBAP"]["where"] = [{"source": "QTY", "min": 0}]
    document["window"] = {"from": "2015-01-01", "to": "2015-12-31"}
    table = mapped(source, document)["VBAP"]  # the 2016 order's damaged item is outside
    assert (len(table), table.outside_window, table.filtered_rows) == (3, 1, 0)
    del document["window"]
    with pytest.raises(MappingError, match=r"^items\.csv line 5 \(tables\.VBAP\.where\[0\]\)"):
        mapped(source, document)


# -- landing files -----------------------------------------------------------------------------


def read_back(path: Path, table: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    chunks = list(SapFileReader(path, TABLE_SPECS[table]).chunks())
    return (
        pd.concat([c.rows for c in chunks], ignore_index=True),
        pd.concat([c.rejects for c in chunks], ignore_index=True),
    )


def test_landing_files_read_back_as_mapped(source: Path, tmp_path: Path):
    document = base_document()
    document["tables"]["KNA1"] = {
        "source": "partners.csv",
        "columns": {
            "KUNNR": "ID",
            "NAME1": "NAME",
            "LATITUDE": {
                "lookup": {"file": "addresses.csv", "key": "ADDRESSID", "by": "ADDRESS"},
                "value": "LAT",
            },
        },
    }
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(document), source, out)
    assert report.tables["VBAP"].files == [
        "VBAP_20150101.csv",
        "VBAP_20150102.csv",
        "VBAP_20160304.csv",
    ]
    assert report.tables["KNA1"].files == ["KNA1.csv"]
    assert (out / "_mapping_summary.json").exists()
    assert report.days == (date(2015, 1, 1), date(2016, 3, 4))
    raw = (out / "KNA1.csv").read_bytes()
    assert raw.startswith("\ufeffKUNNR;NAME1;".encode()) and b"\r\n" in raw
    kna1, rejects = read_back(out / "KNA1.csv", "KNA1")
    assert rejects.empty
    assert kna1["NAME1"].tolist() == ["SAP", "Becker; Berlin", "Talpa"]  # quoted on write
    assert kna1["LATITUDE"].tolist()[:2] == pytest.approx([49.293674, 52.6])  # 6 decimals
    assert math.isnan(kna1["LATITUDE"].iloc[2])
    day, rejects = read_back(out / "VBAP_20150101.csv", "VBAP")
    assert rejects.empty
    assert day["POSNR"].tolist() == [10, 20]
    assert day["KWMENG"].tolist() == [2.0, 3.0]
    assert day["VRKME"].tolist() == ["ST", "ST"]
    assert day["NETWR"].tolist() == [1912.0, 3748.5]
    assert (day["ERDAT"] == pd.Timestamp("2015-01-01")).all()


def test_unconvertible_values_are_quarantined_naming_their_source_line(source: Path, tmp_path):
    (source / "items.csv").write_text(
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n"
        "500000000,10,HT-1000,2,EA,1912\n"
        "500000000,1O,HT-1001,3,EA,12.5\n"  # letter O in the item number
        "500000000,30,,abc,EA,1\n"  # no material, a quantity that is no number
        "500000000,10,HT-1000,1,EA,956\n"  # the first row's key again
    )
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(base_document()), source, out)
    assert [(i.origin, i.column) for i in report.issues] == [
        ("items.csv line 3", "POSNR"),
        ("items.csv line 4", "MATNR"),
        ("items.csv line 4", "KWMENG"),
        ("items.csv line 5", "VBELN,POSNR"),
    ]
    assert "'1O' is not a valid integer value" in report.issues[0].message
    assert report.issues[1].message == "missing required value"  # the reader's words
    assert "first mapped from items.csv line 2" in report.issues[3].message
    assert report.quarantine_expected["VBAP"] == 3
    # 3 of the day's 4 rows: the load refuses the whole file, and the report says so
    assert report.tables["VBAP"].refused_files == {"VBAP_20150101.csv": (3, 4)}
    lenient = map_sources(parse_mapping(base_document()), source, threshold=0.75)
    assert lenient.tables["VBAP"].refused_files == {}
    rows, rejects = read_back(out / "VBAP_20150101.csv", "VBAP")
    assert len(rows) == 1
    assert rejects["source_line"].nunique() == 3
    assert set(rejects["reason"]) >= {
        "mapped from items.csv line 3, not loaded: POSNR '1O' is not a valid integer value",
        # every reason of the row, not only its unloadable value: the reader looks no further
        "mapped from items.csv line 4, not loaded: KWMENG 'abc' is not a valid decimal value, "
        "MATNR missing required value",
        "duplicate key",
    }
    line_4 = rejects[rejects["reason"].str.contains("line 4,")]
    assert line_4["column_name"].tolist() == ["MATNR,KWMENG"]


def test_keys_the_reader_refuses_are_listed_beforehand(source: Path, tmp_path):
    """A number key longer than its ALPHA length and one Excel wrote in scientific notation
    were quarantined by the load while the report promised a clean file."""
    (source / "items.csv").write_text(
        ITEMS_HEADER + "500000000,10,HT-1000,2,EA,1912\n"
        "12345678901,10,HT-1000,1,EA,1\n"  # VBELN has 10 digits
        "5.00000E+8,20,HT-1001,3,EA,12.5\n"
        "500000000,30,#N/A,3,EA,12.5\n"
    )
    with (source / "orders.csv").open("a") as orders:
        orders.write("12345678901,2015-01-01,100000001,N\n5.00000E+8,2015-01-01,100000001,N\n")
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(base_document()), source, out, threshold=1.0)
    assert [(i.origin, i.column, i.message.rsplit("; written", 1)[0]) for i in report.issues] == [
        ("items.csv line 3", "VBELN", "value '12345678901' is longer than its ALPHA length 10"),
        (
            "items.csv line 4",
            "VBELN",
            "key '5.00000E+8' was changed by Excel (a number in scientific notation or an error "
            "value); export the column as text",
        ),
        (
            "items.csv line 5",
            "MATNR",
            "key '#N/A' was changed by Excel (a number in scientific notation or an error "
            "value); export the column as text",
        ),
    ]
    assert report.quarantine_expected["VBAP"] == 3
    rows, rejects = read_back(out / "VBAP_20150101.csv", "VBAP")
    assert rows["POSNR"].tolist() == [10]
    assert sorted(rejects["reason"].str.split(", not loaded").str[0]) == [
        f"mapped from items.csv line {line}" for line in (3, 4, 5)
    ]


def quarantined(out: Path, name: str) -> tuple[pd.DataFrame, dict]:
    """The VBAP rows the load reads from a landing file, and the raw record of each line it
    rejects, whose reason is the mapper's note (the record's last field) and whose column is
    the columns the note names."""
    rows, rejects = read_back(out / name, "VBAP")
    noted = rejects["raw_record"].str.contains(";mapped from ")
    assert (rejects["reason"][noted] == rejects["raw_record"][noted].str.split(";").str[-1]).all()
    named = rejects["reason"][noted].str.findall(r"(?:: |, )([A-Z_]+) ").str.join(",")
    assert (rejects["column_name"][noted] == named).all(), rejects[noted].to_dict("records")
    return rows, dict(zip(rejects["source_line"], rejects["raw_record"], strict=True))


ITEMS_HEADER = "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n"


def test_bad_numbers_the_landing_file_would_read_otherwise_are_quarantined(
    source: Path, tmp_path: Path
):
    """A US export read with thousands ',': `1,0000`, `12,5` and `1.250,00` are no numbers, but
    the landing file's decimal comma would read them as 1, 12.5 and 1250."""
    (source / "items.csv").write_text(
        "ORDER;ITEM;PRODUCT;QTY;UNIT;AMOUNT\n"
        "500000000;10;HT-1000;1,200.000;EA;2,400.00\n"
        "500000000;20;HT-1001;1,0000;EA;10.00\n"
        "500000000;30;HT-1001;12,5;EA;1.250,00\n"
    )
    document = base_document()
    document["files"]["items.csv"] = {"separator": ";", "thousands": ","}
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(document), source, out)
    rows, raw = quarantined(out, "VBAP_20150101.csv")
    assert rows["KWMENG"].tolist() == [1200.0] and rows["NETWR"].tolist() == [2400.0]
    assert [(i.origin, i.column) for i in report.issues] == [
        ("items.csv line 3", "KWMENG"),
        ("items.csv line 4", "KWMENG"),
        ("items.csv line 4", "NETWR"),
    ]
    assert report.issues[2].message == (
        "'1.250,00' is not a valid decimal value; written with the reasons as an extra field, "
        "so the load quarantines the row with them"
    )
    assert report.quarantine_expected["VBAP"] == len(raw) == 2
    columns = read_back(out / "VBAP_20150101.csv", "VBAP")[1]["column_name"].tolist()
    assert columns == ["KWMENG", "KWMENG,NETWR"]
    assert raw == {
        3: "0500000000;000020;HT-1001;1000;1,0000;ST;10,00;;20150101;;mapped from items.csv "
        "line 3, not loaded: KWMENG '1,0000' is not a valid decimal value",
        4: "0500000000;000030;HT-1001;1000;12,5;ST;1.250,00;;20150101;;mapped from items.csv "
        "line 4, not loaded: KWMENG '12,5' is not a valid decimal value, NETWR '1.250,00' is "
        "not a valid decimal value",
    }


def test_a_bad_number_cannot_sway_the_format_the_load_detects(source: Path, tmp_path: Path):
    """`12.5` in a decimal-comma export is no number there; written plainly beside `2,000` (a
    quantity, so a comma decimal) it would make the reader refuse the whole day's file."""
    (source / "items.csv").write_text(
        ITEMS_HEADER + "500000000,10,HT-1000,2,EA,1912\n500000000,20,HT-1001,12.5,EA,956\n"
    )
    document = base_document()
    document["files"]["items.csv"] = {"decimal": ",", "thousands": "."}
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(document), source, out)
    assert [(i.origin, i.column) for i in report.issues] == [("items.csv line 3", "KWMENG")]
    rows, raw = quarantined(out, "VBAP_20150101.csv")
    assert rows["KWMENG"].tolist() == [2.0]
    assert list(raw) == [3] and raw[3].endswith("KWMENG '12.5' is not a valid decimal value")


def test_a_bad_value_in_a_text_column_is_not_loaded_as_text(source: Path, tmp_path: Path):
    """A failed conversion inside a text column's expression leaves the source text, which the
    reader would take as the material number."""
    document = base_document()
    vbap_columns(document)["MATNR"] = {
        "concat": ["PRODUCT", {"year": {"date": "AMOUNT", "format": "YYYYMMDD"}}],
        "sep": "/",
    }
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(document), source, out)
    assert {i.column for i in report.issues} == {"MATNR"}
    assert report.quarantine_expected["VBAP"] == 4
    rows, raw = quarantined(out, "VBAP_20150101.csv")
    assert rows.empty
    assert raw[2].endswith("not loaded: MATNR '1912' did not convert")


def test_quantities_are_not_rounded_to_their_sap_decimals(source: Path, tmp_path: Path):
    """250 MG is 0.00025 KG: `0,000` in a quantity's 3 decimals, a demand line of nothing."""
    (source / "items.csv").write_text(
        ITEMS_HEADER + "500000000,10,HT-1000,250,MG,1912\n"
        "500000000,20,HT-1001,1.2345,KG,3748.5\n"
        "500000000,30,HT-1001,250000,MG,956\n"
        "500000000,40,HT-1001,3,KG,0.3\n"
    )
    document = base_document()
    vbap_columns(document)["KWMENG"] = {
        "convert": "QTY",
        "from": "UNIT",
        "factors": {"MG": 0.000001, "G": 0.001, "KG": 1},
    }
    vbap_columns(document)["NETWR"] = {"multiply": "AMOUNT", "by": 0.1}  # float noise is fine
    vbap_columns(document)["VRKME"] = {"const": "KG"}
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(document), source, out)
    rows, raw = quarantined(out, "VBAP_20150101.csv")
    assert rows["KWMENG"].tolist() == [0.25, 3.0]
    assert rows["NETWR"].tolist() == pytest.approx([95.6, 0.03])
    assert sorted(raw) == [2, 3]
    assert ";0.00025;KG;191,20;" in raw[2]
    assert [(i.origin, i.column, i.message.rsplit("; written", 1)[0]) for i in report.issues] == [
        (
            "items.csv line 2",
            "KWMENG",
            "0.00025 needs more than the 3 decimals SAP keeps (not rounded)",
        ),
        (
            "items.csv line 3",
            "KWMENG",
            "1.2345 needs more than the 3 decimals SAP keeps (not rounded)",
        ),
    ]


def test_write_refuses_existing_landing_files_unless_replace(source: Path, tmp_path: Path):
    config = parse_mapping(base_document())
    out = tmp_path / "landing"
    out.mkdir()
    (out / "VBAP_20990101.csv").write_text("stale")
    (out / "MARA.csv").write_text("not mapped here: kept")
    tables = map_tables(config, Sources(config, source))
    with pytest.raises(MappingError, match=r"already holds 1 landing files .*VBAP_20990101\.csv"):
        write_landing(tables, out)
    written = write_landing(tables, out, replace=True)
    assert not (out / "VBAP_20990101.csv").exists()
    assert (out / "MARA.csv").read_text() == "not mapped here: kept"
    assert written["VBAP"] == sorted(p.name for p in out.glob("VBAP_*.csv"))


def test_source_formats_german_style_cp1252_and_headerless(source: Path):
    (source / "de.csv").write_bytes(
        "MATNR;TEXT;GEWICHT;ANGELEGT\nM1;Größe;1.234,5;31.12.2014\nM2;Maß;7,25-;01.01.2015\n".encode(
            "cp1252"
        )
    )
    document = base_document()
    document["files"]["de.csv"] = {
        "separator": ";",
        "encoding": "cp1252",
        "decimal": ",",
        "thousands": ".",
        "date_format": "DD.MM.YYYY",
    }
    document["tables"] = {
        "MARA": {
            "source": "de.csv",
            "columns": {
                "MATNR": "MATNR",
                "MTART": {"const": "HAWA"},
                "MATKL": "TEXT",
                "BRGEW": "GEWICHT",
                "ERSDA": "ANGELEGT",
            },
        },
        "MAKT": {  # T006 is headerless: its columns come from `files`
            "source": "T006.csv",
            "columns": {"MATNR": "MSEHI", "SPRAS": {"const": "E"}, "MAKTX": "DIMID"},
        },
    }
    tables = mapped(source, document)
    assert column(tables, "MARA", "MATKL") == ["Größe", "Maß"]
    assert column(tables, "MARA", "BRGEW") == [1234.5, -7.25]
    assert column(tables, "MARA", "ERSDA") == dates("2014-12-31", "2015-01-01")
    assert column(tables, "MAKT", "MAKTX")[:3] == ["AAAADL", "MASS", "MASS"]


def test_several_files_match_one_glob(source: Path):
    (source / "items_2.csv").write_text(
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000001,20,X,1,EA,1\n"
    )
    (source / "items.csv").rename(source / "items_1.csv")
    document = base_document()
    document["tables"]["VBAP"]["source"] = "items_*.csv"
    table = mapped(source, document)["VBAP"]
    assert len(table) == 5
    assert table.origin(len(table) - 1) == "items_2.csv line 2"


def test_mapping_file_with_anchors(source: Path, tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "version: 1\n"
        "tables:\n"
        "  EINA:\n"
        "    source: products.csv\n"
        "    columns:\n"
        "      INFNR: &record {concat: [{const: IR}, PRODUCTID]}\n"
        "      MATNR: PRODUCTID\n"
        "      LIFNR: SUPPLIER\n"
        "  EINE:\n"
        "    source: products.csv\n"
        "    columns: {INFNR: *record, EKORG: {const: '1000'}, WERKS: {const: '1000'}}\n"
    )
    config = load_mapping(path)
    tables = map_tables(config, Sources(config, source))
    assert column(tables, "EINE", "INFNR") == column(tables, "EINA", "INFNR")
    assert column(tables, "EINA", "INFNR")[0] == "IRHT-1000"


def test_cli_maps_and_reports(source: Path, tmp_path: Path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(base_document()))
    out = tmp_path / "landing"
    assert cli(["map", "--config", str(path), "--source", str(source), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "VBAP          4      3" in printed
    assert "SCP_HISTORY_START=2015-01-01 or earlier" in printed
    assert cli(["map", "--config", str(path), "--source", str(source), "--out", str(out)]) == 1
    assert "already holds 3 landing files" in capsys.readouterr().err
    assert cli(["map", "--config", str(path), "--source", str(source), "--dry-run"]) == 0
    assert "dry run: nothing written" in capsys.readouterr().out


def test_cli_names_the_files_the_load_will_refuse(source: Path, tmp_path: Path, capsys):
    """ "2 mapped rows will be quarantined" said nothing of the load refusing the day's file
    whole, since they were all its rows."""
    (source / "items.csv").write_text(
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,,1,EA,1\n500000000,20,,2,EA,1\n"
    )
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(base_document()))
    assert cli(["map", "--config", str(path), "--source", str(source), "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert "2 mapped rows will be quarantined by the load" in printed
    assert "1 files will be refused whole by the load" in printed
    assert "  VBAP_20150101.csv: 2 of 2 rows" in printed


# -- configuration errors ----------------------------------------------------------------------


def edit(change) -> dict[str, Any]:
    document = base_document()
    change(document)
    return document


def vbap_columns(document: dict) -> dict:
    return document["tables"]["VBAP"]["columns"]


STRUCTURE_ERRORS = [
    (lambda d: d.pop("version"), r"^: missing key 'version'$"),
    (lambda d: d.update(version=2), r"^version: expected 1, got 2$"),
    (lambda d: d.update(extra=1), r"^extra: unknown key; expected one of version, "),
    (lambda d: d["tables"].update(VBAX={}), r"^tables\.VBAX: unknown SAP table; known tables: "),
    (lambda d: d["tables"].update(VBAK=[]), r"^tables\.VBAK: an empty list maps nothing$"),
    (
        lambda d: vbap_columns(d).update(FOO="QTY"),
        r"^tables\.VBAP\.columns\.FOO: VBAP has no column 'FOO'; columns: VBELN, POSNR",
    ),
    (
        lambda d: vbap_columns(d).pop("MATNR"),
        r"^tables\.VBAP\.columns\.MATNR: required column has no mapping and no default$",
    ),
    (
        lambda d: vbap_columns(d).update(NETWR=12),
        r"^tables\.VBAP\.columns\.NETWR: expected a source column name or an operation .*"
        r"write constants as \{const: \.\.\.\}$",
    ),
    (
        lambda d: vbap_columns(d).update(NETWR={"sum": "AMOUNT"}),
        r"^tables\.VBAP\.columns\.NETWR: expected exactly one operation of const, concat, lookup, "
        r"date, multiply, convert, code, year; got keys \['sum'\]$",
    ),
    (
        lambda d: vbap_columns(d).update(NETWR={"const": 1, "year": "X"}),
        r"^tables\.VBAP\.columns\.NETWR: expected exactly one operation .*; got const, year$",
    ),
    (
        lambda d: vbap_columns(d).update(NETWR={"multiply": "AMOUNT", "times": 2}),
        r"^tables\.VBAP\.columns\.NETWR\.times: unknown key; expected one of multiply, by$",
    ),
    (
        lambda d: vbap_columns(d).update(NETWR={"multiply": "AMOUNT"}),
        r"^tables\.VBAP\.columns\.NETWR: missing key 'by'$",
    ),
    (
        lambda d: vbap_columns(d).update(VRKME={"const": True}),
        r"^tables\.VBAP\.columns\.VRKME\.const: got the boolean True; YAML reads yes/no/on/off",
    ),
    (
        lambda d: vbap_columns(d).update(ERDAT={"lookup": "orderz", "value": "CREATED"}),
        r"^tables\.VBAP\.columns\.ERDAT\.lookup: unknown lookup 'orderz'; defined lookups: order$",
    ),
    (
        lambda d: d["lookups"]["order"].update(key=["ORDER", "CREATED"]),
        r"^lookups\.order: 'key' has 2 columns but 'by' has 1 values$",
    ),
    (
        lambda d: vbap_columns(d).update(VRKME={"code": "UNIT", "map": "units"}),
        r"^tables\.VBAP\.columns\.VRKME\.map: unknown code table 'units'; defined in codes: unit$",
    ),
    (
        lambda d: vbap_columns(d).update(VRKME={"code": "UNIT", "map": "unit", "unmapped": "x"}),
        r"^tables\.VBAP\.columns\.VRKME\.unmapped: expected one of \['error', 'keep', 'empty'\]",
    ),
    (
        lambda d: vbap_columns(d)["KWMENG"].update(factors={"EA": 1}),
        r"^tables\.VBAP\.columns\.KWMENG: give exactly one of 'units' \(a T006 file\) and "
        r"'factors'$",
    ),
    (
        lambda d: vbap_columns(d)["KWMENG"].pop("to"),
        r"^tables\.VBAP\.columns\.KWMENG: missing key 'to' \(the unit to convert to\)$",
    ),
    (
        lambda d: vbap_columns(d).update(
            KWMENG={"convert": "QTY", "from": "UNIT", "to": "X", "factors": {"EA": 1}}
        ),
        r"^tables\.VBAP\.columns\.KWMENG\.to: explicit factors already convert to one unit",
    ),
    (
        lambda d: vbap_columns(d).update(ERDAT={"date": "X", "format": "DD/MM/YY"}),
        r"^tables\.VBAP\.columns\.ERDAT\.format: expected one of \['YYYYMMDD', 'DD\.MM\.YYYY', "
        r"'ISO', 'MM/DD/YYYY', .*'DD/MM/YYYY', 'DD-MM-YYYY'\], got 'DD/MM/YY'$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(source="../secret.csv"),
        r"^tables\.VBAP\.source: '\.\./secret\.csv' must be a file name or glob inside the source",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(rows=[{}]),
        r"^tables\.VBAP: give exactly one of 'source' \(a file glob\) and 'rows'$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(for_each={"POSNR": [1]}),
        r"^tables\.VBAP\.for_each\.POSNR: is also mapped in 'columns'; keep one$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(where=[{"source": "QTY"}]),
        r"^tables\.VBAP\.where\[0\]: expected exactly one condition of equals, in, not_in, min, "
        r"max, in_file$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(where=[{"source": "A", "target": "B", "equals": 1}]),
        r"^tables\.VBAP\.where\[0\]: name exactly one of 'source' \(a source column\) and 'target'",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(where=[{"target": "WAERK", "equals": "EUR"}]),
        r"^tables\.VBAP\.where\[0\]\.target: WAERK is not mapped in 'columns' of this block$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(where=[{"source": "QTY", "in": [1, "2"]}]),
        r"^tables\.VBAP\.where\[0\]\.in: values must all be text, all numbers or all dates$",
    ),
    (
        lambda d: d.update(format={"separator": "::"}),
        r"^format\.separator: expected one character or 'tab', got '::'$",
    ),
    (
        lambda d: d.update(format={"decimal": ",", "thousands": ","}),
        r"^format: decimal and thousands are both ','$",
    ),
    (
        lambda d: d.update(format={"encoding": "klingon"}),
        r"^format\.encoding: unknown encoding 'klingon'$",
    ),
    (
        lambda d: d.update(format={"date_format": "MM/DD"}),
        r"^format\.date_format: expected one of \['YYYYMMDD', 'DD\.MM\.YYYY', 'ISO', .*\], "
        r"got 'MM/DD'$",
    ),
    (
        lambda d: d.update(window={"from": "2016-01-01", "to": "2015-01-01"}),
        r"^window: from 2016-01-01 is after to 2015-01-01$",
    ),
    (
        lambda d: d.update(window={"from": "soon", "to": "2015-01-01"}),
        r"^window\.from: expected a date \(YYYY-MM-DD\), got 'soon'$",
    ),
    (
        lambda d: d.update(defaults={"PLANT": "1000"}),
        r"^defaults\.PLANT: no SAP table has a column 'PLANT'$",
    ),
    (
        lambda d: d["codes"].update(flags={"NO": False}),
        r"^codes\.flags\.NO: got the boolean False",
    ),
    (lambda d: d["codes"].update(flags={"X": None, None: "Y"}), r"^codes\.flags\.None: a code "),
    (lambda d: d.update(tables={}), r"^tables: maps no table$"),
    (lambda d: d.update(tables=[]), r"^tables: expected a mapping, got a list$"),
    (lambda d: d.update(description=["x"]), r"^description: expected text, got a list$"),
    (lambda d: d.update(defaults={"WERKS": None}), r"^defaults\.WERKS: a default cannot be empty$"),
    (
        lambda d: d["tables"]["VBAP"].update(defaults={"NETWR": math.nan}),
        r"^tables\.VBAP\.defaults\.NETWR: expected a finite number, got nan$",
    ),
    (
        lambda d: d["lookups"].update(unused={"file": "x.csv", "key": "A"}),
        r"^lookups\.unused: missing key 'by'$",
    ),
    (
        lambda d: d["lookups"]["order"].update(where=[{"target": "ERDAT", "equals": "x"}]),
        r"^lookups\.order\.where\[0\]\.target: a lookup's filter can only use source columns$",
    ),
    (
        lambda d: d["files"]["T006.csv"].update(columns=["A", "B", "A"]),
        r"^files\.T006\.csv\.columns: column 'A' appears twice$",
    ),
    (
        lambda d: vbap_columns(d).update(MATNR=""),
        r"^tables\.VBAP\.columns\.MATNR: expected non-empty text, got text$",
    ),
    (
        lambda d: vbap_columns(d).update(MATNR={"concat": []}),
        r"^tables\.VBAP\.columns\.MATNR\.concat: needs at least one part$",
    ),
    (
        lambda d: vbap_columns(d).update(MATNR={"concat": ["A"], "sep": 1}),
        r"^tables\.VBAP\.columns\.MATNR\.sep: expected text, got int$",
    ),
    (
        lambda d: vbap_columns(d).update(
            NETWR={"convert": "A", "from": "B", "factors": {"X": "1"}}
        ),
        r"^tables\.VBAP\.columns\.NETWR\.factors\.X: expected a number, got text$",
    ),
    (
        lambda d: vbap_columns(d).update(NETWR={"convert": "A", "from": "B", "factors": {}}),
        r"^tables\.VBAP\.columns\.NETWR\.factors: needs at least one unit$",
    ),
    (
        lambda d: d["tables"].update(T001W={"rows": []}),
        r"^tables\.T001W\.rows: no rows given$",
    ),
    (
        lambda d: d["tables"].update(T001W={"rows": [{"WERKS": "1"}], "columns": {}}),
        r"^tables\.T001W\.columns: inline rows name their columns themselves$",
    ),
    (
        lambda d: d["tables"].update(T001W={"rows": [{"WERKS": "1", "PLANT": "x"}]}),
        r"^tables\.T001W\.rows\[0\]\.PLANT: T001W has no column 'PLANT'",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(for_each={"WERKS": []}),
        r"^tables\.VBAP\.for_each\.WERKS: needs at least one value$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(where=[{"any": []}]),
        r"^tables\.VBAP\.where\[0\]\.any: needs at least one condition$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(where=[{"source": "QTY", "in": []}]),
        r"^tables\.VBAP\.where\[0\]\.in: needs one or more values \(\"\" for an empty value\)$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(where=[{"source": "QTY", "max": ""}]),
        r"^tables\.VBAP\.where\[0\]\.max: needs a value$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(where=[{"source": "QTY", "min": None}]),
        r"^tables\.VBAP\.where\[0\]\.min: needs a value$",
    ),
    (
        lambda d: (
            vbap_columns(d).pop("ERDAT"),
            d["tables"]["VBAP"].update(for_each={"ERDAT": [date(2015, 1, 1)]}),
        ),
        r"^tables\.VBAP\.for_each\.ERDAT: the partition date cannot fan out; map it in 'columns'$",
    ),
]

# A constant that cannot be its column's type would be quarantined in every row it fills.
CONSTANT_TYPE_ERRORS = [
    (
        lambda d: vbap_columns(d).update(NETWR={"const": "thirty"}),
        r"^tables\.VBAP\.columns\.NETWR: 'thirty' is not a valid decimal value of NETWR$",
    ),
    (
        lambda d: vbap_columns(d).update(POSNR={"const": 1.5}),
        r"^tables\.VBAP\.columns\.POSNR: '1\.5' is not a valid integer value of POSNR$",
    ),
    (
        lambda d: vbap_columns(d).update(ERDAT={"const": "soon"}),
        r"^tables\.VBAP\.columns\.ERDAT: 'soon' is not a valid date value of ERDAT$",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(defaults={"NETWR": "n/a"}),
        r"^tables\.VBAP\.defaults\.NETWR: 'n/a' is not a valid decimal value of NETWR$",
    ),
    (
        lambda d: d["defaults"].update(KWMENG="lots"),
        r"^defaults\.KWMENG: 'lots' is not a valid decimal value of KWMENG$",
    ),
    (
        lambda d: d["tables"].update(
            MARC={"source": "products.csv", "for_each": {"PLIFZ": [30, "ten"]}, "columns": {}}
        ),
        r"^tables\.MARC\.for_each\.PLIFZ\[1\]: 'ten' is not a valid integer value of PLIFZ$",
    ),
    (
        lambda d: d["tables"].update(T001W={"rows": [{"WERKS": "1", "LATITUDE": "north"}]}),
        r"^tables\.T001W\.rows\[0\]\.LATITUDE: 'north' is not a valid decimal value of ",
    ),
    (  # not rounded to 0,000 in every row
        lambda d: vbap_columns(d).update(KWMENG={"const": 0.0001}),
        r"^tables\.VBAP\.columns\.KWMENG: 0\.0001 needs more than the 3 decimals SAP keeps ",
    ),
]


@pytest.mark.parametrize(("change", "message"), STRUCTURE_ERRORS + CONSTANT_TYPE_ERRORS)
def test_structure_errors_name_the_key_path(change, message):
    with pytest.raises(MappingError, match=message):
        parse_mapping(edit(change))


SOURCE_ERRORS = [
    (
        lambda d: vbap_columns(d).update(KWMENG="QTYY"),
        r"^tables\.VBAP\.columns\.KWMENG: unknown source column 'QTYY' in items\.csv; "
        r"did you mean 'QTY'\?$",
    ),
    (
        lambda d: vbap_columns(d).update(KWMENG="DELIVERED"),
        r"^tables\.VBAP\.columns\.KWMENG: unknown source column 'DELIVERED' in items\.csv; "
        r"columns: ORDER, ITEM, PRODUCT, QTY, UNIT, AMOUNT$",
    ),
    (
        lambda d: vbap_columns(d).update(ERDAT={"lookup": "order", "value": "DATE"}),
        r"^tables\.VBAP\.columns\.ERDAT\.value: unknown source column 'DATE' in orders\.csv",
    ),
    (
        lambda d: d["lookups"]["order"].update(key="ORDERID"),
        r"^lookups\.order\.key: unknown source column 'ORDERID' in orders\.csv",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(source="missing*.csv"),
        r"^tables\.VBAP\.source: no file matches 'missing\*\.csv' in ",
    ),
    (
        lambda d: d["tables"]["VBAP"].update(
            where=[{"source": "ORDER", "in_file": {"file": "orders.csv", "column": "ID"}}]
        ),
        r"^tables\.VBAP\.where\[0\]\.in_file\.column: unknown source column 'ID' in orders\.csv",
    ),
    (
        lambda d: d["files"]["T006.csv"].update(columns=[f"C{i}" for i in range(23)]),
        r"^tables\.VBAP\.columns\.KWMENG\.units: T006\.csv lacks the T006 columns \['MSEHI', ",
    ),
    (  # a unit written in the mapping is checked once, not found wanting in every row
        lambda d: vbap_columns(d)["KWMENG"].update(to={"const": "KGX"}),
        r"^tables\.VBAP\.columns\.KWMENG\.to: unit 'KGX' is not in T006\.csv$",
    ),
    (
        lambda d: vbap_columns(d).update(
            NETWR={"convert": "QTY", "from": {"const": "LB"}, "factors": {"KG": 1}}
        ),
        r"^tables\.VBAP\.columns\.NETWR\.from: unit 'LB' is not in factors$",
    ),
]


@pytest.mark.parametrize(("change", "message"), SOURCE_ERRORS)
def test_source_errors_name_the_key_path(source: Path, change, message):
    with pytest.raises(MappingError, match=message):
        mapped(source, edit(change))


def replace_file(source: Path, name: str, text: str | bytes) -> None:
    if isinstance(text, bytes):
        (source / name).write_bytes(text)
    else:
        (source / name).write_text(text)


DATA_ERRORS = [
    (
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,1,EA,1\n500000000,20,B,1,BOX,1\n",
        r"^items\.csv line 3 \(tables\.VBAP\.columns\.KWMENG\): unit 'BOX' is not in T006\.csv$",
    ),
    (
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,1,KG,1\n",
        r"^items\.csv line 2 \(tables\.VBAP\.columns\.KWMENG\): cannot convert 'KG' \(MASS\) to "
        r"'ST' \(AAAADL\): different dimensions in T006\.csv$",
    ),
    (
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,1,,1\n",
        r"^items\.csv line 2 \(tables\.VBAP\.columns\.KWMENG\): has no unit$",
    ),
    (
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,1,GC,1\n",
        r"^items\.csv line 2 \(tables\.VBAP\.columns\.KWMENG\): unit 'GC' is not in T006\.csv$",
    ),
    (
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,1,ST,1\n",
        r"^items\.csv line 2 \(tables\.VBAP\.columns\.VRKME\): code 'ST' is not in code table "
        r"'unit' \(unmapped codes: 'ST'\); add it, or set unmapped: keep or empty$",
    ),
    (
        "orders.csv",
        "ORDER,CREATED,CUSTOMER,STATUS\n500000000,2015-01-01,1,N\n500000000,2015-01-02,1,N\n",
        r"^lookups\.order: key ORDER = '500000000' is not unique in orders\.csv \(orders\.csv line "
        r"2 and orders\.csv line 3\)$",
    ),
    (
        "orders.csv",
        "ORDER,CREATED,CUSTOMER,STATUS\n500000000,2015-01-01,1,N\n500000001,2015-02-30,1,N\n",
        r"^tables\.VBAP: 2 rows have no valid ERDAT \(the partition date\), so no landing file can "
        r"hold them: items\.csv line 4 has '2015-02-30'; items\.csv line 5. Filter them out",
    ),
    (
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,1,EA\n",
        r"^items\.csv line 2 \(tables\.VBAP\.source\): 5 fields, expected 6 \(separator ','\)$",
    ),
    (
        "items.csv",
        'ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,"A,1,EA,1\n',
        r"^items\.csv line 2 \(tables\.VBAP\.source\): malformed record: ",
    ),
    ("items.csv", "", r"^items\.csv \(tables\.VBAP\.source\): is empty: no header row$"),
    (
        "items.csv",
        "ORDER,ITEM,ITEM\n",
        r"^items\.csv line 1 \(header\) \(tables\.VBAP\.source\): column 'ITEM' appears twice$",
    ),
    (
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n5,10,A,1,EA,1\n\r\n6,10,Gr\xf6\xdfe,1,EA,1\n".encode(
            "latin-1"
        ),
        r"^items\.csv line 4 \(tables\.VBAP\.source\): byte 0xf6 cannot be read as utf-8-sig "
        r"\(invalid start byte\); set the file's encoding in the mapping, e.g\. cp1252 for a "
        r"Windows export: `encoding:` under `format:`, or under its entry in `files:`$",
    ),
]


@pytest.mark.parametrize(("file", "text", "message"), DATA_ERRORS)
def test_data_errors_name_file_and_line(source: Path, file, text, message):
    replace_file(source, file, text)
    with pytest.raises(MappingError, match=message):
        mapped(source, base_document())


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            {"multiply": {"date": "QTY"}, "by": 2},
            r"^tables\.VBAP\.columns\.NETWR: a date cannot be used as a number$",
        ),
        (
            {"year": {"multiply": "QTY", "by": 2}},
            r"^tables\.VBAP\.columns\.NETWR: a number cannot be used as a date$",
        ),
        (
            {"convert": "QTY", "from": "UNIT", "factors": {"KG": 1}},
            r"^items\.csv line 2 \(tables\.VBAP\.columns\.NETWR\): unit 'EA' is not in factors "
            r"\(4 rows\)$",
        ),
    ],
)
def test_type_errors_of_expressions(source: Path, expression, message):
    document = base_document()
    vbap_columns(document)["NETWR"] = expression
    with pytest.raises(MappingError, match=message):
        mapped(source, document)


def test_a_master_table_without_rows_is_refused_before_anything_is_written(
    source: Path, tmp_path: Path
):
    """A header-only master export made an empty landing file, which the load refuses as one
    that would empty the raw table: the run failed where the mapping said nothing."""
    replace_file(source, "products.csv", FILES["products.csv"].splitlines()[0] + "\n")
    columns = {"MATNR": "PRODUCTID", "MTART": {"const": "HAWA"}}
    document = with_table("MARA", {"source": "products.csv", "columns": columns})
    with pytest.raises(MappingError, match=r"^tables\.MARA: no rows to write \(0 source rows of "
                       r"products\.csv, none read\): the load refuses a master file without "
                       r"records, as it would empty raw\.mara\."):  # fmt: skip
        map_sources(parse_mapping(document), source, tmp_path / "landing")
    assert not (tmp_path / "landing").exists()


def test_a_source_names_its_files_in_any_case(source: Path):
    """`files` patterns matched any case, `source` only its own: `items.csv` missed ITEMS.CSV.
    A name that matches one file exactly takes only that one, not its twin in another case."""
    (source / "items.csv").rename(source / "ITEMS.CSV")
    assert len(mapped(source, base_document())["VBAP"]) == 4
    (source / "items.csv").write_text(ITEMS_HEADER + "500000000,10,HT-1000,2,EA,1912\n")
    assert len(mapped(source, base_document())["VBAP"]) == 1


def test_files_of_one_glob_must_agree(source: Path):
    (source / "items_2.csv").write_text("ORDER,ITEM\n1,10\n")
    (source / "items.csv").rename(source / "items_1.csv")
    document = base_document()
    document["tables"]["VBAP"]["source"] = "items_*.csv"
    with pytest.raises(
        MappingError,
        match=r"^tables\.VBAP\.source: items_1\.csv and items_2\.csv match 'items_\*\.csv' but "
        r"differ in columns$",
    ):
        mapped(source, document)
    document["files"]["items_2.csv"] = {"separator": ";"}
    with pytest.raises(
        MappingError,
        match=r"match 'items_\*\.csv' but differ in format \(separator ',' and ';'\): files "
        r"stacked by one source are read as one\. Give each format its own block",
    ):
        mapped(source, document)


def test_source_must_be_a_folder(tmp_path: Path):
    config = parse_mapping(base_document())
    with pytest.raises(MappingError, match=r"^--source: .*nowhere is not a folder$"):
        Sources(config, tmp_path / "nowhere")


def test_lookup_keys_must_be_unique_also_when_composite(source: Path):
    replace_file(
        source,
        "orders.csv",
        "ORDER,CREATED,CUSTOMER,STATUS\n"
        "500000000,2015-01-01,1,N\n500000001,2015-01-01,1,N\n"
        "500000000,2015-01-02,1,N\n500000000,2015-01-03,2,N\n",
    )
    with pytest.raises(MappingError, match=r"\(orders\.csv line 2 and orders\.csv line 4\)$"):
        mapped(source, base_document())
    document = base_document()
    document["lookups"]["order"] = {
        "file": "orders.csv",
        "key": ["ORDER", "CUSTOMER"],
        "by": ["ORDER", {"const": "1"}],
    }
    with pytest.raises(
        MappingError,
        match=r"^lookups\.order: key ORDER, CUSTOMER = \('500000000', '1'\) is not unique in "
        r"orders\.csv \(orders\.csv line 2 and orders\.csv line 4\)$",
    ):
        mapped(source, document)


def test_lookup_into_a_file_without_rows_finds_nothing(source: Path):
    replace_file(source, "orders.csv", "ORDER,CREATED,CUSTOMER,STATUS\n")
    with pytest.raises(
        MappingError,
        match=r"^lookups\.order\.by: matches none of the 4 rows of items\.csv "
        r"\(tables\.VBAP\.columns\.ERDAT\): orders\.csv has no rows$",
    ):
        mapped(source, base_document())


def test_uncomparable_filter_value_names_file_and_line(source: Path):
    document = base_document()
    document["tables"]["VBAP"]["where"] = [{"source": "QTY", "min": 2}]
    replace_file(source, "items.csv", "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,x,EA,1\n")
    with pytest.raises(
        MappingError,
        match=r"^items\.csv line 2 \(tables\.VBAP\.where\[0\]\): cannot compare 'x' with 2: "
        r"it is not a number$",
    ):
        mapped(source, document)


def test_a_date_filter_names_the_format_it_reads_dates_in(source: Path):
    """It showed `datetime.date(2015, 1, 1)` and said only "not a date"."""
    document = base_document()
    document["tables"]["VBAP"]["where"] = [{"source": "CREATED", "min": date(2015, 1, 1)}]
    document["files"]["items.csv"] = {"date_format": "DD.MM.YYYY"}
    replace_file(
        source,
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT,CREATED\n5,10,A,1,EA,1,2015-02-21\n",
    )
    with pytest.raises(MappingError) as raised:
        mapped(source, document)
    assert str(raised.value) == (
        "items.csv line 2 (tables.VBAP.where[0]): cannot compare '2015-02-21' with 2015-01-01: "
        "it is not a date as DD.MM.YYYY (the file's date_format)"
    )


@pytest.mark.parametrize(
    ("condition", "kept"),
    [
        ({"min": date(2015, 1, 1)}, ["10", "20"]),
        ({"max": date(2015, 12, 31)}, ["30"]),
        ({"max": date(9999, 12, 31)}, ["10", "20", "30"]),
        ({"equals": date(9999, 12, 31)}, ["20"]),
        ({"not_in": [date(9999, 12, 31)]}, ["10", "30"]),
    ],
)
def test_sap_open_date_compares_as_the_latest_date(source: Path, condition, kept):
    """9999-12-31 reads as no date, and a `min` filter dropped it silently as if empty."""
    document = base_document()
    document["tables"]["VBAP"]["where"] = [{"source": "VALIDTO", **condition}]
    replace_file(
        source,
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT,VALIDTO\n500000000,10,A,1,EA,1,2016-01-05\n"
        "500000000,20,A,1,EA,1,9999-12-31\n500000000,30,A,1,EA,1,2014-01-01\n",
    )
    tables = mapped(source, document)
    assert [str(p) for p in tables["VBAP"].data["POSNR"]] == kept


@pytest.mark.parametrize("side", ["source", "target"])
def test_sap_open_date_compares_as_the_latest_date_on_either_side(source: Path, side: str):
    """A target filter saw the mapped date, where the open date had become no date."""
    (source / "dated.csv").write_text("ID,DAY\n1,2016-01-05\n2,9999-12-31\n3,2014-01-01\n4,\n")
    columns = {"MATNR": "ID", "MTART": {"const": "HAWA"}, "ERSDA": "DAY"}
    where = [{side: "DAY" if side == "source" else "ERSDA", "min": date(2015, 1, 1)}]
    document = with_table("MARA", {"source": "dated.csv", "columns": columns, "where": where})
    assert column(mapped(source, document), "MARA", "MATNR") == [
        "000000000000000001",
        "000000000000000002",
    ]


@pytest.mark.parametrize(
    ("condition", "kept"),
    [
        ({"equals": ""}, ["20"]),
        ({"in": ["EA", ""]}, ["10", "20"]),
        ({"not_in": [""]}, ["10", "30"]),
        ({"not_in": ["EA"]}, ["20", "30"]),  # an empty value satisfies not_in
        ({"in": ["EA"]}, ["10"]),
    ],
)
def test_an_empty_filter_value_stands_for_an_empty_cell(source: Path, condition, kept):
    """`equals: ""` was accepted and matched nothing, and `not_in` could not drop empty rows."""
    document = base_document()
    document["tables"]["VBAP"]["where"] = [{"source": "UNIT", **condition}]
    document["tables"]["VBAP"]["columns"]["KWMENG"] = "QTY"
    document["tables"]["VBAP"]["columns"]["VRKME"] = {"const": "ST"}
    replace_file(
        source,
        "items.csv",
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,1,EA,1\n500000000,20,A,1,,1\n"
        "500000000,30,A,1,KG,1\n",
    )
    tables = mapped(source, document)
    assert [str(p) for p in tables["VBAP"].data["POSNR"]] == kept


def test_yaml_errors_name_file_and_line(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("version: 1\ntables:\n  VBAK: {}\n  VBAK: {}\n")
    with pytest.raises(
        MappingError,
        match=r"m\.yaml line 4, tables\.VBAK: key 'VBAK' given twice \(first on line 3\)$",
    ):
        load_mapping(path)
    path.write_text("version: 1\ntables: [\n")
    with pytest.raises(MappingError, match=r"m\.yaml: not valid YAML: "):
        load_mapping(path)
    path.write_text("")
    with pytest.raises(MappingError, match=r"m\.yaml line 1, \(top level\): expected a mapping"):
        load_mapping(path)
    with pytest.raises(MappingError, match=r"missing\.yaml: cannot read the mapping"):
        load_mapping(tmp_path / "missing.yaml")
    path.write_bytes("version: 1\n# Bestellmenge in Stück\n".encode("cp1252"))
    with pytest.raises(MappingError, match=r"m\.yaml: line 2: byte b'\\xfc' is not UTF-8"):
        load_mapping(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "version: 1\nwindow:\n  from: 2015-13-01\n  to: 2015-12-31\ntables: {}\n",
            r"m\.yaml line 3, window\.from: '2015-13-01' is not a valid date: month must be in "
            r"1\.\.12$",
        ),
        (
            "version: 1\ntables:\n  VBAK:\n    where: [{source: CREATED, min: 2015-02-30}]\n",
            r"m\.yaml line 4, tables\.VBAK\.where\[0\]\.min: '2015-02-30' is not a valid date: "
            r"day is out of range for month$",
        ),
        (
            "version: 1\ncodes:\n  c: {2015-02-29: X}\ntables: {}\n",
            r"m\.yaml line 3, codes\.c\.2015-02-29: '2015-02-29' is not a valid date: ",
        ),
    ],
    ids=["window", "filter", "code"],
)
def test_impossible_yaml_dates_name_file_line_and_key(tmp_path: Path, text, message):
    path = tmp_path / "m.yaml"
    path.write_text(text)
    with pytest.raises(MappingError, match=message):
        load_mapping(path)


# base_document() as a file, so errors can be checked for the line they name.
MAPPING_YAML = f"""\
version: 1
files:
  T006.csv: {{columns: {T006_COLUMNS}}}
codes:
  unit: {{EA: ST, KG: KG, G: G, TO: TO}}
lookups:
  order: {{file: orders.csv, key: ORDER, by: ORDER}}
defaults:
  WERKS: "1000"
tables:
  VBAP:
    source: items.csv
    columns:
      VBELN: ORDER
      POSNR: ITEM
      MATNR: PRODUCT
      KWMENG: {{convert: QTY, from: UNIT, to: {{const: ST}}, units: T006.csv}}
      VRKME: {{code: UNIT, map: unit}}
      NETWR: AMOUNT
      ERDAT: {{lookup: order, value: CREATED}}
"""


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("VBAP:", "VBAX:", r"line 11, tables\.VBAX: unknown SAP table"),
        ("source: items", "sauce: items", r"line 12, tables\.VBAP\.sauce: unknown key"),
        (
            "convert: QTY",
            "convert: QTTY",
            r"line 17, tables\.VBAP\.columns\.KWMENG\.convert: unknown source column 'QTTY' in "
            r"items\.csv; did you mean 'QTY'\?",
        ),
        ("const: ST", "const: PCS", r"line 17, tables\.VBAP\.columns\.KWMENG\.to: unit 'PCS' "),
        ("map: unit", "map: units", r"line 18, tables\.VBAP\.columns\.VRKME\.map: unknown code "),
        ("key: ORDER", "key: ORDERID", r"line 7, lookups\.order\.key: unknown source column "),
        (
            "NETWR: AMOUNT",
            "NETWR: {const: lots}",
            r"line 19, tables\.VBAP\.columns\.NETWR: 'lots' ",
        ),
        (  # a key that is missing: its parent's line
            "      MATNR: PRODUCT\n",
            "",
            r"line 13, tables\.VBAP\.columns\.MATNR: required column has no mapping",
        ),
        (
            "    columns:\n",
            "    where: [{source: STATE, equals: N}]\n    columns:\n",
            r"line 13, tables\.VBAP\.where\[0\]\.source: unknown source column 'STATE' in items",
        ),
        (  # inside a named lookup
            "key: ORDER",
            "key: ORDER, where: [{source: CREATED, min: 2014-02-30}]",
            r"line 7, lookups\.order\.where\[0\]\.min: '2014-02-30' is not a valid date",
        ),
    ],
)
def test_errors_of_a_loaded_mapping_name_its_file_and_line(
    source: Path, tmp_path: Path, old, new, message
):
    path = tmp_path / "m.yaml"
    assert old in MAPPING_YAML
    path.write_text(MAPPING_YAML.replace(old, new, 1))
    with pytest.raises(MappingError, match="^" + re.escape(str(path)) + " " + message):
        config = load_mapping(path)
        map_tables(config, Sources(config, source))


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "NETWR: AMOUNT",
            "NETWR: {multiply: AMOUNT, by: {const: ten}}",
            r"line 19, tables\.VBAP\.columns\.NETWR\.by: 'ten' is not a valid decimal value of a "
            r"multiply operand$",
        ),
        (
            "NETWR: AMOUNT",
            "NETWR: {multiply: {const: 2015-01-01}, by: 2}",
            r"line 19, tables\.VBAP\.columns\.NETWR\.multiply: a date cannot be used as a number$",
        ),
        (
            "convert: QTY,",
            "convert: {const: lots},",
            r"line 17, tables\.VBAP\.columns\.KWMENG\.convert: 'lots' is not a valid decimal "
            r"value of a convert operand$",
        ),
        (  # two operations deep
            "convert: QTY,",
            "convert: {multiply: QTY, by: {const: twice}},",
            r"line 17, tables\.VBAP\.columns\.KWMENG\.convert\.by: 'twice' is not a valid decimal ",
        ),
        (  # concat takes any constant, but the year inside it reads a date
            "MATNR: PRODUCT",
            "MATNR: {concat: [PRODUCT, {year: {const: soon}}]}",
            r"line 16, tables\.VBAP\.columns\.MATNR\.concat\[1\]\.year: 'soon' is not a valid "
            r"date value of a year operand$",
        ),
        (
            "NETWR: AMOUNT",
            "NETWR: {year: {const: 2015}}",
            r"line 19, tables\.VBAP\.columns\.NETWR\.year: a number cannot be used as a date$",
        ),
        (  # read in the date operation's format
            "NETWR: AMOUNT",
            'NETWR: {year: {date: {const: "2015-02-01"}, format: DD.MM.YYYY}}',
            r"line 19, tables\.VBAP\.columns\.NETWR\.year\.date: '2015-02-01' is not a valid date "
            r"value of a date operand$",
        ),
        (  # a lookup's value becomes the column's
            "value: CREATED",
            "value: {const: soon}",
            r"line 20, tables\.VBAP\.columns\.ERDAT\.value: 'soon' is not a valid date value of "
            r"ERDAT$",
        ),
        (  # so does a code the table lacks, under unmapped: keep
            "POSNR: ITEM",
            "POSNR: {code: {const: X1}, map: unit, unmapped: keep}",
            r"line 15, tables\.VBAP\.columns\.POSNR\.code: 'X1' is not a valid integer value of "
            r"POSNR$",
        ),
        (
            "code: UNIT",
            "code: {const: PCS}",
            r"line 18, tables\.VBAP\.columns\.VRKME\.code: code 'PCS' is not in code table "
            r"'unit'; add it, or set unmapped: keep or empty$",
        ),
        (
            "from: UNIT, to: {const: ST}, units: T006.csv",
            "from: {const: LB}, factors: {KG: 1}",
            r"line 17, tables\.VBAP\.columns\.KWMENG\.from: unit 'LB' is not in factors$",
        ),
    ],
)
def test_nested_constants_are_checked_when_the_mapping_is_loaded(tmp_path: Path, old, new, message):
    """One configuration error naming file, line and key path, before any source row is read
    (no source folder at all), instead of the same quarantined value in every row."""
    path = tmp_path / "m.yaml"
    assert old in MAPPING_YAML
    path.write_text(MAPPING_YAML.replace(old, new, 1))
    with pytest.raises(MappingError, match="^" + re.escape(str(path)) + " " + message):
        load_mapping(path)


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            'WERKS: "1000"',
            "WERKS: 0100",
            r"line 9, defaults\.WERKS: got the number 64; YAML reads ",
        ),
        ("EA: ST", "EA: 0001", r"line 5, codes\.unit\.EA: got the number 1; "),
        ("{EA: ST", "{0001: ST", r"line 5, codes\.unit\.1: got the number 1; "),
        (
            "MATNR: PRODUCT",
            "MATNR: {concat: [PRODUCT, {const: 1_000}]}",
            r"line 16, tables\.VBAP\.columns\.MATNR\.concat\[1\]: got the number 1000; ",
        ),
        (
            "code: UNIT",
            "code: {const: 0x10}",
            r"line 18, tables\.VBAP\.columns\.VRKME\.code: got the number 16; ",
        ),
        (
            "    columns:\n",
            "    for_each: {WERKS: [+5]}\n    columns:\n",
            r"line 13, tables\.VBAP\.for_each\.WERKS\[0\]: got the number 5; ",
        ),
        (  # read as a number, 0100 is no more 100
            "NETWR: AMOUNT",
            "NETWR: {multiply: AMOUNT, by: 0100}",
            r"line 19, tables\.VBAP\.columns\.NETWR\.by: got the number 64; ",
        ),
        (
            "    columns:\n",
            "    where: [{source: ITEM, equals: 010}]\n    columns:\n",
            r"line 13, tables\.VBAP\.where\[0\]\.equals: got the number 8; YAML reads the "
            r'unquoted 010 so: quote it \("010"\)$',
        ),
    ],
)
def test_numbers_yaml_reads_otherwise_than_they_look_are_refused(tmp_path: Path, old, new, message):
    """YAML 1.1 reads 0100 as 64 (octal), 0001 as 1: a plant or a code written so would be
    another one, silently. Quoted, each means what it says."""
    path = tmp_path / "m.yaml"
    assert old in MAPPING_YAML
    path.write_text(MAPPING_YAML.replace(old, new, 1))
    with pytest.raises(MappingError, match="^" + re.escape(str(path)) + " " + message):
        load_mapping(path)


def test_numbers_yaml_reads_as_they_look_are_kept(source: Path, tmp_path: Path):
    """An unquoted 1000 is written as 1000: a plant may stay unquoted. Read as a number, 1_000
    and +2 mean what they say."""
    path = tmp_path / "m.yaml"
    text = MAPPING_YAML.replace('WERKS: "1000"', "WERKS: 1000").replace(
        "NETWR: AMOUNT", "NETWR: {multiply: AMOUNT, by: {multiply: {const: 1_000}, by: +2}}"
    )
    path.write_text(text)
    config = load_mapping(path)
    tables = map_tables(config, Sources(config, source))
    assert column(tables, "VBAP", "WERKS") == ["1000"] * 4
    assert column(tables, "VBAP", "NETWR") == [3824000.0, 7497000.0, 1912000.0, 0.0]


def test_nested_constants_of_the_right_type_are_mapped(source: Path):
    document = base_document()
    columns = vbap_columns(document)
    columns["NETWR"] = {"multiply": "AMOUNT", "by": {"const": "0.5"}}
    columns["KWMENG"] = {"multiply": copy.deepcopy(columns["KWMENG"]), "by": -1}
    columns["MATNR"] = {"concat": ["PRODUCT", {"const": date(2015, 1, 2)}], "sep": "/"}
    columns["VRKME"] = {"code": {"const": "KG"}, "map": "unit"}
    document["tables"]["VBAP"]["where"] = [{"target": "ERDAT", "max": date(2015, 1, 1)}]
    document["tables"]["VBAK"] = {
        "source": "orders.csv",
        "columns": {
            "VBELN": "ORDER",
            "KUNNR": "CUSTOMER",
            "ERDAT": {"date": {"const": "01.02.2015"}, "format": "DD.MM.YYYY"},
            "VDATU": {"code": {"const": "2015-03-01"}, "map": "unit", "unmapped": "keep"},
        },
    }
    tables = mapped(source, document)
    assert column(tables, "VBAP", "NETWR") == [956.0, 1874.25]
    assert column(tables, "VBAP", "KWMENG") == [-2.0, -3.0]
    assert column(tables, "VBAP", "MATNR") == ["HT-1000/2015-01-02", "HT-1001/2015-01-02"]
    assert column(tables, "VBAP", "VRKME") == ["KG", "KG"]
    assert column(tables, "VBAK", "ERDAT") == dates("2015-02-01", "2015-02-01", "2015-02-01")
    assert column(tables, "VBAK", "VDATU") == dates("2015-03-01", "2015-03-01", "2015-03-01")
    assert mapping_issues(tables["VBAP"]) == mapping_issues(tables["VBAK"]) == []


def test_data_errors_of_a_loaded_mapping_name_its_line_too(source: Path, tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING_YAML)
    replace_file(
        source, "items.csv", "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n500000000,10,A,1,BOX,1\n"
    )
    config = load_mapping(path)
    with pytest.raises(
        MappingError,
        match=r"^items\.csv line 2 \(" + re.escape(str(path)) + r" line 17, "
        r"tables\.VBAP\.columns\.KWMENG\): unit 'BOX' is not in T006\.csv$",
    ):
        map_tables(config, Sources(config, source))


def test_issues_list_nothing_for_clean_data(source: Path):
    tables = mapped(source, base_document())
    assert mapping_issues(tables["VBAP"]) == []
    bad = tables["VBAP"].bad
    assert bad.shape == (4, len(tables["VBAP"].spec.columns))
    assert not bad.notna().to_numpy().any()


# -- values the load cannot hold, ambiguous formats, silent lookups, encodings -------------------


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "ERDAT: {lookup: order, value: CREATED}",
            "ERDAT: {const: 9999-12-31}",
            r"line 20, tables\.VBAP\.columns\.ERDAT: the date 9999-12-31 is outside "
            r"1677-09-22\.\.2262-04-11, the dates the load supports; leave the value empty or use "
            r"a date inside that range$",
        ),
        (
            "ERDAT: {lookup: order, value: CREATED}",
            "ERDAT: {const: 1677-09-21}",
            r"line 20, tables\.VBAP\.columns\.ERDAT: the date 1677-09-21 is outside ",
        ),
        (  # a default, even of a column that is mapped
            'WERKS: "1000"',
            'WERKS: "1000"\n  ERDAT: 2262-04-12',
            r"line 10, defaults\.ERDAT: the date 2262-04-12 is outside ",
        ),
        (  # joined as text, it went through the same nanoseconds
            "MATNR: PRODUCT",
            "MATNR: {concat: [PRODUCT, {const: 9999-12-31}]}",
            r"line 16, tables\.VBAP\.columns\.MATNR\.concat\[1\]: the date 9999-12-31 is outside ",
        ),
    ],
)
def test_dates_the_load_cannot_hold_are_configuration_errors(tmp_path: Path, old, new, message):
    """datetime64[ns] ends on 2262-04-11: 9999-12-31 was written as a day in 1816."""
    path = tmp_path / "m.yaml"
    assert old in MAPPING_YAML
    path.write_text(MAPPING_YAML.replace(old, new, 1))
    with pytest.raises(MappingError, match="^" + re.escape(str(path)) + " " + message):
        load_mapping(path)


def test_dates_at_the_ends_of_the_range_and_open_filters_are_mapped(source: Path):
    document = base_document()
    vbap_columns(document)["ERDAT"] = {"const": date(2262, 4, 11)}
    document["tables"]["VBAP"]["where"] = [{"target": "ERDAT", "max": date(9999, 12, 31)}]
    document["window"] = {"from": date(2015, 1, 1), "to": date(9999, 12, 31)}
    assert column(mapped(source, document), "VBAP", "ERDAT") == dates(*["2262-04-11"] * 4)
    vbap_columns(document)["ERDAT"] = {"const": date(1677, 9, 22)}
    document.pop("window")
    assert column(mapped(source, document), "VBAP", "ERDAT") == dates(*["1677-09-22"] * 4)


GERMAN_ORDERS = "AUFTRAG;POS;MATERIAL;MENGE;DATUM\n1;10;P1;1.250;05.01.2015\n1;20;P2;3;05.01.2015\n"


def german_document(files: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": 1,
        "format": {"separator": ";", "date_format": "DD.MM.YYYY"},
        "files": files,
        "defaults": {"WERKS": "1000"},
        "tables": {
            "VBAP": {
                "source": "auftraege_*.csv",
                "columns": {
                    "VBELN": "AUFTRAG",
                    "POSNR": "POS",
                    "MATNR": "MATERIAL",
                    "KWMENG": "MENGE",
                    "ERDAT": "DATUM",
                },
            }
        },
    }


def test_files_patterns_match_case_insensitively(tmp_path: Path):
    """`*_de.csv` is meant for auftraege_DE.csv: missed, 1.250 was read as 1.25."""
    (tmp_path / "auftraege_DE.csv").write_text(GERMAN_ORDERS)
    document = german_document({"*_de.csv": {"decimal": ",", "thousands": "."}})
    assert column(mapped(tmp_path, document), "VBAP", "KWMENG") == [1250.0, 3.0]


def test_a_file_two_files_patterns_match_is_an_error_naming_both(tmp_path: Path):
    """Which entry wins is no guess left to the order of the YAML: a general `*.csv` listed
    first read 1.250 as 1.25."""
    (tmp_path / "auftraege_de.csv").write_text(GERMAN_ORDERS)
    path = tmp_path / "m.yaml"
    document = german_document(
        {"*.CSV": {"separator": ";"}, "*_de.csv": {"decimal": ",", "thousands": "."}}
    )
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    config = load_mapping(path)
    where = re.escape(str(path))
    with pytest.raises(
        MappingError,
        match=rf"^{where} line 8, files\.\*_de\.csv: auftraege_de\.csv matches both '\*\.CSV' "
        rf"\({where} line 6\) and '\*_de\.csv'; give each file one entry \(what all files share "
        r"belongs in `format`\)$",
    ):
        map_tables(config, Sources(config, tmp_path))


def test_a_files_pattern_no_file_read_matches_is_reported(source: Path, tmp_path: Path, capsys):
    document = base_document()
    document["files"]["*_de.csv"] = {"decimal": ","}
    report = map_sources(parse_mapping(document), source, tmp_path / "landing")
    warning = "files.*_de.csv: matches none of the files read (items.csv, T006.csv, orders.csv)"
    assert report.warnings == [warning]
    summary = json.loads((tmp_path / "landing" / "_mapping_summary.json").read_text())
    assert summary["warnings"] == [warning]
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert cli(["map", "--config", str(path), "--source", str(source), "--dry-run"]) == 0
    assert f"warning: files.*_de.csv ({path} line " in capsys.readouterr().out


def test_a_lookup_that_matches_no_row_is_an_error(source: Path, tmp_path: Path):
    """A typo in `by` emptied the looked-up column of every row without a word."""
    path = tmp_path / "m.yaml"
    path.write_text(
        MAPPING_YAML + "  KNA1:\n"
        "    source: partners.csv\n"
        "    columns:\n"
        "      KUNNR: ID\n"
        "      ORT01: {lookup: {file: addresses.csv, key: ADDRESSID, by: ID}, value: CITY}\n"
    )
    config = load_mapping(path)
    with pytest.raises(
        MappingError,
        match="^" + re.escape(str(path)) + r" line 25, tables\.KNA1\.columns\.ORT01\.lookup\.by: "
        r"matches none of the 3 rows of partners\.csv \(tables\.KNA1\.columns\.ORT01\): no 'by' "
        r"value is found in ADDRESSID of addresses\.csv \(looked up '100000000'; it holds '1', "
        r"\.\.\.\); check 'by' and 'key'$",
    ):
        map_tables(config, Sources(config, source))


def test_the_report_counts_the_rows_each_lookup_matched(source: Path, tmp_path: Path, capsys):
    """A partial match stays data (partner 9 has no address), counted in the summary."""
    document = base_document()
    document["tables"]["KNA1"] = {
        "source": "partners.csv",
        "columns": {"KUNNR": "ID", "ORT01": {"lookup": "address", "value": "CITY"}},
    }
    document["lookups"]["address"] = {"file": "addresses.csv", "key": "ADDRESSID", "by": "ADDRESS"}
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(document), source, out)
    assert {path: vars(count) for path, count in report.lookups.items()} == {
        "tables.KNA1.columns.ORT01": {
            "lookup": "lookups.address",
            "file": "addresses.csv",
            "rows": 3,
            "matched": 2,
        },
        "tables.VBAP.columns.ERDAT": {
            "lookup": "lookups.order",
            "file": "orders.csv",
            "rows": 4,
            "matched": 4,
        },
    }
    summary = json.loads((out / "_mapping_summary.json").read_text())
    assert summary["lookups"]["tables.KNA1.columns.ORT01"]["matched"] == 2
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(document))
    assert cli(["map", "--config", str(path), "--source", str(source), "--dry-run"]) == 0
    assert "  tables.KNA1.columns.ORT01 in addresses.csv: 2 of 3" in capsys.readouterr().out


def test_numbers_beyond_their_sap_type_are_quarantined_not_wrapped(source: Path, tmp_path: Path):
    """99999999999999999999 crashed the integer column; a quantity beyond 9.2e15 was written as
    -9223372036854776,192. Each is quarantined with its value and its column's limit."""
    (source / "items.csv").write_text(
        "ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\n"
        "500000000,10,HT-1000,2,EA,1912\n"
        "500000000,99999999999999999999,HT-1001,3,EA,12.5\n"
        "500000000,30,HT-1001,10000000000000000,EA,1\n"
        "500000000,40,HT-1001,999999999999.999,EA,10000000000000\n"
        f"500000000,50,HT-1001,1{'0' * 400},EA,1\n"
    )
    out = tmp_path / "landing"
    report = map_sources(parse_mapping(base_document()), source, out)
    assert [(i.origin, i.column, i.message.rsplit("; written", 1)[0]) for i in report.issues] == [
        (
            "items.csv line 3",
            "POSNR",
            "'99999999999999999999' exceeds the 15 digits a mapped number keeps exactly (at "
            "most 999,999,999,999,999)",
        ),
        (
            "items.csv line 4",
            "KWMENG",
            "'10000000000000000' exceeds QUAN 15,3 (at most 999,999,999,999.999)",
        ),
        (
            "items.csv line 6",
            "KWMENG",
            f"'1{'0' * 400}' exceeds QUAN 15,3 (at most 999,999,999,999.999)",
        ),
        (
            "items.csv line 5",
            "NETWR",
            "'10000000000000' exceeds CURR 15,2 (at most 9,999,999,999,999.99)",
        ),
    ]
    rows, rejects = quarantined(out, "VBAP_20150101.csv")
    assert rows["POSNR"].tolist() == [10]
    assert sorted(rejects) == [3, 4, 5, 6]
    assert "-9223372036854776" not in (out / "VBAP_20150101.csv").read_text(encoding="utf-8-sig")
    assert "KWMENG '10000000000000000' exceeds QUAN 15,3" in rejects[4]
    assert rejects[3].startswith("0500000000;99999999999999999999;")  # as it came, noted


def test_number_constants_beyond_their_sap_type_are_configuration_errors(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING_YAML.replace("NETWR: AMOUNT", "NETWR: {const: 10000000000000}"))
    with pytest.raises(
        MappingError,
        match=re.escape(str(path)) + r" line 19, tables\.VBAP\.columns\.NETWR: '10000000000000' "
        r"exceeds CURR 15,2 \(at most 9,999,999,999,999\.99\)$",
    ):
        load_mapping(path)
    # an operand is not written: only the result must fit
    path.write_text(
        MAPPING_YAML.replace(
            "NETWR: AMOUNT", "NETWR: {multiply: {const: 100000000000000000}, by: 0.00000001}"
        )
    )
    load_mapping(path)


def test_every_sap_quantity_and_amount_has_its_type():
    assert set(SAP_LENGTHS) == set(SAP_DECIMALS)


#: The fields S/4HANA's own APIs expose, as entity type and property in the shared EDMX.
EDMX_PROPERTY_OF = {
    "KWMENG": ("A_SalesOrderItemType", "RequestedQuantity"),
    "BTGEW": ("A_SalesOrderItemType", "ItemGrossWeight"),
    "NETWR": ("A_SalesOrderItemType", "NetAmount"),
    "BRGEW": ("A_ProductType", "GrossWeight"),
    "STPRS": ("A_ProductValuationType", "StandardPrice"),
    "VERPR": ("A_ProductValuationType", "MovingAveragePrice"),
    "EISBE": ("A_ProductSupplyPlanningType", "SafetyStockQuantity"),
    "BSTMI": ("A_ProductSupplyPlanningType", "MinimumLotSizeQuantity"),
    "BSTRF": ("A_ProductSupplyPlanningType", "LotSizeRoundingQuantity"),
}


def test_sap_types_agree_with_the_s4hana_metadata(datasets: Path):
    """`SAP_LENGTHS` and `SAP_DECIMALS` against SAP's published EDMX, for every field an API
    exposes. Gateway shows QUAN n,3 as Precision n, Scale 3, and CURR n,2 as Precision n+1,
    Scale 3 (one more place for currencies with three decimals)."""
    listing = pd.read_csv(datasets / "sap" / "odata-metadata" / "edmx_properties.csv", dtype=str)
    published: dict[tuple[str, str], set[tuple[int, int]]] = {}
    for row in listing[listing["edm_type"] == "Edm.Decimal"].itertuples():
        published.setdefault((row.entity_type, row.property), set()).add(
            (int(row.precision), int(row.scale))
        )
    for field, prop in EDMX_PROPERTY_OF.items():
        sap_type, digits = SAP_LENGTHS[field]
        assert (sap_type, SAP_DECIMALS[field]) in {("QUAN", 3), ("CURR", 2)}, field
        expected = (digits, 3) if sap_type == "QUAN" else (digits + 1, 3)
        assert published[prop] == {expected}, (field, prop, published[prop])


def test_utf16_with_a_byte_order_mark_is_read(source: Path):
    """SAP GUI's "Unicode text", which the landing reader takes too."""
    expected = column(mapped(source, base_document()), "VBAP", "KWMENG")
    text = FILES["items.csv"].replace("\n", "\r\n")
    for codec in ("utf-16", "utf-16-be"):
        bom = codecs.BOM_UTF16_BE if codec == "utf-16-be" else b""
        (source / "items.csv").write_bytes(bom + text.encode(codec))
        assert column(mapped(source, base_document()), "VBAP", "KWMENG") == expected


def test_source_read_errors_name_the_mapping_line_that_reads_the_file(source: Path, tmp_path: Path):
    replace_file(source, "orders.csv", "")
    path = tmp_path / "m.yaml"
    path.write_text(MAPPING_YAML)
    config = load_mapping(path)
    with pytest.raises(
        MappingError,
        match=r"^orders\.csv \(" + re.escape(str(path)) + r" line 7, lookups\.order\.file\): is "
        r"empty: no header row$",
    ):
        map_tables(config, Sources(config, source))


def test_blank_records_padding_and_line_breaks_of_a_source(source: Path):
    (source / "items.csv").write_bytes(
        b"ORDER,ITEM,PRODUCT,QTY,UNIT,AMOUNT\r\n\r\n , ,,,,\r\n"
        b" 500000000 ,10, HT-1000 ,2,EA,\r500000001,10,HT-1000,1,EA,956\n"
    )
    table = mapped(source, base_document())["VBAP"]
    assert column({"VBAP": table}, "VBAP", "MATNR") == ["HT-1000", "HT-1000"]
    assert column({"VBAP": table}, "VBAP", "NETWR") == [None, 956.0]
    assert [table.origin(i) for i in range(2)] == ["items.csv line 4", "items.csv line 5"]


def test_cli_refuses_replace_with_dry_run(source: Path, tmp_path: Path, capsys):
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(base_document()))
    with pytest.raises(SystemExit):
        cli(["map", "--config", str(path), "--source", str(source), "--dry-run", "--replace"])
    assert "--replace deletes landing files in --out; a --dry-run" in capsys.readouterr().err


def test_the_summary_goes_beside_an_incoming_folder_not_into_it(source: Path, tmp_path: Path):
    """The landing sensor takes every file of incoming/: it would reject the summary (no
    landing file name) and alert."""
    with pytest.raises(LandingNameError):
        parse_landing_name(SUMMARY_FILE)
    incoming = tmp_path / "landing" / "incoming"
    report = map_sources(parse_mapping(base_document()), source, incoming)
    assert report.summary == str(tmp_path / "landing" / SUMMARY_FILE)
    assert sorted(p.name for p in incoming.iterdir()) == report.tables["VBAP"].files
    assert json.loads(Path(report.summary).read_text())["out_dir"] == str(incoming)
