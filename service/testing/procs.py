"""Child processes for integration tests and benchmarks: free ports, `gradsweep` commands and a
process in its own session whose whole group is stopped together."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def command(cmd: list[str]) -> list[str]:
    """``gradsweep …`` from this interpreter's environment."""
    return [str(Path(sys.executable).parent / cmd[0]), *cmd[1:]]


class Process:
    """A child process in its own session, output to a log file, stopped with its group."""

    def __init__(self, argv: list[str], env: dict[str, str], log: Path,
                 cwd: Path | None = None) -> None:
        self.log_path = log
        self._log = log.open("ab")
        self.popen = subprocess.Popen(argv, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                      cwd=cwd, start_new_session=True)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20.0) -> None:
        """``sig`` to the whole process group, wait (SIGKILL after ``timeout``), then SIGKILL
        whatever of the group outlived its leader (pool children)."""
        pgid = self.popen.pid  # start_new_session: the group is this process's own
        if self.popen.poll() is None:
            try:
                os.killpg(pgid, sig)
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(pgid, signal.SIGKILL)
                self.popen.wait(10)
            except ProcessLookupError:
                pass
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if not self._log.closed:
            self._log.close()

    def output(self) -> str:
        """Everything the process printed so far."""
        return self.log_path.read_text(errors="replace")

    def tail(self, chars: int = 2000) -> str:
        """The end of the log, headed by its file name."""
        return f"--- {self.log_path.name} ---\n" + self.output()[-chars:]

    def cpu(self) -> float:
        """CPU seconds (user + system) used so far by the live processes of its group."""
        return sum(group_cpu(self.popen.pid))


class WaitFailed(RuntimeError):
    """What ``wait_until`` waited for did not happen (timed out, or the process exited)."""


def wait_until(check: Callable[[], Any], timeout: float, what: str,
               process: Process | None = None, interval: float = 0.05) -> Any:
    """Poll ``check`` until it returns something truthy; ``WaitFailed`` after ``timeout`` s or
    as soon as ``process`` exits, with the end of its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        if process is not None and process.popen.poll() is not None:
            raise WaitFailed(f"process exited while waiting for {what}:\n"
                             f"{process.output()[-3000:]}")
        time.sleep(interval)
    log = f"\n{process.output()[-3000:]}" if process is not None else ""
    raise WaitFailed(f"timed out after {timeout} s waiting for {what}{log}")


def group_cpu(pgid: int) -> tuple[float, float]:
    """CPU seconds (user + system) used so far by the live processes of group ``pgid``:
    (its leader, the rest of the group — pool children, a forkserver)."""
    leader = rest = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2:].split()  # after "pid (comm) "
        if int(fields[2]) != pgid:  # pgrp
            continue
        cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
        if int(stat.parent.name) == pgid:
            leader += cpu
        else:
            rest += cpu
    return leader, rest
