"""`sentinel users ...` reads only the config sections it needs (database, storage, console): a camera password,
the MQTT password or the webhook secret whose environment variable is not set yet does not stop the first
admin being added and listed. Through the CLI entry point in a child process with a bare environment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
UNSET = "SENTINEL_TEST_NEVER_SET_7F3A"  # named by the config, never in the child's environment
CONFIG = f"""\
site: {{id: t}}
storage: {{data_dir: data}}
mqtt:
  url: mqtt://127.0.0.1:1883
  username: sentinel
  password: ${{{UNSET}}}
webhook: {{url: "https://gw.example/hook", secret_env: {UNSET}}}
console: {{token_lifetime: 30d}}
cameras:
  - id: gate
    source: rtsp://admin:${{{UNSET}}}@192.0.2.1/stream1
    onvif: {{host: 192.0.2.1, username: admin, password: "${{{UNSET}}}"}}
"""


def sentinel(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", *args], cwd=REPO, input=stdin, capture_output=True,
        text=True, timeout=120, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
    )  # fmt: skip


def test_users_add_and_list_with_unset_secrets_elsewhere(tmp_path: Path) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    checked = sentinel("check", "--config", str(config))
    assert checked.returncode == 2, checked  # the daemon itself still needs every one of them
    for key in ("mqtt.password", "webhook.secret_env", "cameras[0]"):
        assert key in checked.stdout + checked.stderr, (key, checked)

    added = sentinel(
        "users", "add", "ada", "--role", "admin", "--name", "管理员 Ada", "--password-stdin", "--config",
        str(config), stdin="correct horse 42\n",
    )  # fmt: skip
    assert added.returncode == 0, added
    listed = sentinel("users", "list", "--config", str(config))
    assert listed.returncode == 0, listed
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0] == ["USER", "ROLE", "ROSTER", "ACTIVE", "NAME"] and rows[1][:4] == [
        "ada",
        "admin",
        "-",
        "yes",
    ], listed.stdout
    assert (tmp_path / "data" / "sentinel.db").is_file()  # storage.data_dir, relative to the config file
    assert UNSET not in listed.stderr + added.stderr and "Traceback" not in listed.stderr + added.stderr


def test_users_still_check_the_sections_they_read(tmp_path: Path) -> None:
    config = tmp_path / "sentinel.yaml"
    config.write_text(CONFIG.replace("token_lifetime: 30d", "token_lifetime: 20s"), encoding="utf-8")
    listed = sentinel("users", "list", "--config", str(config))
    assert listed.returncode == 2, listed
    assert "sentinel.yaml:8: console.token_lifetime: " in listed.stderr, listed.stderr
    assert "mqtt" not in listed.stderr and "webhook" not in listed.stderr and "Traceback" not in listed.stderr
