"""Settings for the test suite: a real MariaDB/MySQL server, configured by OM_DB_* variables."""

import os

SECRET_KEY = "tests"
USE_TZ = True
INSTALLED_APPS = ["online_migrations"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"


def _database(name):
    return {
        "ENGINE": "django.db.backends.mysql",
        "NAME": name,
        "HOST": os.environ.get("OM_DB_HOST", "127.0.0.1"),
        "PORT": os.environ.get("OM_DB_PORT", "3306"),
        "USER": os.environ.get("OM_DB_USER", "root"),
        "PASSWORD": os.environ.get("OM_DB_PASSWORD", ""),
        "OPTIONS": {"charset": "utf8mb4"},
        "TEST": {"NAME": f"test_{name}", "CHARSET": "utf8mb4", "COLLATION": "utf8mb4_unicode_ci"},
    }


# OM_DB_NAME lets several test runs share one server without touching each other.
DATABASES = {"default": _database(os.environ.get("OM_DB_NAME", "online_migrations"))}
