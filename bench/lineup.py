"""Open the stores a workload compares, by short name; a store that cannot run here becomes a note."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import Context
from bench.stores import RawSqlite, Store, WfsiteDjango, WfsiteSqlite, warm_up
from bench.upstream import Agno, LangGraph, Phidata, PhidataPg, Unavailable, WfsiteOnPhidataFile

RAW = "raw sqlite3"
RAW_ORJSON = "raw sqlite3 + orjson"
WFSITE = "wfsite SqliteWorkflowStorage"
WFSITE_ON_PHIDATA = "wfsite SqliteWorkflowStorage on phidata's file"
DJANGO = "wfsite DjangoWorkflowStorage"
PHIDATA = "phidata SqlWorkflowStorage"
PHIDATA_PG = "phidata PgWorkflowStorage"
AGNO = "agno 2 SqliteDb"
LANGGRAPH = "LangGraph SqliteSaver"


def _django(ctx: Context, folder: Path) -> Store:
    if ctx.django_error:
        raise Unavailable(ctx.django_error)
    return WfsiteDjango(DJANGO)


def _phidata_pg(ctx: Context, folder: Path) -> Store:
    if ctx.lane != "postgres":
        raise Unavailable("the PostgreSQL lane only (make bench runs it when PostgreSQL is reachable)")
    if ctx.django_error:
        raise Unavailable(ctx.django_error)
    from bench import django_env

    return PhidataPg(django_env.database_url())


FACTORIES: dict[str, Callable[[Context, Path], Any]] = {
    RAW: lambda ctx, folder: RawSqlite(folder / "raw.db", label=RAW),
    RAW_ORJSON: lambda ctx, folder: RawSqlite(folder / "raw_orjson.db", fast_json=True, label=RAW_ORJSON),
    WFSITE: lambda ctx, folder: WfsiteSqlite(folder / "wfsite.db", label=WFSITE),
    WFSITE_ON_PHIDATA: lambda ctx, folder: WfsiteOnPhidataFile(folder / "made_by_phidata.db"),
    DJANGO: _django,
    PHIDATA: lambda ctx, folder: Phidata(folder / "phidata.db"),
    PHIDATA_PG: _phidata_pg,
    AGNO: lambda ctx, folder: Agno(folder / "agno.db"),
    LANGGRAPH: lambda ctx, folder: LangGraph(folder / "langgraph.db"),
}


def open_stores(
    ctx: Context, folder: Path, names: list[str], *, warm: bool = True
) -> tuple[dict[str, Store], dict[str, str]]:
    """Open (and warm up) each named store in `folder`; return the open ones and, for the rest, why not."""
    folder.mkdir(parents=True, exist_ok=True)
    stores: dict[str, Store] = {}
    missing: dict[str, str] = {}
    for name in names:
        try:
            stores[name] = FACTORIES[name](ctx, folder)
        except Unavailable as error:
            missing[name] = str(error)
            continue
        if warm:
            warm_up(stores[name], f"warm-up {folder.name}")
    return stores, missing


def close_all(stores: dict[str, Any]) -> None:
    for store in stores.values():
        store.close()
