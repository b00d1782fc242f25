"""makemigrations --online: Django's autodetector, with changes to existing tables turned
into online operations.

Django detects the changes; only their packaging differs. In each run of field, index and
constraint operations on tables that exist already (a run ends at any other operation), the
operations on one model are grouped, in their order, into one OnlineAlterTable: one table
copy per model and migration. A group of a single RenameField becomes OnlineRenameColumn, of
a single AddIndex OnlineAddIndex. New and deleted models, and everything else, stay plain.
"""

from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.operations import AddIndex, RenameField

from .operations import OnlineAddIndex, OnlineAlterTable, OnlineRenameColumn, target_model, wrappable


class OnlineMigrationAutodetector(MigrationAutodetector):
    def arrange_for_graph(self, changes, graph, migration_name=None):
        for app_label, migrations in changes.items():
            for migration in migrations:
                migration.operations = self._online(app_label, migration.operations)
                if any(isinstance(op, OnlineAlterTable) for op in migration.operations):
                    # The engine records each run in online_migrations' own table, in the shape
                    # its newest migration gives it.
                    migration.dependencies.append(("online_migrations", "__latest__"))
        return super().arrange_for_graph(changes, graph, migration_name)

    def _online(self, app_label, operations):
        result, run = [], {}
        for operation in operations:
            if self._existing(app_label, operation):
                run.setdefault(target_model(operation), []).append(operation)
            else:
                result += [_online_operation(group) for group in run.values()] + [operation]
                run = {}
        return result + [_online_operation(group) for group in run.values()]

    def _existing(self, app_label, operation):
        """A wrappable operation on a model whose table exists before this migration."""
        model = target_model(operation)
        return (
            wrappable(operation)
            and (app_label, model) in self.from_state.models
            and (app_label, model) in self.to_state.models
            and not self.from_state.models[app_label, model].options.get("proxy")
        )


def _online_operation(group):
    model_name = group[0].model_name if hasattr(group[0], "model_name") else group[0].name
    if len(group) == 1 and isinstance(group[0], RenameField):
        return OnlineRenameColumn(model_name, group[0].old_name, group[0].new_name)
    if len(group) == 1 and isinstance(group[0], AddIndex):
        return OnlineAddIndex(model_name, group[0].index)
    return OnlineAlterTable(model_name, group)
