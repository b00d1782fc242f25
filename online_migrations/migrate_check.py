"""`migrate` refuses, before it changes anything, plain schema changes to a table whose online
run is unfinished.

While a run is in flight, the table's triggers copy every write to the shadow table, column
by column, as the table was when they were made. A plain migration that drops or renames a
column (or changes one the shadow cannot take) makes them fail every write of the application
("Unknown column 'x' in 'NEW'"), and that lasts until the run is resumed or aborted; a run
interrupted by a deploy's timeout, then a rollback's `migrate app 0041`, is how it happens.
A migration in the plan that continues the run (one of our operations on the table, forwards)
makes later plain changes safe: the run ends with it.
"""

import logging

from django.db import connections
from django.db.migrations.operations import (
    AlterModelManagers, AlterModelOptions, RenameModel, SeparateDatabaseAndState,
)
from django.db.migrations.operations.base import Operation
from MySQLdb import DatabaseError

from .errors import OnlineMigrationError
from .names import CHECKPOINT_TABLE
from .operations import OnlineAlterTable, target_model
from .options import Options
from .runs import Run, runs_in_flight
from .session import Session
from .sql import quote_name

logger = logging.getLogger("online_migrations")

# States in which the table has our triggers (a "swapped" run's live table has none).
WITH_TRIGGERS = {"created", "triggers", "copying", "copied"}
# Operations that change only Django's side.
STATE_ONLY = (AlterModelOptions, AlterModelManagers)


def refuse_plain_changes_to_runs_in_flight(sender, app_config, using, apps, plan, **kwargs) -> None:
    """pre_migrate receiver (Django sends it once per app, with the whole plan: ours acts once)."""
    if app_config.name != "online_migrations" or not plan or connections[using].vendor != "mysql":
        return
    with Session(using, Options.lock_wait_timeout) as session:
        if not session.table_exists(CHECKPOINT_TABLE):
            return
        try:
            runs = [run for run in runs_in_flight(session) if run.state in WITH_TRIGGERS]
        except DatabaseError as error:  # a checkpoint table this version cannot read: migrate mends it
            logger.warning("migrate could not read the online runs in flight from %s (%s): plain migrations of a "
                           "table whose run is unfinished are not refused this time", quote_name(CHECKPOINT_TABLE), error)
            return
    models = {model._meta.db_table: (model._meta.app_label, model._meta.model_name) for model in apps.get_models()}
    for run in runs:
        if run.table in models:
            _check_plan(run, *models[run.table], plan, using)


def _check_plan(run: Run, app_label: str, model_name: str, plan, using: str) -> None:
    for migration, backwards in plan:
        if migration.app_label != app_label:
            continue
        for operation in _operations(migration.operations):
            if model_name not in _models(operation) or isinstance(operation, STATE_ONLY):
                continue
            if isinstance(operation, OnlineAlterTable) and not backwards:
                return  # it continues the run, which ends before the next operation
            process = f"running now, server connection {run.holder}" if run.holder else "its process gone"
            abort = f"./manage.py online_migration abort {run.table}" + ("" if using == "default" else f" --database {using}")
            raise OnlineMigrationError(
                f"Migration {app_label}.{migration.name} would change {quote_name(run.table)} "
                f"({operation.describe()}{', unapplied' if backwards else ''}), whose online run is unfinished "
                f"({run.state}, {process}). Its triggers copy every write to the new table as the table was when they "
                "were made, and a plain schema change can make them fail every write of the application (a dropped "
                "or renamed column, say). Nothing was changed. Finish the run first (run again the migration that "
                f"started it, or `online_migration <app> rename` for a run started by `run`), or throw it away: {abort}"
            )


def _models(operation: Operation) -> set[str | None]:
    """The lower-cased names of the models whose table `operation` changes, as far as it says."""
    if isinstance(operation, RenameModel):
        return {operation.old_name_lower, operation.new_name_lower}
    return {target_model(operation)}


def _operations(operations: list[Operation]):
    for operation in operations:
        if isinstance(operation, SeparateDatabaseAndState):
            yield from _operations(operation.database_operations)
        else:
            yield operation
