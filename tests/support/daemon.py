"""`sentinel run` as a child process for end-to-end tests, its output in `<config dir>/<name>.log`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


class Daemon:
    def __init__(self, config: Path, name: str = "daemon", env: dict[str, str] | None = None) -> None:
        text = config.read_text(encoding="utf-8")
        is_json = text.lstrip().startswith("{")
        if not is_json and not any(line.startswith("console:") for line in text.splitlines()):
            # each test daemon would otherwise want the console's default port 8080
            config.write_text(text.rstrip("\n") + "\nconsole: {enabled: false}\n", encoding="utf-8")
        self.log_path = config.parent / f"{name}.log"
        self._log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()/kill()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sentinel.cli.main", "run", "--config", str(config)],
            stdout=self._log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}, cwd=config.parent,
        )  # fmt: skip

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        self.proc.kill()  # SIGKILL: no goodbye, no flush
        self.proc.wait(10)
        self._log.close()
