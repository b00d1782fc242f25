"""The example project, as a newcomer runs it: its whole migration history applies on an empty
database (the online operations included) and leaves nothing for makemigrations to do."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from .conftest import Sql

MANAGE = Path(__file__).resolve().parent.parent / "example_project" / "manage.py"


@pytest.fixture
def empty_database(sql):
    name = f"test_om_example_{uuid.uuid4().hex[:8]}"
    sql(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    yield name
    Sql()(f"DROP DATABASE `{name}`")


def manage(database, *args):
    environment = {**os.environ, "OM_DEMO_DB_NAME": database}
    environment.pop("DJANGO_SETTINGS_MODULE")  # the tests' own; manage.py names the project's
    result = subprocess.run([sys.executable, str(MANAGE), *args], env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_example_history_applies_from_scratch(empty_database):
    manage(empty_database, "migrate", "--no-input")
    assert "No changes detected" in manage(empty_database, "makemigrations", "--check", "--dry-run")
    plan = manage(empty_database, "sqlmigrate", "library", "0002")
    assert "-- Path:" in plan
