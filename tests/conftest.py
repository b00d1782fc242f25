import re

import pytest
from django.db import connection, connections

from online_migrations.describe import show_create_table
from online_migrations.session import CONVERSIONS


def connect(alias: str = "default"):
    """A fresh autocommit connection to the test database, like one of the application's."""
    params = connections[alias].get_connection_params()
    params["charset"] = "utf8mb4"
    params["conv"] = CONVERSIONS
    conn = connection.Database.connect(**params)
    conn.autocommit(True)
    return conn


class Sql:
    """Runs statements on a connection of its own (the tests' view of the server)."""

    def __init__(self, alias: str = "default"):
        self.conn = connect(alias)

    def __call__(self, statement, params=None):
        with self.conn.cursor() as cursor:
            cursor.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description else cursor.rowcount

    def value(self, statement, params=None):
        rows = self(statement, params)
        return rows[0][0] if rows else None

    def tables(self):
        return sorted(r[0] for r in self("SHOW FULL TABLES WHERE Table_type = 'BASE TABLE'"))

    def triggers(self):
        return sorted(r[0] for r in self("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()"))

    def schema(self):
        """Everything a run may create or change: tables with their definitions (less the
        AUTO_INCREMENT counters, which move with every insert), and triggers."""
        return {
            t: re.sub(r" AUTO_INCREMENT=\d+", "", show_create_table(self.conn.cursor(), t))
            for t in self.tables()
        }, self.triggers()


@pytest.fixture
def sql(transactional_db):
    helper = Sql()
    yield helper
    helper("SET foreign_key_checks = 0")  # tables go in name order, children after parents or not
    for name in helper.triggers():
        helper(f"DROP TRIGGER `{name.replace('`', '``')}`")
    models = set(connection.introspection.django_table_names(include_views=False))
    for name in helper.tables():
        if name not in models and not name.startswith("django_"):
            helper(f"DROP TABLE `{name.replace('`', '``')}`")
    helper.conn.close()
