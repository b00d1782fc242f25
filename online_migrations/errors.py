"""The one exception users see: its message says what is wrong, why, and how to fix it."""


class OnlineMigrationError(Exception):
    """Raised before anything changes when the input is wrong, or when a run must stop.

    The message is written for the person running the migration: it names the table and
    column involved and says what to do next.
    """
