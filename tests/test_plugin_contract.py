"""What real InfluxDB 3 plugins rely on (plugin-contract.md §1), pinned with our own plugins.

CI cannot download the official plugins, so each idiom they use is reproduced here in a small
plugin of our own and run through a real Engine: TOML config found through PLUGIN_DIR, the
"BatchLines" multi-line `build()` with `write_sync`, live objects in the cache, `asyncio.run`
inside a plugin, and an alerting WAL plugin that POSTs to a request trigger of the same engine
over a real HTTP server.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from http_support import live_server

from engine import Engine, ManualClock
from engine.http import create_app
from engine.tokens import TokenStore

FRAMEWORK_PREFIXES = ("starting execution", "finished execution")

# Reads its whole configuration from a TOML file named by `config_file_path`, resolved the
# way the official plugins resolve it: PLUGIN_DIR first.
TOML_PLUGIN = """
import os
import tomllib
from pathlib import Path


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args):
    path = Path(os.environ["PLUGIN_DIR"]) / args["config_file_path"]
    with open(path, "rb") as handle:
        config = tomllib.load(handle)
    return {"config": config, "plugin_dir": os.environ["PLUGIN_DIR"]}
"""

CONFIG_TOML = """
measurement = "cpu"
thresholds = [30, 40.5]
enabled = true

[senders.http]
url = "http://localhost:8181/notify"
"""

# The BatchLines idiom: one object whose build() returns several lines joined by newlines.
BATCH_LINES = """
class BatchLines:
    def __init__(self, builders):
        self.builders = builders

    def build(self):
        return "\\n".join(builder.build() for builder in self.builders)


def _lines(measurement, count, start):
    return BatchLines([
        LineBuilder(measurement).tag("n", str(i)).int64_field("v", start + i).time_ns(start + i)
        for i in range(count)
    ])


def process_writes(influxdb3_local, table_batches, args):
    for batch in table_batches:
        if batch["table_name"] != "source":
            continue
        influxdb3_local.write_sync(_lines("copied", 3, 100), no_sync=True)
        # Read-your-writes: the lines are queryable inside the same call.
        seen = influxdb3_local.query("SELECT count(*) AS n FROM copied")[0]["n"]
        influxdb3_local.write_sync_to_db("other", _lines("copied", 2, 200), no_sync=False)
        influxdb3_local.write(_lines("batched", 4, 300))
        influxdb3_local.info("copied rows visible:", seen)
"""

# Live objects by reference: a deque mutated in place, a lock, an event loop, an instance.
CACHE_OBJECTS = """
import asyncio
import collections
import threading


class Counter:
    def __init__(self):
        self.calls = 0


async def _add(a, b):
    await asyncio.sleep(0)
    return a + b


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    cache = influxdb3_local.cache
    if query_parameters.get("close"):
        cache.get("loop").close()  # a plugin's own clean-up; the engine never closes objects
        return {"closed": True}
    window = cache.get("window")
    if window is None:
        window = collections.deque(maxlen=3)
        cache.put("window", window)
        cache.put("lock", threading.Lock())
        cache.put("loop", asyncio.new_event_loop())
        cache.put("counter", Counter())
    window.append(int(query_parameters["v"]))  # mutated in place, never put back
    counter = cache.get("counter")
    counter.calls += 1
    with cache.get("lock"):
        total = cache.get("loop").run_until_complete(_add(sum(window), 0))
    return {
        "window": list(window),
        "same_object": cache.get("window") is window,
        "calls": counter.calls,
        "total": total,
        "ids": [id(cache.get(k)) for k in ("window", "lock", "loop", "counter")],
    }
"""

# asyncio.run inside each kind of plugin, as the notifier plugin does.
ASYNC_RUN = """
import asyncio
import json


async def _gather(n):
    async def one(i):
        await asyncio.sleep(0.001)
        return i * i

    return sum(await asyncio.gather(*(one(i) for i in range(n))))


def process_writes(influxdb3_local, table_batches, args=None):
    influxdb3_local.info("wal", asyncio.run(_gather(4)))


def process_scheduled_call(influxdb3_local, call_time, args=None):
    influxdb3_local.info("schedule", asyncio.run(_gather(5)), repr(call_time))


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    return {"request": asyncio.run(_gather(int(query_parameters.get("n", "3"))))}
"""

# The alerting pattern (threshold_deadman_checks, mad_check, ...): a WAL plugin POSTs a JSON
# notification to http://localhost:{port_override}/api/v3/engine/{notification_path} with a
# Bearer token and expects a JSON reply holding "results".
ALERTER = """
import json
import urllib.request


def process_writes(influxdb3_local, table_batches, args):
    for batch in table_batches:
        for row in batch["rows"]:
            if row.get("temp", 0) <= float(args["threshold"]):
                continue
            payload = {"notification_text": f"{batch['table_name']} temp {row['temp']}",
                       "senders_config": {"http": {"url": "unused"}}}
            request = urllib.request.Request(
                f"http://localhost:{args['port_override']}/api/v3/engine/"
                f"{args['notification_path']}",
                data=json.dumps(payload).encode(),
                headers={"Content-Type": "application/json",
                         "Authorization": f"Bearer {args['influxdb3_auth_token']}"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                reply = json.loads(response.read())
            influxdb3_local.info("alert sent, results:", json.dumps(reply["results"]))
"""

NOTIFY = """
import json


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    data = json.loads(request_body)
    influxdb3_local.info("notified", data["notification_text"],
                         "authorization" in request_headers)
    influxdb3_local.write(LineBuilder("notifications").string_field(
        "text", data["notification_text"]))
    return {"status": "success", "results": {sender: True for sender in data["senders_config"]}}
"""

ARGS_REQUIRED = """
def process_writes(influxdb3_local, table_batches, args):
    influxdb3_local.info("args", repr(args))
"""

PLUGINS = {
    "toml_config.py": TOML_PLUGIN, "batch_lines.py": BATCH_LINES,
    "cache_objects.py": CACHE_OBJECTS, "async_run.py": ASYNC_RUN, "alerter.py": ALERTER,
    "notify.py": NOTIFY, "args_required.py": ARGS_REQUIRED,
}


@pytest.fixture
def plugins(plugin_dir: Path) -> Path:
    for name, source in PLUGINS.items():
        (plugin_dir / name).write_text(source)
    configs = plugin_dir / "configs"
    configs.mkdir()
    (configs / "alert.toml").write_text(CONFIG_TOML)
    return plugin_dir


@pytest.fixture
def engine(plugins: Path) -> Iterator[Engine]:
    with Engine(plugins, watch_plugins=False) as eng:
        eng.create_database("db")
        yield eng


def plugin_lines(engine: Engine, trigger: str, db: str = "db") -> list[str]:
    return [e.message for e in engine.observability.logs_for(db, trigger)
            if not e.message.startswith(FRAMEWORK_PREFIXES)]


def test_toml_config_is_found_through_the_plugin_dir_the_engine_exports(
    plugins: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Start from an environment without PLUGIN_DIR (and have it restored afterwards).
    monkeypatch.setenv("PLUGIN_DIR", "placeholder")
    monkeypatch.delenv("PLUGIN_DIR")
    with Engine(plugins, watch_plugins=False) as engine:
        engine.create_database("db")
        engine.create_trigger("db", "cfg", plugin_filename="toml_config.py",
                              trigger_specification="request:cfg",
                              trigger_arguments={"config_file_path": "configs/alert.toml"})
        reply = engine.handle_request("cfg").json()
    assert Path(reply["plugin_dir"]) == plugins.resolve()
    assert reply["config"] == {  # native TOML types, not strings
        "measurement": "cpu", "thresholds": [30, 40.5], "enabled": True,
        "senders": {"http": {"url": "http://localhost:8181/notify"}},
    }


def test_multi_line_build_with_write_sync_write_sync_to_db_and_write(engine: Engine) -> None:
    engine.create_trigger("db", "copy", plugin_filename="batch_lines.py",
                          trigger_specification="table:source")
    engine.write_lp("db", "source v=1i 1", precision="ns")
    engine.flush()
    assert plugin_lines(engine, "copy") == ["copied rows visible: 3"]
    assert engine.query("db", "SELECT n, v, time FROM copied ORDER BY time") == [
        {"n": str(i), "v": 100 + i, "time": 100 + i} for i in range(3)]
    assert engine.query("other", "SELECT v FROM copied ORDER BY time") == [{"v": 200}, {"v": 201}]
    assert engine.query("db", "SELECT count(*) AS n FROM batched") == [{"n": 4}]


def test_cache_keeps_live_objects_by_reference_across_calls(engine: Engine) -> None:
    engine.create_trigger("db", "state", plugin_filename="cache_objects.py",
                          trigger_specification="request:state")
    replies = [engine.handle_request("state", query_params={"v": str(v)}).json()
               for v in (1, 2, 3, 4)]
    assert [r["window"] for r in replies] == [[1], [1, 2], [1, 2, 3], [2, 3, 4]]
    assert [r["calls"] for r in replies] == [1, 2, 3, 4]
    assert [r["total"] for r in replies] == [1, 3, 6, 9]
    assert all(r["same_object"] for r in replies)
    assert len({tuple(r["ids"]) for r in replies}) == 1  # the very same objects every time
    assert engine.handle_request("state", query_params={"close": "1"}).json() == {"closed": True}


def test_cache_state_belongs_to_one_trigger_and_ends_with_it(engine: Engine) -> None:
    for name in ("a", "b"):
        engine.create_trigger("db", name, plugin_filename="cache_objects.py",
                              trigger_specification=f"request:{name}")
    engine.handle_request("a", query_params={"v": "1"})
    assert engine.handle_request("b", query_params={"v": "9"}).json()["window"] == [9]
    assert engine.handle_request("a", query_params={"v": "2"}).json()["window"] == [1, 2]
    engine.handle_request("a", query_params={"close": "1"})
    engine.disable_trigger("db", "a")
    engine.enable_trigger("db", "a")
    assert engine.handle_request("a", query_params={"v": "3"}).json()["window"] == [3]
    for name in ("a", "b"):
        engine.handle_request(name, query_params={"close": "1"})


def test_asyncio_run_works_inside_every_kind_of_plugin(engine: Engine) -> None:
    engine.create_trigger("db", "wal", plugin_filename="async_run.py",
                          trigger_specification="all_tables")
    engine.create_trigger("db", "tick", plugin_filename="async_run.py",
                          trigger_specification="every:1h")
    engine.create_trigger("db", "req", plugin_filename="async_run.py",
                          trigger_specification="request:req")
    engine.write_lp("db", "m f=1")
    engine.flush()
    assert plugin_lines(engine, "wal") == ["wal 14"]
    call_time = datetime(2025, 3, 4, 12, 34, 56, 789000, tzinfo=timezone(timedelta(hours=2)))
    assert engine.run_trigger("db", "tick", call_time=call_time).ok
    # call_time reaches the plugin as naive UTC, whole seconds.
    assert plugin_lines(engine, "tick") == ["schedule 30 datetime.datetime(2025, 3, 4, 10, 34, 56)"]
    assert engine.handle_request("req", query_params={"n": "6"}).json() == {"request": 55}


def test_args_are_always_passed_even_when_the_trigger_has_none(plugins: Path) -> None:
    with Engine(plugins, background=False, clock=ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
                ) as engine:
        engine.create_database("db")
        engine.create_trigger("db", "none", plugin_filename="args_required.py",
                              trigger_specification="all_tables")
        engine.create_trigger("db", "some", plugin_filename="args_required.py",
                              trigger_specification="all_tables",
                              trigger_arguments={"list": "a.b", "json": '{"k": [1, 2]}'})
        engine.write_lp("db", "m f=1")
        engine.flush()
        assert plugin_lines(engine, "none") == ["args None"]
        assert plugin_lines(engine, "some") == ["args {'list': 'a.b', 'json': '{\"k\": [1, 2]}'}"]


def test_a_wal_plugin_notifies_a_request_trigger_of_the_same_engine_over_http(
    engine: Engine,
) -> None:
    token, _ = TokenStore(engine.catalog).create_admin_token()
    with live_server(create_app(engine)) as url:
        port = url.rsplit(":", 1)[1]
        engine.create_trigger("db", "notify", plugin_filename="notify.py",
                              trigger_specification="request:notify")
        engine.create_trigger(
            "db", "alerter", plugin_filename="alerter.py", trigger_specification="table:sensors",
            trigger_arguments={"threshold": "30", "port_override": port,
                               "notification_path": "notify", "influxdb3_auth_token": token},
        )
        engine.write_lp("db", "sensors,room=a temp=25.0\nsensors,room=b temp=35.5")
        engine.flush()
        assert plugin_lines(engine, "alerter") == ['alert sent, results: {"http": true}']
        assert plugin_lines(engine, "notify") == ["notified sensors temp 35.5 False"]
        # The request plugin's batched write was applied before it answered.
        assert engine.query("db", "SELECT text FROM notifications") == [
            {"text": "sensors temp 35.5"}]

