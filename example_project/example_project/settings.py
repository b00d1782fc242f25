"""Settings of the example project: two apps, one MariaDB/MySQL database set by OM_* variables."""

import os

SECRET_KEY = "example-project-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["online_migrations", "campaigns", "library"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.mysql",
        "NAME": os.environ.get("OM_DEMO_DB_NAME", "online_migrations_demo"),
        "HOST": os.environ.get("OM_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("OM_DB_PORT", "3306"),
        "USER": os.environ.get("OM_DB_USER", "root"),
        "PASSWORD": os.environ.get("OM_DB_PASSWORD", ""),
        "OPTIONS": {"charset": "utf8mb4"},
    }
}

# The engine reports its progress through the "online_migrations" logger: show it.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"},
    },
    "loggers": {
        "online_migrations": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
