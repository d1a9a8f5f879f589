"""The suite's own output: what ``make test`` says when the MariaDB half cannot run."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.servers import REPO_ROOT


def test_without_mariadb_the_suite_says_so_once_instead_of_skipping_each_test():
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("TEST_DATABASE_URL", "CI", "PYTEST_ADDOPTS")
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests/test_health.py::test_health_is_200_ok_with_the_version",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert "SKIPPED" not in done.stdout
    said = [line for line in done.stdout.splitlines() if line.startswith("MariaDB half not run")]
    assert len(said) == 1, done.stdout[-3000:]
    assert "TEST_DATABASE_URL=mysql+pymysql://" in said[0]
    assert " deselected" in done.stdout.splitlines()[-1]
