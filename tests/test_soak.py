"""Soak test, short form (CI): tests/soak.py for 12 s; `python tests/soak.py --minutes 30` by hand.

Writes (direct and HTTP), 100 triggers of every kind, request-trigger calls and SQL over HTTP,
plugin reloads, and trigger create/disable/enable/delete churn, all at once, on a served engine
with a data directory: memory and thread count stay flat, nothing fails, and every acknowledged
write is queryable, before and after a restart.
"""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from soak import KINDS, SoakOptions, run_soak


@pytest.mark.slow
def test_soak_short_form_keeps_every_write_and_stays_flat() -> None:
    figures = run_soak(SoakOptions(seconds=12, triggers_per_kind=100))
    report = json.dumps(asdict(figures), indent=1)
    assert figures.problems == [], report
    assert figures.triggers_created == 100 * len(KINDS), report
    # Every activity really ran (a soak that idles proves nothing).
    assert figures.writes_acknowledged >= 20, report
    assert figures.ledger_rows_found_after_restart == figures.ledger_rows_expected > 0, report
    assert figures.reloads >= 1 and figures.reload_seconds_max > 0, report
    assert figures.churn_operations >= 20, report
    assert figures.http_requests >= 100 and figures.queries >= 1, report
    assert figures.plugin_runs >= 500, report
