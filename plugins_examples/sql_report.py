"""SQL queries from a request plugin: a per-minute report over any table, as JSON.

Trigger: `request:report`. Query parameters: `table` (required), `field` (default `usage`),
`host` (optional filter), `minutes` (default 60, the window before now).
GET /api/v3/engine/report?table=cpu&host=a answers `{"table": "cpu", "field": "usage",
"rows": [{"minute": ..., "host": ..., "mean": ..., "samples": ...}]}`.
"""


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    table = query_parameters.get("table")
    if not table:
        return {"error": "query parameter 'table' is required"}, 400
    tables = influxdb3_local.query(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'iox'")
    if table not in {row["table_name"] for row in tables}:
        return {"error": f"unknown table {table!r}"}, 404
    field = query_parameters.get("field", "usage")
    columns = influxdb3_local.query(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'iox' AND table_name = $table", {"table": table})
    if field not in {row["column_name"] for row in columns}:
        return {"error": f"table {table!r} has no column {field!r}"}, 400
    try:
        minutes = int(query_parameters.get("minutes", "60"))
    except ValueError:
        return {"error": "query parameter 'minutes' must be a whole number"}, 400
    # Identifiers cannot be parameters: both were checked against the schema above.
    sql = (f'SELECT date_bin(INTERVAL \'1 minute\', time) AS minute, host, '
           f'avg("{field}") AS mean, count(*) AS samples FROM "{table}" '
           f"WHERE time >= now() - INTERVAL '{minutes} minutes'")
    params = {}
    if "host" in query_parameters:
        sql += " AND host = $host"
        params["host"] = query_parameters["host"]
    sql += " GROUP BY minute, host ORDER BY minute, host"
    rows = influxdb3_local.query(sql, params or None)
    influxdb3_local.info(f"report on {table}.{field}: {len(rows)} row(s)")
    return {"table": table, "field": field, "rows": rows}
