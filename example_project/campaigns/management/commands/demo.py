"""`manage.py demo`: an online migration of a big table while an application writes to it."""

import functools
import time
from typing import Any, Callable

import MySQLdb
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection, connections

from campaigns.load import Load, LoadReport, compare_with_control

MIGRATION = ("campaigns", "0001_campaign")


def mysql_connect(alias: str) -> Callable[[], Any]:
    """A `connect` for the Load: new MySQLdb connections with the same settings as Django's."""
    return functools.partial(MySQLdb.connect, **connections[alias].get_connection_params())


class Command(BaseCommand):
    help = (
        "Show an online migration of a big table under application traffic. It creates the "
        "tables if needed, fills `campaign` with --rows generated rows (fill_campaigns --reset), "
        "starts an application load of --rate operations per second (inserts, updates, deletes "
        "and reads; every write is mirrored in the same transaction into `campaign_control`, a "
        "copy that is not migrated), runs the online migration campaigns/0001_campaign (renames "
        "name and goal_value, drops description, adds columns and indexes: shadow table, "
        "triggers, chunked copy, then the atomic swap), stops the load and reports its "
        "latencies and errors, the migration's timing, whether `campaign` still holds exactly "
        "the rows of `campaign_control` and the table's new definition. Exits with an error when "
        "the two tables differ."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--rows", type=int, default=1_000_000, help="rows in the table (default 1,000,000)")
        parser.add_argument("--rate", type=float, default=200.0, help="load operations per second (default 200)")
        parser.add_argument("--threads", type=int, default=4, help="load threads (default 4)")
        parser.add_argument("--chunk-size", type=int, help="rows per copy chunk (default: the engine's)")
        parser.add_argument(
            "--settle", type=float, default=3.0,
            help="seconds of load before the migration and after the swap (default 3)",
        )

    def handle(self, *args, rows: int, rate: float, threads: int, chunk_size: int | None,
               settle: float, **options) -> None:
        self.step("creating the tables if needed")
        call_command("migrate", interactive=False, verbosity=0)
        self.step(f"filling `campaign` with {rows:,} rows")
        call_command("fill_campaigns", rows, reset=True, stdout=self.stdout)
        load = Load(mysql_connect("default"), rate=rate, threads=threads)
        self.step("copying `campaign` into `campaign_control`")
        load.prepare()
        self.step(f"starting the load: {rate:g} operations/s on {threads} threads")
        load.start()
        try:
            time.sleep(settle)
            timings = self.migrate(chunk_size)
            time.sleep(settle)
        finally:
            report = load.stop()
        self.report(rows, report, timings)

    def step(self, text: str) -> None:
        self.stdout.write(self.style.MIGRATE_HEADING(f"== {text}"))

    def migrate(self, chunk_size: int | None) -> dict[str, float]:
        """Run the migration through the real command, as an operator would; time each phase."""
        timings = {}
        for phase, what in (("run", "copy into the shadow table"), ("rename", "swap the tables")):
            self.step(f"online_migration {MIGRATION[0]} {phase} {MIGRATION[1]}: {what}")
            started = time.monotonic()
            extra = {"chunk_size": chunk_size} if phase == "run" else {}
            call_command("online_migration", MIGRATION[0], phase, MIGRATION[1], **extra)
            timings[phase] = time.monotonic() - started
        return timings

    def report(self, rows: int, load: LoadReport, timings: dict[str, float]) -> None:
        """Print what happened; fail when the migrated table lost or changed rows."""
        self.step("results")
        self.stdout.write(load.summary())
        self.stdout.write(
            f"migration: copy {timings['run']:.1f}s ({rows / timings['run']:,.0f} rows/s), "
            f"swap {timings['rename']:.2f}s"
        )
        with connection.cursor() as cursor:
            equal, description = compare_with_control(cursor)
            cursor.execute("SHOW CREATE TABLE `campaign`")
            create_table = cursor.fetchone()[1]
        self.stdout.write(description)
        self.stdout.write(create_table)
        if not equal:
            raise CommandError("`campaign` does not hold the same rows as `campaign_control`")
        self.stdout.write(self.style.SUCCESS("the table was migrated online and no write was lost"))
