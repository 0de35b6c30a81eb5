"""The dbt sources file is generated from the SAP specs and must not drift from them."""

from __future__ import annotations

import json
import re

import yaml

from pipelines.ingest.specs import MOVEMENT_TYPES, TABLE_SPECS
from pipelines.warehouse.sources_yaml import (
    PLANNING_TABLES,
    SOURCES_PATH,
    render_sources_yaml,
    sources_document,
)


def _source(name: str) -> dict:
    document = yaml.safe_load(render_sources_yaml())
    [source] = [s for s in document["sources"] if s["name"] == name]
    return source


def _tables(source_name: str) -> dict[str, dict]:
    return {table["name"]: table for table in _source(source_name)["tables"]}


def test_committed_sources_file_equals_the_rendered_specs():
    assert SOURCES_PATH.read_text(encoding="utf-8") == render_sources_yaml(), (
        "dbt_project/models/staging/sap/_sap__sources.yml is stale: "
        "run `python -m pipelines.warehouse.sources_yaml`"
    )


def test_rendered_yaml_round_trips_to_the_document():
    assert yaml.safe_load(render_sources_yaml()) == sources_document()


def test_sap_source_reads_schema_raw_with_one_table_per_spec_in_spec_order():
    source = _source("sap")
    assert source["schema"] == "raw"
    assert [t["name"] for t in source["tables"]] == [s.lower() for s in TABLE_SPECS]


def test_every_spec_column_is_listed_in_order_and_described_from_the_spec():
    tables = _tables("sap")
    for spec in TABLE_SPECS.values():
        columns = tables[spec.raw_table]["columns"]
        assert [c["name"] for c in columns] == [c.sql_name for c in spec.columns]
        for entry, column in zip(columns, spec.columns, strict=True):
            assert entry["description"] == column.description


def test_asset_keys_point_at_the_raw_and_planning_tables():
    tables = _tables("sap")
    assert tables["t001w"]["config"]["meta"]["dagster"]["asset_key"] == ["raw", "t001w"]
    assert tables["mseg"]["config"]["meta"]["dagster"]["asset_key"] == ["raw", "mseg"]
    planning = _tables("planning")
    assert _source("planning")["schema"] == "planning"
    assert set(planning) == set(PLANNING_TABLES)
    forecast = planning["demand_forecast"]["config"]["meta"]["dagster"]["asset_key"]
    assert forecast == ["planning", "demand_forecast"]


def test_key_test_covers_the_spec_key_and_only_warns():
    tables = _tables("sap")
    [test] = tables["mseg"]["data_tests"]
    unique = test["unique_combination_of_columns"]
    assert unique["arguments"]["combination_of_columns"] == ["mblnr", "mjahr", "zeile"]
    assert unique["config"] == {"severity": "warn"}
    [test] = tables["marc"]["data_tests"]
    assert test["unique_combination_of_columns"]["arguments"]["combination_of_columns"] == [
        "matnr",
        "werks",
    ]


def test_required_columns_are_not_null_and_allowed_values_are_accepted_values():
    columns = {c["name"]: c for c in _tables("sap")["vbap"]["columns"]}
    assert columns["matnr"]["data_tests"] == ["not_null"]
    assert "data_tests" not in columns["kwmeng"]
    mseg = {c["name"]: c for c in _tables("sap")["mseg"]["columns"]}
    not_null, accepted = mseg["bwart"]["data_tests"]
    assert not_null == "not_null"
    assert accepted["accepted_values"]["arguments"]["values"] == list(MOVEMENT_TYPES)
    assert mseg["shkzg"]["data_tests"][0]["accepted_values"]["arguments"]["values"] == ["S", "H"]


def test_every_sap_table_has_a_staging_model_reading_its_source():
    models_dir = SOURCES_PATH.parent
    for spec in TABLE_SPECS.values():
        model = models_dir / f"stg_sap__{spec.raw_table}.sql"
        assert model.exists(), f"missing staging model {model.name}"
        assert re.search(rf"source\('sap', '{spec.raw_table}'\)", model.read_text()), model.name


def _manifest_nodes(manifest_path) -> list[dict]:
    return list(json.loads(manifest_path.read_text())["nodes"].values())


def test_transactional_staging_and_facts_declare_their_partition_column(dbt_manifest):
    """Their tests are restricted to a daily run's window by this column (get_where_subquery)."""
    models = {n["name"]: n for n in _manifest_nodes(dbt_manifest) if n["resource_type"] == "model"}
    for spec in TABLE_SPECS.values():
        staging = models[f"stg_sap__{spec.raw_table}"]
        assert ("partitioned" in staging["tags"]) == spec.is_partitioned, staging["name"]
    partitioned = [m for m in models.values() if "partitioned" in m["tags"]]
    assert {m["name"] for m in partitioned if m["name"].startswith("fct_")} == {
        "fct_sales_order_lines",
        "fct_goods_movements",
        "fct_inventory_daily",
        "fct_demand_daily",
    }
    for model in partitioned:
        column = model["config"]["meta"].get("partition_column")
        assert column in model["columns"], (model["name"], column)


def test_every_generic_test_carries_the_partition_window_placeholder(dbt_manifest):
    tests = [
        n
        for n in _manifest_nodes(dbt_manifest)
        if n["resource_type"] == "test" and n.get("test_metadata")
    ]
    assert len(tests) > 100
    assert {t["config"]["where"] for t in tests} == {"__partition_window__"}
