from django.apps import AppConfig
from django.db.models.signals import pre_migrate


class OnlineMigrationsConfig(AppConfig):
    name = "online_migrations"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Online migrations"

    def ready(self):
        from .migrate_check import refuse_plain_changes_to_runs_in_flight

        pre_migrate.connect(refuse_plain_changes_to_runs_in_flight, dispatch_uid="online_migrations.migrate_check")
