"""`./manage.py online_migration <app_label> run|restart|rename <migration_name>`

Runs the seed-style online migrations kept in an app's `online_migrations/` folder: each file
defines `run`, `restart` and `rename` functions, which receive the command line's options as
keyword arguments.
"""

import importlib
import logging
import pkgutil

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError

from online_migrations.errors import OnlineMigrationError
from online_migrations.options import command_line_options

ACTIONS = {
    "run": "create the shadow table and triggers, then copy the rows (change_table)",
    "restart": "copy a key range again after a failure (restart_copy); --start/--limit choose it",
    "rename": "swap the new table in with one atomic RENAME TABLE (finish_migration)",
}


class Command(BaseCommand):
    help = (
        "Run an online migration from <app_label>/online_migrations/<migration_name>.py. "
        + "; ".join(f"'{name}': {text}" for name, text in ACTIONS.items())
        + ". The original table stays usable throughout; progress is logged as the copy goes."
    )

    def add_arguments(self, parser):
        parser.add_argument("app_label", help="The app whose online_migrations/ folder holds the migration.")
        parser.add_argument("action", choices=list(ACTIONS), help="Which step to run.")
        parser.add_argument("migration_name", help="The migration's file name without .py, e.g. 0001_campaign.")
        parser.add_argument(
            "--start", nargs="+", metavar="VALUE",
            help="First key to copy (restart). One value per key column, e.g. --start 1000.",
        )
        parser.add_argument(
            "--limit", nargs="+", metavar="VALUE",
            help="Last key to copy, included. Default: the largest key when the copy starts.",
        )
        parser.add_argument("--chunk-size", type=int, dest="chunk_size", help="Rows per copy statement (default 2000).")
        parser.add_argument("--throttle", type=float, help="Seconds to pause after each chunk (default 0).")
        parser.add_argument(
            "--keep-old-table", action="store_true", default=None, dest="keep_old_table",
            help="rename: keep the original table as _<table>_old instead of dropping it.",
        )

    def handle(self, *args, app_label, action, migration_name, **options):
        module = self._load(app_label, migration_name)
        function = getattr(module, action, None)
        if not callable(function):
            raise CommandError(
                f"{module.__file__} defines no function {action!r}. An online migration file defines "
                f"`def {action}(**kwargs)`, which receives the command line's options."
            )
        knobs = {name: options[name] for name in ("chunk_size", "throttle", "keep_old_table")}
        given = {"start": _key(options["start"]), "limit": _key(options["limit"]), **knobs}
        with _log_to(self.stdout if options["verbosity"] else None), command_line_options(**knobs):
            try:
                function(**{name: value for name, value in given.items() if value is not None})
            except OnlineMigrationError as error:
                raise CommandError(str(error)) from error

    def _load(self, app_label, migration_name):
        try:
            app = apps.get_app_config(app_label)
        except LookupError:
            known = ", ".join(sorted(config.label for config in apps.get_app_configs()))
            raise CommandError(f"No installed app with label {app_label!r}. Installed apps: {known}.") from None
        package = f"{app.name}.online_migrations"
        try:
            return importlib.import_module(f"{package}.{migration_name}")
        except ModuleNotFoundError as error:
            if error.name not in (package, f"{package}.{migration_name}"):
                raise
        try:
            found = sorted(m.name for m in pkgutil.iter_modules(importlib.import_module(package).__path__))
        except ModuleNotFoundError:
            found = []
        raise CommandError(
            f"App {app_label!r} has no online migration {migration_name!r}: expected the file "
            f"{app.path}/online_migrations/{migration_name}.py (with an __init__.py beside it). "
            + (f"Online migrations found there: {', '.join(found)}." if found else "That folder has none.")
        )


def _key(values):
    """Key values from the command line; whole numbers become ints, one value stays a scalar."""
    if values is None:
        return None
    values = [int(v) if v.lstrip("-").isdigit() else v for v in values]
    return values[0] if len(values) == 1 else values


class _log_to:
    """Show the engine's log on the command's output unless logging is configured already."""

    def __init__(self, stream):
        self.logger = logging.getLogger("online_migrations")
        self.handler = None
        if stream is not None and not self.logger.hasHandlers():
            self.handler = logging.StreamHandler(stream)
            self.handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))

    def __enter__(self):
        if self.handler:
            self.logger.addHandler(self.handler)
            if self.logger.level == logging.NOTSET:
                self.logger.setLevel(logging.INFO)

    def __exit__(self, *exc):
        if self.handler:
            self.logger.removeHandler(self.handler)
