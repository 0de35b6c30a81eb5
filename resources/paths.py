"""Where the embedded default keeps its state: a git-ignored `.local/` in the project."""

import os
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LOCAL_DIR = Path(os.getenv("SCP_LOCAL_DIR", PROJECT_ROOT / ".local"))
DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"

#: dbt from this interpreter's environment, so it is found without an activated venv.
DBT_EXECUTABLE = str(Path(sys.executable).parent / "dbt")


def export_dir() -> Path:
    """Where plans are written for SAP and buyers (`SCP_EXPORT_DIR`, default
    `$SCP_LOCAL_DIR/exports`); read when a run writes, so the run's environment decides."""
    return Path(os.environ.get("SCP_EXPORT_DIR") or LOCAL_DIR / "exports")
