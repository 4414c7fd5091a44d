"""Start and stop real ``rules serve`` processes on 127.0.0.1 for the live tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from rules_cli.cli import main as _cli  # noqa: F401 - the same code the process runs

from conftest import RULES


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """``rules serve`` in its own process group, so that SIGKILL takes its workers too."""

    def __init__(self, log: str | Path, workers: int = 2, port: int | None = None, extra: tuple = ()):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [sys.executable, "-c", "from rules_cli.cli import main; main()", "serve", "--port", str(self.port),
                   "--workers", str(workers), "--rules-dir", str(RULES), "--log", str(log), *extra]
        self.output = tempfile.NamedTemporaryFile(prefix=f"rules-serve-{self.port}-", suffix=".txt", delete=False)
        self.process = subprocess.Popen(command, stdout=self.output, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait()

    def _wait(self, seconds: float = 60) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise RuntimeError(f"rules serve exited with {self.process.returncode}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.kill()
        raise RuntimeError("rules serve did not become ready")

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no flush."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)
        self.output.close()

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            self.kill()
            return
        self.output.close()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.stop()
