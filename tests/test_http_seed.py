"""The seed API's curl examples, replayed as written against a live server with a real token.

Only the placeholders are filled in (host, token, names of plugins that exist); the JSON bodies,
methods, query strings and headers are the seed's own. The package install example is left out:
it would download scipy and pandas from the internet. One answer differs from the seed on
purpose: replacing a plugin directory with the example's empty `files` list would leave a
package without `__init__.py`, so it is refused with 400 and changes nothing; the same call with
a file list then succeeds.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import SHARED
from http_support import live_server, make_tokens, write_plugins

from engine.engine import Engine
from engine.http import create_app

SEED = SHARED / "docs" / "seed-api.txt"
_CURL = re.compile(r"curl --request (?P<method>[A-Z]+) \\\n\s+\"(?P<url>[^\"]+)\"(?P<rest>.*?)"
                   r"(?=\n\s*\nResponses)", re.S)
_SETTINGS = json.dumps({"run_async": False, "error_behavior": "log"})
_SCHEDULE_PLUGIN = ("def process_scheduled_call(influxdb3_local, call_time, args=None):\n"
                    "    influxdb3_local.info('updated')\n")
# Placeholder -> value, per example (method and path), applied to the URL and body text.
_FILL: dict[tuple[str, str], dict[str, str]] = {
    ("POST", "/api/v3/configure/processing_engine_trigger"): {
        "PLUGIN_FILENAME": "schedule.py", '"TRIGGER_SETTINGS"': json.dumps(_SETTINGS)},
    ("POST", "/api/v3/plugin_test/schedule"): {"FILENAME": "schedule.py",
                                               "SCHEDULE": "0 0 6 * * 1-5"},
    ("POST", "/api/v3/plugin_test/wal"): {"FILENAME": "wal.py",
                                          "INPUT_LP": "cpu,host=a usage=1"},
    ("POST", "/api/v3/plugins/files"): {"PLUGIN_NAME": "uploaded.py",
                                        "CONTENT": _SCHEDULE_PLUGIN.replace("\n", "\\n")},
    ("PUT", "/api/v3/plugins/files"): {"PLUGIN_NAME": "TRIGGER_NAME",
                                       "CONTENT": _SCHEDULE_PLUGIN.replace("\n", "\\n")},
    ("PUT", "/api/v3/plugins/directory"): {"PLUGIN_NAME": "package_trigger"},
}
_ORDER = [
    ("POST", "/api/v3/configure/processing_engine_trigger"),
    ("POST", "/api/v3/configure/processing_engine_trigger/disable"),
    ("POST", "/api/v3/configure/processing_engine_trigger/enable"),
    ("GET", "/api/v3/engine/{request_path}"),
    ("POST", "/api/v3/engine/{request_path}"),
    ("POST", "/api/v3/plugin_test/schedule"),
    ("POST", "/api/v3/plugin_test/wal"),
    ("POST", "/api/v3/plugins/files"),
    ("PUT", "/api/v3/plugins/files"),
    ("PUT", "/api/v3/plugins/directory"),
    ("POST", "/api/v3/configure/plugin_environment/install_requirements"),
    ("DELETE", "/api/v3/configure/processing_engine_trigger"),
]


@dataclass(frozen=True)
class Example:
    """One curl example of the seed."""

    method: str
    url: str
    headers: dict[str, str]
    data: str | None

    @property
    def path(self) -> str:
        return httpx.URL(self.url).path.replace("%7B", "{").replace("%7D", "}")


def seed_examples() -> list[Example]:
    """Every curl example in the seed, in document order."""
    examples = []
    for match in _CURL.finditer(SEED.read_text()):
        headers = dict(h.split(": ", 1) for h in re.findall(r'--header "([^"]+)"',
                                                             match["rest"]))
        data = re.search(r"--data-raw '(.*)'", match["rest"], re.S)
        examples.append(Example(match["method"], match["url"], headers,
                                data.group(1) if data else None))
    return examples


def test_the_seed_has_the_examples_we_replay() -> None:
    found = [(example.method, example.path) for example in seed_examples()]
    install = ("POST", "/api/v3/configure/plugin_environment/install_packages")
    assert sorted(found) == sorted([*_ORDER, install])


@pytest.fixture
def server(plugin_dir: Path) -> Iterator[tuple[Engine, str, str]]:
    write_plugins(plugin_dir)
    (plugin_dir / "requirements.txt").write_text("")
    (plugin_dir / "package").mkdir()
    (plugin_dir / "package" / "__init__.py").write_text(_SCHEDULE_PLUGIN)
    with Engine(plugin_dir) as engine:
        for db in ("DB", "DATABASE"):
            engine.create_database(db)
        engine.create_trigger("DB", "hello", plugin_filename="hello.py",
                              trigger_specification="request:hello-world")
        engine.create_trigger("DB", "package_trigger", plugin_filename="package",
                              trigger_specification="every:1h")
        token = make_tokens(engine).admin
        with live_server(create_app(engine)) as url:
            yield engine, url, token


def _send(example: Example, url: str, token: str) -> httpx.Response:
    fill = {"https://localhost:8181": url, "INFLUX_TOKEN": token,
            "{request_path}": "hello-world", **_FILL.get((example.method, example.path), {})}

    def filled(text: str) -> str:
        for placeholder, value in fill.items():
            text = text.replace(placeholder, value)
        return text

    headers = {name: filled(value) for name, value in example.headers.items()}
    content = None if example.data is None else filled(example.data).encode()
    return httpx.request(example.method, filled(example.url), headers=headers, content=content,
                         timeout=120)


def test_seed_examples_replayed_in_order(server: tuple[Engine, str, str],
                                         plugin_dir: Path) -> None:
    engine, url, token = server
    examples = {(e.method, e.path): e for e in seed_examples()}
    directory = ("PUT", "/api/v3/plugins/directory")
    for key in _ORDER:
        response = _send(examples[key], url, token)
        if key == directory:
            assert response.status_code == 400, response.text
            assert "__init__.py" in response.json()["error"]
            assert (plugin_dir / "package" / "__init__.py").read_text() == _SCHEDULE_PLUGIN
            seed = examples[key]
            assert seed.data is not None
            with_files = seed.data.replace(
                '"files": []', '"files": [{"relative_path": "__init__.py", "content": "x = 1"}]')
            response = _send(Example(seed.method, seed.url, seed.headers, with_files), url,
                             token)
            assert (plugin_dir / "package" / "__init__.py").read_text() == "x = 1"
        assert response.status_code == 200, (key, response.text)
        if key[1].startswith("/api/v3/plugin_test/"):
            assert response.json()["errors"] == [], (key, response.text)
        if key[1].startswith("/api/v3/engine/"):
            assert response.json()["hello"] == "world"
    assert [t.trigger_name for t in engine.list_triggers("DB")] == ["hello", "package_trigger"]
    assert (plugin_dir / "uploaded.py").read_text() == _SCHEDULE_PLUGIN
