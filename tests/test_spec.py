"""Trigger specifications: the accepted forms, canonical text, fire times and entry points."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.cron import CronExpression
from engine.durations import MAX_EVERY_SECONDS
from engine.errors import EngineError, NotAScheduleTrigger, TriggerSpecError
from engine.spec import EntryPoint, TriggerKind, TriggerSpec, entry_point

GOOD = [
    # Every example of the seed's API reference.
    ("cron:0 0 6 * * 1-5", "cron:0 0 6 * * 1-5", "seed-cron-weekdays"),
    ("cron:0 30 14 * * 5", "cron:0 30 14 * * 5", "seed-cron-friday"),
    ("cron:0 0 0 1 * *", "cron:0 0 0 1 * *", "seed-cron-monthly"),
    ("every:30s", "every:30s", "seed-every-30s"),
    ("every:5m", "every:5m", "seed-every-5m"),
    ("every:1h", "every:1h", "seed-every-1h"),
    ("every:1d", "every:1d", "seed-every-1d"),
    ("every:1w", "every:1w", "seed-every-1w"),
    ("every:1M", "every:1M", "seed-every-1M"),
    ("every:1y", "every:1y", "seed-every-1y-is-the-maximum"),
    ("all_tables", "all_tables", "seed-all-tables"),
    ("table:TABLE_NAME", "table:TABLE_NAME", "seed-table"),
    ("request:hello-world", "request:hello-world", "seed-request-hello-world"),
    ("request:data-export", "request:data-export", "seed-request-data-export"),
    # Whitespace.
    ("  table:cpu  ", "table:cpu", "trim-outside"),
    ("table:  cpu ", "table:cpu", "trim-after-prefix"),
    ("\tall_tables\n", "all_tables", "trim-all-tables"),
    ("cron:  0  0 6 *\t* 1-5 ", "cron:0 0 6 * * 1-5", "cron-whitespace-normalised"),
    ("every: 10s", "every:10s", "every-space-after-colon"),
    ("request:  hello  ", "request:hello", "request-trimmed"),
    # Table names are anything non-empty.
    ("table:my table", "table:my table", "table-inner-space"),
    ("table:cpu:load", "table:cpu:load", "table-with-colon"),
    ("table:table:cpu", "table:table:cpu", "table-prefix-not-stripped-twice"),
    ("table:été", "table:été", "table-unicode"),
    # Cron forms.
    ("cron:*/5 * * * *", "cron:*/5 * * * *", "cron-five-fields"),
    ("cron:0 0 0 1 1 * 2030", "cron:0 0 0 1 1 * 2030", "cron-year-field"),
    ("cron:@hourly", "cron:@hourly", "cron-hourly"),
    ("cron:@weekly", "cron:@weekly", "cron-weekly"),
    ("cron:0 0 0 * * SUN", "cron:0 0 0 * * SUN", "cron-day-name-kept"),
    ("cron:0 0 0 ? * MON", "cron:0 0 0 ? * MON", "cron-question-mark"),
    ("cron:0 0 0 1 * MON", "cron:0 0 0 1 * MON", "cron-dom-or-dow"),
    ("cron:0 0 12 * * 7", "cron:0 0 12 * * 7", "cron-seven-is-sunday"),
    # Every: canonical form is the fewest spans, largest first.
    ("every:90s", "every:1m30s", "every-90s"),
    ("every:1h30m", "every:1h30m", "every-compound"),
    ("every:30m1h", "every:1h30m", "every-compound-reordered"),
    ("every:1h 30m", "every:1h30m", "every-compound-spaced"),
    ("every:1.5h", "every:1h30m", "every-fractional"),
    ("every:0.5m", "every:30s", "every-fraction-of-minute"),
    ("every:3600s", "every:1h", "every-seconds-to-hour"),
    ("every:7d", "every:1w", "every-days-to-week"),
    ("every:31d", "every:4w3d", "every-31d"),
    ("every:365d", "every:52w1d", "every-365-days-under-a-year"),
    ("every:11M", "every:11M", "every-11-months"),
    ("every:1s", "every:1s", "every-minimum"),
    ("every:2 minutes", "every:2m", "every-long-unit"),
    ("every:1hour", "every:1h", "every-humantime-unit"),
    ("every:1y0s", "every:1y", "every-zero-span"),
    # Request paths.
    ("request:a/b", "request:a/b", "request-nested"),
    ("request:api/v1/report", "request:api/v1/report", "request-deep"),
    ("request:hello_world-1.0", "request:hello_world-1.0", "request-dots-in-segment"),
    ("request:%7Euser", "request:%7Euser", "request-percent-encoded"),
]


@pytest.mark.parametrize(("text", "canonical"), [g[:2] for g in GOOD], ids=[g[2] for g in GOOD])
def test_good_specifications(text: str, canonical: str) -> None:
    spec = TriggerSpec.parse(text)
    assert str(spec) == canonical
    assert TriggerSpec.parse(str(spec)) == spec
    assert spec.kind == TriggerKind(canonical.split(":", 1)[0])


BAD = [
    ("", "the specification is empty", "empty"),
    ("   ", "the specification is empty", "blank"),
    ("bogus", "unknown form 'bogus'", "unknown-word"),
    ("schedule:1h", "unknown form 'schedule'", "unknown-prefix"),
    ("interval:5m", "unknown form 'interval'", "interval-prefix"),
    ("cron 0 0 * * * *", "unknown form 'cron 0 0 \\* \\* \\* \\*'", "no-colon"),
    ("table", "'table' needs a colon and a value", "bare-table"),
    ("every", "'every' needs a colon", "bare-every"),
    ("TABLE:cpu", "must be written in lower case, as 'table:'", "upper-case-table"),
    ("Cron:* * * * * *", "lower case, as 'cron:'", "capitalised-cron"),
    ("ALL_TABLES", "lower case, as 'all_tables'", "upper-case-all-tables"),
    ("all_tables:cpu", "'all_tables' takes nothing after it", "all-tables-with-argument"),
    ("all_tablesx", "'all_tables' takes nothing after it", "all-tables-suffix"),
    ("all_table", "unknown form 'all_table'", "all-table-typo"),
    ("table:", "the table name is empty", "empty-table"),
    ("table:   ", "the table name is empty", "blank-table"),
    ("cron:", "cron: the expression is empty", "empty-cron"),
    ("cron:   ", "cron: the expression is empty", "blank-cron"),
    ("cron:* * * *", "cron: expected 5, 6 or 7 fields, got 4", "cron-four-fields"),
    ("cron:0 0 0 L * *", "cron: 'L' in the day-of-month field uses Quartz's L, W or #",
     "cron-last-day"),
    ("cron:0 0 0 * * 5#3", "Quartz's L, W or #", "cron-nth-weekday"),
    ("cron:0 0 0 15W * *", "Quartz's L, W or #", "cron-nearest-weekday"),
    ("cron:60 * * * * *", "cron: second value 60 is out of range 0-59", "cron-second-range"),
    ("cron:0 0 0 * * 8", "day-of-week value 8 is out of range 0-7", "cron-dow-range"),
    ("cron:0 0 0 1 1 * 3000", "year value 3000 is out of range 1970-2099", "cron-year-range"),
    ("cron:0 0 0 30 2 *", "never fires", "cron-february-30"),
    ("cron:@reboot", "unknown shorthand '@reboot'", "cron-reboot"),
    ("cron:0 0 0 * * 5-1", "runs backwards", "cron-backwards-range"),
    ("every:", "every: the duration is empty", "empty-every"),
    ("every:0s", "every: the interval must be at least 1s", "every-zero"),
    ("every:0.4s", "at least 1s", "every-under-a-second"),
    ("every:1.5s", "every: the interval 1.5s is not a whole number of seconds", "every-fraction"),
    ("every:-1h", "every: a duration has no sign", "every-negative"),
    ("every:1y1s", "every: the interval 1y1s is longer than the maximum of 1y", "every-over-1y"),
    ("every:12M", "longer than the maximum of 1y", "every-12-months-exceeds-a-year"),
    ("every:366d", "longer than the maximum of 1y", "every-366-days"),
    ("every:2y", "longer than the maximum of 1y", "every-2y"),
    ("every:10", "every: the number 10 has no unit", "every-no-unit"),
    ("every:10x", "every: unknown unit 'x'", "every-unknown-unit"),
    ("every:500ms", "every: unknown unit 'ms'", "every-milliseconds"),
    ("every:1H", "every: unknown unit 'H'", "every-upper-case-h"),
    ("request:", "the request path is empty", "empty-request"),
    ("request:/hello", "must not start with '/'", "request-leading-slash"),
    ("request:a b", "must not contain ' '", "request-space"),
    ("request:a?b=1", "must not contain '\\?'", "request-query"),
    ("request:a#frag", "must not contain '#'", "request-fragment"),
    ("request:a\\b", "must not contain '\\\\\\\\'", "request-backslash"),
    ("request:../x", "must not have empty, '.' or '..' segments", "request-dot-dot"),
    ("request:a/./b", "'.' or '..' segments", "request-dot"),
    ("request:a//b", "must not have empty", "request-double-slash"),
    ("request:a/", "must not have empty", "request-trailing-slash"),
]


@pytest.mark.parametrize(("text", "problem"), [b[:2] for b in BAD], ids=[b[2] for b in BAD])
def test_bad_specifications(text: str, problem: str) -> None:
    with pytest.raises(TriggerSpecError, match=problem) as caught:
        TriggerSpec.parse(text)
    error = caught.value
    assert isinstance(error, EngineError)
    assert isinstance(error, ValueError)
    assert error.spec == text.strip()
    for form in ("'table:<TABLE_NAME>'", "'all_tables'", "'cron:<CRON_EXPRESSION>'",
                 "'every:<DURATION>'", "'request:<PATH>'"):
        assert form in str(error)


def test_the_table_has_at_least_80_rows() -> None:
    assert len(GOOD) + len(BAD) >= 80
    assert len({g[2] for g in GOOD} | {b[2] for b in BAD}) == len(GOOD) + len(BAD)


def test_non_string_is_rejected() -> None:
    with pytest.raises(TriggerSpecError, match="expected a string, got int"):
        TriggerSpec.parse(5)  # type: ignore[arg-type]


FIELDS = [
    ("table:cpu", TriggerKind.TABLE, {"table_name": "cpu"}, (True, False, False)),
    ("all_tables", TriggerKind.ALL_TABLES, {}, (True, False, False)),
    ("cron:0 0 6 * * 1-5", TriggerKind.CRON, {"cron": "0 0 6 * * 1-5"}, (False, True, False)),
    ("every:1h30m", TriggerKind.EVERY, {"every": 5400.0}, (False, True, False)),
    ("request:a/b", TriggerKind.REQUEST, {"path": "a/b"}, (False, False, True)),
]


@pytest.mark.parametrize(
    ("text", "kind", "values", "flags"), FIELDS, ids=[f[1].value for f in FIELDS]
)
def test_fields_and_flags(text: str, kind: TriggerKind, values: dict, flags: tuple) -> None:
    spec = TriggerSpec.parse(text)
    assert spec.kind is kind
    expected = {"table_name": None, "cron": None, "every": None, "path": None, **values}
    assert {name: getattr(spec, name) for name in expected} == expected
    assert (spec.is_wal, spec.is_schedule, spec.is_request) == flags


def test_every_is_a_float() -> None:
    assert isinstance(TriggerSpec.parse("every:5m").every, float)


def test_equal_specs_are_equal_and_hash_alike() -> None:
    assert TriggerSpec.parse("every:90s") == TriggerSpec.parse("every:1m30s")
    assert TriggerSpec.parse("cron:0  0 * * * *") == TriggerSpec.parse("cron:0 0 * * * *")
    assert TriggerSpec.parse("table:a") != TriggerSpec.parse("table:b")
    assert len({TriggerSpec.parse("every:60s"), TriggerSpec.parse("every:1m")}) == 1


def test_specs_are_frozen() -> None:
    spec = TriggerSpec.parse("table:cpu")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.table_name = "mem"  # type: ignore[misc]


def test_direct_construction_validates_and_normalises() -> None:
    assert TriggerSpec(kind="cron", cron=" 0  0 * * * *") == TriggerSpec.parse("cron:0 0 * * * *")
    spec = TriggerSpec(kind=TriggerKind.EVERY, every=90)
    assert spec.every == 90.0 and isinstance(spec.every, float)
    assert str(spec) == "every:1m30s"
    assert TriggerSpec(kind="all_tables") == TriggerSpec.parse("all_tables")


CONSTRUCTION_ERRORS = [
    ({"kind": "sometimes"}, "unknown trigger kind 'sometimes'", "unknown-kind"),
    ({"kind": "table"}, "a table trigger needs table_name", "missing-own-field"),
    ({"kind": "table", "table_name": "a", "path": "b"}, "a table trigger has no path",
     "foreign-field"),
    ({"kind": "all_tables", "cron": "* * * * * *"}, "has no cron", "all-tables-with-cron"),
    ({"kind": "table", "table_name": " a"}, "surrounding whitespace", "table-padded"),
    ({"kind": "every", "every": 1.5}, "not a whole number of seconds", "every-fraction"),
    ({"kind": "every", "every": 0}, "at least 1s", "every-zero"),
    ({"kind": "every", "every": True}, "must be a number of seconds", "every-bool"),
    ({"kind": "every", "every": float("inf")}, "must be a number of seconds", "every-inf"),
    ({"kind": "every", "every": MAX_EVERY_SECONDS + 1}, "longer than the maximum", "every-long"),
    ({"kind": "cron", "cron": "0 0 0 L * *"}, "Quartz", "cron-invalid"),
    ({"kind": "request", "path": "/x"}, "must not start with '/'", "request-invalid"),
]


@pytest.mark.parametrize(
    ("fields", "problem"), [c[:2] for c in CONSTRUCTION_ERRORS],
    ids=[c[2] for c in CONSTRUCTION_ERRORS],
)
def test_direct_construction_rejects(fields: dict, problem: str) -> None:
    with pytest.raises(TriggerSpecError, match=problem):
        TriggerSpec(**fields)


START = datetime(2024, 5, 17, 13, 47, 21, tzinfo=UTC)
EVERY_NEXT = [
    ("every:30s", datetime(2024, 5, 17, 13, 47, 30, tzinfo=UTC)),
    ("every:5m", datetime(2024, 5, 17, 13, 50, tzinfo=UTC)),
    ("every:1h", datetime(2024, 5, 17, 14, tzinfo=UTC)),
    ("every:1h30m", datetime(2024, 5, 17, 15, tzinfo=UTC)),
    ("every:1d", datetime(2024, 5, 18, tzinfo=UTC)),
    ("every:1w", datetime(2024, 5, 23, tzinfo=UTC)),
    ("every:1M", datetime(2024, 6, 3, 7, 40, 48, tzinfo=UTC)),
    ("every:1y", datetime(2024, 12, 31, 18, tzinfo=UTC)),
]


@pytest.mark.parametrize(("text", "expected"), EVERY_NEXT, ids=[e[0] for e in EVERY_NEXT])
def test_every_next_after_is_epoch_aligned(text: str, expected: datetime) -> None:
    spec = TriggerSpec.parse(text)
    assert spec.next_after(START) == expected
    assert spec.next_after(START, ZoneInfo("Asia/Kolkata")) == expected
    assert spec.next_after(expected) == expected + timedelta(seconds=spec.every or 0)


def test_cron_next_after_uses_the_cron_expression() -> None:
    spec = TriggerSpec.parse("cron:0 0 6 * * 1-5")
    expression = CronExpression("0 0 6 * * 1-5")
    berlin = ZoneInfo("Europe/Berlin")
    assert spec.next_after(START) == expression.next_after(START)
    assert spec.next_after(START) == datetime(2024, 5, 20, 6, tzinfo=UTC)
    assert spec.next_after(START, berlin) == datetime(2024, 5, 20, 4, tzinfo=UTC)
    assert spec.next_after(datetime(2024, 5, 17, 13)) == datetime(2024, 5, 20, 6, tzinfo=UTC)


def test_cron_with_an_exhausted_year_has_no_next_time() -> None:
    assert TriggerSpec.parse("cron:0 0 0 1 1 * 2020").next_after(START) is None


@pytest.mark.parametrize("text", ["table:cpu", "all_tables", "request:x"])
def test_next_after_is_only_for_schedules(text: str) -> None:
    with pytest.raises(NotAScheduleTrigger, match=f"'{text}' is not a schedule"):
        TriggerSpec.parse(text).next_after(START)


ENTRY_POINTS = [
    (TriggerKind.TABLE, "process_writes", ("influxdb3_local", "table_batches", "args")),
    (TriggerKind.ALL_TABLES, "process_writes", ("influxdb3_local", "table_batches", "args")),
    (TriggerKind.CRON, "process_scheduled_call", ("influxdb3_local", "call_time", "args")),
    (TriggerKind.EVERY, "process_scheduled_call", ("influxdb3_local", "call_time", "args")),
    (TriggerKind.REQUEST, "process_request",
     ("influxdb3_local", "query_parameters", "request_headers", "request_body", "args")),
]


@pytest.mark.parametrize(
    ("kind", "name", "parameters"), ENTRY_POINTS, ids=[e[0].value for e in ENTRY_POINTS]
)
def test_entry_points(kind: TriggerKind, name: str, parameters: tuple[str, ...]) -> None:
    point = entry_point(kind)
    assert isinstance(point, EntryPoint)
    assert point.name == name
    assert point.parameters == parameters
    assert point.signature == f"{name}({', '.join(parameters[:-1])}, args=None)"
    assert entry_point(kind.value) == point


def test_entry_point_of_an_unknown_kind() -> None:
    with pytest.raises(TriggerSpecError, match="unknown trigger kind 'wal'"):
        entry_point("wal")


# --- properties -------------------------------------------------------------------------------

_NAMES = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20)
_SEGMENT = st.from_regex(r"[A-Za-z0-9_~%.-]{1,12}", fullmatch=True).filter(
    lambda segment: segment not in (".", "..")
)
_CRON = st.builds(
    " ".join,
    st.tuples(
        st.sampled_from(["0", "*/5", "10,20"]), st.sampled_from(["*", "0", "15-45/15"]),
        st.sampled_from(["*", "6", "8-18"]), st.sampled_from(["*", "1", "?", "1-15"]),
        st.sampled_from(["*", "JAN", "2-11/3"]), st.sampled_from(["*", "MON-FRI", "0", "7"]),
    ),
)
_SPECS = st.one_of(
    _NAMES.filter(lambda name: name == name.strip() and name.strip()).map(lambda n: f"table:{n}"),
    st.just("all_tables"),
    _CRON.map(lambda expression: f"cron:{expression}"),
    st.integers(1, MAX_EVERY_SECONDS).map(lambda seconds: f"every:{seconds}s"),
    st.lists(_SEGMENT, min_size=1, max_size=4).map(lambda parts: "request:" + "/".join(parts)),
)


@settings(max_examples=300, deadline=None)
@given(_SPECS)
def test_round_trip_of_generated_specs(text: str) -> None:
    spec = TriggerSpec.parse(text)
    assert TriggerSpec.parse(str(spec)) == spec
    assert str(TriggerSpec.parse(str(spec))) == str(spec)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_raises_trigger_spec_error(text: str) -> None:
    try:
        spec = TriggerSpec.parse(text)
    except TriggerSpecError:
        return
    assert TriggerSpec.parse(str(spec)) == spec


@settings(max_examples=100, deadline=None)
@given(st.integers(1, MAX_EVERY_SECONDS), st.datetimes(datetime(1990, 1, 1), datetime(2090, 1, 1)))
def test_every_ticks_are_aligned_and_strictly_increasing(seconds: int, start: datetime) -> None:
    spec = TriggerSpec(kind=TriggerKind.EVERY, every=seconds)
    moment = start.replace(tzinfo=UTC)
    for _ in range(3):
        following = spec.next_after(moment)
        assert following is not None
        assert moment < following <= moment + timedelta(seconds=seconds)
        assert following.timestamp() % seconds == 0
        moment = following
