"""Serving the operators' console from `sentinel run`: the console reads the same database and hears about
alerts, cases and camera status through an in-process live feed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sentinel.console.server import ConsoleServer
    from sentinel.daemon.supervisor import Supervisor


def start_console(sup: Supervisor) -> ConsoleServer | None:
    """Start the console on the configured address; raises ConsoleServerError (port taken, ...)."""
    cfg = sup.config
    if not cfg.console.enabled or sup.store is None or sup.intake is None:
        return None
    from sentinel.console.app import create_app
    from sentinel.console.deps import ConsoleDeps
    from sentinel.console.engine_actions import EngineActions, ReviewOnlyActions
    from sentinel.console.server import ConsoleServer

    def cameras() -> Any:
        return sup.config.cameras

    actions: Any = (
        EngineActions(sup.cases, live=sup.live, roster=sup.intake.roster, cameras=cameras)
        if sup.cases is not None
        else ReviewOnlyActions(cameras=cameras)
    )
    publisher = sup.publisher
    deps = ConsoleDeps(
        sup.store.engine,
        cfg,
        actions,
        live=sup.live,
        camera_status=sup.camera_statuses,
        cells=sup.intake.cells,
        roster=sup.intake.roster,
        metrics=sup.metrics,
        broker_connected=(publisher.connected.is_set if publisher is not None else (lambda: False)),
        nodes=_nodes(sup) if sup.member is not None else None,
    )
    server = ConsoleServer(create_app(deps), cfg.console.host, cfg.console.port)
    server.start()
    return server


def _nodes(sup: Supervisor) -> Any:
    from sentinel.cluster.overview import cluster_overview

    engine = sup.store.engine if sup.store is not None else None

    def nodes() -> list[dict[str, object]]:
        return cluster_overview(engine).as_dicts() if engine is not None else []

    return nodes
