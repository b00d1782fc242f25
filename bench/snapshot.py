"""A frozen copy of the engine and the example project, for the whole benchmark.

Other engineers edit the checkout while a benchmark runs for many minutes: measuring the live
tree once measured two engine versions in one report, and once crashed halfway on a file
caught mid-edit. So the benchmark copies `online_migrations/` and `example_project/` once, at
the start, checks the copy imports, and runs every tool and the load from it.
"""

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAUNCH = Path(__file__).resolve().parent / "launch.py"
PARTS = ("online_migrations", "example_project")


def take(source: str, dest: Path) -> str:
    """Copy the engine and the example project from `source` (a git revision, or "worktree"
    for the files as they are now) into `dest`; returns a description of what was copied."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    if source == "worktree":
        for part in PARTS:
            shutil.copytree(REPO / part, dest / part, ignore=shutil.ignore_patterns("__pycache__"))
        dirty = _git("status", "--porcelain", "--", *PARTS)
        description = f"working tree on {_git('rev-parse', '--short', 'HEAD')}" + (" with uncommitted changes" if dirty else "")
    else:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", source, *PARTS], capture_output=True, check=True).stdout
        tarfile.open(fileobj=io.BytesIO(archive)).extractall(dest)
        description = f"commit {_git('log', '-1', '--format=%h %s', source)}"
    return f"{description} (sources {_digest(dest / 'online_migrations')})"


def manage(root: Path) -> list[str]:
    """The command line of the snapshot's manage.py, isolated from the live checkout."""
    return [sys.executable, str(LAUNCH), str(root / "example_project" / "manage.py")]


def check(root: Path, env: dict[str, str]) -> None:
    """Fail now, not after an hour, when the copied tree does not even import."""
    result = subprocess.run([*manage(root), "check"], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"the engine snapshot in {root} does not work:\n{result.stdout}{result.stderr}")


def _digest(folder: Path) -> str:
    sources = sorted(folder.rglob("*.py"))
    return hashlib.sha256(b"".join(path.read_bytes() for path in sources)).hexdigest()[:10]


def _git(*args: str) -> str:
    return subprocess.run(["git", "-C", str(REPO), *args], capture_output=True, text=True).stdout.strip()
