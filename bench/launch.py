"""`python bench/launch.py <snapshot>/example_project/manage.py ARGS...`: run a snapshot's
manage.py with the snapshot's engine only.

The project's virtualenv holds an editable install of online_migrations, whose import hook
finds any module of the package in the live checkout. manage.py puts the snapshot first on
sys.path, but a module the snapshot lacks (a file someone added since) would still be
imported from the checkout, mixing two versions. Removing the hook leaves only sys.path.
"""

import runpy
import sys


def main() -> None:
    sys.meta_path[:] = [finder for finder in sys.meta_path if "__editable__" not in getattr(finder, "__module__", "")]
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")


if __name__ == "__main__":
    main()
