"""The swap: the shadow table takes the original's place in one atomic RENAME TABLE.

Both renames happen under one metadata lock, so every query sees either the old table or the
new one, never neither. The triggers travel with the original table to its new name and are
dropped right after; nothing writes there any more.
"""

import logging
import time
from typing import Mapping

from . import names
from .errors import OnlineMigrationError
from .foreign_keys import drop_foreign_keys, repoint_children
from .guard import report_long_transactions
from .plan import describe
from .session import ER_LOCK_WAIT_TIMEOUT, Session
from .sql import quote_name
from .triggers import drop_triggers, missing_triggers

logger = logging.getLogger("online_migrations")


def swap(session: Session, table: str, *, retries: int, renamed: Mapping[str, str]) -> float:
    """The RENAME itself, after checking that the shadow table can be trusted; returns the
    seconds it took (while it runs, the application's queries on the table wait). `renamed`:
    the new names of the original's columns (foreign keys that reference them follow)."""
    shadow, old = names.shadow_table(table), names.old_table(table)
    _check_ready(session, table, shadow, old)
    try:
        _carry_auto_increment(session, table, shadow, retries)
        report_long_transactions(session, table, session.lock_wait_timeout)
        repoint_children(session, table, shadow, retries=retries, renamed=renamed)
        started = time.monotonic()
        session.ddl(swap_sql(table), what=f"swapping {quote_name(table)} and {quote_name(shadow)}", retries=retries)
    except session.connection.OperationalError as error:
        if error.args[0] != ER_LOCK_WAIT_TIMEOUT:
            raise
        report_long_transactions(session, table, session.lock_wait_timeout)
        raise OnlineMigrationError(
            f"{quote_name(table)}: the swap {session.never_locked(retries)} (or that of a table referencing it), so "
            "the tables were not swapped; the triggers keep the new table in step. A transaction kept the table open "
            "meanwhile (see the warnings above): run the swap again once it has ended (`online_migration <app> "
            "rename`, or the migration), or end it."
        ) from error
    seconds = time.monotonic() - started
    logger.info("%s: swapped in the new table (the rename took %.3fs)", quote_name(table), seconds)
    return seconds


def was_swapped(session: Session, table: str) -> bool:
    """Whether the RENAME of an interrupted run went through: the shadow is gone, the old
    table is there."""
    return not session.table_exists(names.shadow_table(table)) and session.table_exists(names.old_table(table))


def clean_up_after_swap(session: Session, table: str, *, keep_old_table: bool, retries: int,
                        renamed: Mapping[str, str]) -> None:
    """First the child tables' foreign keys, which followed the original to its new name: until
    they point at the new table, inserts into a child are checked against the old one. Every
    step can be redone after an interruption."""
    # Only a swap made without the step above (by hand, say) leaves children on the old table.
    repoint_children(session, names.old_table(table), table, retries=retries, renamed=renamed)
    drop_triggers(session, table, retries)
    old = names.old_table(table)
    if keep_old_table:
        drop_foreign_keys(session, old, retries=retries)
        logger.info("%s: the original table is kept as %s, without foreign keys (they would hold back the "
                    "deletes of the rows they reference)", quote_name(table), quote_name(old))
    else:
        session.ddl(f"DROP TABLE IF EXISTS {quote_name(old)}", what=f"dropping {quote_name(old)}", retries=retries)
        logger.info("%s: dropped the original table", quote_name(table))


def swap_sql(table: str) -> str:
    shadow, old = names.shadow_table(table), names.old_table(table)
    return f"RENAME TABLE {quote_name(table)} TO {quote_name(old)}, {quote_name(shadow)} TO {quote_name(table)}"


def _check_ready(session: Session, table: str, shadow: str, old: str) -> None:
    if not session.table_exists(shadow):
        raise OnlineMigrationError(
            f"There is no shadow table {quote_name(shadow)} to swap with {quote_name(table)}: the migration "
            "was never run, or was already swapped or aborted. Run it first (`online_migration <app> run`)."
        )
    missing = missing_triggers(session, table)
    if missing:
        raise OnlineMigrationError(
            f"Refusing to swap {quote_name(table)}: the triggers {', '.join(map(quote_name, missing))} are gone, "
            f"so {quote_name(shadow)} may lack changes made since. Throw it away with abort_migration() and "
            "run the migration again."
        )
    if session.table_exists(old):
        raise OnlineMigrationError(
            f"Refusing to swap {quote_name(table)}: {quote_name(old)} exists (kept by an earlier run). Drop or "
            "rename it, then swap again."
        )


def _carry_auto_increment(session: Session, table: str, shadow: str, retries: int) -> None:
    """Give the new table the original's AUTO_INCREMENT counter, so that the ids of rows deleted
    from the top of the table are not handed out again after the swap. SHOW CREATE TABLE has
    the live counter; MySQL 8's information_schema may serve a cached one."""
    counter = describe(session, table).options.get("AUTO_INCREMENT")
    if counter:
        session.ddl(
            f"ALTER TABLE {quote_name(shadow)} AUTO_INCREMENT = {int(counter)}, ALGORITHM=INPLACE",
            what=f"setting the AUTO_INCREMENT of {quote_name(shadow)}",
            retries=retries,
        )
