"""The README's Python client, run as a user would copy it, against a live server."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.servers import REPO_ROOT, VENV_BIN, server_environment

CLIENT_SECTION = "### A Python client"


def readme_client() -> str:
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme[readme.index(CLIENT_SECTION) :]
    match = re.search(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert match, "the client section has no python block"
    return match.group(1)


@pytest.mark.slow
def test_readme_client_retries_a_create_once_and_follows_every_link_page(start_server, tmp_path):
    database = f"sqlite:///{tmp_path / 'messaging.sqlite3'}"
    subprocess.run(
        [str(VENV_BIN / "flask"), "--app", "messaging", "init-db"],
        cwd=REPO_ROOT,
        env=server_environment({"DATABASE_URL": database, "LOG_FILE": ""}),
        capture_output=True,
        check=True,
        timeout=120,
    )
    server = start_server(DATABASE_URL=database, WEB_CONCURRENCY="1")
    script = tmp_path / "client.py"
    script.write_text(readme_client())
    done = subprocess.run(
        [sys.executable, str(script)],
        env=server_environment({"MESSAGING_URL": server.base_url}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    # One message for the create and its retry, five more: six, over three pages of two.
    assert done.stdout == "6 messages for account 42\n"
    pages = [
        line for line in server.console_text().splitlines() if "GET /v1/get/messages/42" in line
    ]
    assert len(pages) == 3
