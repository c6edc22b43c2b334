"""How an API module describes what it serves, for the registry in :mod:`.apis`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from batch_gen.simulator.gateway import Handler


@dataclass(frozen=True, slots=True)
class Route:
    """One HTTP route: method, aiohttp path pattern, handler."""

    method: str
    path: str
    handler: Handler


@dataclass(frozen=True, slots=True)
class SimApi:
    """The routes one simulator module serves for one client API, in registration order,
    and what the app needs before they can answer (e.g. a task store)."""

    routes: tuple[Route, ...]
    setup: Callable[[web.Application], None] | None = None

    def install(self, app: web.Application) -> None:
        """Run the setup, then register the routes on *app*."""
        if self.setup is not None:
            self.setup(app)
        for route in self.routes:
            if route.method == "GET":
                app.router.add_get(route.path, route.handler)  # answers HEAD too
            else:
                app.router.add_route(route.method, route.path, route.handler)

    @property
    def paths(self) -> tuple[str, ...]:
        """The distinct path patterns, in registration order."""
        return tuple(dict.fromkeys(route.path for route in self.routes))
