"""`./manage.py online_migration`: run seed-style online migrations, and look after runs.

    online_migration <app_label> run|restart|rename <migration_name> [options]
    online_migration status | cleanup [--dry-run] | abort <table> | cutover <table>
"""

import argparse
import importlib
import pkgutil
import sys
from dataclasses import MISSING, fields
from datetime import datetime, timezone

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS

from online_migrations import abort_migration, finish_migration
from online_migrations.checkpoint import request_cutover
from online_migrations.console import log_to
from online_migrations.cutover import was_swapped
from online_migrations.errors import OnlineMigrationError
from online_migrations.options import Options, command_line_options
from online_migrations.progress import duration
from online_migrations.runs import leftovers, runs_in_flight
from online_migrations.session import Session
from online_migrations.sql import quote_name

STEPS = {
    "run": "create the shadow table and triggers, then copy the rows (change_table)",
    "restart": "continue the copy: from the checkpoint, or the key range --start/--limit (restart_copy)",
    "rename": "swap the new table in with one atomic RENAME TABLE (finish_migration)",
}
TASKS = {
    "status": "list the runs in flight on --database, with their progress and whether their process lives",
    "cleanup": "remove what dead runs left (triggers, shadow tables) after showing it; --dry-run only shows",
    "abort": "<table>: drop the triggers and shadow table of the table's unfinished run; the table stays as it was",
    "cutover": "<table>: let a run waiting with postpone_cutover swap now",
}


class Command(BaseCommand):
    help = (
        "Online schema changes of big MySQL/MariaDB tables, and the runs that make them.\n"
        "Seed-style migrations live in <app_label>/online_migrations/<migration_name>.py, which defines "
        "run, restart and rename; each gets the options below as keyword arguments. "
        + " ".join(f"'{name}': {text}." for name, text in STEPS.items())
        + " Runs: "
        + " ".join(f"'{name}' {text}." for name, text in TASKS.items())
        + " Options also come from settings.ONLINE_MIGRATIONS; the command line wins."
    )

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.usage = (
            f"{prog_name} {subcommand} <app_label> run|restart|rename <migration_name> [options]\n"
            f"       {prog_name} {subcommand} status|cleanup [--database ALIAS] [--dry-run]\n"
            f"       {prog_name} {subcommand} abort|cutover <table> [--database ALIAS]"
        )
        return parser

    def add_arguments(self, parser):
        parser.add_argument("words", nargs="+", metavar="ARGUMENTS", help="see the usage lines above")
        parser.add_argument("--database", default=DEFAULT_DB_ALIAS, help="status/cleanup/abort/cutover: the alias")
        parser.add_argument("--dry-run", action="store_true", help="cleanup: show what would be removed, remove nothing")
        parser.add_argument("--no-input", action="store_false", dest="interactive", help="cleanup: do not ask")
        parser.add_argument("--start", nargs="+", metavar="VALUE",
                            help="restart: first key to copy, one value per key column (default: the checkpoint)")
        parser.add_argument("--limit", nargs="+", metavar="VALUE",
                            help="last key to copy, included (default: the last row when the copy started)")
        engine = parser.add_argument_group("engine options (default: settings.ONLINE_MIGRATIONS, then as shown)")
        for option in fields(Options):
            flag = "--" + option.name.replace("_", "-")
            text = option.metadata["help"].replace("%", "%%")  # argparse formats help with %
            default = "" if option.default in (MISSING, None) else f" (default {option.default})"
            if option.type is bool:
                engine.add_argument(flag, dest=option.name, action=argparse.BooleanOptionalAction, default=None,
                                    help=text + f" (default: {flag if option.default else '--no-' + flag[2:]})")
            else:
                kind = option.type if option.type in (int, float) else str
                engine.add_argument(flag, dest=option.name, type=kind, metavar=option.name.upper(),
                                    help=text + default)

    def handle(self, *args, words, **options):
        engine_options = {f.name: options[f.name] for f in fields(Options)}
        with log_to(self.stdout if options["verbosity"] else None), command_line_options(**engine_options):
            try:
                if words[0] in TASKS:
                    self._task(words, options)
                else:
                    self._step(words, options, engine_options)
            except OnlineMigrationError as error:
                raise CommandError(str(error)) from error

    def _step(self, words, options, engine_options):
        if len(words) != 3 or words[1] not in STEPS:
            raise CommandError(
                f"Expected `<app_label> run|restart|rename <migration_name>` or one of {', '.join(TASKS)}, "
                f"got: {' '.join(words)}. See --help."
            )
        app_label, step, migration_name = words
        module = _load(app_label, migration_name)
        function = getattr(module, step, None)
        if not callable(function):
            raise CommandError(
                f"{module.__file__} defines no function {step!r}. An online migration file defines "
                f"`def {step}(**kwargs)`, which receives the command line's options."
            )
        given = {"start": _key(options["start"]), "limit": _key(options["limit"]), **engine_options}
        function(**{name: value for name, value in given.items() if value is not None})

    def _task(self, words, options):
        task, alias = words[0], options["database"]
        wants_table = task in ("abort", "cutover")
        if len(words) != (2 if wants_table else 1):
            raise CommandError(f"`{task}` takes {'one table name' if wants_table else 'no argument'}. See --help.")
        if task == "status":
            self._status(alias)
        elif task == "cleanup":
            self._cleanup(alias, options["dry_run"], options["interactive"])
        elif task == "abort":
            abort_migration(alias, words[1])
        else:
            with Session(alias, Options.lock_wait_timeout) as session:
                if not request_cutover(session, words[1]):
                    raise CommandError(f"No online migration of {quote_name(words[1])} is in flight on {alias!r}.")
            self.stdout.write(f"Cut-over of {quote_name(words[1])} requested: the waiting run swaps within a second.")

    def _status(self, alias):
        with Session(alias, Options.lock_wait_timeout) as session:
            runs = runs_in_flight(session)
        if not runs:
            self.stdout.write(f"No online migration in flight on {alias!r}.")
            return
        now = datetime.now(timezone.utc).replace(tzinfo=None)
        for run in runs:
            done = f" ({100 * run.rows_copied / run.rows_estimate:.0f}%)" if run.rows_estimate else ""
            alive = (f"running (server connection {run.holder})" if run.holder is not None
                     else "stopped: run the migration again to resume it, or `abort` it")
            self.stdout.write(
                f"{quote_name(run.table)}: {run.state}, {run.rows_copied:,} of ~{run.rows_estimate:,} rows{done}, "
                f"started {run.started_at:%Y-%m-%d %H:%M:%S} UTC, last news {duration((now - run.updated_at).total_seconds())} "
                f"ago; {alive}"
            )

    def _cleanup(self, alias, dry_run, interactive):
        with Session(alias, Options.lock_wait_timeout) as session:
            found = leftovers(session)
            swapped = {left.table for left in found if left.state and was_swapped(session, left.table)}
        if not found:
            self.stdout.write(f"Nothing left behind by dead runs on {alias!r}.")
            return
        for left in found:
            what = ", ".join(map(quote_name, left.objects)) or "only its checkpoint"
            action = ("finish: drop the triggers, keep the old table" if left.table in swapped
                      else "abort: drop the triggers, then the shadow table")
            self.stdout.write(f"{quote_name(left.table)} (dead run{', ' + left.state if left.state else ''}): {what} -> {action}")
        if dry_run:
            return
        if interactive and sys.stdin.isatty() and input("Remove them? [y/N] ").strip().lower() != "y":
            self.stdout.write("Nothing removed.")
            return
        for left in found:
            if left.table in swapped:
                finish_migration(alias, left.table, keep_old_table=True)
            else:
                abort_migration(alias, left.table)
        self.stdout.write(f"Cleaned up {len(found)} table(s).")


def _load(app_label, migration_name):
    try:
        app = apps.get_app_config(app_label)
    except LookupError:
        known = ", ".join(sorted(config.label for config in apps.get_app_configs()))
        raise CommandError(
            f"No installed app with label {app_label!r} (and not one of {', '.join(TASKS)}). Installed apps: {known}."
        ) from None
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
