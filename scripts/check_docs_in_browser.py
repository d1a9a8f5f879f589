"""Open /docs in headless Chromium and use it as a first-time visitor would.

    python scripts/check_docs_in_browser.py http://127.0.0.1:8080

Checks what the test suite cannot see without a browser: that a deep link opens
an operation, that "Try it out" leaves every optional search filter and the
Idempotency-Key empty, that Execute answers 200 and shows the request duration,
that a create can be executed again after editing its body, that no stray
schema or placeholder error text shows, and that the page asks nothing of any
host but the service. Exits non-zero and says what failed otherwise.

Chromium comes from Debian (``apt-get install -y chromium``); with ``--install``
this script installs it when it is missing. The browser is driven over the
DevTools protocol on a pipe (``--remote-debugging-pipe``), so nothing beyond the
standard library is needed. The suite does not run this (Chromium is several
hundred megabytes for every CI run); it checks the OpenAPI document and the
Swagger UI settings that decide what the browser shows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from typing import Any
from urllib.parse import urlsplit

CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)
WAIT_SECONDS = 20
# Filters GET /v1/search takes; none may be filled in before the visitor types one.
SEARCH_FILTERS = (
    "q",
    "message_id",
    "account_id",
    "sender_number",
    "receiver_number",
    "created_after",
    "created_before",
    "cursor",
)


class DocsCheckError(AssertionError):
    pass


class Browser:
    """Chromium over the DevTools protocol: JSON messages ending in NUL on fds 3 and 4."""

    def __init__(self, executable: str) -> None:
        self.profile = tempfile.mkdtemp(prefix="docs-check-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def wire_pipes() -> None:
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen(
            [executable, *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "about:blank"],
            preexec_fn=wire_pipes,
            # Kept open in the child: closing happens after preexec_fn has wired them.
            pass_fds=(3, 4),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)[
            "sessionId"
        ]
        self.call("Page.enable", session=True)
        self.call("Network.enable", session=True)

    def _read_message(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_browser, 65536)
            if not chunk:
                raise DocsCheckError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") != self._next_id:
                self.events.append(reply)
                continue
            if "error" in reply:
                raise DocsCheckError(f"{method}: {reply['error']}")
            return reply["result"]

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate",
            session=True,
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
        )
        if "exceptionDetails" in result:
            raise DocsCheckError(f"script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = WAIT_SECONDS) -> Any:
        deadline = time.monotonic() + timeout
        # An element found is reported as true: a DOM node cannot be returned by value.
        expression = f"(() => {{ const v = ({expression}); return v instanceof Node || v; }})()"
        while time.monotonic() < deadline:
            value = self.evaluate(expression)
            if value:
                return value
            time.sleep(0.2)
        raise DocsCheckError(f"timed out waiting for {what}")

    def requested_hosts(self) -> set[str]:
        return {
            urlsplit(event["params"]["request"]["url"]).netloc
            for event in self.events
            if event.get("method") == "Network.requestWillBeSent"
            and event["params"]["request"]["url"].startswith(("http:", "https:"))
        }

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        shutil.rmtree(self.profile, ignore_errors=True)


def operation(block_id: str) -> str:
    return f"document.getElementById({json.dumps(block_id)})"


def click_button(block_id: str, css_class: str) -> str:
    return f"""(() => {{
        const button = {operation(block_id)}?.querySelector({json.dumps("button." + css_class)});
        if (!button) return false;
        button.click();
        return true;
    }})()"""


def filled_inputs(block_id: str) -> str:
    """Every parameter input of the operation that holds a value: {name: value}."""
    return f"""(() => {{
        const filled = {{}};
        for (const row of {operation(block_id)}.querySelectorAll("tr[data-param-name]")) {{
            for (const input of row.querySelectorAll("input, select")) {{
                if (input.value && input.value !== "--") {{
                    filled[row.dataset.paramName] = input.value;
                }}
            }}
        }}
        return filled;
    }})()"""


def response_status(block_id: str) -> str:
    return f"""(() => {{
        const cell = {operation(block_id)}
            ?.querySelector(".live-responses-table .response .response-col_status");
        return cell ? cell.textContent.trim() : "";
    }})()"""


def edit_body(block_id: str, message_text: str) -> str:
    """Type a new ``message_text`` into the request body, as React expects typing to arrive."""
    return f"""(() => {{
        const area = {operation(block_id)}.querySelector("textarea.body-param__text");
        const body = JSON.parse(area.value);
        body.message_text = {json.dumps(message_text)};
        const setter = Object.getOwnPropertyDescriptor(HTMLTextAreaElement.prototype, "value").set;
        setter.call(area, JSON.stringify(body, null, 2));
        area.dispatchEvent(new Event("input", {{ bubbles: true }}));
        return true;
    }})()"""


def page_text_has(text: str) -> str:
    return f"document.body.innerText.includes({json.dumps(text)})"


def check(base_url: str, browser: Browser) -> list[str]:
    """Run every check; the list of what passed (a failure raises)."""
    passed: list[str] = []
    search = "operations-messages-get_v1_search"
    create = "operations-messages-post_v1_create"

    browser.call("Page.navigate", session=True, url=f"{base_url}/docs#/messages/get_v1_search")
    browser.wait_for(
        f"{operation(search)}?.classList.contains('is-open')", "the deep link to open search"
    )
    passed.append("a deep link (#/messages/get_v1_search) opens the operation")

    browser.wait_for(click_button(search, "try-out__btn"), "search's Try it out button")
    browser.wait_for(f"{operation(search)}.querySelector('button.execute')", "Execute")
    filled = browser.evaluate(filled_inputs(search))
    prefilled = sorted(set(filled) & set(SEARCH_FILTERS))
    if prefilled:
        raise DocsCheckError(f"Try it out pre-fills search filters: {prefilled} ({filled})")
    passed.append(f"Try it out on search fills no filter (filled: {filled or 'nothing'})")

    browser.evaluate(click_button(search, "execute"))
    status = browser.wait_for(response_status(search), "search's response")
    if status != "200":
        raise DocsCheckError(f"executing search answered {status}")
    browser.wait_for(
        f"{operation(search)}.innerText.includes('Request duration')", "the request duration"
    )
    passed.append("Execute on search answers 200 and shows the request duration")

    browser.wait_for(click_button(create, "opblock-summary-control"), "create's summary")
    browser.wait_for(click_button(create, "try-out__btn"), "create's Try it out button")
    browser.wait_for(f"{operation(create)}.querySelector('button.execute')", "create's Execute")
    filled = browser.evaluate(filled_inputs(create))
    if filled.get("Idempotency-Key"):
        raise DocsCheckError(f"Try it out pre-fills Idempotency-Key: {filled['Idempotency-Key']!r}")
    passed.append("Try it out on create leaves Idempotency-Key empty")
    for attempt in (1, 2):
        if attempt == 2:
            browser.evaluate(edit_body(create, "See you at 7"))
        browser.evaluate(click_button(create, "execute"))
        status = browser.wait_for(response_status(create), f"create's response #{attempt}")
        if status != "200":
            raise DocsCheckError(f"executing create (attempt {attempt}) answered {status}")
        if attempt == 2 and not browser.evaluate(
            f"{operation(create)}.querySelector('.live-responses-table').innerText"
            ".includes('See you at 7')"
        ):
            raise DocsCheckError("the edited body was not what create stored")
        # Swagger UI keeps the last response on screen: clear it before the next attempt.
        browser.evaluate(click_button(create, "btn-clear"))
        browser.wait_for(f"!({response_status(create)})", "the response to clear")
    passed.append("Execute on create answers 200, and 200 again after editing the body")

    if browser.evaluate(page_text_has("PaginationMetadata")):
        raise DocsCheckError("the schemas list PaginationMetadata, which no route uses")
    if browser.evaluate(page_text_has("see authorization schemes")):
        raise DocsCheckError("an error example still shows Werkzeug's placeholder text")
    passed.append("no PaginationMetadata schema, no Werkzeug placeholder examples")

    service = urlsplit(base_url).netloc
    elsewhere = browser.requested_hosts() - {service}
    if elsewhere:
        raise DocsCheckError(f"the page asked other hosts: {sorted(elsewhere)}")
    passed.append(f"every request the page made went to {service}")
    return passed


def find_chromium(install: bool) -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    if not install:
        raise SystemExit(
            "chromium is not installed: apt-get install -y chromium (or pass --install)"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update"], check=True, env=env, stdin=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "chromium"], check=True, env=env, stdin=subprocess.DEVNULL
    )
    return find_chromium(install=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base_url", help="where the service runs, e.g. http://127.0.0.1:8080")
    parser.add_argument("--install", action="store_true", help="apt-get install chromium")
    args = parser.parse_args()
    browser = Browser(find_chromium(args.install))
    try:
        passed = check(args.base_url.rstrip("/"), browser)
    except DocsCheckError as failure:
        print(f"FAILED: {failure}", file=sys.stderr)
        return 1
    finally:
        browser.close()
    for line in passed:
        print(f"ok  {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
