"""End-to-end tests run the real Dagster processes; these helpers start, probe and stop them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from resources.paths import PROJECT_ROOT

BIN = Path(sys.executable).parent
DEMO_ARGS = ["--materials", "5", "--plants", "1", "--customers", "8", "--vendors", "2"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment without project or Dagster variables, plus `overrides`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SCP_", "DAGSTER_"))}
    return {**env, **overrides}


def _default_signals() -> None:
    # A shell that starts jobs in the background ignores SIGINT/SIGTERM for them, and children
    # inherit that; Dagster's processes must be stoppable the normal way.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class Process:
    """A command in its own process group, logging to a file; `stop` ends the whole group."""

    def __init__(self, name: str, args: list[str], env: Mapping[str, str], logs: Path) -> None:
        self.name, self.args, self.env = name, args, dict(env)
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen | None = None

    def start(self) -> Process:
        with self.log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                self.args,
                cwd=PROJECT_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_default_signals,
            )
        return self

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self, sig: int = signal.SIGTERM, grace: float = 20.0) -> None:
        """Send `sig` to the group, then SIGKILL whatever is left after `grace` seconds."""
        if self.popen is None:
            return
        for signum, wait in ((sig, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                break
            try:
                self.popen.wait(timeout=wait)
                break
            except subprocess.TimeoutExpired:
                continue
        # Children (run workers) may outlive the leader; the group must end empty.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen = None

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- {self.name} (last {len(text)} lines) ---\n" + "\n".join(text)


def wait_until(
    probe: Callable[[], Any], timeout: float, what: str, interval: float = 1.0, on_timeout=None
) -> Any:
    """Call `probe` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() > deadline:
            details = on_timeout() if on_timeout else ""
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}\n{details}")
        time.sleep(interval)


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def graphql(port: int, query: str, variables: Mapping[str, Any] | None = None) -> dict:
    """POST a query to the webserver's GraphQL endpoint; raises on GraphQL errors."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query, "variables": dict(variables or {})}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        body = json.loads(response.read())
    if body.get("errors"):
        raise AssertionError(f"GraphQL errors: {body['errors']}")
    return body["data"]


def generate_demo_landing(
    landing: Path, days: int = 60, start: str = "2024-01-01"
) -> dict[str, int]:
    """SAP-shaped extracts through the demo CLI, as an operator makes them; rows per table."""
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pipelines.demo",
            "--out",
            str(landing),
            "--days",
            str(days),
            "--start",
            start,
            *DEMO_ARGS,
        ],
        cwd=PROJECT_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    counts = {}
    for line in result.stdout.splitlines():
        match line.split():
            case [table, rows] if rows.replace(",", "").isdigit():
                counts[table] = int(rows.replace(",", ""))
    return counts


class _JsonHandler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append(json.loads(body))  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@contextmanager
def json_receiver() -> Iterator[tuple[str, list[dict]]]:
    """A webhook endpoint on 127.0.0.1: yields its URL and the JSON bodies posted to it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _JsonHandler)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/dagster", server.received  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
