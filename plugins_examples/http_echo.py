"""
{
    "plugin_type": ["http"],
    "http_args_config": [
        {
            "name": "include_headers",
            "example": "false",
            "description": "Whether the reply includes the request headers (lower-cased; Authorization is never passed to plugins). Defaults to 'true'.",
            "required": false
        },
        {
            "name": "greeting",
            "example": "hello",
            "description": "A string returned as-is in the reply, to show how trigger arguments reach the plugin.",
            "required": false
        }
    ]
}
"""

# ruff: noqa: E501 - the metadata above is JSON, whose strings cannot wrap

# Echoes a request back as JSON: the query parameters, the headers, and the body (parsed
# as JSON when it is JSON, else decoded as text). Use with `request:echo` and call
# GET or POST /api/v3/engine/echo. A `?status=NNN` query parameter sets the reply's status,
# showing the (body, status, headers) return form.

from __future__ import annotations

import json


def _body(request_body):
    if not request_body:
        return None
    try:
        return json.loads(request_body)
    except ValueError:
        return request_body.decode("utf-8", errors="replace")


def process_request(influxdb3_local, query_parameters, request_headers, request_body, args=None):
    args = args or {}
    reply = {
        "query_parameters": query_parameters,
        "body": _body(request_body),
        "body_bytes": len(request_body),
    }
    if args.get("include_headers", "true").lower() == "true":
        reply["headers"] = request_headers
    if "greeting" in args:
        reply["greeting"] = args["greeting"]
    status = int(query_parameters.get("status", "200"))
    influxdb3_local.info(f"echoed {len(request_body)} body bytes with status {status}")
    return reply, status, {"X-Echo": "1"}
