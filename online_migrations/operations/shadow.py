"""The MySQL side of the online operations: Django's own schema editor pointed at the shadow
table, the drift check, the column mapping and the plan that sqlmigrate prints.

The shadow table is built by the wrapped operations' own `database_forwards`, so it comes out
exactly as plain migrations would make the table: same column definitions, and index and
constraint names derived from the real table name (Django hashes `model._meta.db_table` into
them). Only the name a statement *acts on* is swapped, in `quote_name`.
"""

import re
from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Sequence

from ..chunker import Chunk, Key
from ..copier import CopyStatement
from ..cutover import swap_sql
from ..describe import ForeignKey, Index, IndexPart, Table, describe_table
from ..errors import OnlineMigrationError
from ..foreign_keys import free_name, parked, taken_names
from ..mapping import ColumnMapping
from ..names import TRIGGER_EVENTS, old_table, probe_table, shadow_table, trigger
from ..plan import read_table
from ..sql import quote_name
from ..triggers import trigger_sql


def redirecting_editor(connection, table: str, target: str, *, collect_sql: bool = False, introspect_target: bool = True):
    """A schema editor of `connection`'s own class whose statements on `table` act on `target`.

    - `quote_name` maps the table's name to `target`: every statement Django builds names the
      table through it, while index names are computed from the unquoted real name.
    - Introspection (`_constraint_names`, used to find the index or constraint to drop) reads
      `target`: after a few wrapped operations it no longer looks like the live table.
    - The "drop the default again" statement that ends Django's AddField (and AlterField to
      NOT NULL) is held back in `dropped_defaults`, written for `table`: the shadow table keeps
      the default while the triggers insert the application's new rows, which do not name the
      new column, and it is dropped from the table after the swap (a metadata-only change).
    - A foreign key to the table itself references the original table, not `target`, under a
      parked name: see `foreign_keys`.
    A column or index named exactly like the table would be renamed too; such tables are
    refused by the caller.
    """

    class RedirectingSchemaEditor(connection.SchemaEditorClass):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.dropped_defaults: list[str] = []
            self._held_back = None

        def quote_name(self, name):
            return super().quote_name(target if name == table else name)

        def _constraint_names(self, model, *args, **kwargs):
            if introspect_target and model._meta.db_table == table:
                model = SimpleNamespace(_meta=SimpleNamespace(db_table=target))
            return super()._constraint_names(model, *args, **kwargs)

        def _fk_constraint_name(self, model, field, suffix):
            """Django's name for a new foreign key, unless the database has it already (the live
            table's, which an AlterField recreates): then its flipped form, as for the copied ones."""
            reference = super()._fk_constraint_name(model, field, suffix)

            def free(*args, **kwargs):
                with self.connection.cursor() as cursor:
                    taken = taken_names(cursor)
                name = free_name(self._create_index_name(*args, **kwargs), taken)
                return self.quote_name(parked(name) if field.target_field.model._meta.db_table == table else name)

            reference.create_fk_name = free
            return reference

        def _alter_column_default_sql(self, model, old_field, new_field, drop=False):
            fragment = super()._alter_column_default_sql(model, old_field, new_field, drop)
            if drop:  # Django executes the statement built from it right away
                self._held_back = fragment
            return fragment

        def execute(self, sql, params=()):
            _refuse_other_tables(str(sql), table, target)
            sql = str(sql).replace(f"REFERENCES {quote_name(target)}", f"REFERENCES {quote_name(table)}")
            if self._held_back is None:
                return super().execute(sql, params)
            changes, changes_params = self._held_back
            self._held_back = None
            statement = self.sql_alter_column % {"table": quote_name(table), "changes": changes}
            self.dropped_defaults.append(statement % tuple(sql_literal(self, p) for p in changes_params) + ";")

    return RedirectingSchemaEditor(connection, collect_sql=collect_sql, atomic=False)


# The table a statement of Django's schema editor changes (ALTER / CREATE / DROP / RENAME
# TABLE, CREATE / DROP INDEX ... ON).
_CHANGED_TABLE = re.compile(
    r"\s*(?:(?:ALTER|CREATE|DROP|RENAME)\s+TABLE(?:\s+IF\s+(?:NOT\s+)?EXISTS)?"
    r"|(?:CREATE|DROP)\s+(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?INDEX\s+`(?:[^`]|``)*`\s+ON)\s+(`(?:[^`]|``)*`)",
    re.IGNORECASE,
)


def _refuse_other_tables(sql: str, table: str, target: str) -> None:
    """Stop before a wrapped operation changes a table other than `target`. Django changes
    the columns that reference a key along with it (a primary key made BIGINT: the foreign
    key columns of every child table, their constraints dropped and made again): run against
    a shadow table, that would alter the children for real, and point their constraints at
    the shadow."""
    match = _CHANGED_TABLE.match(sql)
    if match and match.group(1) != quote_name(target):
        raise OnlineMigrationError(
            f"Table {quote_name(table)}: the change also alters {match.group(1)} ({sql.strip()[:200]!r}), as Django "
            "does to the columns and foreign keys that reference a key it changes. An online run changes one "
            f"table, so nothing was changed, here or in {match.group(1)}. Apply this change with the plain Django "
            "operations (a blocking ALTER TABLE of each table)."
        )


def live_table(connection, table: str) -> Table:
    with connection.cursor() as cursor:
        return read_table(cursor, table, connection.settings_dict["NAME"])


def expected_table(connection, model) -> Table:
    """The table the migration history says `model` has, as this server renders it: created as
    a TEMPORARY table from Django's own column definitions (foreign keys left out, temporary
    tables cannot have them, and are taken from the model), read back and dropped."""
    table = model._meta.db_table
    probe = probe_table(table)
    editor = redirecting_editor(connection, table, probe, introspect_target=False)
    editor.sql_create_table = editor.sql_create_table.replace("CREATE TABLE", "CREATE TEMPORARY TABLE", 1)
    editor.deferred_sql = []
    create, params = editor.table_sql(model)
    editor.deferred_sql.extend(editor._model_indexes_sql(model))  # what create_model() adds
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {quote_name(probe)}")
        try:
            cursor.execute(create, params or None)
            for statement in editor.deferred_sql:
                if getattr(statement, "template", None) != editor.sql_create_fk:
                    cursor.execute(str(statement))
            found = describe_table(cursor, probe)
        finally:
            cursor.execute(f"DROP TEMPORARY TABLE IF EXISTS {quote_name(probe)}")
    foreign_keys = _model_foreign_keys(model)
    return replace(found, foreign_keys=foreign_keys, indexes=found.indexes + _implicit_indexes(found, foreign_keys))


def _implicit_indexes(table: Table, foreign_keys: Sequence[ForeignKey]) -> tuple[Index, ...]:
    """The indexes InnoDB creates for foreign keys no index starts with (Django leaves them to it)."""
    def covered(fk):
        return any(index.columns[: len(fk.columns)] == fk.columns for index in table.indexes)

    return tuple(Index(fk.name, tuple(IndexPart(c, None, False) for c in fk.columns), False, "BTREE", None, None)
                 for fk in foreign_keys if not covered(fk))


def _model_foreign_keys(model) -> tuple[ForeignKey, ...]:
    """The foreign key constraints Django gives `model`'s table (named as they would be on
    creation; drift compares them by columns and target only)."""
    return tuple(
        ForeignKey(f"{f.column}_fk", (f.column,), f.target_field.model._meta.db_table, (f.target_field.column,), None, None)
        for f in model._meta.local_concrete_fields
        if f.remote_field is not None and getattr(f, "db_constraint", False)
    )


def drift(live: Table, expected: Table) -> list[str]:
    """Every difference that matters for the copy between the live table and the one the
    migration history describes: columns (name, type, NULL), the column sets of indexes and
    the columns and targets of foreign keys. Column order and index and constraint names are
    left out: the copy names every column, and a rebuilt index under another name holds the
    same rows."""
    found, wanted = {c.name: c for c in live.columns}, {c.name: c for c in expected.columns}
    problems = [f"column {quote_name(n)} ({wanted[n].type}) is missing" for n in wanted if n not in found]
    problems += [f"column {quote_name(n)} ({found[n].type}) is not in the migrations" for n in found if n not in wanted]
    for name in wanted.keys() & found.keys():
        live_column, column = found[name], wanted[name]
        if live_column.type != column.type:
            problems.append(f"column {quote_name(name)} is {live_column.type}, the migrations say {column.type}")
        if live_column.nullable != column.nullable:
            problems.append(
                f"column {quote_name(name)} is {_null(live_column.nullable)}, the migrations say {_null(column.nullable)}"
            )
    live_shapes = {_shape(index): index.name for index in live.indexes}
    wanted_shapes = {_shape(index): index.name for index in expected.indexes}
    problems += [f"{_describe_shape(s)} is missing (the migrations call it {quote_name(n)})"
                 for s, n in wanted_shapes.items() if s not in live_shapes]
    problems += [f"{_describe_shape(s)} ({quote_name(n)}) is not in the migrations"
                 for s, n in live_shapes.items() if s not in wanted_shapes]
    return problems + _foreign_key_drift(live, expected)


def unmade_changes(live: Table, expected: Table) -> list[str]:
    """`drift`, and what else a migration can change that the copy does not care about:
    defaults (`db_default`), collations and comments shown on the columns, generated
    expressions, index names, check constraints by expression, the table's comment. A table
    that differs from the new state only in those has not been migrated yet."""
    problems = drift(live, expected)
    found, wanted = {c.name: c for c in live.columns}, {c.name: c for c in expected.columns}
    attributes = ("default", "collation", "comment", "generated", "stored", "on_update")
    for name in sorted(wanted.keys() & found.keys()):
        problems += [f"column {quote_name(name)} has {attribute} {getattr(found[name], attribute)!r}, the migrations "
                     f"say {getattr(wanted[name], attribute)!r}"
                     for attribute in attributes if getattr(found[name], attribute) != getattr(wanted[name], attribute)]
    # Index names too (RenameIndex), but for the "_" an online run puts in front of, or takes
    # from, the names of foreign keys and the indexes behind them.
    names, wanted_names = ({(index.name.removeprefix("_"), _shape(index)) for index in t.indexes} for t in (live, expected))
    problems += [f"index {quote_name(n)} is missing" for n, _ in sorted(wanted_names - names)]
    checks, wanted_checks = {c.expression for c in live.checks}, {c.expression for c in expected.checks}
    problems += [f"check ({e}) is missing" for e in sorted(wanted_checks - checks)]
    problems += [f"check ({e}) is not in the migrations" for e in sorted(checks - wanted_checks)]
    if live.options.get("COMMENT") != expected.options.get("COMMENT"):
        problems.append("the table's comment differs")
    return problems


def _foreign_key_drift(live: Table, expected: Table) -> list[str]:
    """Foreign keys by columns and target, not by name: every online run gives them new names."""
    found = {_fk_shape(fk): fk.name for fk in live.foreign_keys}
    wanted = {_fk_shape(fk) for fk in expected.foreign_keys}
    return ([f"{_describe_fk(s)} is missing" for s in wanted if s not in found]
            + [f"{_describe_fk(s)} ({quote_name(n)}) is not in the migrations" for s, n in found.items() if s not in wanted])


def _fk_shape(fk: ForeignKey) -> tuple:
    return fk.columns, fk.ref_schema, fk.ref_table, fk.ref_columns


def _describe_fk(shape: tuple) -> str:
    columns, schema, table, ref_columns = shape
    target = f"{quote_name(schema)}.{quote_name(table)}" if schema else quote_name(table)
    return (f"foreign key ({', '.join(map(quote_name, columns))}) to {target} "
            f"({', '.join(map(quote_name, ref_columns))})")


def _null(nullable: bool) -> str:
    return "NULL" if nullable else "NOT NULL"


def _shape(index) -> tuple:
    return index.primary, index.unique, index.kind, index.columns


def _describe_shape(shape: tuple) -> str:
    primary, unique, kind, columns = shape
    what = "primary key" if primary else ("unique index" if unique else f"{kind.lower()} index")
    return f"{what} on ({', '.join(map(quote_name, columns))})"


@dataclass
class ColumnChanges:
    """How the columns of a table change between two project states."""

    renames: dict[str, str] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    fills: dict[str, str] = field(default_factory=dict)
    """New column -> SQL literal its NULLs become (see `null_fills`)."""

    def dest_columns(self, origin: Sequence[str]) -> list[str]:
        """The new table's columns: the live ones, renamed or dropped, then the added ones."""
        kept = [self.renames.get(c, c) for c in origin if c not in self.dropped]
        return kept + [c for c in self.added if c not in kept]

    def mapping(self, origin: Sequence[str], dest: Sequence[str]) -> ColumnMapping:
        """The pairs the engine will copy (for the printed plan; the engine makes its own)."""
        pairs = tuple((c, self.renames.get(c, c)) for c in origin if self.renames.get(c, c) in dest)
        return ColumnMapping(pairs, tuple(sorted(self.fills.items())))


def column_changes(model_before, model_after, renamed_fields: dict[str, str]) -> ColumnChanges:
    """`renamed_fields` maps field names of `model_before` to their names in `model_after`
    (RenameField); a field whose column name changes (RenameField, AlterField with db_column)
    is a rename, so its data is copied."""
    before = {f.name: f.column for f in model_before._meta.local_concrete_fields}
    after = {f.name: f.column for f in model_after._meta.local_concrete_fields}
    changes = ColumnChanges()
    carried = set()
    for name, column in before.items():
        new_name = renamed_fields.get(name, name)
        if new_name in after:
            carried.add(after[new_name])
            if after[new_name] != column:
                changes.renames[column] = after[new_name]
        else:
            changes.dropped.append(column)
    changes.added = [c for c in after.values() if c not in carried]
    clash = sorted(set(changes.dropped) & set(changes.added))
    if clash:
        raise OnlineMigrationError(
            f"Table {quote_name(model_before._meta.db_table)}: the column(s) {', '.join(map(quote_name, clash))} are "
            "removed and added again in one online operation. The copy would carry the old values into the new "
            "column; put the removal and the addition in two operations."
        )
    return changes


def null_fills(editor, model_before, model_after, renamed_fields: dict[str, str]) -> dict[str, str]:
    """Columns that become NOT NULL with a default: plain Django's AlterField first sets their
    NULLs to the default (`UPDATE ... WHERE col IS NULL`); online, the copy and the triggers
    write the default in their place. New column -> the default as an SQL literal."""
    after = {f.name: f for f in model_after._meta.local_concrete_fields}
    fills = {}
    for old in model_before._meta.local_concrete_fields:
        new = after.get(renamed_fields.get(old.name, old.name))
        if new is not None and old.null and not new.null:
            default = editor.effective_default(new)
            if default is not None:
                fills[new.column] = sql_literal(editor, default)
    return fills


def sql_literal(editor, value) -> str:
    """`value` as an SQL literal, as text. Django's MySQL `quote_value` returns the driver's
    bytes for anything but a string (b"'...'" for a UUID, b'0' for False), which an f-string
    or `%` turns into "b'...'"; binary values become hex literals, which survive any
    connection character set."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        return f"X'{bytes(value).hex()}'"
    quoted = editor.quote_value(value)
    return quoted.decode() if isinstance(quoted, bytes) else quoted


def generated_columns(model) -> set[str]:
    return {f.column for f in model._meta.local_concrete_fields if getattr(f, "generated", False)}


def plan_sql(table: str, shadow_ddl: Sequence[str], dropped_defaults: Sequence[str], mapping: ColumnMapping,
             key: Key, chunk_size: int, keep_old_table: bool, children: Sequence[tuple[str, str]] = (),
             acting: Sequence[str] = ()) -> list[str]:
    """What an online run does, as SQL comments and statements for `sqlmigrate`. It is a plan
    to read, not a script: the copy statement runs once per chunk, with the chunk's bounds."""
    shadow, sql = shadow_table(table), []
    sql += [f"-- Online: {quote_name(table)} is rebuilt as {quote_name(shadow)} while it stays in use.",
            "-- 1. The shadow table (its foreign keys under new names), changed by the wrapped operations' own DDL:",
            f"CREATE TABLE {quote_name(shadow)} LIKE {quote_name(table)};", *shadow_ddl]
    if acting:
        sql += [f"-- {', '.join(map(quote_name, acting))} of {quote_name(table)} act on its rows (ON DELETE / ON UPDATE "
                "CASCADE or SET NULL) without firing the triggers: where the statements above drop or change one, "
                f"{quote_name(shadow)} keeps the original's during the copy (as `^name`), and the change is made right "
                "after the swap (DROP FOREIGN KEY, ADD CONSTRAINT, with foreign_key_checks=0)"]
    sql += ["-- 2. Triggers forward every write on the table to the shadow table:"]
    sql += [statement + ";" for statement in trigger_sql(table, shadow, mapping, key).values()]
    copy, _params = CopyStatement(table, shadow, mapping, key, "PRIMARY").sql(Chunk(("…",), False, ("…",)))
    sql += [f"-- 3. The copy along {quote_name(key.index)}, one statement per chunk ({chunk_size} rows to start "
            "with), %s being the chunk's bounds:", f"-- {copy};"]
    sql += ["-- 4. The swap, then the cleanup:"]
    if any(f"REFERENCES {quote_name(table)}" in statement for statement in shadow_ddl):
        sql += [f"-- the foreign keys of {quote_name(shadow)} to {quote_name(table)} itself (parked names, `~...`) are "
                f"pointed at {quote_name(shadow)} under their own names (DROP FOREIGN KEY, ADD CONSTRAINT, with "
                "foreign_key_checks=0)"]
    sql += [f"-- the foreign key {quote_name(name)} of {quote_name(child)} is pointed at {quote_name(shadow)} "
            "(DROP FOREIGN KEY, ADD CONSTRAINT, with foreign_key_checks=0), which the RENAME makes the new "
            f"{quote_name(table)}" for child, name in children]
    sql += [swap_sql(table) + ";"]
    sql += [f"DROP TRIGGER {quote_name(trigger(table, event))};" for event in reversed(TRIGGER_EVENTS)]
    sql += [] if keep_old_table else [f"DROP TABLE {quote_name(old_table(table))};"]
    if dropped_defaults:
        sql += ["-- 5. The defaults new columns had for the copy and the triggers go, as after plain migrations:",
                *dropped_defaults]
    return sql
