"""wal_table_counter: rows and columns counted per table of each WAL flush."""

import pytest

BATCH = "cpu,host=a usage=1 1\ncpu,host=b usage=2,idle=3 2\nmem,host=a used=5i 3"


def test_counts_rows_and_columns_per_table(plugin_harness):
    result = plugin_harness.run_wal("wal_table_counter.py", BATCH)
    # cpu rows use host, usage, idle and time; mem rows host, used and time.
    assert result.lines_for("test_db") == [
        "table_counts,table_name=cpu rows=2i,columns=4i",
        "table_counts,table_name=mem rows=1i,columns=3i",
    ]
    assert "INFO: counted 3 rows in 2 table batch(es)" in result.log_lines


def test_its_own_output_table_is_not_counted(plugin_harness):
    result = plugin_harness.run_wal("wal_table_counter.py",
                                    "table_counts,table_name=cpu rows=2i,columns=4i 1")
    assert result.database_writes == {}
    assert "INFO: counted 0 rows in 1 table batch(es)" in result.log_lines


@pytest.mark.parametrize(("args", "expected"), [
    ({"tables": "cpu.disk"}, {"test_db": ["table_counts,table_name=cpu rows=1i,columns=2i",
                                          "table_counts,table_name=disk rows=1i,columns=2i"]}),
    ({"output_table": "seen", "tables": "mem"},
     {"test_db": ["seen,table_name=mem rows=1i,columns=2i"]}),
    ({"target_database": "monitoring", "tables": "mem"},
     {"monitoring": ["table_counts,table_name=mem rows=1i,columns=2i"]}),
], ids=["table-filter", "output-table", "target-database"])
def test_arguments_choose_tables_output_and_database(plugin_harness, args, expected):
    result = plugin_harness.run_wal("wal_table_counter.py", "cpu v=1 1\nmem v=2 2\ndisk v=3 3",
                                    args=args)
    assert result.database_writes == expected


@pytest.mark.plugin_harness(apply_writes=True)
def test_the_counts_land_in_the_target_database(plugin_harness):
    plugin_harness.run_wal("wal_table_counter.py", BATCH, args={"target_database": "monitoring"})
    assert plugin_harness.query("SELECT table_name, rows, columns FROM table_counts "
                                "ORDER BY table_name", database="monitoring") == [
        {"table_name": "cpu", "rows": 2, "columns": 4},
        {"table_name": "mem", "rows": 1, "columns": 3},
    ]


def test_runs_as_an_all_tables_trigger(engine):
    engine.create_database("db")
    engine.create_trigger("db", "counter", plugin_filename="wal_table_counter.py",
                          trigger_specification="all_tables")
    engine.write_lp("db", BATCH)
    engine.flush()
    engine.flush()  # the counts come back as a later flush, and are not counted themselves
    assert engine.query("db", "SELECT table_name, rows FROM table_counts ORDER BY table_name") == [
        {"table_name": "cpu", "rows": 2}, {"table_name": "mem", "rows": 1}]
