"""Runs: the steps of an online change, each recorded in the run's checkpoint.

The seed's interface, called one step at a time:

    change_table()     shadow table, its indexes, triggers, then the copy
    restart_copy()     continue the copy (from the checkpoint, or a given key range)
    finish_migration() the swap
    abort_migration()  throw a run away, leaving the original table as it was

and `alter_online()`, all steps in one call for callers that build the shadow table
themselves (the migration operations, with Django's schema editor). Called again after an
interruption, it resumes where the checkpoint says.
"""

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Callable, Iterator, Mapping, Sequence

import django.db
from MySQLdb import DatabaseError

from . import indexes
from .checkpoint import Checkpoint
from .checksum import ALONE, SHARING, still_holds, verify, verify_from_next_second
from .chunker import BUSY_WINDOW, Chunk, Chunker, ChunkSizer, WriteWatch, first_chunk_rows, written_recently
from .copier import CopyStatement, StatementCost, copy_chunk, takes_autoinc_lock
from .cutover import clean_up_after_swap, swap, was_swapped
from .describe import base_type
from .errors import OnlineMigrationError
from .foreign_keys import (
    check_child_tables, check_referenced_columns, hold_actions, references, release_actions, repoint_children,
)
from .guard import Guard, TableAltered, check_original, report_long_transactions
from .lossy import check_data_fits
from .names import shadow_table
from .options import Options
from .plan import Plan, check_can_start, check_data_directory, describe, plan_change, plan_existing, plan_shadow
from .progress import Progress, duration
from .run_lock import acquire, exclusive_run
from .session import CONNECTION_LOST, ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT, Session, backoff
from .throttler import Throttler
from .sql import quote_name
from .triggers import create_triggers, drop_triggers

logger = logging.getLogger("online_migrations")

# The new table cannot grow: "The table is full" (InnoDB's, for a full disk or tablespace),
# "Disk full", and a temporary file of the index build that could not be written.
NO_ROOM = {1114, 1021, 1878}


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
        _forget_stale_run(session, table)
        plan, ddl = plan_change(session, table, dest_table_sql, dest_indexes, origin_columns, dest_columns, renames)
        bounds = _key_value(plan, start, "start"), _key_value(plan, limit, "limit")

        def create_shadow() -> Plan:
            with session.application_zone():
                for sql in ddl:
                    try:
                        session.ddl(sql, what=f"creating {quote_name(plan.shadow)}", retries=opts.ddl_retries)
                    except DatabaseError as error:
                        raise _rejected(session, table, error, sql) from error
            return plan

        run, guard = _build(session, table, create_shadow, opts)
        _copy(session, run, plan, opts, *bounds, guard=guard)


def alter_online(
    alias: str,
    table: str,
    build_shadow: Callable[[str], Sequence[str] | None],
    origin_columns: Sequence[str],
    dest_columns: Sequence[str],
    renames: Mapping[str, str] | None = None,
    *,
    fills: Mapping[str, str] | None = None,
    swap_tables: bool = True,
    **options: Any,
) -> None:
    """A whole online change of `table`: checks, then `build_shadow(shadow_name)` creates the
    shadow table with the new schema (on any connection), and returns the statements to make
    once the new table is in place (see Plan.after_swap), then triggers, copy and swap.
    `fills` maps new columns to the SQL literal their NULLs become (see ColumnMapping).

    If a run of the same change was interrupted, it is resumed from its checkpoint instead;
    one interrupted before any row was copied is thrown away and started again."""
    opts = Options.from_kwargs(f"alter_online({table!r})", **options)
    with _run(alias, table, opts) as session:
        run = _forget_stale_run(session, table)
        if run is not None and run.state == "created":
            logger.warning("%s: an earlier run died while setting up; starting again", quote_name(table))
            _discard(session, table, opts, run)
            run = None
        guard = None
        if run is None:
            check_can_start(session, describe(session, table))

            def create_shadow() -> Plan:
                try:
                    after_swap = tuple(build_shadow(shadow_table(table)) or ())
                except (DatabaseError, django.db.DatabaseError) as error:
                    raise _rejected(session, table, error) from error
                plan = plan_shadow(session, table, origin_columns, dest_columns, renames, fills)
                return replace(plan, after_swap=after_swap)

            run, guard = _build(session, table, create_shadow, opts)
        if run.state in ("triggers", "copying"):
            _check_original(session, run, opts)
            plan = plan_existing(session, table, origin_columns, dest_columns, renames, fills)
            _check_same_change(run, plan)
            _copy(session, run, plan, opts, None, run.limit_key, after=run.last_key, guard=guard)
        if swap_tables:
            if opts.postpone_cutover and run.state == "copied":
                plan = plan_existing(session, table, origin_columns, dest_columns, renames, fills)
                _wait_for_cutover(session, run, plan, opts)
            _finish(session, table, run, opts)


def run_after_swap(session: Session, table: str, statements: Sequence[str], *, retries: int) -> None:
    """The statements a change makes once its new table is in place (Plan.after_swap):
    metadata-only, with our short lock waits, each harmless to make again."""
    for sql in statements:
        try:
            with session.application_zone():
                session.ddl(sql, what=f"finishing the change of {quote_name(table)}", retries=retries)
        except session.connection.DatabaseError as error:
            raise OnlineMigrationError(
                f"The new {quote_name(table)} is in place, but {sql!r} failed: {error}. Run the migration again "
                "(it goes on from here), or run that statement by hand."
            ) from error


def _rejected(session: Session, table: str, error: Exception, sql: str | None = None) -> OnlineMigrationError:
    """The server refused a statement that builds the shadow table (`sql`, when we know it)."""
    message = error.args[-1] if error.args else str(error)
    where = f" in {sql.strip()[:300]!r}" if sql else ""
    hint = ""
    if "errno: 150" in str(message) and any(references(fk, table) for fk in describe(session, table).foreign_keys):
        hint = (f" {quote_name(table)} references itself: during the copy the new table's foreign key to it points "
                "at the original table, so the key it references (and the column that references it) must keep "
                "their type in the new table. Change that type with a plain ALTER TABLE, or drop the constraint "
                "for the migration and add it again afterwards.")
    return OnlineMigrationError(
        f"The server rejects the new schema of {quote_name(table)}: {message}{where}. What was created is dropped "
        f"again; nothing else was changed.{hint}"
    )


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
    """Continue the copy of an unfinished run: from `start` to `limit` when given, otherwise
    from where its checkpoint says. Rows already in the shadow table are kept: the copy never
    overwrites them."""
    opts = Options.from_kwargs(f"restart_copy({table!r})", **options)
    with _run(alias, table, opts) as session:
        run = Checkpoint.find(session, table)
        _check_original(session, run, opts)
        plan = plan_existing(session, table, origin_columns, dest_columns, renames)
        if run is None:  # a run from before checkpoints, or one whose record was lost
            run = Checkpoint.start(session, table, plan.shadow)
            run.advance("triggers", plan=plan)
        _check_same_change(run, plan)
        if start is None and limit is None:
            _copy(session, run, plan, opts, None, run.limit_key, after=run.last_key)
        else:
            _copy(session, run, plan, opts, _key_value(plan, start, "start"), _key_value(plan, limit, "limit"))


def finish_migration(alias: str, table: str, **options: Any) -> None:
    """Swap the shadow table in, drop the triggers and (unless `keep_old_table`) the old table."""
    opts = Options.from_kwargs(f"finish_migration({table!r})", **options)
    with _run(alias, table, opts) as session:
        _finish(session, table, Checkpoint.find(session, table), opts)


def abort_migration(alias: str, table: str, **options: Any) -> None:
    """Drop the triggers and the shadow table of an unfinished run; the table is left as it was."""
    opts = Options.from_kwargs(f"abort_migration({table!r})", **options)
    with _run(alias, table, opts) as session:
        run = Checkpoint.find(session, table)
        if run is not None and run.state == "swapped":
            raise OnlineMigrationError(
                f"The run on {quote_name(table)} has already swapped the tables: the new table is live. Finish "
                "it with finish_migration() (`online_migration <app> rename <migration>`) instead."
            )
        _discard(session, table, opts, run)
        logger.info("%s: run aborted; triggers and shadow table dropped", quote_name(table))


def run_in_flight(alias: str, table: str) -> str | None:
    """The state of the unfinished run on `table`, if there is one."""
    with Session(alias, Options.lock_wait_timeout) as session:
        run = Checkpoint.find(session, table)
        return run.state if run else None


@contextmanager
def _run(alias: str, table: str, opts: Options) -> Iterator[Session]:
    """The run's own connection, holding the table's run lock for as long as it lives."""
    with Session(alias, opts.lock_wait_timeout) as session, exclusive_run(session, table):
        yield session


def _forget_stale_run(session: Session, table: str) -> Checkpoint | None:
    """The run in flight, unless its shadow table and triggers are gone (removed by hand) and
    no swap happened: then its record says nothing true any more and it is closed as aborted."""
    run = Checkpoint.find(session, table)
    if run is None or session.table_exists(shadow_table(table)) or session.triggers_on(table):
        return run
    if run.state in ("copied", "swapped") and was_swapped(session, table):
        return run
    logger.warning("%s: the checkpoint of run %d has no shadow table any more; closing it", quote_name(table), run.id)
    run.advance("aborted")
    return None


def _build(session: Session, table: str, create_shadow: Callable[[], Plan], opts: Options) -> tuple[Checkpoint, Guard]:
    """Shadow table, then triggers; on any failure, whatever was built is dropped again. The
    guard notes both tables' definitions before the triggers go in: a change by someone else
    from then on stops the run."""
    check_child_tables(session, table, opts.max_child_rows)
    run = Checkpoint.start(session, table, shadow_table(table))
    try:
        logger.info("%s: creating the shadow table %s", quote_name(table), quote_name(shadow_table(table)))
        plan = create_shadow()
        original, new = describe(session, table), describe(session, plan.shadow)
        check_referenced_columns(session, original, new, dict(plan.mapping.pairs))
        check_data_directory(original, new)
        check_data_fits(session, plan, original, new)
        held = hold_actions(session, original, new, dict(plan.mapping.pairs), retries=opts.ddl_retries)
        plan = replace(plan, held_foreign_keys=held)
        deferred = indexes.defer(session, plan.shadow, opts.ddl_retries) if opts.defer_indexes else []
        guard = Guard(session, plan)
        report_long_transactions(session, table, opts.lock_wait_timeout)
        create_triggers(session, plan.table, plan.shadow, plan.mapping, plan.key, opts.ddl_retries)
        run.advance("triggers", plan=plan, deferred_indexes=deferred)
        return run, guard
    except BaseException as error:
        logger.error("%s: setting up failed; dropping what was created", quote_name(table))
        _discard(session, table, opts, run)
        if isinstance(error, DatabaseError) and error.args[0] == ER_LOCK_WAIT_TIMEOUT:
            report_long_transactions(session, table, opts.lock_wait_timeout)
            raise OnlineMigrationError(
                f"{quote_name(table)}: creating the triggers {session.never_locked(opts.ddl_retries)}; nothing was "
                "changed. A transaction kept the table open meanwhile (see the warnings above): run the migration "
                "again once it has ended, or end it."
            ) from error
        raise


def _renamed(run: Checkpoint | None) -> dict[str, str]:
    """Original column -> new column, as the run's plan copies them (none known: same names)."""
    return dict(run.plan.mapping.pairs) if run is not None and run.plan is not None else {}


def _discard(session: Session, table: str, opts: Options, run: Checkpoint | None) -> None:
    """Triggers first: once the shadow table is gone, a trigger left behind would make every
    write to the table fail."""
    drop_triggers(session, table, opts.ddl_retries)
    back = {new: old for old, new in _renamed(run).items()}
    repoint_children(session, shadow_table(table), table, retries=opts.ddl_retries, renamed=back)
    session.ddl(
        f"DROP TABLE IF EXISTS {quote_name(shadow_table(table))}",
        what=f"dropping {quote_name(shadow_table(table))}",
        retries=opts.ddl_retries,
    )
    if run is not None:
        run.advance("aborted")


def _copy(
    session: Session, run: Checkpoint, plan: Plan, opts: Options, start: tuple | None, limit: tuple | None,
    *, after: tuple | None = None, guard: Guard | None = None,
) -> None:
    """The copy and the index build, thrown away when the new table cannot grow: the disk (or
    tablespace) is full, and the triggers, which write each of the application's changes to
    the new table too, would make the application's writes fail as well."""
    try:
        _copy_rows(session, run, plan, opts, start, limit, after=after, guard=guard)
    except (OnlineMigrationError, DatabaseError) as error:
        cause = error.__cause__ if isinstance(error, OnlineMigrationError) else error
        if not (isinstance(cause, DatabaseError) and cause.args[0] in NO_ROOM):
            raise
        logger.error("%s: the new table cannot grow (%s); throwing the run away", quote_name(plan.table), cause)
        _discard(session, plan.table, opts, run)
        raise OnlineMigrationError(
            f"Copying {quote_name(plan.table)} stopped: the new table cannot grow ({cause.args[-1]}), the disk or "
            "tablespace that holds it is full. The run was thrown away (triggers and new table dropped, which gives "
            "back the space it took), so that the application's writes, which the triggers also made to the new "
            f"table, do not fail too. The table takes {_size(session, plan.table)}; the new one needs about as "
            "much free space. Make room, then run the migration again."
        ) from cause


def _copy_rows(
    session: Session, run: Checkpoint, plan: Plan, opts: Options, start: tuple | None, limit: tuple | None,
    *, after: tuple | None = None, guard: Guard | None = None,
) -> None:
    """Walk the key range chunk by chunk, each sized to take about `chunk_time` (or
    `busy_chunk_time` while the application writes to the table), recording the last key
    copied after every chunk."""
    whole = start is None and (limit is None or limit == run.limit_key)
    chunker = Chunker(session, plan.table, plan.key, start, limit, after=after)
    estimate = session.estimated_rows(plan.table)
    # The end of the whole table is remembered for a resumed run; a range the user chose is not.
    run.advance("copying", limit_key=chunker.limit if limit is None else None, rows_estimate=estimate)
    # chunk_time 0 keeps the size the user chose.
    first = first_chunk_rows(session, plan.table, opts.chunk_size) if opts.chunk_time else opts.chunk_size
    sizer = ChunkSizer(first, opts.chunk_time, opts.busy_chunk_time)
    writes = WriteWatch(session, plan.table)
    original = describe(session, plan.table)
    key_types = {base_type(original.column(c).type) for c in plan.key.columns}
    statement = CopyStatement(
        plan.table, plan.shadow, plan.mapping, plan.key, plan.shadow_key, takes_autoinc_lock(session, plan.shadow),
        application_zone="timestamp" not in key_types, dense_key=chunker.dense,
        cost=StatementCost(opts.busy_statement_time),
    )
    if statement.autoinc_lock and not chunker.done:
        logger.info(
            "%s: innodb_autoinc_lock_mode is below 2, so every INSERT ... SELECT of the copy holds the AUTO-INC "
            "lock of %s and the application's inserts wait for it (while they come, chunks are copied "
            "by statements of about %g ms to keep that short); innodb_autoinc_lock_mode=2 (safe with "
            "binlog_format=ROW) takes that wait away",
            quote_name(plan.table), quote_name(plan.shadow), opts.busy_statement_time * 1000,
        )
    progress = Progress(plan.table, estimate - run.rows_copied, opts.progress_interval)
    guard = guard or Guard(session, run.plan or plan)
    _check(session, run, opts, guard.check)  # a resumed run's tables may have changed meanwhile
    last_guard = time.monotonic()
    logger.info(
        "%s: copying rows into %s%s (%s)", quote_name(plan.table), quote_name(plan.shadow),
        f", resuming after key {after}" if after is not None else "", _space_needed(session, plan.table),
    )
    with Throttler(
        session, max_load=opts.max_load, critical_load=opts.critical_load, max_lag=opts.max_lag,
        replicas=opts.replicas, check_interval=opts.check_interval, table=plan.table,
        unknown_lag_timeout=opts.unknown_lag_timeout,
    ) as throttler:
        while (chunk := _reconnecting(session, plan, opts, lambda: chunker.next(sizer.size))) is not None:
            _reconnecting(session, plan, opts, throttler.wait)
            started = time.monotonic()
            rows = _reconnecting(session, plan, opts, lambda: _copy_chunk(
                session, statement, chunk, opts, busy=sizer.busy,
            ))
            elapsed = time.monotonic() - started
            was_busy = sizer.busy
            busy = sizer.watches_writes and _reconnecting(session, plan, opts, writes.busy)
            sizer.record(rows, elapsed, busy)
            if sizer.busy != was_busy:
                _log_pace(plan, opts, sizer.busy)
            _reconnecting(session, plan, opts, lambda: run.copied(chunk.upper, rows))
            progress.add(rows)
            if time.monotonic() - last_guard >= opts.progress_interval:
                _check(session, run, opts, guard.check)
                last_guard = time.monotonic()
            if opts.throttle:
                time.sleep(opts.throttle)
    _check(session, run, opts, guard.check)
    progress.finish({"for locks": session.waited, **throttler.throttled_seconds})
    if whole and opts.verify and run.deferred_indexes and not sizer.busy:
        _build_and_verify(session, run, plan, opts)
    else:
        _build_indexes(session, run, opts)
    run.advance("copied")


def _copy_chunk(session: Session, statement: CopyStatement, chunk: Chunk, opts: Options, busy: bool) -> int:
    """copy_chunk; when rows the application keeps locked outlast its retries, the error
    names the transactions open longest, the likely holders."""
    try:
        return copy_chunk(session, statement, chunk, opts.copy_retries, busy=busy)
    except session.connection.OperationalError as error:
        if error.args[0] not in (ER_LOCK_WAIT_TIMEOUT, ER_LOCK_DEADLOCK):
            raise
        report_long_transactions(session, statement.table, session.lock_wait_timeout, waiting="the copy")
        what = ("waited for locks the application's transactions hold (on the table's rows, or on the new table's, "
                "which the triggers write for them)") if error.args[0] == ER_LOCK_WAIT_TIMEOUT \
            else "ran into deadlocks with the application"
        raise OnlineMigrationError(
            f"Copying {quote_name(statement.table)} stopped: the chunk of keys "
            f"{'from the first' if chunk.lower is None else f'after {chunk.lower}'} up to {chunk.upper} {what} "
            f"{opts.copy_retries + 1} times (see the warnings above for the transactions "
            "open longest). Nothing is lost: the checkpoint holds the last key copied and the triggers keep the "
            "new table in step. Run the migration again once that transaction has ended (or end it), or give the "
            "copy more tries (copy_retries)."
        ) from error


def _size(session: Session, table: str) -> str:
    """The table's data and indexes (see Session.table_size)."""
    size = session.table_size(table)
    return _bytes(size.data + size.index)


def _space_needed(session: Session, table: str) -> str:
    """For the log as the copy starts. Every row the copy writes goes to the binary log too
    (in full, unless binlog_format is STATEMENT), where it stays until the logs are purged: a
    disk filled by binary logs stops every write of the server, not only ours."""
    size = session.table_size(table)
    needed = f"the table takes {_bytes(size.data + size.index)}: the new one needs about as much free space"
    log_bin, binlog_format = session.rows("SELECT @@log_bin, @@binlog_format")[0]
    if log_bin and binlog_format != "STATEMENT":
        needed += f", and the binary logs about {_bytes(size.data)} more until they are purged (binlog_format={binlog_format})"
    return needed


def _bytes(size: int) -> str:
    return f"{size / 2**30:.1f} GiB" if size >= 2**30 else f"{size / 2**20:.0f} MiB"


def _log_pace(plan: Plan, opts: Options, busy: bool) -> None:
    if busy:
        logger.info("%s: the application writes to the table: chunks of %gs, by statements of about %g ms each "
                    "committed on its own, so that its writes wait for one statement at most",
                    quote_name(plan.table), opts.busy_chunk_time, opts.busy_statement_time * 1000)
    else:
        logger.info("%s: no writes to the table for %ds: chunks of %gs", quote_name(plan.table), BUSY_WINDOW,
                    opts.chunk_time)


def _build_indexes(session: Session, run: Checkpoint, opts: Options) -> None:
    """The secondary indexes deferred until the rows are in (also after an interruption)."""
    if not run.deferred_indexes:
        return
    started = time.monotonic()
    shadow = shadow_table(run.table)
    indexes.build(session, shadow, run.deferred_indexes, opts.ddl_retries)
    run.advance(run.state, deferred_indexes=[])
    logger.info("%s: built the secondary indexes of %s (%.1fs)", quote_name(run.table), quote_name(shadow),
                time.monotonic() - started)


def _build_and_verify(session: Session, run: Checkpoint, plan: Plan, opts: Options) -> None:
    """While nothing writes to the table, verify the copy on a connection of its own during
    the index build, which works one core of the server for minutes on a big table. The swap
    takes that verification for its own if neither table has changed since it began;
    otherwise it verifies again. A build over before the verification could begin (a small
    table) leaves it to the swap."""
    logger.info("%s: verifying the new table while its indexes are built", quote_name(plan.table))
    built, failed = threading.Event(), threading.Event()
    with ThreadPoolExecutor(1) as pool:
        verifying = pool.submit(_verify_on_own_connection, session, plan, built, failed)
        try:
            _build_indexes(session, run, opts)
        except BaseException:
            failed.set()
            raise
        finally:
            built.set()
        verified = verifying.result()
    if verified is None:
        logger.info("%s: the indexes were built before the verification began; it is done before the swap",
                    quote_name(plan.table))
    else:
        seconds, marks = verified
        run.record_verification({**marks, "seconds": round(seconds, 3)})


def _verify_on_own_connection(
    session: Session, plan: Plan, built: threading.Event, failed: threading.Event,
) -> tuple[float, dict] | None:
    with Session(session.alias, session.lock_wait_timeout) as own:
        return verify_from_next_second(own, plan, built, failed)


def _reconnecting(session: Session, plan: Plan, opts: Options, step: Callable[[], Any]) -> Any:
    """One step of the copy; when the connection is lost (the server restarted, or killed
    our session), connect again with backoff, take the run lock back, and redo the step.
    Every step can be redone: a chunk copied twice changes nothing."""
    for attempt in range(opts.reconnect_retries + 1):
        try:
            return step()
        except session.connection.OperationalError as error:
            if error.args[0] not in CONNECTION_LOST or attempt == opts.reconnect_retries:
                raise OnlineMigrationError(
                    f"Copying {quote_name(plan.table)} stopped: {error}. The checkpoint holds the last key copied "
                    "and the triggers are still in place: run the same migration again to resume, or throw the "
                    "run away with abort_migration()."
                ) from error
            pause = backoff(attempt + 3)
            logger.warning("%s: lost the connection (%s); reconnecting in %.1fs", quote_name(plan.table), error, pause)
            time.sleep(pause)
            try:
                session.reconnect()
                acquire(session, plan.table)
            except session.connection.OperationalError as again:
                logger.warning("%s: reconnecting failed: %s", quote_name(plan.table), again)
    raise AssertionError("the loop returns or raises")


def _finish(session: Session, table: str, run: Checkpoint | None, opts: Options) -> None:
    """The swap and the cleanup after it; either may have happened already in a run that was
    interrupted, and is then not done again."""
    verified = swapped = None
    if run is None or run.state != "swapped":
        if not (run is not None and was_swapped(session, table)):
            if run is not None:
                _check_original(session, run, opts)  # maybe in another process than the copy's
                _build_indexes(session, run, opts)
            verified = _verify(session, table, run, opts)
            swapped = swap(session, table, retries=opts.ddl_retries, renamed=_renamed(run))
        if run is None:  # a run from before checkpoints, or one whose record was lost
            run = Checkpoint.start(session, table, shadow_table(table))
        run.advance("swapped")
    clean_up_after_swap(session, table, keep_old_table=opts.keep_old_table, retries=opts.ddl_retries,
                        renamed=_renamed(run))
    release_actions(session, table, run.plan.held_foreign_keys if run.plan else (), retries=opts.ddl_retries)
    run_after_swap(session, table, run.plan.after_swap if run.plan else (), retries=opts.ddl_retries)
    run.advance("done")
    logger.info(
        "%s: done: %s rows read by the copy; %s; %s; %s since the run started",
        quote_name(table), f"{run.rows_copied:,}",
        "not verified" if verified is None else f"verified in {verified:.1f}s",
        "swapped earlier" if swapped is None else f"the swap held writes for {swapped:.3f}s",
        duration(run.age()),
    )


def _verify(session: Session, table: str, run: Checkpoint | None, opts: Options) -> float | None:
    """Seconds the verification took, or None when it was not done (and why is logged)."""
    if not opts.verify:
        logger.warning("%s: swapping without verifying the new table (verify=False)", quote_name(table))
    elif run is None or run.plan is None:
        logger.warning("%s: no checkpoint says what this run copied; swapping without verifying", quote_name(table))
    elif run.verification is not None and still_holds(session, run.plan, run.verification):
        logger.info("%s: verified after the copy (%.1fs), and neither table has changed since %s",
                    quote_name(table), run.verification["seconds"], run.verification["since"])
        return run.verification["seconds"]
    elif written_recently(session, table):
        logger.info("%s: the application writes to the table: verifying on one connection, leaving it the other "
                    "cores", quote_name(table))
        return verify(session, run.plan, SHARING)
    else:
        return verify(session, run.plan, ALONE)
    return None


def _check(session: Session, run: Checkpoint, opts: Options, check: Callable[[], None]) -> None:
    """A guard's check. When someone else has changed the run's tables or triggers, the run is
    thrown away at once: it cannot go on, and triggers written for the tables as they were can
    fail every write of the application meanwhile (one that names a column since dropped)."""
    try:
        check()
    except TableAltered as error:
        logger.error("%s: %s Throwing the run away", quote_name(run.table), error)
        _discard(session, run.table, opts, run)
        raise OnlineMigrationError(
            f"{error} The run was thrown away at once (its triggers and new table dropped), since its triggers "
            f"could fail the application's writes; the tables were not swapped, and {quote_name(run.table)} is as "
            "the other change left it. Run the migration again once no one else changes the table."
        ) from error


def _check_original(session: Session, run: Checkpoint | None, opts: Options) -> None:
    """Before a run goes on in a new process: its table is the one its plan was made for."""
    if run is not None and run.plan is not None:
        _check(session, run, opts, lambda: check_original(session, run.plan))


def _wait_for_cutover(session: Session, run: Checkpoint, plan: Plan, opts: Options) -> None:
    """Keep the copy's connection (and run lock) while the triggers keep the new table in step,
    until someone asks for the swap; the triggers are checked all along."""
    guard = Guard(session, run.plan or plan)
    waited, told = time.monotonic(), 0.0
    while not run.cutover_requested():
        if time.monotonic() - told >= 60:
            told = time.monotonic()
            logger.info(
                "%s: copied; waiting to swap for %s. Run `./manage.py online_migration cutover %s` when ready.",
                quote_name(plan.table), duration(time.monotonic() - waited), plan.table,
            )
        _check(session, run, opts, guard.check)
        time.sleep(opts.check_interval)
    logger.info("%s: cut-over requested", quote_name(plan.table))


def _check_same_change(run: Checkpoint, plan: Plan) -> None:
    if run.plan != plan:
        raise OnlineMigrationError(
            f"The unfinished run on {quote_name(plan.table)} (checkpoint {run.id}) was started for a different "
            "change (other columns, renames or key) than this one, so its shadow table cannot be continued. "
            "Finish or abort that run first (`online_migration abort` or abort_migration())."
        )


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
