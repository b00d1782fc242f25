from online_migrations import (
    change_table,
    finish_migration,
    restart_copy,
)


# This is only here to show the original table, it is not used
# during the migration
ORIGIN_TABLE_SQL = (
    """
    CREATE TABLE `campaign` (
        `id` integer AUTO_INCREMENT NOT NULL PRIMARY KEY,
        `name` varchar(255) NOT NULL,
        `objective` varchar(255) NOT NULL,
        `description` varchar(255) NOT NULL,
        `budget` numeric(12, 2) NOT NULL,
        `goal_value` numeric(12, 2),
        `post_id` varchar(128),
        `start_date` datetime,
        `end_date` datetime
    )
    """
)


DEST_TABLE_SQL = (
    """
    CREATE TABLE `campaign` (
        `id` integer AUTO_INCREMENT NOT NULL PRIMARY KEY,
        `display_name` varchar(255) NOT NULL,
        `objective` varchar(255) NOT NULL,
        `budget` numeric(12, 2) NOT NULL,
        `goal_spend` numeric(12, 2),
        `post_id` varchar(128),
        `start_date` datetime,
        `end_date` datetime,
        `created_time` datetime,
        `like_count` int
    )
    """
)


DEST_INDEXES = [
    "CREATE INDEX `campaign_87a49a9a` ON `campaign` (`post_id`)",
    "CREATE INDEX `campaign_87a49a9z` ON `campaign` (`objective`, `start_date`)",
]


ORIGIN_COLUMNS = [
    "id",
    "name",
    "objective",
    "description",
    "budget",
    "goal_value",
    "post_id",
    "start_date",
    "end_date",
]


DEST_COLUMNS = [
    "id",
    "display_name",
    "objective",
    "budget",
    "goal_spend",
    "post_id",
    "start_date",
    "end_date",
    "created_time",
    "like_count",
]

RENAMES = {
    "name": "display_name",
    "goal_value": "goal_spend",
}

def run(**kwargs):
    "run the migration"
    kwargs['renames'] = RENAMES
    change_table("default", "campaign", DEST_TABLE_SQL, DEST_INDEXES, ORIGIN_COLUMNS, DEST_COLUMNS, **kwargs)


def restart(**kwargs):
    "restart the copy"
    kwargs['renames'] = RENAMES
    restart_copy("default", "campaign", ORIGIN_COLUMNS, DEST_COLUMNS, **kwargs)


def rename(**kwargs):
    "rename the migration"
    # pylint: disable=W0613
    finish_migration("default", "campaign")
