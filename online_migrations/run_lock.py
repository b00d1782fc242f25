"""One run per table: a server-side named lock held by the run's own connection.

GET_LOCK is released by the server when the connection ends, however the process dies, so a
crashed run never blocks the next one, while a second deploy or host starting the same
migration is refused at once.
"""

import hashlib
from contextlib import contextmanager
from typing import Iterator

from .errors import OnlineMigrationError
from .session import Session
from .sql import quote_name


def lock_name(database: str, table: str) -> str:
    """MySQL 8 caps lock names at 64 characters; a digest keeps any table name within it."""
    return "online_migrations:" + hashlib.sha1(f"{database}.{table}".encode()).hexdigest()


@contextmanager
def exclusive_run(session: Session, table: str) -> Iterator[None]:
    acquire(session, table)
    try:
        yield
    finally:
        try:
            session.value("SELECT RELEASE_LOCK(%s)", [lock_name(session.database, table)])
        except session.connection.Error:
            pass  # a lost connection took the lock with it


def acquire(session: Session, table: str) -> None:
    """Take the table's run lock on the session's connection, or say who holds it."""
    name = lock_name(session.database, table)
    if session.value("SELECT GET_LOCK(%s, 0)", [name]) != 1:
        holder = session.value("SELECT IS_USED_LOCK(%s)", [name])
        raise OnlineMigrationError(
            f"Another online migration of {quote_name(table)} is running (server connection {holder} holds "
            f"its lock). Only one run per table is allowed; wait for it to end, or stop it (KILL {holder}) "
            "and resume."
        )
