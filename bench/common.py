"""Helpers shared by the benchmarks: a sandbox in its own process, peak memory, timing."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def sandbox_process(*args: str) -> Iterator[tuple[str, subprocess.Popen]]:
    """`kickscale-sync sandbox` in a child process (its own core), ready when this yields."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kickscale_sync.cli", "sandbox", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        line = process.stdout.readline()  # printed once the workspace is built and bound
        if not line.startswith("Kickscale sandbox on"):
            raise RuntimeError(f"sandbox did not start: {line}{process.stderr.read()}")
        httpx.get(f"{url}/swagger", timeout=30).raise_for_status()
        yield url, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def peak_rss_mb(pid: int) -> float:
    """The peak resident set size of a live process (VmHWM), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
