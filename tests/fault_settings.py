"""The tests' settings plus `faultapp`, whose online migration the fault tests interrupt: it
is migrated only by tests/fault_runner.py, never when the test database is made."""

from .settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.faultapp"]  # noqa: F405
