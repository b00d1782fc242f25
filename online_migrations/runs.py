"""Runs as the operator sees them: those in flight, whether their process is alive, and what
dead ones left behind (for `online_migration status` and `cleanup`)."""

from dataclasses import dataclass
from datetime import datetime

from . import names
from .checkpoint import IN_FLIGHT, TABLE
from .run_lock import lock_name
from .session import Session


@dataclass(frozen=True)
class Run:
    table: str
    state: str
    rows_copied: int
    rows_estimate: int
    started_at: datetime
    updated_at: datetime
    holder: int | None
    """Server connection of the live process running it; None when its process is gone."""


@dataclass(frozen=True)
class Leftover:
    table: str
    objects: tuple[str, ...]
    """Our triggers on the table and its shadow table, as found."""
    state: str | None
    """The state of the dead run that left them, when its checkpoint says."""


def runs_in_flight(session: Session) -> list[Run]:
    rows = session.rows(
        f"SELECT table_name, state, rows_copied, rows_estimate, started_at, updated_at FROM {TABLE}"
        f" WHERE database_alias = %s AND state IN ({', '.join(['%s'] * len(IN_FLIGHT))}) ORDER BY id",
        [session.alias, *IN_FLIGHT],
    )
    return [Run(*row, holder=_holder(session, row[0])) for row in rows]


def leftovers(session: Session) -> list[Leftover]:
    """Shadow tables and triggers of runs whose process is gone, and those runs' checkpoints."""
    runs = runs_in_flight(session)
    alive = {run.table for run in runs if run.holder is not None}
    dead = {run.table: run.state for run in runs if run.holder is None}
    tables = {name for name, _kind in session.rows("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'")}
    triggers = {name for (name,) in session.rows(
        "SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()")}
    found = []
    for table in sorted((tables | set(dead)) - alive):
        objects = [name for name in names.triggers(table) if name in triggers]
        objects += [names.shadow_table(table)] if names.shadow_table(table) in tables else []
        if objects or table in dead:
            found.append(Leftover(table, tuple(objects), dead.get(table)))
    return found


def _holder(session: Session, table: str) -> int | None:
    return session.value("SELECT IS_USED_LOCK(%s)", [lock_name(session.database, table)])
