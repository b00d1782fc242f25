"""Checks, during a run, that nobody else changed what the run relies on.

Someone else's ALTER on the original table, or a dropped trigger, would make the shadow table
silently wrong: the triggers and the copy were built for the definitions seen at the start.
The definitions are compared now and then during the copy and once more before the swap. The
original's is compared with the one the run's plan was made for, which the checkpoint keeps:
a step in another process (`rename`, a resumed copy) would otherwise take whatever it finds,
and a column added between `run` and `rename` be swapped away unnoticed, its data dropped
with the original table.
"""

import logging

from .errors import OnlineMigrationError
from .plan import Plan, describe
from .session import ER_SPECIFIC_ACCESS_DENIED, Session
from .sql import quote_name
from .triggers import missing_triggers

logger = logging.getLogger("online_migrations")


class TableAltered(OnlineMigrationError):
    """Someone else changed a table of the run or dropped one of its triggers (see engine._check)."""


class Guard:
    def __init__(self, session: Session, plan: Plan):
        """`plan`: the run's plan as started; the original table's definition then, when the
        plan does not say (an older checkpoint), is the one seen now."""
        self.session = session
        self.plan = plan
        self._seen = {
            plan.table: plan.original_definition or describe(session, plan.table).digest(),
            plan.shadow: describe(session, plan.shadow).digest(),
        }

    def check(self) -> None:
        missing = missing_triggers(self.session, self.plan.table)
        if missing:
            raise TableAltered(
                f"The triggers {', '.join(map(quote_name, missing))} of {quote_name(self.plan.table)} were dropped "
                f"by someone else during the run, so {quote_name(self.plan.shadow)} misses changes."
            )
        for name, seen in self._seen.items():
            if describe(self.session, name).digest() != seen:
                raise _altered(name, self.plan)


def check_original(session: Session, plan: Plan) -> None:
    """The original table is still the one `plan` was made for (a plan from an older
    checkpoint does not say, and is taken as it is)."""
    if plan.original_definition is not None and describe(session, plan.table).digest() != plan.original_definition:
        raise _altered(plan.table, plan)


def _altered(name: str, plan: Plan) -> TableAltered:
    return TableAltered(
        f"{quote_name(name)} was altered by someone else during the online migration of {quote_name(plan.table)}: "
        "the copy and the triggers were built for its earlier definition."
    )


def report_long_transactions(session: Session, table: str, older_than: float, waiting: str = "our DDL") -> None:
    """Warn about open transactions that may hold `table`'s metadata lock, or locks the copy
    waits for (`waiting`): those of connections using the same database (the server cannot
    say which tables a transaction has touched without performance_schema).

    Our next DDL needs that lock and will wait for them (a few seconds at a time, giving way
    in between); naming them up front tells the operator whom to ask or what to kill.
    """
    # The server shows trx_started in its system time zone, whatever the session's.
    age = "TIMESTAMPDIFF(SECOND, t.trx_started, CONVERT_TZ(NOW(), @@session.time_zone, 'SYSTEM'))"
    try:
        rows = session.rows(
            f"SELECT t.trx_mysql_thread_id, p.USER, p.HOST, {age}, t.trx_query"
            " FROM information_schema.INNODB_TRX t JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id"
            f" WHERE {age} >= %s AND t.trx_mysql_thread_id <> CONNECTION_ID()"
            " AND p.DB = DATABASE()",
            [older_than],
        )
    except session.connection.OperationalError as error:
        if error.args[0] != ER_SPECIFIC_ACCESS_DENIED:
            raise
        logger.info("%s: without the PROCESS privilege the transactions that may hold up our DDL cannot be named",
                    quote_name(table))
        return
    for thread, user, host, seconds, query in rows:
        logger.warning(
            "%s: connection %s (%s@%s) has had a transaction open for %ss (now running: %s); if it touched "
            "the table, %s waits for it", quote_name(table), thread, user, host, seconds, query or "nothing", waiting,
        )
