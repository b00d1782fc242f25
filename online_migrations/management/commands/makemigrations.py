"""Django's makemigrations, plus --online: changes to existing tables come out as online
operations (see online_migrations.autodetector). Without --online it is Django's command."""

from django.core.management.commands.makemigrations import Command as MakeMigrationsCommand

from ...autodetector import OnlineMigrationAutodetector


class Command(MakeMigrationsCommand):
    help = MakeMigrationsCommand.help + " With --online, changes to existing tables become online operations."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.add_argument(
            "--online",
            action="store_true",
            help="Write field, index and constraint changes to existing tables as online operations "
            "(OnlineAlterTable, OnlineRenameColumn, OnlineAddIndex).",
        )

    def handle(self, *app_labels, **options):
        if options["online"]:
            self.autodetector = OnlineMigrationAutodetector
        super().handle(*app_labels, **options)
