"""Migration operations that apply Django's own field, index and constraint operations to a
table with one online copy (shadow table, triggers, chunked copy, atomic swap).

    OnlineAlterTable("book", operations=[AddField(...), AlterField(...), AddIndex(...)])
    OnlineRenameColumn("book", "title", "name")
    OnlineAddIndex("book", models.Index(...))

The project state changes exactly as with the wrapped operations, so the migration history
is the same one plain operations would give; only how the database gets there differs. On a
database that is not MySQL/MariaDB the wrapped operations run plainly.
"""

import inspect
import logging
from dataclasses import fields

from django.db.migrations.operations import (
    AddConstraint,
    AddField,
    AddIndex,
    AlterConstraint,
    AlterField,
    AlterIndexTogether,
    AlterModelTableComment,
    AlterOrderWithRespectTo,
    AlterUniqueTogether,
    RemoveConstraint,
    RemoveField,
    RemoveIndex,
    RenameField,
    RenameIndex,
)
from django.db.migrations.operations.base import Operation, OperationCategory

from ..chunker import Key
from ..engine import alter_online, run_after_swap, run_in_flight
from ..errors import OnlineMigrationError
from ..describe import describe_table, show_create_table
from ..foreign_keys import REFERENCING, acts, add_foreign_keys_sql, taken_names
from ..names import shadow_table
from ..options import Options
from ..session import Session
from ..sql import quote_name
from ..statements import retarget_create_table, split_foreign_keys
from . import instant
from . import shadow as mysql

logger = logging.getLogger("online_migrations")

WRAPPABLE = (
    AddField, RemoveField, AlterField, RenameField,
    AddIndex, RemoveIndex, RenameIndex,
    AddConstraint, RemoveConstraint, AlterConstraint,
    AlterUniqueTogether, AlterIndexTogether, AlterOrderWithRespectTo, AlterModelTableComment,
)
"""Operations that change one table's columns, indexes or constraints: what a copy of the
table into a new one can do. Anything that creates, drops or renames tables cannot."""


def target_model(operation: Operation) -> str | None:
    """The lower-cased model name a wrappable operation changes."""
    return getattr(operation, "model_name_lower", None) or getattr(operation, "name_lower", None)


def wrappable(operation: Operation, model_name_lower: str | None = None) -> bool:
    if not isinstance(operation, WRAPPABLE):
        return False
    if model_name_lower is not None and target_model(operation) != model_name_lower:
        return False
    # A many-to-many field lives in a table of its own.
    return not getattr(getattr(operation, "field", None), "many_to_many", False)


def takes_options(init):
    """Name the engine's options in `init`'s signature: Django's migration writer writes only
    the keyword arguments it finds there, and would silently drop `**options`."""
    signature = inspect.signature(init)
    parameters = [p for p in signature.parameters.values() if p.kind is not p.VAR_KEYWORD]
    parameters += [inspect.Parameter(f.name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None) for f in fields(Options)]
    init.__signature__ = signature.replace(parameters=parameters)
    return init


class OnlineAlterTable(Operation):
    """Django's operations on one model, applied with a single online table copy."""

    category = OperationCategory.ALTERATION
    serialization_expand_args = ["operations"]

    @takes_options
    def __init__(self, model_name, operations, **options):
        self.model_name = model_name
        self.operations = list(operations)
        self.options = options
        Options.from_kwargs(self._where(), **options)  # a misspelt option fails when the migration loads
        if not self.operations:
            raise OnlineMigrationError(f"{self._where()}: give at least one operation to apply online.")
        for operation in self.operations:
            if not wrappable(operation, self.model_name_lower):
                raise OnlineMigrationError(self._refusal(operation))

    @property
    def model_name_lower(self):
        return self.model_name.lower()

    def _where(self) -> str:
        return f"{self.__class__.__name__}({self.model_name!r})"

    def _refusal(self, operation: Operation) -> str:
        name = f"{operation.__class__.__name__} ({operation.describe()})"
        if isinstance(operation, WRAPPABLE) and target_model(operation) != self.model_name_lower:
            why = "it changes another model; wrap it in an online operation of its own"
        elif isinstance(operation, WRAPPABLE):
            why = "a many-to-many field lives in a table of its own; use the plain operation"
        else:
            why = ("it cannot be done by copying the table into a new one: only field, index and constraint "
                   f"operations can ({', '.join(op.__name__ for op in WRAPPABLE)}); use it as a plain operation")
        return f"{self._where()} cannot wrap {name}: {why}."

    def deconstruct(self):
        return self.__class__.__name__, [], {"model_name": self.model_name, "operations": self.operations, **self.options}

    def describe(self):
        return f"Online change of {self.model_name}: " + "; ".join(op.describe() for op in self.operations)

    @property
    def migration_name_fragment(self):
        return f"online_alter_{self.model_name_lower}"

    @property
    def reversible(self):
        return all(operation.reversible for operation in self.operations)

    def references_model(self, name, app_label):
        return any(operation.references_model(name, app_label) for operation in self.operations)

    def references_field(self, model_name, name, app_label):
        return any(operation.references_field(model_name, name, app_label) for operation in self.operations)

    def state_forwards(self, app_label, state):
        for operation in self.operations:
            self._check_field_table(app_label, state, operation)
            operation.state_forwards(app_label, state)

    def _check_field_table(self, app_label, state, operation):
        """Removing, renaming or altering a many-to-many field changes its own table: only the
        state knows the field being changed."""
        if isinstance(operation, RenameField):
            name = operation.old_name
        elif isinstance(operation, (RemoveField, AlterField)):
            name = operation.name
        else:
            return
        field = state.models[app_label, self.model_name_lower].get_field(name)
        if field.many_to_many:
            raise OnlineMigrationError(self._refusal(operation))

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        steps = self._steps(app_label, from_state)
        calls = [(operation.database_forwards, before, after) for operation, before, after in steps]
        self._apply(app_label, schema_editor, calls, from_state, to_state, self._renamed_fields(from_state, app_label))

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        steps = self._steps(app_label, to_state)
        calls = [(operation.database_backwards, after, before) for operation, before, after in reversed(steps)]
        renamed = {new: old for old, new in self._renamed_fields(to_state, app_label).items()}
        self._apply(app_label, schema_editor, calls, from_state, to_state, renamed)

    def _steps(self, app_label, state):
        """(operation, state before it, state after it) for each wrapped operation, as
        Migration.apply() computes them."""
        steps = []
        for operation in self.operations:
            after = state.clone()
            operation.state_forwards(app_label, after)
            steps.append((operation, state, after))
            state = after
        return steps

    def _renamed_fields(self, state, app_label) -> dict[str, str]:
        """Field names before the operations -> after, following RenameField."""
        names = {name: name for name in state.models[app_label, self.model_name_lower].fields}
        for operation in self.operations:
            if isinstance(operation, RenameField):
                names = {old: operation.new_name if new.lower() == operation.old_name_lower else new
                         for old, new in names.items()}
        return names

    def _apply(self, app_label, schema_editor, calls, from_state, to_state, renamed_fields):
        if schema_editor.connection.vendor != "mysql":
            for call, before, after in calls:
                call(app_label, schema_editor, before, after)
            return
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        new_model = to_state.apps.get_model(app_label, self.model_name)
        options = self.options
        changes = mysql.column_changes(model, new_model, renamed_fields)
        changes.fills = mysql.null_fills(schema_editor, model, new_model, renamed_fields)
        if schema_editor.collect_sql:
            self._collect_plan(app_label, schema_editor, calls, model, new_model, changes, options)
        else:
            try:
                self._run_online(app_label, schema_editor.connection, calls, model, new_model, changes, options)
            finally:
                _reconnect_if_gone(schema_editor.connection)

    def _collect_plan(self, app_label, schema_editor, calls, model, new_model, changes, options):
        table = model._meta.db_table
        path = instant.choose(schema_editor.connection, table, app_label, calls,
                              Options.from_kwargs(self._where(), **options))
        schema_editor.collected_sql.append(f"-- Path: {path.describe()}")
        if path.instant:
            schema_editor.collected_sql.extend(path.plan_sql())
            return
        editor = self._shadow_editor(schema_editor.connection, table, collect_sql=True)
        with editor:
            for call, before, after in calls:
                call(app_label, editor, before, after)
        with schema_editor.connection.cursor() as cursor:
            live = describe_table(cursor, table)
            add_foreign_keys = add_foreign_keys_sql(table, shadow_table(table), live.foreign_keys, taken_names(cursor))
            acting = [fk.name for fk in live.foreign_keys if acts(fk)]
            cursor.execute(REFERENCING, [table])
            children = sorted({(child, name) for schema, child, name in cursor.fetchall() if child != table})
        origin = [f.column for f in model._meta.local_concrete_fields]
        dest = [c for c in changes.dest_columns(origin) if c not in mysql.generated_columns(new_model)]
        key = Key("PRIMARY", tuple(f.column for f in model._meta.pk_fields))
        opts = Options.from_kwargs(self._where(), **options)
        schema_editor.collected_sql.extend(mysql.plan_sql(
            table, ([add_foreign_keys + ";"] if add_foreign_keys else []) + editor.collected_sql,
            editor.dropped_defaults, changes.mapping(origin, dest), key, opts.chunk_size, opts.keep_old_table,
            children, acting,
        ))

    def _shadow_editor(self, connection, table, *, collect_sql=False):
        """For a plan (sqlmigrate) there is no shadow table to look constraint names up in: the
        live table's are read instead (the shadow's foreign keys carry the other of the two
        alternating names)."""
        return mysql.redirecting_editor(connection, table, shadow_table(table), collect_sql=collect_sql,
                                        introspect_target=not collect_sql)

    def _run_online(self, app_label, connection, calls, model, new_model, changes, options):
        """Checks, then the instant path when the server can take it, else the engine. An
        interrupted run is resumed by running the migration again: its checkpoint, not the
        table (half changed by then), says where it was."""
        table = model._meta.db_table
        live = mysql.live_table(connection, table)
        if run_in_flight(connection.alias, table) is None:
            if self._already_applied(live, connection, model, new_model):
                return
            self._check_table(live)
            self._check_drift(live, mysql.expected_table(connection, model), options)
            path = instant.apply(connection, table, app_label, calls, Options.from_kwargs(self._where(), **options))
            if path is not None:
                self._drop_defaults(connection.alias, table, path.dropped_defaults, options)
                return
        origin = list(live.column_names)

        def build_shadow(shadow):
            with connection.cursor() as cursor:
                cursor.execute(_create_like(cursor, live, shadow))
                # The foreign keys come before the wrapped operations, which may drop or change
                # them as they would on the table.
                add = add_foreign_keys_sql(table, shadow, live.foreign_keys, taken_names(cursor))
                if add:
                    cursor.execute(add)
            with self._shadow_editor(connection, table) as editor:
                for call, before, after in calls:
                    call(app_label, editor, before, after)
            return editor.dropped_defaults

        alter_online(connection.alias, table, build_shadow, origin, changes.dest_columns(origin), changes.renames,
                     fills=changes.fills, **options)

    def _already_applied(self, live, connection, model, new_model) -> bool:
        """A run that swapped the tables and died before Django recorded the migration left
        the table in its new shape: there is nothing left to copy."""
        if mysql.unmade_changes(live, mysql.expected_table(connection, new_model)):
            return False
        logger.warning("%s: the table already has the shape this migration gives it (the change touches only "
                       "Django's side, or an earlier run swapped the tables and was interrupted before the migration "
                       "was recorded); nothing to copy", quote_name(live.name))
        return True

    def _check_table(self, live):
        """What the shadow table built with CREATE TABLE ... LIKE would get wrong. (Foreign keys,
        the table's own and its children's, are the engine's: carried over, or refused.)"""
        clashing = [name for name in (*live.column_names, *(i.name for i in live.indexes)) if name == live.name]
        if clashing:
            raise OnlineMigrationError(
                f"{self._where()}: table {quote_name(live.name)} has a column or index of the same name, which the "
                "statements aimed at the shadow table would rename too. Apply these changes with the plain "
                "Django operations."
            )

    def _check_drift(self, live, expected, options):
        problems = mysql.drift(live, expected)
        if not problems:
            return
        listing = "; ".join(problems)
        if Options.from_kwargs(self._where(), **options).allow_drift:
            logger.warning("%s: the table differs from the migration history (allow_drift): %s",
                           quote_name(live.name), listing)
            return
        raise OnlineMigrationError(
            f"{self._where()}: table {quote_name(live.name)} is not what the migration history says: {listing}. "
            "Nothing was changed. Bring the table in line with the migrations, or pass allow_drift=True (to the "
            "operation or in settings.ONLINE_MIGRATIONS) to go on with the table as it is."
        )

    def _drop_defaults(self, alias, table, statements, options):
        """After the instant change, the defaults Django drops again after adding a column."""
        opts = Options.from_kwargs(self._where(), **options)
        with Session(alias, opts.lock_wait_timeout) as session:
            run_after_swap(session, table, statements, retries=opts.ddl_retries)


def _reconnect_if_gone(connection) -> None:
    """Django's own connection sits idle while the engine copies on its own, for longer than
    the server's wait_timeout (8 hours by default) on a big table, and the server closes it:
    the migration executor, which records the migration on it next, would fail with "server
    has gone away" after the change was made. Closed here, Django connects again when it
    next needs to (a migration on MySQL runs outside any transaction)."""
    if connection.connection is not None and not connection.is_usable():
        connection.close()


class OnlineRenameColumn(OnlineAlterTable):
    """RenameField, online."""

    @takes_options
    def __init__(self, model_name, old_name, new_name, **options):
        self.old_name, self.new_name = old_name, new_name
        super().__init__(model_name, [RenameField(model_name, old_name, new_name)], **options)

    def deconstruct(self):
        kwargs = {"model_name": self.model_name, "old_name": self.old_name, "new_name": self.new_name}
        return self.__class__.__name__, [], {**kwargs, **self.options}

    def describe(self):
        return f"Rename field {self.old_name} on {self.model_name} to {self.new_name}, online"

    @property
    def migration_name_fragment(self):
        return f"online_{self.operations[0].migration_name_fragment}"


class OnlineAddIndex(OnlineAlterTable):
    """AddIndex, online."""

    @takes_options
    def __init__(self, model_name, index, **options):
        self.index = index
        super().__init__(model_name, [AddIndex(model_name, index)], **options)

    def deconstruct(self):
        return self.__class__.__name__, [], {"model_name": self.model_name, "index": self.index, **self.options}

    def describe(self):
        return f"{self.operations[0].describe()}, online"

    @property
    def migration_name_fragment(self):
        return f"online_{self.operations[0].migration_name_fragment}"


def _create_like(cursor, live, shadow: str) -> str:
    """The shadow table as the table is, without its foreign keys. CREATE TABLE ... LIKE, but
    that leaves out a DATA DIRECTORY too (and no ALTER TABLE can add one): a table kept in a
    directory of its own is made from its SHOW CREATE TABLE, where a plain ALTER TABLE would
    have kept it."""
    if "DATA DIRECTORY" not in live.options:
        return f"CREATE TABLE {quote_name(shadow)} LIKE {quote_name(live.name)}"
    create, _foreign_keys = split_foreign_keys(show_create_table(cursor, live.name))
    return retarget_create_table(create, live.name, shadow)
