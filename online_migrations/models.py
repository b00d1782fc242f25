"""The checkpoint table: what each online run has done, so an interrupted one resumes."""

from django.db import models

from .names import CHECKPOINT_TABLE


class OnlineRun(models.Model):
    """One online change of one table. The engine writes it with its own connection, after
    each step and each chunk; a run is in flight until its state is done or aborted.

    Its columns are frozen: user migrations depend on ("online_migrations", "__latest__"), and
    a new migration here would make `migrate` refuse every database that applied one of them.
    New state goes into the JSON columns."""

    class State(models.TextChoices):
        CREATED = "created", "shadow table being created"
        TRIGGERS = "triggers", "triggers in place"
        COPYING = "copying", "copying rows"
        COPIED = "copied", "copied, waiting to swap"
        SWAPPED = "swapped", "swapped, cleaning up"
        DONE = "done", "done"
        ABORTED = "aborted", "aborted"

    database_alias = models.CharField(max_length=100)
    table_name = models.CharField(max_length=64)
    shadow_table = models.CharField(max_length=64)
    triggers = models.JSONField(default=list)
    fingerprint = models.CharField(max_length=64, help_text="digest of the plan")
    plan = models.JSONField(null=True, help_text="the change: column mapping, keys, shadow table")
    state = models.CharField(max_length=16, choices=State.choices, default=State.CREATED)
    deferred_indexes = models.JSONField(default=list, help_text="secondary indexes to build after the copy")
    last_key = models.JSONField(null=True, help_text="key of the last row copied")
    limit_key = models.JSONField(null=True, help_text="last key of the table when the copy started")
    verification = models.JSONField(null=True, help_text="a verification made after the copy, and since when it holds")
    cutover_requested = models.BooleanField(default=False, help_text="set by `online_migration cutover`")
    rows_copied = models.BigIntegerField(default=0)
    rows_estimate = models.BigIntegerField(default=0)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = CHECKPOINT_TABLE
        indexes = [models.Index(fields=["table_name", "state"], name="online_run_table_state")]

    def __str__(self) -> str:
        return f"{self.table_name} ({self.state})"
