"""Shared fixtures: a parsed dbt manifest, Postgres databases, shared datasets."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from resources.paths import DBT_PROJECT_DIR, PROJECT_ROOT

DATASETS = PROJECT_ROOT.parent / "shared" / "datasets"
PG_ADMIN = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "dbname": "postgres"}


@pytest.fixture(scope="session", autouse=True)
def exports_outside_the_project(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Weekly plans write SAP upload files to SCP_EXPORT_DIR (default `.local/exports`): tests
    and the processes they start write them to a temporary folder instead."""
    os.environ.setdefault("SCP_EXPORT_DIR", str(tmp_path_factory.mktemp("exports")))


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """dagster-dbt reads target/manifest.json at import; prepare it as CI and Docker do.

    Parsed only when stale, under a file lock: two pytest workers must never rewrite the
    manifest while the other one reads it."""
    from filelock import FileLock

    manifest = DBT_PROJECT_DIR / "target" / "manifest.json"
    manifest.parent.mkdir(exist_ok=True)
    with FileLock(str(manifest.parent / "parse.lock")):
        sources = [
            path
            for path in DBT_PROJECT_DIR.rglob("*")
            if path.suffix in {".sql", ".yml", ".yaml"} and "target" not in path.parts
        ]
        newest = max(path.stat().st_mtime for path in sources)
        if not manifest.exists() or manifest.stat().st_mtime < newest:
            subprocess.run(
                [
                    str(Path(sys.executable).parent / "dbt"),
                    "parse",
                    "--quiet",
                    "--profiles-dir",
                    ".",
                ],
                cwd=DBT_PROJECT_DIR,
                check=True,
            )
    return manifest


def postgres_reachable() -> bool:
    import psycopg

    try:
        psycopg.connect(**PG_ADMIN, connect_timeout=3).close()
    except psycopg.OperationalError:
        return False
    return True


@pytest.fixture(scope="session")
def postgres_server() -> dict:
    """Postgres at 127.0.0.1:5432; under CI=true its absence fails the run instead of skipping."""
    if not postgres_reachable():
        if os.getenv("CI", "").lower() == "true":
            pytest.fail("CI=true but Postgres at 127.0.0.1:5432 is not reachable")
        pytest.skip("Postgres at 127.0.0.1:5432 is not reachable (set CI=true to make this fail)")
    return PG_ADMIN


@pytest.fixture
def postgres_database(request: pytest.FixtureRequest, postgres_server: dict) -> Iterator[str]:
    """A fresh, empty database, dropped afterwards; in UTF8, or in the encoding a test gives
    as the fixture's indirect parameter (LATIN1, SQL_ASCII)."""
    import psycopg

    name = f"scp_test_{uuid.uuid4().hex[:10]}"
    encoding = getattr(request, "param", None)
    options = f" encoding '{encoding}' template template0 lc_collate 'C' lc_ctype 'C'"
    with psycopg.connect(**postgres_server, autocommit=True) as con:
        con.execute(f"create database {name}" + (options if encoding else ""))
    try:
        yield name
    finally:
        with psycopg.connect(**postgres_server, autocommit=True) as con:
            con.execute(f"drop database if exists {name} with (force)")


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.exists():
        if os.getenv("CI", "").lower() == "true":
            pytest.fail(f"CI=true but the shared datasets are not at {DATASETS}")
        pytest.skip(f"shared datasets not found at {DATASETS} (set CI=true to make this fail)")
    return DATASETS


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slow (end-to-end) files first: `make test` hands whole files to two workers in this
    order (`--dist loadfile --no-loadscope-reorder`), so the longest ones start at once and the
    many short files fill in around them instead of a long file starting last."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
