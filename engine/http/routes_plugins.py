"""Plugin routes: dry-run tests, plugin files and the plugin environment (admin only)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import InvalidRequest
from .auth import require_admin
from .bodies import optional_str, required_str, string_map
from .context import EdgeContext, empty_ok


class PluginRoutes:
    """`/api/v3/plugin_test/*`, `/api/v3/plugins/*` and `.../plugin_environment/*`."""

    def __init__(self, ctx: EdgeContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[BaseRoute]:
        """The routes of this group."""
        env = "/api/v3/configure/plugin_environment"
        return [
            Route("/api/v3/plugin_test/wal", self.test_wal, methods=["POST"]),
            Route("/api/v3/plugin_test/schedule", self.test_schedule, methods=["POST"]),
            Route("/api/v3/plugin_test/request", self.test_request, methods=["POST"]),
            Route("/api/v3/plugins/files", self.create_file, methods=["POST"]),
            Route("/api/v3/plugins/files", self.update_file, methods=["PUT"]),
            Route("/api/v3/plugins/directory", self.update_directory, methods=["PUT"]),
            Route(f"{env}/install_packages", self.install_packages, methods=["POST"]),
            Route(f"{env}/install_requirements", self.install_requirements, methods=["POST"]),
        ]

    async def test_wal(self, request: Request) -> Response:
        """Dry-run a WAL plugin on `input_lp`; 200 with the result even when the plugin fails."""
        body = await self._admin_json(request)
        result = await self.ctx.call(
            "test_wal_plugin",
            required_str(body, "filename"),
            database=required_str(body, "database"),
            input_lp=required_str(body, "input_lp"),
            **_test_options(body),
        )
        return JSONResponse(result.to_dict())

    async def test_schedule(self, request: Request) -> Response:
        """Dry-run a schedule plugin once, at the next tick of `schedule`."""
        body = await self._admin_json(request)
        result = await self.ctx.call(
            "test_schedule_plugin",
            required_str(body, "filename"),
            database=required_str(body, "database"),
            schedule=optional_str(body, "schedule"),
            **_test_options(body),
        )
        return JSONResponse(result.to_dict())

    async def test_request(self, request: Request) -> Response:
        """Dry-run a request plugin on a described request, without a trigger."""
        body = await self._admin_json(request)
        result = await self.ctx.call(
            "test_request_plugin",
            required_str(body, "filename"),
            database=required_str(body, "database"),
            query_parameters=string_map(body, "query_parameters"),
            request_headers=string_map(body, "request_headers"),
            request_body=optional_str(body, "request_body") or "",
            **_test_options(body),
        )
        return JSONResponse(result.to_dict())

    async def create_file(self, request: Request) -> Response:
        """Create (or overwrite) a plugin file at a path inside the plugin directory."""
        body = await self._admin_json(request)
        await self.ctx.call("create_plugin_file", *_name_and_content(body))
        return empty_ok()

    async def update_file(self, request: Request) -> Response:
        """Overwrite the plugin file of the trigger named `plugin_name`."""
        body = await self._admin_json(request)
        await self.ctx.call("update_plugin_file", *_name_and_content(body))
        return empty_ok()

    async def update_directory(self, request: Request) -> Response:
        """Replace the plugin directory of the trigger named `plugin_name`."""
        body = await self._admin_json(request)
        name = required_str(body, "plugin_name")
        await self.ctx.call("update_plugin_directory", name, directory_files(body))
        return empty_ok()

    async def install_packages(self, request: Request) -> Response:
        """pip-install packages into the plugin environment (blocks until done)."""
        body = await self._admin_json(request)
        packages = body.get("packages")
        if not isinstance(packages, list) or not all(isinstance(p, str) for p in packages):
            raise InvalidRequest("field 'packages' must be a list of package name strings")
        await self.ctx.call("install_packages", packages)
        return empty_ok()

    async def install_requirements(self, request: Request) -> Response:
        """pip-install a requirements file from the plugin directory."""
        body = await self._admin_json(request)
        await self.ctx.call("install_requirements", required_str(body, "requirements_location"))
        return empty_ok()

    async def _admin_json(self, request: Request) -> dict[str, Any]:
        require_admin(request)
        return await self.ctx.json(request)


def _test_options(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_arguments": string_map(body, "input_arguments"),
        "cache_name": optional_str(body, "cache_name"),
    }


def _name_and_content(body: dict[str, Any]) -> tuple[str, str]:
    content = body.get("content")
    if not isinstance(content, str):
        raise InvalidRequest("field 'content' must be a string (the file's text)")
    return required_str(body, "plugin_name"), content


def directory_files(body: dict[str, Any]) -> list[dict[str, str]]:
    """The `files` of a directory update: `[{"relative_path": .., "content": ..}, ...]`."""
    files = body.get("files")
    if not isinstance(files, list):
        raise InvalidRequest("field 'files' must be a list of {relative_path, content} objects")
    checked: list[dict[str, str]] = []
    for index, item in enumerate(files):
        entry = item if isinstance(item, dict) else {}
        path, content = entry.get("relative_path"), entry.get("content")
        if not isinstance(path, str) or not isinstance(content, str):
            raise InvalidRequest(
                f"files[{index}] must have string fields 'relative_path' and 'content'"
            )
        checked.append({"relative_path": path, "content": content})
    return checked
