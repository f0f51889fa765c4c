"""`LineBuilder` and the exception names plugins see, behaving exactly like InfluxDB 3's."""

from __future__ import annotations

from collections import OrderedDict

from .errors import EngineError

__all__ = [
    "PLUGIN_BUILTINS",
    "InfluxDBError",
    "InvalidKeyError",
    "InvalidLineError",
    "InvalidMeasurementError",
    "LineBuilder",
]


class InfluxDBError(EngineError):
    """Root of the LineBuilder errors; plugins know it under this bare name.

    The reference classes derive from `Exception` only, so these take a ready message (plugins
    and vendored helpers raise them that way too) and deliberately add no builtin such as
    `ValueError`: a plugin's `except ValueError` must behave as it does on InfluxDB 3.
    """


class InvalidMeasurementError(InfluxDBError):
    """The measurement name contains a space."""


class InvalidKeyError(InfluxDBError):
    """A tag or field key is empty or contains a space, comma or equals sign."""


class InvalidLineError(InfluxDBError):
    """`build()` was called on a line without any field."""


def _escape_measurement(name: str) -> str:
    return name.replace(",", "\\,").replace(" ", "\\ ")


def _escape_key_or_tag_value(text: str) -> str:
    # Backslashes first, or the backslashes of the later escapes would be doubled.
    return (
        text.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")
    )


def _render_float(value: float) -> str:
    # The reference writes integral floats as `N.0` and everything else with `str()`; the
    # `% 1` test is kept as is, so inf and nan render as `inf` and `nan` just as there.
    return f"{int(value)}.0" if value % 1 == 0 else str(value)


class LineBuilder:
    """Builds one line of line protocol, with the same API, checks and output as InfluxDB 3.

    Setters return the builder for chaining. Setting a key again replaces its value but keeps
    its first position. `tags` and `fields` are public ordered dicts of rendered values (plugins
    read them), exactly as in the reference class.
    """

    def __init__(self, measurement: str) -> None:
        """Start a line for `measurement`.

        Raises:
            InvalidMeasurementError: the name contains a space.
        """
        if " " in measurement:
            raise InvalidMeasurementError("Measurement name cannot contain spaces")
        self.measurement = measurement
        self.tags: OrderedDict[str, str] = OrderedDict()
        self.fields: OrderedDict[str, str] = OrderedDict()
        self._timestamp_ns: int | None = None

    @staticmethod
    def _validate_key(key: str, kind: str) -> None:
        if not key:
            raise InvalidKeyError(f"{kind} key cannot be empty")
        if " " in key:
            raise InvalidKeyError(f"{kind} key '{key}' cannot contain spaces")
        if "," in key:
            raise InvalidKeyError(f"{kind} key '{key}' cannot contain commas")
        if "=" in key:
            raise InvalidKeyError(f"{kind} key '{key}' cannot contain equals signs")

    def tag(self, key: str, value: str) -> LineBuilder:
        """Add a tag; the value goes through `str()`.

        Raises:
            InvalidKeyError: the key is empty or contains a space, comma or equals sign.
        """
        self._validate_key(key, "tag")
        self.tags[key] = str(value)
        return self

    def int64_field(self, key: str, value: int) -> LineBuilder:
        """Add a signed integer field, rendered `{value}i` (no range check, as the reference)."""
        self._validate_key(key, "field")
        self.fields[key] = f"{value}i"
        return self

    def uint64_field(self, key: str, value: int) -> LineBuilder:
        """Add an unsigned integer field, rendered `{value}u`.

        Raises:
            ValueError: the value is negative.
        """
        self._validate_key(key, "field")
        if value < 0:
            raise ValueError(f"uint64 field '{key}' cannot be negative")
        self.fields[key] = f"{value}u"
        return self

    def float64_field(self, key: str, value: float) -> LineBuilder:
        """Add a float field; integral values render as `N.0`, others with `str()`."""
        self._validate_key(key, "field")
        self.fields[key] = _render_float(value)
        return self

    def string_field(self, key: str, value: str) -> LineBuilder:
        """Add a string field, quoted, with backslashes and double quotes escaped."""
        self._validate_key(key, "field")
        escaped = value.replace("\\", "\\\\").replace('"', '\\"')
        self.fields[key] = f'"{escaped}"'
        return self

    def bool_field(self, key: str, value: bool) -> LineBuilder:
        """Add a boolean field, rendered `t` or `f` by truthiness."""
        self._validate_key(key, "field")
        self.fields[key] = "t" if value else "f"
        return self

    def time_ns(self, timestamp_ns: int) -> LineBuilder:
        """Set the timestamp in nanoseconds; without one the write's ingest time is used."""
        self._timestamp_ns = timestamp_ns
        return self

    def build(self) -> str:
        """Render the line.

        Raises:
            InvalidLineError: no field was added.
        """
        line = _escape_measurement(self.measurement)
        if self.tags:
            line += "," + ",".join(
                f"{key}={_escape_key_or_tag_value(value)}" for key, value in self.tags.items()
            )
        if not self.fields:
            raise InvalidLineError(f"At least one field is required: {line}")
        line += " " + ",".join(
            f"{_escape_key_or_tag_value(key)}={value}" for key, value in self.fields.items()
        )
        if self._timestamp_ns is not None:
            line += f" {self._timestamp_ns}"
        return line

    def __repr__(self) -> str:
        return (
            f"LineBuilder({self.measurement!r}, tags={dict(self.tags)!r}, "
            f"fields={dict(self.fields)!r}, time_ns={self._timestamp_ns!r})"
        )


# What the loader puts into every plugin module's builtins, so plugins can use these names bare.
PLUGIN_BUILTINS: dict[str, object] = {
    "LineBuilder": LineBuilder,
    "InfluxDBError": InfluxDBError,
    "InvalidMeasurementError": InvalidMeasurementError,
    "InvalidKeyError": InvalidKeyError,
    "InvalidLineError": InvalidLineError,
}
