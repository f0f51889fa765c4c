"""
{
    "plugin_type": ["onwrite"],
    "onwrite_args_config": [
        {
            "name": "rules",
            "example": "temp>30-WARN:temp>=40-CRITICAL:humidity<20",
            "description": "Colon-separated rules 'field OP number[-LEVEL]', OP one of > >= < <= == !=, LEVEL one of INFO, WARN, ERROR, CRITICAL (default WARN).",
            "required": true
        },
        {
            "name": "measurement",
            "example": "sensors",
            "description": "Only rows of this table are checked. Defaults to every table but the alert table.",
            "required": false
        },
        {
            "name": "alert_table",
            "example": "alerts",
            "description": "Table the alerts are written to (tags source, field, level; fields value, threshold, rule). Defaults to 'alerts'.",
            "required": false
        }
    ]
}
"""

# ruff: noqa: E501 - the metadata above is JSON, whose strings cannot wrap

# Checks every written row against threshold rules and writes one alert row per breach.
# A directory plugin: create the trigger with plugin_filename "threshold_alerts"; the rule
# parsing lives in the sibling module rules.py, imported relatively.

from __future__ import annotations

from .rules import breaches, parse_rules

DEFAULT_ALERT_TABLE = "alerts"


def _alert_line(source, row, rule, value):
    line = (
        LineBuilder(DEFAULT_ALERT_TABLE if rule.alert_table is None else rule.alert_table)
        .tag("source", source)
        .tag("field", rule.field)
        .tag("level", rule.level)
        .float64_field("value", float(value))
        .float64_field("threshold", rule.threshold)
        .string_field("rule", rule.text)
    )
    return line.time_ns(row["time"])


def process_writes(influxdb3_local, table_batches, args=None):
    args = args or {}
    alert_table = args.get("alert_table", DEFAULT_ALERT_TABLE)
    rules = parse_rules(args.get("rules", ""), alert_table=alert_table)
    only = args.get("measurement")
    alerts = 0
    for batch in table_batches:
        source = batch["table_name"]
        if source == alert_table or (only is not None and source != only):
            continue
        for row in batch["rows"]:
            for rule, value in breaches(rules, row):
                influxdb3_local.write(_alert_line(source, row, rule, value))
                alerts += 1
    if alerts:
        influxdb3_local.warn(f"{alerts} threshold breach(es)")
