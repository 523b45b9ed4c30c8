"""`/api/nodes`: the nodes of a cluster (PostgreSQL), their cameras and who leads; an empty list on a single
node (SQLite), which has no cluster to show."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from sentinel.console.auth import current_user, get_deps
from sentinel.console.deps import ConsoleDeps
from sentinel.console.schemas import ErrorOut, NodeOut
from sentinel.console.users import User

router = APIRouter(prefix="/api", tags=["cameras, grid, KPIs"])
Deps = Annotated[ConsoleDeps, Depends(get_deps)]
AnyUser = Annotated[User, Depends(current_user)]
ERRORS: dict[int | str, dict[str, Any]] = {401: {"model": ErrorOut}}


@router.get("/nodes", response_model=list[NodeOut], responses=ERRORS)
def list_nodes(deps: Deps, _user: AnyUser) -> list[NodeOut]:
    """Every node of the cluster: alive or not, leader, its cameras, seconds since its last renewal."""
    if deps.nodes is None:
        return []
    return [NodeOut.model_validate(n) for n in deps.nodes()]
