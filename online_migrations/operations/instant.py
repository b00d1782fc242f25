"""The instant path: a change the server can make with ALGORITHM=INSTANT (adding a column,
renaming or dropping one, on the versions that allow it) changes only the table's metadata,
so it is made that way instead of copying the table.

Whether the server can depends on the table's structure (row format, earlier instant
changes, full-text indexes, version), not on its rows. So the change is tried on two empty
copies of the table (`CREATE TABLE ... LIKE`), which are dropped again:

1. the wrapped operations run on the first one through the same redirecting schema editor
   the copy path uses, and the statements they run are kept;
2. those statements, combined into **one** `ALTER TABLE ..., ALGORITHM=INSTANT`, run on the
   second one; the server accepts or refuses it, and both copies must come out the same.

One statement, because the server applies one ALTER TABLE entirely or not at all: a refusal
or a lock timeout on the real table leaves it as it was, where a second statement failing
after a first one succeeded would leave it half changed. The defaults Django drops again
after adding a column are dropped afterwards, as on the copy path (metadata-only too).

On the real table the statement keeps `ALGORITHM=INSTANT`, so the server refuses rather than
silently copying, and it runs like our other DDL: a short lock_wait_timeout, giving way and
retrying. These are the choices gh-ost (`--attempt-instant-ddl`) and spirit make too.
"""

import logging
from dataclasses import dataclass

from django.db import DatabaseError

from ..describe import describe_table, show_create_table
from ..errors import OnlineMigrationError
from ..guard import report_long_transactions
from ..names import instant_probes
from ..options import Options
from ..run_lock import exclusive_run
from ..session import CONNECTION_LOST, ER_LOCK_WAIT_TIMEOUT, Session
from ..sql import quote_name
from . import shadow as mysql

logger = logging.getLogger("online_migrations")

INSTANT = "ALGORITHM=INSTANT"


@dataclass(frozen=True)
class Path:
    """How an online operation changes its table, and why."""

    instant: bool
    reason: str
    statement: str | None = None
    """The one `ALTER TABLE ..., ALGORITHM=INSTANT` (None on the copy path, or when the
    operations run no DDL at all)."""
    dropped_defaults: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{'instant' if self.instant else 'online copy'} ({self.reason})"

    def plan_sql(self) -> list[str]:
        """The instant path's statements, for `sqlmigrate`."""
        sql = [self.statement + ";"] if self.statement else []
        if self.dropped_defaults:
            sql += ["-- Then the defaults new columns had for the existing rows go, as after plain migrations:",
                    *self.dropped_defaults]
        return sql


def choose(connection, table: str, app_label: str, calls, opts: Options) -> Path:
    """The path for the wrapped operations' `calls` ((database_forwards or _backwards, state
    before, state after), as the copy path runs them), decided on empty copies of `table`."""
    if not opts.instant:
        return Path(False, "instant=False turns the instant path off")
    probes = instant_probes(table)
    try:
        return _try(connection, table, app_label, calls, *probes)
    except DatabaseError as error:
        return Path(False, f"the change could not be tried on an empty copy of the table: {_message(error)}")
    finally:
        with connection.cursor() as cursor:
            for probe in probes:
                cursor.execute(f"DROP TABLE IF EXISTS {quote_name(probe)}")


def _try(connection, table: str, app_label: str, calls, one_by_one: str, combined: str) -> Path:
    """Django's statements on one empty copy, their combination with ALGORITHM=INSTANT on the
    other: the server's answer, and the two copies being alike, decide."""
    with connection.cursor() as cursor:
        foreign_key_columns = {c for fk in describe_table(cursor, table).foreign_keys for c in fk.columns}
        for probe in (one_by_one, combined):
            cursor.execute(f"DROP TABLE IF EXISTS {quote_name(probe)}")
            cursor.execute(f"CREATE TABLE {quote_name(probe)} LIKE {quote_name(table)}")
    editor = _recording_editor(connection, table, one_by_one)
    with editor:
        for call, before, after in calls:
            call(app_label, editor, before, after)
    dropped_defaults = tuple(editor.dropped_defaults)
    if not editor.ran:
        return Path(True, "the operations change nothing in the table", None, dropped_defaults)
    clauses, refusal = _clauses(editor.ran, table, one_by_one)
    if refusal:
        return Path(False, refusal)
    touched = sorted(c for c in foreign_key_columns if quote_name(c) in clauses)
    if touched or "FOREIGN KEY" in clauses.upper():
        return Path(False, "the change touches foreign keys of the table (" + (", ".join(map(quote_name, touched))
                           or "a new one") + "), which the empty copies it is tried on lack")
    with connection.cursor() as cursor:
        try:
            cursor.execute(f"ALTER TABLE {quote_name(combined)} {clauses}, {INSTANT}")
        except DatabaseError as error:
            return Path(False, f"the server cannot make it with {INSTANT}: {_message(error)}")
        if _definition(cursor, combined) != _definition(cursor, one_by_one):
            return Path(False, "in one ALTER TABLE the changes would give another table than Django's statements "
                               "one by one")
    return Path(True, f"the server makes it with {INSTANT}: only the table's metadata changes, no row is copied",
                f"ALTER TABLE {quote_name(table)} {clauses}, {INSTANT}", dropped_defaults)


def _recording_editor(connection, table: str, probe: str):
    """The copy path's redirecting editor, aimed at `probe`, that also keeps every statement it
    runs (`ran`) as text, less the "drop the default" ones it holds back. Its class is made by
    `redirecting_editor`, hence the instance made only to subclass it."""

    class RecordingEditor(type(mysql.redirecting_editor(connection, table, probe))):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.ran: list[str] = []

        def execute(self, sql, params=()):
            held_back = len(self.dropped_defaults)
            super().execute(sql, params)
            if len(self.dropped_defaults) == held_back:
                sql = str(sql)
                self.ran.append(sql if params is None else sql % tuple(mysql.sql_literal(self, p) for p in params))

    return RecordingEditor(connection, atomic=False)


def _clauses(statements: list[str], table: str, probe: str) -> tuple[str, str | None]:
    """The statements' changes as the clauses of one ALTER TABLE, or why they cannot be."""
    prefix = f"ALTER TABLE {quote_name(probe)} "
    clauses = []
    for statement in statements:
        named = statement.replace(quote_name(probe), quote_name(table))
        if not statement.startswith(prefix):
            return "", f"Django runs {named!r}, not an ALTER TABLE of the table, so not part of one instant ALTER"
        clause = statement[len(prefix):].rstrip("; ")
        if quote_name(probe) in clause:
            return "", f"Django's {named!r} names the table inside the change"
        clauses.append(clause)
    return ", ".join(clauses), None


def _definition(cursor, table: str) -> str:
    """SHOW CREATE TABLE without its first line, which names the table."""
    return show_create_table(cursor, table).split("\n", 1)[1]


def _message(error: Exception) -> str:
    return error.args[1] if len(error.args) > 1 else str(error)


def apply(connection, table: str, app_label: str, calls, opts: Options) -> Path | None:
    """Make the change instantly when the server can; the path taken, or None when the table
    must be copied instead. Logs which path is taken and why."""
    path = choose(connection, table, app_label, calls, opts)
    logger.info("%s: path: %s", quote_name(table), path.describe())
    if not path.instant:
        return None
    if path.statement and not _run(path.statement, connection.alias, table, opts):
        return None
    return path


def _run(statement: str, alias: str, table: str, opts: Options) -> bool:
    """The instant ALTER on the table, holding its run lock like a copy run would; False when
    the server refused it after all (the table is then as it was, and is copied instead)."""
    with Session(alias, opts.lock_wait_timeout) as session, exclusive_run(session, table):
        before = _show_create(session, table)
        report_long_transactions(session, table, opts.lock_wait_timeout)
        try:
            with session.application_zone():
                session.ddl(statement, what=f"changing {quote_name(table)} instantly", retries=opts.ddl_retries)
        except session.connection.DatabaseError as error:
            _check_unchanged(session, table, before, statement, error, opts)
            logger.warning("%s: the server refused %s on the table after all (%s); copying it instead",
                           quote_name(table), INSTANT, _message(error))
            return False
    logger.info("%s: changed instantly: %s", quote_name(table), statement)
    return True


def _check_unchanged(session: Session, table: str, before: str, statement: str, error, opts: Options) -> None:
    """After the instant ALTER failed: stop, saying so, unless the table is certainly as it
    was and the failure is one a copy gets around."""
    if error.args[0] == ER_LOCK_WAIT_TIMEOUT:
        raise OnlineMigrationError(
            f"{quote_name(table)}: the instant change {session.never_locked(opts.ddl_retries)}; nothing was changed. "
            "A transaction kept the table open meanwhile (see the warnings above): run the migration again once it "
            "has ended (a copy, with instant=False, needs that lock too, for its triggers and its swap)."
        ) from error
    try:
        if error.args[0] in CONNECTION_LOST:
            session.reconnect()
        unchanged = _show_create(session, table) == before
    except session.connection.Error:
        unchanged = False
    if not unchanged:
        raise OnlineMigrationError(
            f"{quote_name(table)}: the instant change {statement!r} failed ({error}) and the table may have been "
            "changed all the same. Compare SHOW CREATE TABLE with the migration: if the change is there, record "
            "the migration with `migrate --fake`; if not, run the migration again."
        ) from error


def _show_create(session: Session, table: str) -> str:
    with session.connection.cursor() as cursor:
        return show_create_table(cursor, table)
