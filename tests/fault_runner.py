"""A migrating process for the fault tests to kill: `python -m tests.fault_runner <database>
<table> [pause-after-shadow|pause-before-swap]`, run from the repo root.

It stands for `./manage.py migrate` running an online operation: the same engine call, with
the shadow table built from SQL. A pause holds it at a chosen point so that `kill -9` lands
exactly there.
"""

import os
import sys
import time


def main(database: str, table: str, pause: str = "") -> None:
    os.environ["OM_DB_NAME"] = database
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    import django

    django.setup()
    import logging

    from django.db import connection

    from online_migrations import alter_online
    from online_migrations.sql import quote_name
    from tests.tables import KEY_SHAPES

    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    shape = KEY_SHAPES["auto_increment"]

    def build_shadow(shadow: str) -> None:
        dest = shape.dest_sql(shadow).replace("`title` varchar(64) NOT NULL,", "`title` varchar(64) NOT NULL DEFAULT '',")
        with connection.cursor() as cursor:
            cursor.execute(dest)
        if pause == "pause-after-shadow":
            print("paused after the shadow table", flush=True)
            time.sleep(600)

    alter_online(
        "default", table, build_shadow, shape.origin_columns(), shape.dest_columns(), {"name": "title"},
        swap_tables=pause != "pause-before-swap", chunk_size=25, chunk_time=0, throttle=0.01,
    )
    if pause == "pause-before-swap":
        print("paused before the swap", flush=True)
        time.sleep(600)
    print("finished", quote_name(table), flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
