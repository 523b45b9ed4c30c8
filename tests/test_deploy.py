"""deploy/: what can be checked without Docker or a systemd host — the unit file (systemd-analyze), the
compose file's wiring, and that the example config passes `sentinel check`."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ruamel.yaml import YAML

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"


def test_example_cluster_config_passes_sentinel_check() -> None:
    secrets = ("SENTINEL_DB_PASSWORD", "SENTINEL_MQTT_PASSWORD", "CAM_PASSWORD")
    env = {**os.environ, **dict.fromkeys(secrets, "not-used")}
    out = subprocess.run(
        [sys.executable, "-m", "sentinel.cli.main", "check", "--config", str(DEPLOY / "config" / "sentinel.yaml")],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    assert "3 cameras" in out.stdout
    assert "not-used" not in out.stdout + out.stderr


def test_compose_file_wires_three_identical_nodes_to_postgres_and_the_broker() -> None:
    compose = YAML(typ="safe").load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    services = compose["services"]
    nodes = {name: svc for name, svc in services.items() if name.startswith("node-")}
    assert len(nodes) == 3
    assert len({svc["hostname"] for svc in nodes.values()}) == 3  # the node ids
    assert len({svc["image"] for svc in nodes.values()}) == 1
    for svc in nodes.values():
        assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "./config:/etc/sentinel:ro" in svc["volumes"]
        assert any(v.startswith("media:") for v in svc["volumes"])  # the shared media volume
        assert all(p.startswith("127.0.0.1:") for p in svc["ports"])  # the console is not published wide
    # what the nodes are configured to reach is what compose runs
    config = YAML(typ="safe").load((DEPLOY / "config" / "sentinel.yaml").read_text(encoding="utf-8"))
    assert config["mqtt"]["url"] == "mqtt://mosquitto:1883" and "mosquitto" in services
    assert "@postgres:5432/" in config["database"]["url"] and "postgres" in services
    assert config["storage"]["data_dir"] == "/var/lib/sentinel"
    mounted = services["mosquitto"]["volumes"][0].split(":")[0]
    assert (DEPLOY / mounted).is_file()
    # the broker refuses anonymous clients and applies the shipped ACL (tests/test_command_acl.py runs it)
    conf = (DEPLOY / "mosquitto.conf").read_text().splitlines()
    assert "allow_anonymous false" in conf and "acl_file /mosquitto/config/acl" in conf
    assert "./mosquitto/acl:/mosquitto/config/acl:ro" in services["mosquitto"]["volumes"]
    assert (DEPLOY / "mosquitto" / "acl").is_file()
    # the Dockerfile copies what exists
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY "):
            for src in line.split()[1:-1]:
                assert (REPO / src).exists(), src


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_systemd_unit_verifies(tmp_path: Path) -> None:
    sentinel = shutil.which("sentinel", path=str(Path(sys.executable).parent))
    assert sentinel is not None
    unit = (DEPLOY / "sentinel.service").read_text()
    assert "/opt/sentinel/.venv/bin/sentinel run --config /etc/sentinel/sentinel.yaml" in unit
    # the paths of an installed node, pointed at this checkout's executable so verify can find it
    local = tmp_path / "sentinel.service"
    local.write_text(unit.replace("/opt/sentinel/.venv/bin/sentinel", sentinel))
    out = subprocess.run(
        ["systemd-analyze", "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert "Unknown" not in out.stderr and "bad" not in out.stderr.lower(), out.stderr
