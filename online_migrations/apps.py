from django.apps import AppConfig


class OnlineMigrationsConfig(AppConfig):
    name = "online_migrations"
    verbose_name = "Online migrations"
