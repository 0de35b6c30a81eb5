"""The Dagster UI in a real browser (Debian's chromium driven by Playwright) over `dagster dev`.

Needs `apt-get install chromium`; never `playwright install` (it downloads, and fails offline).
Screenshots go to test-artifacts/ (git-ignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from pipelines.materialize import LOCAL_INSTANCE_YAML
from resources.paths import PROJECT_ROOT
from tests.e2e import (
    BIN,
    Process,
    clean_env,
    free_port,
    generate_demo_landing,
    graphql,
    http_ok,
    wait_until,
)

pytestmark = pytest.mark.slow
#: Assertions wait as long as actions (`set_default_timeout`): 5 s, the default, is not enough
#: for the UI's first render while the suite's other worker loads the two cores.
expect.set_options(timeout=60_000)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = PROJECT_ROOT / "test-artifacts"
#: Upstream of the inventory policy, one node per layer: raw -> dbt staging -> marts ->
#: forecast -> planning.
LINEAGE = ["mseg", "stg_sap__mseg", "fct_demand_weekly", "demand_forecast", "inventory_policy"]
GROUPS = ["raw", "staging", "marts", "forecasting", "planning"]
LOCATION_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries {
    locationOrLoadError { __typename }
} } } }
"""


@dataclass
class LocalUi:
    url: str
    duckdb_path: Path
    generated: dict[str, int]


def location_loaded(port: int) -> bool:
    entries = graphql(port, LOCATION_QUERY)["workspaceOrError"]["locationEntries"]
    return [e["locationOrLoadError"]["__typename"] for e in entries] == ["RepositoryLocation"]


def row_count(path: Path, table: str) -> tuple[int] | None:
    """(rows,) or None while another process (a run started by automation) writes the file."""
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(f"select count(*) from {table}").fetchone()
    except duckdb.IOException:
        return None


@pytest.fixture(scope="module")
def local_ui(tmp_path_factory) -> Iterator[LocalUi]:
    """`dagster dev` on the embedded default: SQLite instance, DuckDB warehouse, demo extracts."""
    if not Path(CHROMIUM).exists():  # before minutes of `dagster dev` that no browser can use
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (never playwright install)")
    tmp = tmp_path_factory.mktemp("ui")
    home = tmp / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(LOCAL_INSTANCE_YAML)
    landing = tmp / "landing"
    generated = generate_demo_landing(landing)
    port = free_port()
    env = clean_env(
        DAGSTER_HOME=str(home),
        SCP_WAREHOUSE="duckdb",
        SCP_DUCKDB_PATH=str(tmp / "warehouse.duckdb"),
        SCP_LANDING_DIR=str(landing),
        SCP_LOCAL_DIR=str(tmp / "local"),
        SCP_HISTORY_START="2024-01-01",
    )
    dev = Process(
        "dagster-dev",
        [
            str(BIN / "dagster"),
            "dev",
            "-m",
            "pipelines.definitions",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        env,
        tmp,
    )
    try:
        dev.start()
        wait_until(
            lambda: http_ok(f"http://127.0.0.1:{port}/server_info"),
            240,
            "dagster dev's webserver",
            interval=2,
            on_timeout=dev.log_tail,
        )
        wait_until(
            lambda: location_loaded(port),
            240,
            "the code location",
            interval=2,
            on_timeout=dev.log_tail,
        )
        yield LocalUi(f"http://127.0.0.1:{port}", tmp / "warehouse.duckdb", generated)
    finally:
        dev.stop()


@pytest.fixture(scope="module")
def page(local_ui: LocalUi) -> Iterator[Page]:
    """One browser for the module; the first visit shows the community dialog, dismissed here."""
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.set_default_timeout(60_000)
            page.goto(local_ui.url + "/asset-groups", wait_until="domcontentloaded")
            expect(page.get_by_text("Join the Dagster community")).to_be_visible()
            page.get_by_role("button", name="Skip").click()
            expect(page.get_by_text("Join the Dagster community")).to_be_hidden()
            yield page
        finally:
            browser.close()


def test_global_lineage_shows_every_layer(page: Page, local_ui: LocalUi):
    page.goto(local_ui.url + "/asset-groups", wait_until="domcontentloaded")
    expect(page.get_by_text("Global asset lineage")).to_be_visible()
    for group in GROUPS:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "ui_global_lineage.png")


def test_inventory_policy_lineage_reaches_back_to_raw(page: Page, local_ui: LocalUi):
    page.goto(
        local_ui.url
        + "/assets/planning/inventory_policy?view=lineage&lineageScope=upstream&lineageDepth=8",
        wait_until="domcontentloaded",
    )
    for name in LINEAGE + GROUPS:
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "ui_inventory_policy_lineage.png")


def test_materialize_a_raw_asset_from_the_ui(page: Page, local_ui: LocalUi):
    page.goto(local_ui.url + "/assets/raw/t001w", wait_until="domcontentloaded")
    expect(page.get_by_text("Never materialized")).to_be_visible()
    page.get_by_role("button").filter(has_text="Materialize").first.click()

    toast = page.get_by_text("Launched run")
    expect(toast).to_be_visible()
    page.get_by_role("button", name="View").or_(page.get_by_role("link", name="View")).first.click()
    page.wait_for_url("**/runs/*")
    expect(page.get_by_text("RUN_SUCCESS")).to_be_visible(timeout=300_000)
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    page.screenshot(path=ARTIFACTS / "ui_materialize_run.png")

    [plants] = wait_until(
        lambda: row_count(local_ui.duckdb_path, "raw.t001w"),
        180,
        "the DuckDB file (automation runs may hold its write lock)",
        interval=2,
    )
    assert plants == local_ui.generated["T001W"]
