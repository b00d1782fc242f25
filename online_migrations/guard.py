"""Checks, during a run, that nobody else changed what the run relies on.

Someone else's ALTER on the original table, or a dropped trigger, would make the shadow table
silently wrong: the triggers and the copy were built for the definitions seen at the start.
The definitions are compared now and then during the copy and once more before the swap.
"""

from dataclasses import replace

from .describe import Table
from .errors import OnlineMigrationError
from .plan import Plan, describe
from .session import Session
from .sql import quote_name
from .triggers import missing_triggers


class Guard:
    def __init__(self, session: Session, plan: Plan):
        self.session = session
        self.plan = plan
        self._seen = {name: self._definition(name) for name in (plan.table, plan.shadow)}

    def check(self) -> None:
        missing = missing_triggers(self.session, self.plan.table)
        if missing:
            raise OnlineMigrationError(
                f"The triggers {', '.join(map(quote_name, missing))} of {quote_name(self.plan.table)} were dropped "
                f"by someone else during the run, so {quote_name(self.plan.shadow)} misses changes. Throw the run "
                "away with abort_migration() and start again."
            )
        for name, seen in self._seen.items():
            if self._definition(name) != seen:
                raise OnlineMigrationError(
                    f"{quote_name(name)} was altered by someone else during the online migration of "
                    f"{quote_name(self.plan.table)}; the copy and the triggers were built for its earlier "
                    "definition. Throw the run away with abort_migration() and start again once no one else "
                    "changes the table."
                )

    def _definition(self, table: str) -> Table:
        """The table as described, less the AUTO_INCREMENT counter, which moves with every insert."""
        description = describe(self.session, table)
        options = {k: v for k, v in description.options.items() if k != "AUTO_INCREMENT"}
        return replace(description, options=options)
