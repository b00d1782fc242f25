from django.apps import AppConfig


class OnlineMigrationsConfig(AppConfig):
    name = "online_migrations"
    default_auto_field = "django.db.models.BigAutoField"
    verbose_name = "Online migrations"
