"""Trigger configuration routes: create, delete, enable and disable (admin only)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from .auth import require_admin
from .bodies import optional_bool, query_or_json, required_str
from .context import EdgeContext, empty_ok

TRIGGER_PATH = "/api/v3/configure/processing_engine_trigger"


class TriggerRoutes:
    """`/api/v3/configure/processing_engine_trigger` and its `enable`/`disable` sub-paths."""

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        """The routes of this group."""
        return [
            Route(TRIGGER_PATH, self.create, methods=["POST"]),
            Route(TRIGGER_PATH, self.delete, methods=["DELETE"]),
            Route(f"{TRIGGER_PATH}/enable", self.enable, methods=["POST"]),
            Route(f"{TRIGGER_PATH}/disable", self.disable, methods=["POST"]),
        ]

    async def create(self, request: Request) -> Response:
        """Create a trigger from the seed's JSON fields (or the same as a query string)."""
        require_admin(request)
        params = await self._params(request)
        db, name = required_str(params, "db"), required_str(params, "trigger_name")
        await self.ctx.call("create_trigger", db, name, **create_options(params))
        return empty_ok()

    async def delete(self, request: Request) -> Response:
        """Delete a trigger; `force` also stops one that is running a plugin call."""
        require_admin(request)
        params = await self._params(request)
        db, name = required_str(params, "db"), required_str(params, "trigger_name")
        force = optional_bool(params, "force", False)
        await self.ctx.call("delete_trigger", db, name, force=force)
        return empty_ok()

    async def enable(self, request: Request) -> Response:
        """Enable a trigger (already enabled is success)."""
        return await self._switch(request, "enable_trigger")

    async def disable(self, request: Request) -> Response:
        """Disable a trigger (already disabled is success)."""
        return await self._switch(request, "disable_trigger")

    async def _switch(self, request: Request, method: str) -> Response:
        require_admin(request)
        params = await self._params(request)
        db, name = required_str(params, "db"), required_str(params, "trigger_name")
        await self.ctx.call(method, db, name)
        return empty_ok()

    async def _params(self, request: Request) -> dict[str, Any]:
        return await query_or_json(request, self.ctx.max_request_size)


def create_options(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments of `Engine.create_trigger` from a create request's fields.

    Values are handed on as sent; the engine checks them (a bad spec, settings or arguments are
    its errors, answered 400).
    """
    return {
        "plugin_filename": required_str(params, "plugin_filename"),
        "trigger_specification": required_str(params, "trigger_specification"),
        "trigger_arguments": params.get("trigger_arguments"),
        "trigger_settings": _blank_to_none(params.get("trigger_settings")),
        "disabled": optional_bool(params, "disabled", False),
        # The seed's example sends `"node_spec": {}`: an empty value means the default.
        "node_spec": _blank_to_none(params.get("node_spec")),
    }


def _blank_to_none(value: Any) -> Any:
    return None if value in ("", {}) else value
