"""The docker-compose deployment passes every setting the code reads into its containers."""

from __future__ import annotations

import re

import yaml

from resources.paths import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
#: Settings of the embedded default only: the compose deployment runs on Postgres.
LAPTOP_ONLY = {"SCP_DUCKDB_PATH", "SCP_DUCKDB_MEMORY_LIMIT", "SCP_LOCAL_DIR"}
#: A whole setting name; prefixes the code writes in docs (`SCP_ALERT_*`, `SCP_PG_`) end in "_"
#: and do not match.
SETTING = re.compile(r"\b(SCP_[A-Z0-9_]*[A-Z0-9])\b")


def settings_read_by_the_code() -> set[str]:
    names: set[str] = set()
    for folder in ("pipelines", "resources"):
        for path in (PROJECT_ROOT / folder).rglob("*.py"):
            names |= set(SETTING.findall(path.read_text()))
    return names - LAPTOP_ONLY


def settings_in_env_example() -> set[str]:
    """Names in docker/.env.example, set or commented out as an example."""
    text = (DOCKER / ".env.example").read_text()
    return set(re.findall(r"^#?\s*(SCP_[A-Z0-9_]+)=", text, flags=re.MULTILINE))


def test_every_setting_the_code_reads_reaches_the_containers() -> None:
    compose = yaml.safe_load((DOCKER / "docker-compose.yml").read_text())
    app = compose["x-app"]
    assert {"path": ".env", "required": False} in app["env_file"]
    fixed = set(compose["x-app-environment"])
    missing = settings_read_by_the_code() - fixed - settings_in_env_example()
    assert not missing, (
        f"settings neither fixed in docker-compose.yml nor in .env.example: {missing}"
    )


def test_the_settings_scan_finds_what_the_code_reads() -> None:
    found = settings_read_by_the_code()
    assert {"SCP_LANDING_SENSOR", "SCP_ODATA_BASE_URL", "SCP_ALERT_SMTP_HOST"} <= found
    assert "SCP_DUCKDB_PATH" not in found
