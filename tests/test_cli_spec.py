"""The `processing-engine spec` command, run in process through `engine.cli.main`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from engine.cli import main


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(["spec", *argv])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_cron_prints_canonical_kind_and_next_times(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, err = _run(
        capsys, "cron:0 0 6  * * 1-5", "--next", "3", "--from", "2024-01-05T07:00:00Z"
    )
    assert status == 0 and err == ""
    assert out.splitlines() == [
        "canonical: cron:0 0 6 * * 1-5",
        "kind: cron",
        "next 3 fire times (UTC) after 2024-01-05T07:00:00+00:00:",
        "  2024-01-08T06:00:00+00:00",
        "  2024-01-09T06:00:00+00:00",
        "  2024-01-10T06:00:00+00:00",
    ]


def test_every_is_epoch_aligned_and_naive_from_is_utc(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "every:90s", "--next", "2", "--from", "2024-01-01T00:00:10")
    assert status == 0
    assert out.splitlines() == [
        "canonical: every:1m30s",
        "kind: every",
        "next 2 fire times (UTC) after 2024-01-01T00:00:10+00:00:",
        "  2024-01-01T00:01:30+00:00",
        "  2024-01-01T00:03:00+00:00",
    ]


def test_timezone_matches_the_local_wall_clock(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "cron:0 30 2 * * *", "--next", "2",
                          "--from", "2024-03-30T12:00:00+00:00", "--timezone", "Europe/Berlin")
    assert status == 0
    assert out.splitlines()[2:] == [
        "next 2 fire times (UTC on the Europe/Berlin wall clock) after 2024-03-30T12:00:00+00:00:",
        "  2024-03-31T01:00:00+00:00  (2024-03-31T03:00:00+02:00 Europe/Berlin)",
        "  2024-04-01T00:30:00+00:00  (2024-04-01T02:30:00+02:00 Europe/Berlin)",
    ]


def test_default_is_five_times_from_now(capsys: pytest.CaptureFixture[str]) -> None:
    before = datetime.now(UTC)
    status, out, _ = _run(capsys, "every:1s")
    after = datetime.now(UTC)
    times = [datetime.fromisoformat(line.strip()) for line in out.splitlines()[3:]]
    assert status == 0 and len(times) == 5
    assert before < times[0] <= after + timedelta(seconds=1)
    assert [b - a for a, b in pairwise(times)] == [timedelta(seconds=1)] * 4


def test_exhausted_schedule_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "cron:0 0 0 1 1 * 2025", "--from", "2024-06-01")
    assert status == 0
    assert out.splitlines()[3:] == ["  2025-01-01T00:00:00+00:00", "  (no further fire times)"]


@pytest.mark.parametrize(
    ("text", "kind"),
    [("table:cpu", "table"), ("all_tables", "all_tables"), ("request:hello-world", "request")],
    ids=["table", "all-tables", "request"],
)
def test_non_schedules_print_kind_and_canonical_only(
    capsys: pytest.CaptureFixture[str], text: str, kind: str
) -> None:
    status, out, err = _run(capsys, f"  {text} ")
    assert status == 0 and err == ""
    assert out.splitlines() == [f"canonical: {text}", f"kind: {kind}"]


def test_next_zero_lists_nothing(capsys: pytest.CaptureFixture[str]) -> None:
    status, out, _ = _run(capsys, "every:1h", "--next", "0", "--from", "2024-01-01")
    assert status == 0
    assert out.splitlines()[-1] == "next 0 fire times (UTC) after 2024-01-01T00:00:00+00:00:"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["cron:0 0 0 L * *"], "Quartz's L, W or #"),
        (["every:2y"], "longer than the maximum of 1y"),
        (["bogus"], "unknown form 'bogus'"),
        (["every:1h", "--from", "yesterday"], "--from: 'yesterday' is not an ISO 8601 time"),
        (["every:1h", "--timezone", "Mars/Olympus"], "--timezone: unknown time zone"),
        (["every:1h", "--timezone", "../etc"], "--timezone: unknown time zone"),
        (["every:1h", "--next", "-1"], "--next must be 0 or more"),
    ],
    ids=["quartz", "too-long", "unknown", "bad-from", "bad-zone", "zone-path", "negative-next"],
)
def test_invalid_input_exits_2_with_a_message(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    status, out, err = _run(capsys, *argv)
    assert status == 2
    assert out == ""
    assert err.startswith("error: ") and message in err


def test_invalid_spec_lists_the_accepted_forms(capsys: pytest.CaptureFixture[str]) -> None:
    _, _, err = _run(capsys, "nonsense")
    assert "'every:<DURATION>'" in err and "'request:<PATH>'" in err
