"""Threshold rules of the threshold_alerts example: parsing `field OP number[-LEVEL]` and checks."""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass

LEVELS = ("INFO", "WARN", "ERROR", "CRITICAL")
OPERATORS = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}
_RULE = re.compile(
    r"^\s*(?P<field>[^<>=!\s]+)\s*(?P<op>>=|<=|==|!=|>|<)\s*(?P<number>[-+0-9.eE]+)"
    r"(?:-(?P<level>[A-Za-z]+))?\s*$"
)


@dataclass(frozen=True)
class Rule:
    """One threshold: `field OP threshold`, alerting at `level`."""

    field: str
    op: str
    threshold: float
    level: str
    text: str
    alert_table: str | None = None

    def breached_by(self, value):
        """True when `value` (a number) crosses the threshold."""
        return OPERATORS[self.op](value, self.threshold)


def parse_rules(text, *, alert_table=None):
    """Parse colon-separated rules; raises ValueError naming the bad rule and the grammar."""
    rules = []
    for part in (item for item in text.split(":") if item.strip()):
        match = _RULE.match(part)
        level = (match.group("level") or "WARN").upper() if match else None
        if match is None or level not in LEVELS:
            raise ValueError(
                f"bad rule {part!r}: expected 'field OP number[-LEVEL]' with OP one of "
                f"{', '.join(OPERATORS)} and LEVEL one of {', '.join(LEVELS)}"
            )
        try:
            threshold = float(match.group("number"))
        except ValueError:
            number = match.group("number")
            raise ValueError(f"bad rule {part!r}: {number!r} is not a number") from None
        rules.append(Rule(match.group("field"), match.group("op"), threshold, level,
                          part.strip(), alert_table))
    if not rules:
        raise ValueError("no rules given: set the 'rules' argument, e.g. 'temp>30-WARN'")
    return rules


def breaches(rules, row):
    """The (rule, value) pairs a row breaks; rows without the field, or non-numbers, pass."""
    for rule in rules:
        value = row.get(rule.field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if rule.breached_by(value):
            yield rule, value
