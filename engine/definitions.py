"""Trigger definitions over the catalog: validation of new triggers and their parsed specs."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .catalog import Catalog, TriggerDefinition
from .errors import CatalogCorrupt, InvalidTriggerField, TriggerAlreadyExists, TriggerSpecError
from .names import validate_database_name, validate_trigger_name
from .plugin_files import check_entry_point, resolve_plugin
from .settings import TriggerSettings, validate_node_spec, validate_trigger_arguments
from .spec import TriggerSpec, entry_point


class TriggerDefinitions:
    """The catalog's triggers with their parsed specifications, and the rules for adding one.

    Not locked on its own: the `Engine` serialises every change under its lock.
    """

    def __init__(self, catalog: Catalog, plugin_dir: Path | None) -> None:
        """Parse the specification of every stored trigger.

        Raises:
            CatalogCorrupt: A stored specification no longer parses.
        """
        self.catalog = catalog
        self.plugin_dir = plugin_dir
        self._specs = _parse_stored_specs(catalog)

    def build(
        self,
        db: str,
        trigger_name: str,
        *,
        plugin_filename: str,
        trigger_specification: str,
        trigger_arguments: Mapping[str, str] | None,
        trigger_settings: TriggerSettings | Mapping[str, Any] | str | None,
        disabled: bool,
        node_spec: str | Mapping[str, Any] | None,
    ) -> tuple[TriggerDefinition, TriggerSpec]:
        """Check every argument of a new trigger on its own, touching nothing stored.

        Raises:
            InvalidName, TriggerSpecError, TriggerSettingsError, TriggerArgumentsError,
                NodeSpecError, InvalidTriggerField: A bad value.
        """
        spec = TriggerSpec.parse(trigger_specification)
        definition = TriggerDefinition(
            db=validate_database_name(db),
            trigger_name=validate_trigger_name(trigger_name),
            plugin_filename=_require(plugin_filename, "plugin_filename", str, "a relative path"),
            trigger_specification=str(spec),
            trigger_arguments=validate_trigger_arguments(trigger_arguments),
            trigger_settings=TriggerSettings.from_value(trigger_settings),
            disabled=_require(disabled, "disabled", bool, "True or False"),
            node_spec=validate_node_spec(node_spec),
        )
        return definition, spec

    def add(self, definition: TriggerDefinition, spec: TriggerSpec) -> TriggerDefinition:
        """Check a built trigger against the catalog and the plugin directory, then store it.

        Raises:
            DatabaseNotFound: Its database does not exist.
            TriggerAlreadyExists: Its name is taken in the database, or its request path anywhere.
            NoPluginDirectory, PluginPathError, PluginNotFound, PluginLoadError,
                PluginContractError: The plugin cannot back this trigger.
        """
        self._check_unique(definition, spec)
        location = resolve_plugin(self.plugin_dir, definition.plugin_filename)
        expected = entry_point(spec.kind)
        check_entry_point(location, expected.name, expected.signature)
        stored = self.catalog.add_trigger(definition)
        self._specs[(stored.db, stored.trigger_name)] = spec
        return stored

    def remove(self, db: str, trigger_name: str) -> TriggerDefinition:
        """Delete a trigger from the catalog (DatabaseNotFound, TriggerNotFound)."""
        removed = self.catalog.remove_trigger(db, trigger_name)
        self._specs.pop((db, trigger_name), None)
        return removed

    def remove_database(self, db: str) -> list[TriggerDefinition]:
        """Delete a database with its triggers; returns them (DatabaseNotFound)."""
        removed = self.catalog.delete_database(db)
        for definition in removed:
            self._specs.pop((db, definition.trigger_name), None)
        return removed

    def spec(self, db: str, trigger_name: str) -> TriggerSpec:
        """The parsed specification of a stored trigger (DatabaseNotFound, TriggerNotFound)."""
        self.catalog.get_trigger(db, trigger_name)
        return self._specs[(db, trigger_name)]

    def request_path_owner(self, path: str) -> tuple[str, str] | None:
        """`(db, trigger_name)` of the trigger serving `request:<path>`, if any."""
        for key, spec in self._specs.items():
            if spec.is_request and spec.path == path:
                return key
        return None

    def _check_unique(self, definition: TriggerDefinition, spec: TriggerSpec) -> None:
        names = {t.trigger_name for t in self.catalog.list_triggers(definition.db)}
        if definition.trigger_name in names:
            raise TriggerAlreadyExists(definition.db, definition.trigger_name)
        owner = self.request_path_owner(spec.path) if spec.is_request and spec.path else None
        if owner is not None:
            raise TriggerAlreadyExists(definition.db, definition.trigger_name, path=spec.path,
                                       owner=f"{owner[0]}/{owner[1]}")


def _require(value: Any, field: str, kind: type, expected: str) -> Any:
    if not isinstance(value, kind):
        raise InvalidTriggerField(field, value, expected)
    return value


def _parse_stored_specs(catalog: Catalog) -> dict[tuple[str, str], TriggerSpec]:
    specs: dict[tuple[str, str], TriggerSpec] = {}
    for definition in catalog.list_triggers():
        try:
            specs[(definition.db, definition.trigger_name)] = TriggerSpec.parse(
                definition.trigger_specification)
        except TriggerSpecError as exc:
            raise CatalogCorrupt(
                str(catalog.path),
                f"trigger {definition.trigger_name!r} in database {definition.db!r}: {exc}",
            ) from None
    return specs
