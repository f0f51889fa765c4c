"""zscore_anomaly: running statistics kept in the cache across WAL flushes."""

import statistics

S = 1_000_000_000


def _batch(values, sensor="s1", start=0):
    return "\n".join(f"sensor,id={sensor} value={v} {(start + i) * S}"
                     for i, v in enumerate(values))


def test_an_outlier_after_the_warmup_is_flagged(plugin_harness):
    quiet = plugin_harness.run_wal("zscore_anomaly.py", _batch([10, 11, 9, 10, 11, 9, 10, 11]))
    assert quiet.database_writes == {}
    # A later flush: the statistics of the first one are still in the cache.
    spike = plugin_harness.run_wal("zscore_anomaly.py", _batch([10, 50], start=8),
                                   args={"warmup": "8"})
    history = [10, 11, 9, 10, 11, 9, 10, 11, 10]
    z = (50 - statistics.mean(history)) / statistics.stdev(history)
    assert spike.lines_for("test_db") == [f"anomalies,id=s1 value=50.0,z={round(z, 2)} 9000000000"]
    assert plugin_harness.cache.get("states")["s1"][0] == 10


def test_each_series_has_its_own_statistics(plugin_harness):
    plugin_harness.run_wal("zscore_anomaly.py", _batch([1, 2, 1, 2], "a") + "\n"
                           + _batch([100, 200, 100, 200], "b"), args={"warmup": "3"})
    result = plugin_harness.run_wal("zscore_anomaly.py",
                                    _batch([150], "b", start=9) + "\n" + _batch([150], "a", 9),
                                    args={"warmup": "3"})
    z = (150 - statistics.mean([1, 2, 1, 2])) / statistics.stdev([1, 2, 1, 2])
    assert result.lines_for("test_db") == [f"anomalies,id=a value=150.0,z={round(z, 2)} 9000000000"]


def test_the_cache_can_be_seeded(plugin_harness):
    plugin_harness.cache.put("states", {"s9": (100, 0.0, 99.0)})  # mean 0, stdev 1
    result = plugin_harness.run_wal("zscore_anomaly.py", _batch([5], "s9"))
    assert result.lines_for("test_db") == ["anomalies,id=s9 value=5.0,z=5.0 0"]
