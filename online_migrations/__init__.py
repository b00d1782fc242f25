"""Change big MySQL/MariaDB tables online from Django: shadow table, triggers, chunked copy,
atomic swap."""

from .engine import abort_migration, alter_online, change_table, finish_migration, restart_copy
from .errors import OnlineMigrationError

__all__ = ["abort_migration", "alter_online", "change_table", "finish_migration", "restart_copy", "OnlineMigrationError"]
