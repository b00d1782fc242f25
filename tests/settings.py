"""Settings for the test suite: a real MariaDB/MySQL server, configured by OM_DB_* variables."""

import os
import sys
from pathlib import Path

# The example project's `campaigns` app carries the seed's example migration, tested as is.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "example_project"))

SECRET_KEY = "tests"
USE_TZ = True
INSTALLED_APPS = ["online_migrations", "campaigns", "tests.testapp", "tests.opsapp"]
# tests.opsapp's migrations are written by tests/test_makemigrations.py into a temporary package.
MIGRATION_MODULES = {"opsapp": None}
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
# The online operations fall back to plain ones on other databases (tests/test_operations.py).
DATABASES["sqlite"] = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
