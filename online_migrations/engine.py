"""The seed's interface: change a table's schema online, in the steps users call one by one.

    change_table()     shadow table, its indexes, triggers, then the copy
    restart_copy()     copy a key range again after a failure
    finish_migration() the swap
    abort_migration()  throw a run away, leaving the original table as it was

and the same steps in one call, `alter_online()`, for callers that build the shadow table
themselves (Django's schema editor, in the migration operations).
"""

import logging
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Mapping, Sequence

from .chunker import Chunker, ChunkSizer
from .copier import CopyStatement, copy_chunk
from .cutover import swap
from .errors import OnlineMigrationError
from .guard import Guard, report_long_transactions
from .names import shadow_table
from .options import Options
from .plan import Plan, check_can_start, describe, estimated_rows, plan_change, plan_existing, plan_shadow
from .progress import Progress
from .run_lock import exclusive_run
from .session import Session
from .sql import quote_name
from .triggers import create_triggers, drop_triggers

logger = logging.getLogger("online_migrations")


@contextmanager
def _run(alias: str, table: str, opts: Options) -> Iterator[Session]:
    """The run's own connection, holding the table's run lock for as long as it lives."""
    with Session(alias, opts.lock_wait_timeout) as session, exclusive_run(session, table):
        yield session


def change_table(
    alias: str,
    table: str,
    dest_table_sql: str,
    dest_indexes: Sequence[str],
    origin_columns: Sequence[str],
    dest_columns: Sequence[str],
    renames: Mapping[str, str] | None = None,
    start: Any = None,
    limit: Any = None,
    **options: Any,
) -> None:
    """Create the shadow table with the new schema, keep it in sync with triggers, and copy the
    rows (all of them, or the key range `start`..`limit`). The swap is `finish_migration`."""
    opts = Options.from_kwargs(f"change_table({table!r})", **options)
    with _run(alias, table, opts) as session:
        plan, ddl = plan_change(session, table, dest_table_sql, dest_indexes, origin_columns, dest_columns, renames)
        bounds = _key_value(plan, start, "start"), _key_value(plan, limit, "limit")

        def create_shadow() -> Plan:
            for sql in ddl:
                session.ddl(sql, what=f"creating {quote_name(plan.shadow)}", retries=opts.ddl_retries)
            return plan

        _build(session, table, create_shadow, opts)
        _copy(session, plan, opts, *bounds)


def alter_online(
    alias: str,
    table: str,
    build_shadow: Callable[[str], None],
    origin_columns: Sequence[str],
    dest_columns: Sequence[str],
    renames: Mapping[str, str] | None = None,
    *,
    swap_tables: bool = True,
    **options: Any,
) -> None:
    """A whole online change of `table`: checks, then `build_shadow(shadow_name)` creates the
    shadow table with the new schema (on any connection), then triggers, copy and swap.
    If the shadow table does not fit the column lists, it is dropped again and nothing else
    has changed."""
    opts = Options.from_kwargs(f"alter_online({table!r})", **options)
    with _run(alias, table, opts) as session:
        check_can_start(session, describe(session, table))

        def create_shadow() -> Plan:
            build_shadow(shadow_table(table))
            return plan_shadow(session, table, origin_columns, dest_columns, renames)

        plan = _build(session, table, create_shadow, opts)
        _copy(session, plan, opts, None, None)
        if swap_tables:
            swap(session, table, keep_old_table=opts.keep_old_table, retries=opts.ddl_retries)


def restart_copy(
    alias: str,
    table: str,
    origin_columns: Sequence[str],
    dest_columns: Sequence[str],
    start: Any = None,
    limit: Any = None,
    renames: Mapping[str, str] | None = None,
    **options: Any,
) -> None:
    """Copy the key range `start`..`limit` (default: the whole table) into the shadow table of
    an unfinished run again. Rows already there are kept: the triggers wrote them."""
    opts = Options.from_kwargs(f"restart_copy({table!r})", **options)
    with _run(alias, table, opts) as session:
        plan = plan_existing(session, table, origin_columns, dest_columns, renames)
        _copy(session, plan, opts, _key_value(plan, start, "start"), _key_value(plan, limit, "limit"))


def finish_migration(alias: str, table: str, **options: Any) -> None:
    """Swap the shadow table in, drop the triggers and (unless `keep_old_table`) the old table."""
    opts = Options.from_kwargs(f"finish_migration({table!r})", **options)
    with _run(alias, table, opts) as session:
        swap(session, table, keep_old_table=opts.keep_old_table, retries=opts.ddl_retries)


def abort_migration(alias: str, table: str, **options: Any) -> None:
    """Drop the triggers and the shadow table of an unfinished run; the table is left as it was."""
    opts = Options.from_kwargs(f"abort_migration({table!r})", **options)
    with _run(alias, table, opts) as session:
        _discard(session, table, opts)
        logger.info("%s: run aborted; triggers and shadow table dropped", quote_name(table))


def _build(session: Session, table: str, create_shadow: Callable[[], Plan], opts: Options) -> Plan:
    """Shadow table, then triggers; on any failure, whatever was built is dropped again."""
    try:
        logger.info("%s: creating the shadow table %s", quote_name(table), quote_name(shadow_table(table)))
        plan = create_shadow()
        report_long_transactions(session, table, opts.lock_wait_timeout)
        create_triggers(session, plan.table, plan.shadow, plan.mapping, plan.key, opts.ddl_retries)
        return plan
    except BaseException:
        logger.error("%s: setting up failed; dropping what was created", quote_name(table))
        _discard(session, table, opts)
        raise


def _discard(session: Session, table: str, opts: Options) -> None:
    """Triggers first: once the shadow table is gone, a trigger left behind would make every
    write to the table fail."""
    drop_triggers(session, table, opts.ddl_retries)
    session.ddl(
        f"DROP TABLE IF EXISTS {quote_name(shadow_table(table))}",
        what=f"dropping {quote_name(shadow_table(table))}",
        retries=opts.ddl_retries,
    )


def _copy(session: Session, plan: Plan, opts: Options, start: tuple | None, limit: tuple | None) -> None:
    """Walk the key range chunk by chunk. Each chunk is sized to take about `chunk_time`."""
    chunker = Chunker(session, plan.table, plan.key, start, limit)
    sizer = ChunkSizer(opts.chunk_size, opts.chunk_time)
    statement = CopyStatement(plan.table, plan.shadow, plan.mapping, plan.key, plan.shadow_key)
    progress = Progress(plan.table, estimated_rows(session, plan.table), opts.progress_interval)
    guard = Guard(session, plan)
    last_guard = time.monotonic()
    logger.info("%s: copying rows into %s", quote_name(plan.table), quote_name(plan.shadow))
    while (chunk := chunker.next(sizer.size)) is not None:
        started = time.monotonic()
        try:
            rows = copy_chunk(session, statement, chunk, opts.copy_retries)
        except session.connection.Error as error:
            raise OnlineMigrationError(
                f"Copying {quote_name(plan.table)} failed in the chunk after key {chunk.lower} (up to "
                f"{chunk.upper}): {error}. Rows up to {chunk.lower} are copied and the triggers are still in "
                "place; continue with restart_copy(..., start=<that key>) (`online_migration <app> restart "
                "<migration> --start ...`) or throw the run away with abort_migration()."
            ) from error
        sizer.record(rows, time.monotonic() - started)
        progress.add(rows)
        if time.monotonic() - last_guard >= opts.progress_interval:
            guard.check()
            last_guard = time.monotonic()
        if opts.throttle:
            time.sleep(opts.throttle)
    guard.check()
    logger.info("%s", progress.summary({"for locks": session.waited}))


def _key_value(plan: Plan, value: Any, label: str) -> tuple | None:
    """A key value given by the user: a scalar for a one-column key, a sequence otherwise."""
    if value is None:
        return None
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,)
    if len(values) != len(plan.key.columns):
        raise OnlineMigrationError(
            f"{label}={value!r} does not fit the key of {quote_name(plan.table)}, which has "
            f"{len(plan.key.columns)} column(s): {', '.join(map(quote_name, plan.key.columns))}. Give one value "
            "per key column."
        )
    return values
