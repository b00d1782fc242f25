"""The demo's model: an ad campaign table, in the shape it has before the online migration."""

from django.db import models


class SecondsDateTimeField(models.DateTimeField):
    """A DATETIME column without fractional seconds.

    Django makes DATETIME(6) on MySQL/MariaDB, but the legacy `campaign` table and the
    online migration's destination table use plain DATETIME: the model must create
    exactly that table, or the copy would silently drop microseconds.
    """

    def db_type(self, connection) -> str:
        return "datetime"


class Campaign(models.Model):
    id = models.AutoField(primary_key=True)
    name = models.CharField(max_length=255)
    objective = models.CharField(max_length=255)
    description = models.CharField(max_length=255)
    budget = models.DecimalField(max_digits=12, decimal_places=2)
    goal_value = models.DecimalField(max_digits=12, decimal_places=2, null=True)
    post_id = models.CharField(max_length=128, null=True)
    start_date = SecondsDateTimeField(null=True)
    end_date = SecondsDateTimeField(null=True)

    class Meta:
        db_table = "campaign"

    def __str__(self) -> str:
        return self.name
