"""A `./manage.py migrate` for the fault tests to kill: `python -m tests.fault_runner
<database> setup|migrate [pause-after-shadow|pause-before-swap]`, run from the repo root.

`setup` creates faultapp's table (its migration 0001); `migrate` applies 0002, an online
operation, as `migrate` does. A pause holds the process at a chosen point (by wrapping an
engine step, here in the test's process only) so that `kill -9` lands exactly there.
"""

import logging
import os
import sys
import time


def pause(function, message):
    def paused(*args, **kwargs):
        result = function(*args, **kwargs)
        print(message, flush=True)
        time.sleep(600)
        return result
    return paused


def main(database: str, command: str, where: str = "") -> None:
    os.environ["OM_DB_NAME"] = database
    os.environ["DJANGO_SETTINGS_MODULE"] = "tests.fault_settings"
    import django

    django.setup()
    from django.core.management import call_command

    from online_migrations import engine

    logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
    if where == "pause-after-shadow":  # the shadow table exists, the triggers do not yet
        engine.check_data_fits = pause(engine.check_data_fits, "paused after the shadow table")
    elif where == "pause-before-swap":  # copied, not swapped
        engine._verify = pause(engine._verify, "paused before the swap")
    call_command("migrate", "faultapp", *(["0001"] if command == "setup" else []), verbosity=1)


if __name__ == "__main__":
    main(*sys.argv[1:])
