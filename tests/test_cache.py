"""The plugin cache: live objects, TTLs on the injected clock, namespaces, thread safety."""

from __future__ import annotations

import collections
import math
import threading
from typing import Any

import pytest

from engine.cache import SWEEP_INTERVAL, TEST_CACHE_DEFAULT_TTL, CacheStore, PluginCache
from engine.clock import ManualClock
from engine.errors import EngineError, InvalidCacheKey, InvalidCacheTTL


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def store(clock: ManualClock) -> CacheStore:
    return CacheStore(clock)


@pytest.fixture
def cache(store: CacheStore) -> PluginCache:
    return store.for_trigger("db", "trig")


def test_get_returns_the_same_object_not_a_copy(cache: PluginCache) -> None:
    window: collections.deque[int] = collections.deque(maxlen=3)
    lock = threading.Lock()
    cache.put("window", window)
    cache.put("lock", lock)
    window.append(1)
    assert cache.get("window") is window
    assert list(cache.get("window")) == [1]
    assert cache.get("lock") is lock


@pytest.mark.parametrize(
    ("default", "expected"),
    [
        pytest.param(None, None, id="no-default"),
        pytest.param(0, 0, id="falsy-default"),
        pytest.param("x", "x", id="string-default"),
    ],
)
def test_missing_key_gives_default(cache: PluginCache, default: Any, expected: Any) -> None:
    assert cache.get("absent", default) == expected
    assert cache.get("absent", default=default) == expected


def test_none_can_be_stored(cache: PluginCache) -> None:
    cache.put("k", None)
    assert cache.get("k", "default") is None


def test_put_overwrites(cache: PluginCache) -> None:
    cache.put("k", 1)
    cache.put("k", 2)
    assert cache.get("k") == 2


@pytest.mark.parametrize(
    ("ttl", "advance", "alive"),
    [
        pytest.param(None, 10**9, True, id="no-ttl-never-expires"),
        pytest.param(10, 9.999, True, id="before-expiry"),
        pytest.param(10, 10, False, id="expires-at-exactly-ttl"),
        pytest.param(10, 11, False, id="after-expiry"),
        pytest.param(0, 0, False, id="zero-expires-immediately"),
        pytest.param(0.5, 0.25, True, id="fractional-alive"),
        pytest.param(0.5, 0.5, False, id="fractional-expired"),
    ],
)
def test_ttl(cache: PluginCache, clock: ManualClock, ttl: float | None, advance: float,
             alive: bool) -> None:
    cache.put("k", "v", ttl=ttl)
    clock.advance(advance)
    assert (cache.get("k") == "v") is alive


def test_ttl_positional(cache: PluginCache, clock: ManualClock) -> None:
    cache.put("k", "v", 5)
    clock.advance(5)
    assert cache.get("k", "gone") == "gone"


def test_overwrite_resets_ttl(cache: PluginCache, clock: ManualClock) -> None:
    cache.put("k", 1, ttl=5)
    clock.advance(4)
    cache.put("k", 2)
    clock.advance(100)
    assert cache.get("k") == 2


@pytest.mark.parametrize(
    ("ttl", "problem"),
    [
        pytest.param(-1, "it is negative", id="negative"),
        pytest.param(-0.001, "it is negative", id="slightly-negative"),
        pytest.param(math.nan, "it is NaN", id="nan"),
        pytest.param(math.inf, "it is too big", id="inf"),
        pytest.param(1e30, "it is too big", id="overflow"),
        pytest.param("10", "expected a number of seconds, got str", id="string"),
        pytest.param(True, "expected a number of seconds, got bool", id="bool"),
    ],
)
def test_bad_ttl_is_a_value_error(cache: PluginCache, ttl: Any, problem: str) -> None:
    with pytest.raises(InvalidCacheTTL) as caught:
        cache.put("k", "v", ttl=ttl)
    assert isinstance(caught.value, ValueError)
    assert isinstance(caught.value, EngineError)
    assert problem in str(caught.value)
    assert cache.get("k") is None


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(lambda c: c.get(1), id="get"),
        pytest.param(lambda c: c.put(("a", 1), "v"), id="put"),
        pytest.param(lambda c: c.delete(None), id="delete"),
    ],
)
def test_keys_must_be_strings(cache: PluginCache, call: Any) -> None:
    with pytest.raises(InvalidCacheKey, match="expected a str") as caught:
        call(cache)
    assert isinstance(caught.value, TypeError)


@pytest.mark.parametrize(
    ("setup_ttl", "advance", "returned"),
    [
        pytest.param(None, 0, True, id="present"),
        pytest.param(5, 1, True, id="present-with-ttl"),
        pytest.param(5, 5, False, id="expired-counts-as-absent"),
    ],
)
def test_delete_reports_removal(cache: PluginCache, clock: ManualClock,
                                setup_ttl: float | None, advance: float, returned: bool) -> None:
    cache.put("k", "v", ttl=setup_ttl)
    clock.advance(advance)
    assert cache.delete("k") is returned
    assert cache.get("k") is None
    assert cache.delete("k") is False


def test_delete_of_unknown_key(cache: PluginCache) -> None:
    assert cache.delete("never") is False


def test_trigger_namespaces_are_separate(store: CacheStore) -> None:
    one = store.for_trigger("db", "one")
    two = store.for_trigger("db", "two")
    other_db = store.for_trigger("other", "one")
    one.put("k", 1)
    assert two.get("k") is None
    assert other_db.get("k") is None
    assert store.for_trigger("db", "one").get("k") == 1


@pytest.mark.parametrize("flag", [True, 1, "yes"], ids=["true", "one", "truthy-str"])
def test_global_namespace_is_shared_across_triggers_and_databases(store: CacheStore,
                                                                  flag: Any) -> None:
    store.for_trigger("db", "one").put("shared", "v", use_global=flag)
    assert store.for_trigger("other", "two").get("shared", use_global=True) == "v"
    assert store.for_trigger("db", "one").get("shared") is None


@pytest.mark.parametrize("flag", [None, False, 0], ids=["none", "false", "zero"])
def test_falsy_use_global_means_local(cache: PluginCache, flag: Any) -> None:
    cache.put("k", "local", use_global=flag)
    assert cache.get("k") == "local"
    assert cache.get("k", use_global=True) is None


def test_local_and_global_keys_do_not_collide(cache: PluginCache) -> None:
    cache.put("k", "local")
    cache.put("k", "global", use_global=True)
    assert cache.get("k") == "local"
    assert cache.get("k", use_global=True) == "global"
    assert cache.delete("k", use_global=True) is True
    assert cache.get("k") == "local"


def test_clear_trigger_drops_only_that_trigger(store: CacheStore) -> None:
    one = store.for_trigger("db", "one")
    two = store.for_trigger("db", "two")
    one.put("k", 1)
    one.put("g", 1, use_global=True)
    two.put("k", 2)
    store.clear_trigger("db", "one")
    assert one.get("k") is None
    assert two.get("k") == 2
    assert one.get("g", use_global=True) == 1
    store.clear_trigger("db", "never-existed")


def test_cleared_trigger_cache_works_again(store: CacheStore) -> None:
    cache = store.for_trigger("db", "one")
    cache.put("k", 1)
    store.clear_trigger("db", "one")
    cache.put("k", 2)
    assert store.for_trigger("db", "one").get("k") == 2


def test_clear_database_drops_its_triggers_only(store: CacheStore) -> None:
    store.for_trigger("db", "a").put("k", 1)
    store.for_trigger("db", "b").put("k", 1)
    store.for_trigger("db2", "a").put("k", 2)
    store.for_trigger("db", "a").put("g", 3, use_global=True)
    store.clear_database("db")
    assert store.for_trigger("db", "a").get("k") is None
    assert store.for_trigger("db", "b").get("k") is None
    assert store.for_trigger("db2", "a").get("k") == 2
    assert store.for_trigger("x", "y").get("g", use_global=True) == 3


def test_test_namespaces_are_isolated_from_production(store: CacheStore) -> None:
    production = store.for_trigger("db", "trig")
    production.put("k", "prod")
    production.put("g", "prod", use_global=True)
    test = store.namespace("_shared_test")
    assert test.get("k") is None
    assert test.get("g", use_global=True) is None
    test.put("k", "test")
    test.put("g", "test", use_global=True)
    assert production.get("k") == "prod"
    assert production.get("g", use_global=True) == "prod"


def test_test_namespace_persists_by_name(store: CacheStore) -> None:
    store.namespace("run").put("k", 1)
    store.namespace("run").put("g", 2, use_global=True)
    assert store.namespace("run").get("k") == 1
    assert store.namespace("run").get("g", use_global=True) == 2
    assert store.namespace("other").get("k") is None
    assert store.namespace("other").get("g", use_global=True) is None


@pytest.mark.parametrize("use_global", [False, True], ids=["local", "global"])
def test_test_namespace_default_ttl(store: CacheStore, clock: ManualClock,
                                    use_global: bool) -> None:
    test = store.namespace("run")
    test.put("default", 1, use_global=use_global)
    test.put("explicit", 1, ttl=TEST_CACHE_DEFAULT_TTL * 2, use_global=use_global)
    clock.advance(TEST_CACHE_DEFAULT_TTL - 1)
    assert test.get("default", use_global=use_global) == 1
    clock.advance(1)
    assert test.get("default", use_global=use_global) is None
    assert test.get("explicit", use_global=use_global) == 1


def test_sweep_removes_expired_entries_everywhere(store: CacheStore, clock: ManualClock) -> None:
    a = store.for_trigger("db", "a")
    a.put("short", 1, ttl=1)
    a.put("long", 1, ttl=100)
    a.put("forever", 1)
    a.put("g", 1, ttl=1, use_global=True)
    store.namespace("t").put("short", 1, ttl=1)
    clock.advance(1)
    assert store.sweep() == 3
    assert store.snapshot(a) == {"long": 1, "forever": 1}
    assert store.snapshot(a, use_global=True) == {}
    assert store.sweep() == 0


def test_maybe_sweep_runs_at_most_once_per_interval(store: CacheStore,
                                                    clock: ManualClock) -> None:
    cache = store.for_trigger("db", "a")
    assert store.maybe_sweep() == 0
    cache.put("k", 1, ttl=1)
    clock.advance(SWEEP_INTERVAL - 1)
    assert store.maybe_sweep() == 0  # too soon after the first sweep
    clock.advance(1)
    assert store.maybe_sweep() == 1


def test_snapshot_hides_expired_entries(store: CacheStore, clock: ManualClock) -> None:
    cache = store.for_trigger("db", "a")
    value: list[int] = []
    cache.put("live", value)
    cache.put("dead", 1, ttl=1)
    clock.advance(2)
    snapshot = store.snapshot(cache)
    assert snapshot == {"live": []}
    assert snapshot["live"] is value


def test_public_surface_is_the_reference_one(cache: PluginCache) -> None:
    public = {name for name in dir(cache) if not name.startswith("_")}
    assert public == {"get", "put", "delete"}


def test_concurrent_puts_and_gets(store: CacheStore) -> None:
    cache = store.for_trigger("db", "a")
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        try:
            for i in range(500):
                key = f"{n}-{i % 10}"
                cache.put(key, i, ttl=60)
                got = cache.get(key)
                assert got is not None
                cache.delete(key)
        except BaseException as exc:  # collected to fail the test in the main thread
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.snapshot(cache) == {}
