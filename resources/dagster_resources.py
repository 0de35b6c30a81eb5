"""Dagster resources over the pure warehouse and landing-zone classes, and the one env switch.

`SCP_WAREHOUSE=duckdb` (default) keeps everything in `.local/`; `SCP_WAREHOUSE=postgres`
points the warehouse at Postgres, configured from `SCP_PG_*` variables. Secrets are read
through `dg.EnvVar`, so they never appear in run config or logs.
"""

from __future__ import annotations

import math
import os
from typing import Any, TypeVar

import dagster as dg

from pipelines.ingest.odata import (
    check_credentials_set,
    checked_auth,
    checked_base_url,
    checked_sap_client,
)
from resources.odata import SapODataResource
from resources.paths import LOCAL_DIR
from resources.warehouse import DUCKDB_LOCK_WAIT_SECONDS, Warehouse, WarehouseSettings

#: Every asset that touches the warehouse claims a slot in this pool. The local instance
#: limits it to 1 (a DuckDB file allows one writing process); production raises it.
WAREHOUSE_POOL = "warehouse"

N = TypeVar("N", int, float)


class WarehouseResource(dg.ConfigurableResource):
    """The planning warehouse: DuckDB file or Postgres database."""

    kind: str = "duckdb"
    duckdb_path: str = str(LOCAL_DIR / "warehouse.duckdb")
    duckdb_memory_limit: str | None = None
    pg_host: str = "127.0.0.1"
    pg_port: int = 5432
    pg_user: str = "postgres"
    pg_password: str = ""
    pg_database: str = "postgres"

    def settings(self) -> WarehouseSettings:
        return WarehouseSettings(
            kind=self.kind,
            duckdb_path=self.duckdb_path,
            duckdb_memory_limit=self.duckdb_memory_limit,
            pg_host=self.pg_host,
            pg_port=self.pg_port,
            pg_user=self.pg_user,
            pg_password=self.pg_password,
            pg_database=self.pg_database,
        )

    def open(self, lock_wait_seconds: float = DUCKDB_LOCK_WAIT_SECONDS) -> Warehouse:
        return self.settings().open(lock_wait_seconds)

    @property
    def dbt_target(self) -> str:
        return self.kind


class LandingZone(dg.ConfigurableResource):
    """Where SAP extracts are dropped: a local or mounted folder, or an fsspec URL such as
    `s3://bucket/sap/landing` or `sftp://host/drop` (`pipelines.ingest.landing.landing_store`)."""

    path: str = str(LOCAL_DIR / "landing")


def _env_or(name: str, default: str | None) -> str | dg.EnvVar | None:
    """A secret as an `EnvVar` (resolved at run time, never in config); set but empty (as
    docker compose passes a blank `.env` line) counts as unset."""
    return dg.EnvVar(name) if os.environ.get(name) else default


def _setting(name: str, default: str | None = None) -> str | None:
    """A plain setting; set but empty counts as unset."""
    return os.environ.get(name) or default


#: How a switch setting may be written; anything else fails loading, naming the setting.
SWITCH_VALUES = {"on": True, "1": True, "true": True, "yes": True}
SWITCH_VALUES |= {"off": False, "0": False, "false": False, "no": False}


def switch_setting(name: str) -> bool:
    """An on/off setting, off when unset: `yes` left a sensor off without a word."""
    text = (_setting(name) or "off").strip().lower()
    if text not in SWITCH_VALUES:
        raise ValueError(f"{name} must be on or off (or 1/0, true/false, yes/no), got {text!r}")
    return SWITCH_VALUES[text]


def number_setting(name: str, default: N, kind: type[N], minimum: N) -> N:
    """A numeric setting of at least `minimum`; a typo fails loading the definitions, naming
    the setting, rather than surfacing later as a pydantic error about a resource field."""
    text = _setting(name)
    if text is None:
        return default
    try:
        value = kind(text)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise ValueError(f"{name} must be {what}, got {text!r}") from None
    if not (math.isfinite(value) and value >= minimum):
        raise ValueError(f"{name} must be a finite number of at least {minimum}, got {text!r}")
    return value


def warehouse_from_env() -> WarehouseResource:
    """The resource for `SCP_WAREHOUSE`; user and password stay `EnvVar`s, never plain config."""
    settings = WarehouseSettings.from_env()
    return WarehouseResource(
        kind=settings.kind,
        duckdb_path=settings.duckdb_path,
        duckdb_memory_limit=settings.duckdb_memory_limit,
        pg_host=settings.pg_host,
        pg_port=settings.pg_port,
        pg_user=_env_or("SCP_PG_USER", settings.pg_user),
        pg_password=_env_or("SCP_PG_PASSWORD", ""),
        pg_database=settings.pg_database,
    )


def landing_from_env() -> LandingZone:
    return LandingZone(path=os.getenv("SCP_LANDING_DIR", str(LOCAL_DIR / "landing")))


def _default(field: str) -> Any:
    """A `SapODataResource` field's default: the settings fall back to it, not to a copy."""
    return SapODataResource.model_fields[field].default


def sap_odata_from_env() -> SapODataResource:
    """S/4HANA OData; the delta sensor only runs when SCP_ODATA_BASE_URL is set. Paging, per
    request timeout, retries, the sensor tick's budget and the delta overlap are settings:
    what suits one S/4 system (its page limit, its throttling, its clocks) does not suit
    another. A base URL with a query string, or an SAP client not of three digits, fails
    loading the definitions, naming the setting."""
    base_url = _setting("SCP_ODATA_BASE_URL", "http://sap-odata.invalid/sap/opu/odata/sap")
    auth = checked_auth(str(_setting("SCP_ODATA_AUTH", "basic")), "SCP_ODATA_AUTH")
    if _setting("SCP_ODATA_BASE_URL"):  # the sensor runs: it must be able to sign in
        check_credentials_set(auth, os.environ)
    return SapODataResource(
        base_url=checked_base_url(str(base_url), "SCP_ODATA_BASE_URL", "SCP_ODATA_SAP_CLIENT"),
        sap_client=checked_sap_client(_setting("SCP_ODATA_SAP_CLIENT"), "SCP_ODATA_SAP_CLIENT"),
        auth=auth,
        username=_setting("SCP_ODATA_USER"),
        password=_env_or("SCP_ODATA_PASSWORD", None),
        client_id=_setting("SCP_ODATA_CLIENT_ID"),
        client_secret=_env_or("SCP_ODATA_CLIENT_SECRET", None),
        token_url=_setting("SCP_ODATA_TOKEN_URL"),
        page_size=number_setting("SCP_ODATA_PAGE_SIZE", _default("page_size"), int, 1),
        timeout_s=number_setting("SCP_ODATA_TIMEOUT", _default("timeout_s"), float, 1.0),
        max_retries=number_setting("SCP_ODATA_MAX_RETRIES", _default("max_retries"), int, 0),
        tick_budget_s=number_setting(
            "SCP_ODATA_TICK_BUDGET", _default("tick_budget_s"), float, 1.0
        ),
        delta_overlap_s=number_setting(
            "SCP_ODATA_DELTA_OVERLAP", _default("delta_overlap_s"), float, 0.0
        ),
    )
