"""Django's migrate, showing what the online operations do: a copy of a big table takes
minutes or hours, and its progress lines and ETA go to the `online_migrations` logger, which
a project has no reason to have configured. Unless it has, they are shown below "Applying
...", with a live progress bar on a terminal (verbosity 0 shows none)."""

from django.core.management.commands.migrate import Command as MigrateCommand

from ...console import log_to


class Command(MigrateCommand):
    help = (MigrateCommand.help + " Online operations show what they do, with their progress, unless logging is "
            "configured for the online_migrations logger.")

    def handle(self, *args, **options):
        with log_to(self.stdout if options["verbosity"] else None) as self.console:
            super().handle(*args, **options)

    def migration_progress_callback(self, action, migration=None, fake=False):
        super().migration_progress_callback(action, migration, fake)
        if self.console is not None and action.endswith("_start"):
            self.console.mid_line = True  # "  Applying app.0042_x..." waits for its " OK"
