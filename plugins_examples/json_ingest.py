"""An HTTP write endpoint: JSON points in, line protocol written, a status code out.

Trigger: `request:ingest`. POST a JSON object or list of objects
`{"measurement": "m", "tags": {...}, "fields": {...}, "time": <ns, optional>}` to
`/api/v3/engine/ingest`; the points are validated, written to the trigger's database and the
answer is `201 {"written": N}`. Malformed input gets `400 {"error": ...}` and writes nothing.
"""

import json


def _line(point):
    if not isinstance(point, dict) or not isinstance(point.get("measurement"), str):
        raise ValueError("each point needs a string 'measurement'")
    fields = point.get("fields")
    if not isinstance(fields, dict) or not fields:
        raise ValueError(f"point {point['measurement']!r} needs a non-empty 'fields' object")
    line = LineBuilder(point["measurement"])
    for name, value in sorted((point.get("tags") or {}).items()):
        line.tag(name, str(value))
    for name, value in fields.items():
        if isinstance(value, bool):
            line.bool_field(name, value)
        elif isinstance(value, int):
            line.int64_field(name, value)
        elif isinstance(value, float):
            line.float64_field(name, value)
        elif isinstance(value, str):
            line.string_field(name, value)
        else:
            raise ValueError(f"field {name!r} has an unsupported value {value!r}")
    if point.get("time") is not None:
        line.time_ns(int(point["time"]))
    return line


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    try:
        document = json.loads(request_body or b"null")
        points = document if isinstance(document, list) else [document]
        lines = [_line(point) for point in points]
    except ValueError as exc:  # json.JSONDecodeError is a ValueError too
        influxdb3_local.warn(f"refused a request: {exc}")
        return {"error": str(exc)}, 400
    for line in lines:
        influxdb3_local.write(line)
    influxdb3_local.info(f"accepted {len(lines)} point(s)")
    return {"written": len(lines)}, 201
