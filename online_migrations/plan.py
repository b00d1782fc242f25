"""Everything about a run that can be checked before anything changes.

Each check turns into an error that names the table and the column and says how to fix it.
The new schema is tried out on a TEMPORARY table first, so the server itself rejects bad SQL
and reports the columns and keys it really creates, without a trace in the schema.
"""

import json
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from MySQLdb import DatabaseError

from . import names
from .chunker import Key
from .describe import (
    ER_NO_SUCH_TABLE, Index, NoSuchTable, Table, TableDescriptionError, describe_table, parse_foreign_key,
)
from .errors import OnlineMigrationError
from .foreign_keys import add_foreign_keys_sql, references, taken_names
from .mapping import ColumnMapping, map_columns, zone_shifts
from .session import Session
from .sql import quote_name
from .statements import for_probe, probe_takes_index, retarget_create_index, retarget_create_table, split_foreign_keys
from .triggers import changed_triggers, missing_triggers

# "System-versioned tables do not support CREATE TEMPORARY TABLE" (MariaDB).
ER_VERS_TEMPORARY = 4137
# "You do not have the SUPER privilege and binary logging is enabled".
ER_BINLOG_CREATE_ROUTINE_NEED_SUPER = 1419
# "TRIGGER command denied to user ... for table ...", and other missing table privileges.
ER_TABLEACCESS_DENIED = 1142
# "Trigger's 'x' is a view, temporary table or sequence".
ER_TRG_ON_VIEW_OR_TEMP_TABLE = 1361


@dataclass(frozen=True)
class Plan:
    table: str
    shadow: str
    key: Key
    """The original table's key the copy walks along."""
    shadow_key: str
    """The shadow table's unique index on the same (mapped) columns."""
    mapping: ColumnMapping
    original_definition: str | None = field(default=None, compare=False)
    """Digest of the original table's definition the plan was made for (Table.digest), so
    that a later step, in another process maybe, notices someone else's ALTER (see guard).
    None in a checkpoint written before it was kept. Not part of the change itself."""
    after_swap: tuple[str, ...] = field(default=(), compare=False)
    """Statements the change makes once the new table is in place (the defaults Django drops
    again after adding a column, which the copy and the triggers needed): kept with the plan,
    so that a run resumed in another process makes them too."""
    held_foreign_keys: tuple[tuple[str, str], ...] = field(default=(), compare=False)
    """The original's foreign keys with an action kept on the shadow during the copy, by name,
    each with the ALTER TABLE that makes the new schema's change after the swap (see
    foreign_keys.hold_actions)."""

    def to_json(self) -> str:
        """What the checkpoint keeps, so that a later step (the swap's verification, a
        resumed run) works on exactly the change that was started."""
        return json.dumps({
            "table": self.table, "shadow": self.shadow, "key": [self.key.index, list(self.key.columns)],
            "shadow_key": self.shadow_key, "pairs": [list(pair) for pair in self.mapping.pairs],
            "fills": [list(fill) for fill in self.mapping.fills], "original_definition": self.original_definition,
            "zone_shifts": [list(shift) for shift in self.mapping.zone_shifts], "zone": self.mapping.zone,
            "after_swap": list(self.after_swap), "held_foreign_keys": [list(h) for h in self.held_foreign_keys],
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Plan":
        data = json.loads(text)
        index, columns = data["key"]
        pairs = ColumnMapping(tuple(tuple(pair) for pair in data["pairs"]),
                              tuple(tuple(fill) for fill in data.get("fills", [])),
                              tuple(tuple(shift) for shift in data.get("zone_shifts", [])), data.get("zone"))
        return cls(data["table"], data["shadow"], Key(index, tuple(columns)), data["shadow_key"], pairs,
                   data.get("original_definition"), tuple(data.get("after_swap", ())),
                   tuple(tuple(held) for held in data.get("held_foreign_keys", ())))


def plan_change(
    session: Session,
    table: str,
    dest_table_sql: str,
    dest_indexes: Sequence[str],
    origin_columns: Sequence[str],
    dest_columns: Sequence[str],
    renames: Mapping[str, str] | None,
) -> tuple[Plan, list[str]]:
    """The plan of a new run and the DDL that creates its shadow table (table, indexes, then
    foreign keys, which the server checks when they are added)."""
    original = describe(session, table)
    key = check_can_start(session, original)
    shadow = names.shadow_table(table)
    if isinstance(dest_indexes, str):
        raise OnlineMigrationError(f"Table {quote_name(table)}: dest_indexes must be a list of CREATE INDEX statements, not one string.")
    create, foreign_keys = split_foreign_keys(dest_table_sql)
    new = _probe(session, table, create, dest_indexes)
    _check_engine(new, f"The new table of {quote_name(table)} (dest_table_sql)")
    if new.versioned:
        raise _versioned_new_table(table)
    mapping = map_columns(
        table, origin_columns, dest_columns, renames,
        live_origin=original.column_names, live_dest=new.column_names,
        computed_dest=[c.name for c in new.columns if c.generated],
    )
    mapping = _with_zone_shifts(session, mapping, original, new)
    plan = Plan(table, shadow, key, _shadow_key(table, new, key, mapping), mapping, original.digest())
    ddl = [retarget_create_table(create, table, shadow)]
    ddl += [retarget_create_index(sql, table, shadow) for sql in dest_indexes]
    ddl += _foreign_keys_ddl(session, table, shadow, foreign_keys)
    return plan, ddl


def plan_existing(
    session: Session,
    table: str,
    origin_columns: Sequence[str],
    dest_columns: Sequence[str],
    renames: Mapping[str, str] | None,
    fills: Mapping[str, str] | None = None,
) -> Plan:
    """The plan of a run whose shadow table and triggers are already in place."""
    shadow = names.shadow_table(table)
    if not session.table_exists(shadow):
        raise OnlineMigrationError(
            f"Table {quote_name(table)} has no shadow table {quote_name(shadow)}: there is no run to "
            "continue. Start one with change_table() (`online_migration <app> run <migration>`)."
        )
    _check_triggers_intact(session, table, shadow)
    plan = plan_shadow(session, table, origin_columns, dest_columns, renames, fills)
    changed = changed_triggers(session, table, shadow, plan.mapping, plan.key)
    if changed:
        raise OnlineMigrationError(
            f"The triggers {', '.join(map(quote_name, changed))} on {quote_name(table)} are not the ones this change "
            f"needs (replaced by someone, or made for another change), so {quote_name(shadow)} cannot be trusted. "
            f"Throw the run away with `./manage.py online_migration abort {table}` (or abort_migration()) and run "
            "the migration again."
        )
    return plan


def plan_shadow(
    session: Session,
    table: str,
    origin_columns: Sequence[str],
    dest_columns: Sequence[str],
    renames: Mapping[str, str] | None,
    fills: Mapping[str, str] | None = None,
) -> Plan:
    """The plan for copying into the shadow table as it stands: its columns and keys are read
    from the server and checked against the user's lists."""
    original = describe(session, table)
    key = _walk_key(original)
    shadow = names.shadow_table(table)
    new = describe(session, shadow)
    mapping = map_columns(
        table, origin_columns, dest_columns, renames,
        live_origin=original.column_names, live_dest=new.column_names,
        computed_dest=[c.name for c in new.columns if c.generated], fills=fills,
    )
    mapping = _with_zone_shifts(session, mapping, original, new)
    return Plan(table, shadow, key, _shadow_key(table, new, key, mapping), mapping, original.digest())


def check_can_start(session: Session, original: Table) -> Key:
    """The checks on the original table before a new run creates anything; returns the key
    the copy will walk."""
    _check_engine(original, f"Table {quote_name(original.name)}")
    if original.versioned:
        raise OnlineMigrationError(
            f"Table {quote_name(original.name)} is system-versioned (WITH SYSTEM VERSIONING): a copy would take "
            "only its current rows, stamped anew, and the swap would drop the old table with their history. "
            "Change it with a plain ALTER TABLE after SET SESSION system_versioning_alter_history = KEEP, which "
            "keeps the history (and blocks writes while it copies)."
        )
    key = _walk_key(original)
    _check_nothing_left(session, original.name)
    _check_triggers_allowed(session, original.name)
    return key


def _check_triggers_allowed(session: Session, table: str) -> None:
    """The copy keeps the new table in step with triggers, which the server may not let this
    user create (the TRIGGER privilege, which Django's migrations do not need), nor, with
    binary logging on, create or drop without SUPER unless log_bin_trust_function_creators is
    set; setting up would then fail after the new table was made and checked (minutes, on a
    big table), and cleaning up could fail halfway. A CREATE TRIGGER on a table that does not
    exist (the name of the trial table, which is TEMPORARY) asks the server first: it checks
    the privileges, then finds no table, and makes nothing."""
    trigger, probe = quote_name(names.trigger(table, "insert")), quote_name(names.probe_table(table))
    try:
        session.execute(f"CREATE TRIGGER {trigger} AFTER INSERT ON {probe} FOR EACH ROW SET @online_migrations = 1")
    except DatabaseError as error:
        if error.args[0] == ER_BINLOG_CREATE_ROUTINE_NEED_SUPER:
            raise OnlineMigrationError(
                f"Table {quote_name(table)}: the copy keeps the new table in step with triggers, and the server lets "
                "this user neither create nor drop one: binary logging is on, which then takes the SUPER privilege "
                "unless log_bin_trust_function_creators is set. Nothing was changed. Grant SUPER to the database "
                "user (GRANT SUPER ON *.* TO ...), or SET GLOBAL log_bin_trust_function_creators = 1 (and in the "
                "server's configuration), then run again."
            ) from error
        if error.args[0] == ER_TABLEACCESS_DENIED:
            raise OnlineMigrationError(
                f"Table {quote_name(table)}: the copy keeps the new table in step with triggers, and this database "
                f"user may not create them in {quote_name(session.database)} (the TRIGGER privilege). Nothing was "
                f"changed. Grant it (GRANT TRIGGER ON {quote_name(session.database)}.* TO ...), then run again."
            ) from error
        if error.args[0] not in (ER_NO_SUCH_TABLE, ER_TRG_ON_VIEW_OR_TEMP_TABLE):
            raise
    else:  # a table of that name after all: the probe made a trigger there
        session.execute(f"DROP TRIGGER {trigger}")


def describe(session: Session, table: str) -> Table:
    with session.connection.cursor() as cursor:
        return read_table(cursor, table, session.database)


def read_table(cursor: Any, table: str, database: str) -> Table:
    """The table's description, or an error for the user: a missing table and one we cannot
    read call for different fixes."""
    try:
        return describe_table(cursor, table)
    except NoSuchTable as error:
        raise OnlineMigrationError(
            f"Table {quote_name(table)} does not exist in database {quote_name(database)}: check the table name "
            "and the database alias."
        ) from error
    except TableDescriptionError as error:
        raise OnlineMigrationError(
            f"{error} online_migrations cannot change a table whose definition it cannot read; nothing was "
            f"changed. Make this change with a plain ALTER TABLE, and tell us what SHOW CREATE TABLE prints for "
            f"{quote_name(table)}, so that a later version can read it."
        ) from error


def _check_engine(table: Table, what: str) -> None:
    engine = table.options.get("ENGINE", "InnoDB")
    if engine.lower() != "innodb":
        raise OnlineMigrationError(
            f"{what} uses the {engine} storage engine; the online copy needs InnoDB: each chunk is a "
            "transaction that commits or rolls back whole, alongside the triggers' writes, and the verification "
            "reads one consistent snapshot of both tables. Convert the table to InnoDB first (a plain ALTER "
            "TABLE ... ENGINE=InnoDB, which blocks writes while it copies), or make this change with a plain "
            "ALTER TABLE."
        )


def check_data_directory(original: Table, new: Table) -> None:
    """Before the copy: the new table is made where the original is kept (DATA DIRECTORY),
    unless its schema says where else, as a plain ALTER TABLE would keep it."""
    kept = original.options.get("DATA DIRECTORY")
    if kept and "DATA DIRECTORY" not in new.options:
        raise OnlineMigrationError(
            f"Table {quote_name(original.name)} is kept in DATA DIRECTORY='{kept}', and its new schema names none, so "
            "the new table would be made in the server's data directory instead. Nothing was copied. Add "
            f"DATA DIRECTORY='{kept}' to the new CREATE TABLE (or another directory, to move the table)."
        )


def _walk_key(table: Table) -> Key:
    # MariaDB's long UNIQUE ... USING HASH keys cannot be walked in order.
    keys = [index for index in table.unique_not_null_keys() if index.using != "HASH"]
    if not keys:
        unusable = [f"{'the primary key' if index.name == 'PRIMARY' else quote_name(index.name)} "
                    f"({_unwalkable(table, index)})" for index in table.indexes if index.unique]
        raise OnlineMigrationError(
            f"Table {quote_name(table.name)} has no primary key or unique key that the copy can walk: "
            + (f"{'; '.join(unusable)}" if unusable else "it has no unique key at all")
            + ". The copy and the triggers find each row by a key on whole NOT NULL columns; without one, rows "
            "could be copied twice or updates lost. Add one first (for example an AUTO_INCREMENT id)."
        )
    return Key(keys[0].name, keys[0].columns)


def _unwalkable(table: Table, index: Index) -> str:
    """Why a unique key cannot identify the rows in order."""
    prefixes = [part.column for part in index.parts if part.length is not None]
    nullable = [column for column in index.columns if table.column(column).nullable]
    if prefixes:
        return f"it holds only a prefix of {', '.join(map(quote_name, prefixes))}"
    if nullable:
        return f"{', '.join(map(quote_name, nullable))} can be NULL, which it lets repeat"
    return "USING HASH, which cannot be read in order"


def _check_nothing_left(session: Session, table: str) -> None:
    shadow, old = names.shadow_table(table), names.old_table(table)
    if session.table_exists(shadow):
        raise OnlineMigrationError(
            f"Table {quote_name(table)} already has a shadow table {quote_name(shadow)}: an earlier run did "
            "not finish. Continue it with restart_copy() (`online_migration <app> restart <migration>`) and "
            "then swap, or throw it away with abort_migration() and run again."
        )
    if session.table_exists(old):
        raise OnlineMigrationError(
            f"A table {quote_name(old)} exists: the original of {quote_name(table)} kept by an earlier run "
            "(keep_old_table). The next swap needs that name: drop or rename it first."
        )
    present = [name for name, _event in session.triggers_on(table)]
    if present and set(present) <= set(names.triggers(table)):
        raise OnlineMigrationError(
            f"Table {quote_name(table)} has triggers left by an earlier run ({', '.join(map(quote_name, present))}). "
            "Remove them with abort_migration(), then run again."
        )
    if present:
        raise OnlineMigrationError(
            f"Table {quote_name(table)} has triggers of its own: {', '.join(map(quote_name, present))}. The swap "
            "would leave them behind on the old table and the application would lose them without a word. "
            "Drop them before the migration and create them again after it."
        )
    clashing = session.rows(
        "SELECT TRIGGER_NAME, EVENT_OBJECT_TABLE FROM information_schema.TRIGGERS"
        " WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME IN (%s, %s, %s)",
        names.triggers(table),
    )
    if clashing:
        raise OnlineMigrationError(
            f"Trigger names needed for {quote_name(table)} are taken: "
            + ", ".join(f"{quote_name(n)} on {quote_name(t)}" for n, t in clashing)
            + ". Rename or drop those triggers first."
        )


def _check_triggers_intact(session: Session, table: str, shadow: str) -> None:
    missing = missing_triggers(session, table)
    if missing:
        raise OnlineMigrationError(
            f"The triggers that keep {quote_name(shadow)} in step with {quote_name(table)} are missing "
            f"({', '.join(map(quote_name, missing))}): changes made to the table since they disappeared are "
            f"not in the shadow table, so it cannot be used. Throw it away with `./manage.py online_migration "
            f"abort {table}` (or abort_migration()) and run the migration again."
        )


def _probe(session: Session, table: str, dest_table_sql: str, dest_indexes: Sequence[str]) -> Table:
    probe = names.probe_table(table)
    session.execute(f"DROP TEMPORARY TABLE IF EXISTS {quote_name(probe)}")
    statements = [retarget_create_table(for_probe(dest_table_sql), table, probe, temporary=True)]
    statements += [retarget_create_index(sql, table, probe) for sql in dest_indexes if probe_takes_index(sql)]
    try:
        for sql in statements:
            try:
                with session.application_zone():
                    session.execute(sql)
            except DatabaseError as error:
                if error.args[0] == ER_VERS_TEMPORARY:
                    raise _versioned_new_table(table) from error
                raise OnlineMigrationError(
                    f"The server rejects the new schema of {quote_name(table)}: {error.args[-1]} in "
                    f"{sql.strip()[:300]!r}. Nothing was changed; fix the statement and run again."
                ) from error
        return describe(session, probe)
    finally:
        session.execute(f"DROP TEMPORARY TABLE IF EXISTS {quote_name(probe)}")


def _versioned_new_table(table: str) -> OnlineMigrationError:
    return OnlineMigrationError(
        f"The new table of {quote_name(table)} (dest_table_sql) is system-versioned: its history would begin "
        "with the copy's own writes (every row inserted by the copy, replaced by the triggers), and the checks "
        "before the copy cannot build it (the server refuses a temporary versioned table). Nothing was "
        f"changed. Migrate without versioning, then ALTER TABLE {quote_name(table)} ADD SYSTEM VERSIONING."
    )


def _foreign_keys_ddl(session: Session, table: str, shadow: str, clauses: Sequence[tuple[str, str]]) -> list[str]:
    """The ALTER TABLE that gives the shadow table the foreign keys of the new schema, under
    names no other constraint of the database has."""
    foreign_keys = []
    for name, clause in clauses:
        try:
            foreign_keys.append(parse_foreign_key(name, clause))
        except TableDescriptionError as error:
            raise OnlineMigrationError(
                f"The new schema of {quote_name(table)} has a foreign key this tool cannot read: {error} in "
                f"{clause[:300]!r}. Nothing was changed; write it as FOREIGN KEY (columns) REFERENCES table (columns)."
            ) from error
    # `db`.`table` naming this database is the plain `table` that SHOW CREATE TABLE shows.
    foreign_keys = [replace(fk, ref_schema=None) if fk.ref_schema == session.database else fk for fk in foreign_keys]
    unnamed = [clause for fk, (_n, clause) in zip(foreign_keys, clauses) if references(fk, table) and not fk.name]
    if unnamed:
        raise OnlineMigrationError(
            f"The new schema of {quote_name(table)} has a foreign key to the table itself without a name "
            f"({unnamed[0][:200]!r}). Nothing was changed. Name it (CONSTRAINT `name` FOREIGN KEY ...): the "
            "tool points it at the new table itself at the swap, under that name."
        )
    with session.connection.cursor() as cursor:
        sql = add_foreign_keys_sql(table, shadow, foreign_keys, taken_names(cursor))
    return [sql] if sql else []


def _with_zone_shifts(session: Session, mapping: ColumnMapping, original: Table, new: Table) -> ColumnMapping:
    """A change to or from TIMESTAMP converts in the application's time zone, as a plain ALTER
    TABLE run by it would (see ColumnMapping.zone_shifts)."""
    shifts = zone_shifts(mapping.pairs, original, new)
    return replace(mapping, zone_shifts=shifts, zone=session.zone) if shifts else mapping


def _shadow_key(table: str, new: Table, key: Key, mapping: ColumnMapping) -> str:
    unmapped = [c for c in key.columns if mapping.dest_of(c) is None]
    if unmapped:
        raise OnlineMigrationError(
            f"Table {quote_name(table)}: the key column(s) {', '.join(map(quote_name, unmapped))} of "
            f"{'the primary key' if key.index == 'PRIMARY' else 'unique key ' + quote_name(key.index)} are not "
            "copied to the new table. The triggers find rows in the new table by this key, so it must be "
            "kept (renaming it is fine)."
        )
    wanted = {mapping.dest_of(c) for c in key.columns}
    keys = new.unique_not_null_keys()
    # A key that starts with those columns does too (a table partitioned by a date needs the
    # date in every unique key: PRIMARY KEY (id, created)): a row copied twice clashes with
    # itself on it, and the triggers' lookups by the original's key read its first columns.
    exact = [index for index in keys if set(index.columns) == wanted]
    led = [index for index in keys if set(index.columns[:len(wanted)]) == wanted]
    for index in exact or led:
        return index.name
    raise OnlineMigrationError(
        f"Table {quote_name(table)}: the new table has no primary or unique NOT NULL key on "
        f"{', '.join(map(quote_name, sorted(wanted)))}, the copy of the original's key, nor one that starts "
        "with those columns. The triggers and the copy find rows in the new table by it; keep that key in "
        "dest_table_sql, or begin a new one with its columns."
    )
