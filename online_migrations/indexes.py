"""Secondary indexes built after the copy instead of row by row during it.

Inserting rows in key order into a table that already has its secondary indexes updates each
index at random places, row by row; building an index over a full table sorts once and writes
it in order. The benchmark measured the two new indexes of the seed's change at half the copy
time. So plain indexes are dropped from the shadow table before the copy and added back once
it is done (an online, in-place build: the triggers keep writing meanwhile).

Unique keys stay: a duplicate written during the copy must fail at once, not at the end. So
do indexes a foreign key needs. And only the plain indexes at the end of the table's list are
deferred, so that, added back at the end, they come out in the same order as before.
"""

from .describe import Index, Table
from .errors import OnlineMigrationError
from .plan import describe
from .session import Session
from .sql import quote_name, quote_string

# "Creating index 'x' required more than 'innodb_online_alter_log_max_size' bytes of
# modification log. Please try again"
ER_INNODB_ONLINE_LOG_TOO_BIG = 1799


def deferrable(table: Table) -> list[Index]:
    plain = [index for index in table.indexes if not index.unique and index.kind != "FULLTEXT"]
    needed = [fk.columns for fk in table.foreign_keys]
    tail: list[Index] = []
    for index in reversed(plain):
        if index.kind != "BTREE" or any(index.columns[: len(columns)] == columns for columns in needed):
            break
        tail.insert(0, index)
    return tail


def defer(session: Session, shadow: str, retries: int) -> list[list[str]]:
    """Drop the deferrable indexes of the (still empty) shadow table; returns [name, clause]
    pairs to add them back with."""
    indexes = deferrable(describe(session, shadow))
    if indexes:
        session.ddl(
            f"ALTER TABLE {quote_name(shadow)} " + ", ".join(f"DROP INDEX {quote_name(i.name)}" for i in indexes),
            what=f"deferring the secondary indexes of {quote_name(shadow)}", retries=retries,
        )
    return [[index.name, add_clause(index)] for index in indexes]


def build(session: Session, shadow: str, deferred: list[list[str]], retries: int) -> None:
    """Add back the deferred indexes not there yet, in one in-place ALTER."""
    present = {index.name for index in describe(session, shadow).indexes}
    clauses = [clause for name, clause in deferred if name not in present]
    if not clauses:
        return
    try:
        session.ddl(
            f"ALTER TABLE {quote_name(shadow)} {', '.join(clauses)}, ALGORITHM=INPLACE, LOCK=NONE",
            what=f"building the secondary indexes of {quote_name(shadow)}", retries=retries,
        )
    except session.connection.OperationalError as error:
        if error.args[0] != ER_INNODB_ONLINE_LOG_TOO_BIG:
            raise
        limit = int(session.value("SELECT @@global.innodb_online_alter_log_max_size"))
        raise OnlineMigrationError(
            f"Building the secondary indexes of {quote_name(shadow)} after the copy failed: the application "
            "changed the table more, while they were built, than InnoDB logs for an online index build "
            f"(innodb_online_alter_log_max_size = {limit:,} bytes). Nothing is lost: the copy is done and the "
            "triggers keep the new table in step. Raise the limit (SET GLOBAL innodb_online_alter_log_max_size = "
            f"{4 * limit}, and in the server's configuration) or wait for a quieter hour, then run the migration "
            "again: it goes on with the index build."
        ) from error


def add_clause(index: Index) -> str:
    parts = ", ".join(
        quote_name(part.column) + (f"({part.length})" if part.length else "") + (" DESC" if part.descending else "")
        for part in index.parts
    )
    clause = f"ADD INDEX {quote_name(index.name)} ({parts})"
    if index.using:
        clause += f" USING {index.using}"
    if index.comment is not None:
        clause += f" COMMENT {quote_string(index.comment)}"
    return clause
