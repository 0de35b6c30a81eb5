"""SAP-shaped demo data: a deterministic generator of SE16N-style landing files."""

from pipelines.demo.generator import DemoConfig, generate

__all__ = ["DemoConfig", "generate"]
