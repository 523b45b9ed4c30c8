"""Serving the operators' console from `sentinel run`: the console reads the same database and hears about
alerts, cases and camera status through an in-process live feed. It is handed what `ConsoleDeps` lists, never
the daemon itself."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentinel.alerts.store import AlertStore
from sentinel.cases.engine import CaseEngine
from sentinel.cases.roster import Roster
from sentinel.config.models import CameraConfig, SentinelConfig
from sentinel.console.deps import ConsoleActions, ConsoleDeps
from sentinel.console.live import LiveFeed
from sentinel.console.metrics import SentinelMetrics
from sentinel.console.server import ConsoleServer
from sentinel.geo.cells import GridCells
from sentinel.mqtt.publisher import MqttPublisher


def build_console(
    config: SentinelConfig,
    store: AlertStore,
    cases: CaseEngine | None,
    live: LiveFeed,
    metrics: SentinelMetrics,
    publisher: MqttPublisher,
    cameras: Callable[[], list[CameraConfig]],
    camera_status: Callable[[], list[dict[str, Any]]],
    grid: tuple[GridCells | None, Roster | None],
    clustered: bool,
) -> ConsoleServer | None:
    """The console, not yet listening (`start()` raises ConsoleServerError: port taken, ...); None when the
    config turns it off. `clustered`: the database is shared by several nodes, the console lists them."""
    if not config.console.enabled:
        return None
    from sentinel.console.app import create_app
    from sentinel.console.engine_actions import EngineActions, ReviewOnlyActions

    cells, roster = grid
    actions: ConsoleActions = (
        EngineActions(cases, live=live, roster=roster, cameras=cameras)
        if cases is not None
        else ReviewOnlyActions(cameras=cameras)
    )
    deps = ConsoleDeps(
        store.engine,
        config,
        actions,
        live=live,
        camera_status=camera_status,
        cells=cells,
        roster=roster,
        cameras=cameras,
        metrics=metrics,
        broker_connected=publisher.connected.is_set,
        nodes=_nodes(store) if clustered else None,
    )
    return ConsoleServer(
        create_app(deps), config.console.host, config.console.port, fallback=config.console.port_fallback
    )


def _nodes(store: AlertStore) -> Callable[[], list[dict[str, Any]]]:
    from sentinel.cluster.overview import cluster_overview

    def nodes() -> list[dict[str, Any]]:
        return cluster_overview(store.engine).as_dicts()

    return nodes
