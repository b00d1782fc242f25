"""`python -m bench`: see bench/benchmark.py (bench/run prepares the environment first)."""

import sys

from .benchmark import main

sys.exit(main())
