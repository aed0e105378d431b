"""docs/benchmarks.md's round-two tables are what ``python -m bench.markdown`` writes from the
run's committed JSON, so the page and the data cannot drift apart."""

from __future__ import annotations

import json
from pathlib import Path

from bench.markdown import tables

DOCS = Path(__file__).parents[1] / "docs"


def test_the_round_two_tables_are_the_runs_json_rendered() -> None:
    results = json.loads((DOCS / "benchmarks-2026-12-04.json").read_text())
    rendered = tables(results)
    assert "**Scale**" in rendered and "**Remote search**" in rendered  # every measurement ran
    assert rendered in (DOCS / "benchmarks.md").read_text()
