"""``rainbow config init`` and ``rainbow server``, including the real console script in a subprocess."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from rainbow.client import ClientConfig, RainbowClient, RainbowClientError
from rainbow.server.auth import hash_token, load_auth
from rainbow.server.config import load_config
from tests.cli.conftest import Run
from tests.conftest import cpu_nodes
from tests.support import free_port


def test_config_init_writes_a_working_configuration(rainbow: Run, tmp_path: Path) -> None:
    result = rainbow("config", "init", "--dir", str(tmp_path / "conf"), "--address", "127.0.0.1:6000").ok()
    conf = tmp_path / "conf"
    assert "rainbow server --config" in result.out and "RAINBOW_CONFIG" in result.out
    server = load_config(conf / "rainbow.yaml")
    assert server.address == "127.0.0.1:6000" and server.auth_file == conf / "auth.yaml"
    assert server.database == str(conf / "rainbow.db")
    client = yaml.safe_load((conf / "client.yaml").read_text())
    secret = (conf / "registration-secret").read_text().strip()
    auth_text = (conf / "auth.yaml").read_text()
    # Only hashes at rest in the auth file; the plain values are only in the 0600 files.
    assert client["token"] not in auth_text and secret not in auth_text
    auth = yaml.safe_load(auth_text)
    assert auth["registrationSecret"] == hash_token(secret)
    (admin,) = auth["users"]
    assert admin == {"name": "admin", "token": hash_token(client["token"]), "clusters": ["*"], "admin": True}
    assert load_auth(conf / "auth.yaml").authenticate_user(client["token"]) is not None
    for name in ("client.yaml", "registration-secret", "auth.yaml"):
        assert stat.S_IMODE((conf / name).stat().st_mode) == 0o600, name
    # Secrets are not echoed.
    assert client["token"] not in result.out and secret not in result.out


def test_config_init_refuses_to_overwrite_without_force(rainbow: Run, tmp_path: Path) -> None:
    rainbow("config", "init").ok()  # default: ./.rainbow
    token = yaml.safe_load(Path(".rainbow/client.yaml").read_text())["token"]
    refused = rainbow("config", "init")
    assert refused.code == 5 and "--force" in refused.err
    assert yaml.safe_load(Path(".rainbow/client.yaml").read_text())["token"] == token
    rainbow("config", "init", "--force").ok()
    assert yaml.safe_load(Path(".rainbow/client.yaml").read_text())["token"] != token


def test_server_without_a_config_says_how_to_make_one(rainbow: Run) -> None:
    result = rainbow("server")
    assert result.code == 2 and "rainbow config init" in result.err
    Path("rainbow.yaml").write_text("address: 127.0.0.1:0\nauthFile: missing.yaml\n")
    assert "missing.yaml" in rainbow("server").err
    Path("rainbow.yaml").write_text("address: 127.0.0.1:0\ncolour: blue\n")
    assert rainbow("server").code == 2


def _script() -> str:
    found = shutil.which("rainbow", path=str(Path(sys.executable).parent)) or shutil.which("rainbow")
    if found is None:
        pytest.skip("the rainbow console script is not installed (pip install -e .)")
    return found


@contextlib.contextmanager
def server_process(
    conf: Path, workdir: Path, env: dict[str, str], *flags: str
) -> Iterator[subprocess.Popen[bytes]]:
    """``rainbow server`` (the console script) on ``conf``'s config and a database in ``workdir``,
    logging to ``workdir/server.log``; killed at the end if it is still running."""
    with (workdir / "server.log").open("w") as log:
        server = subprocess.Popen(
            [_script(), "server", "--config", str(conf / "rainbow.yaml"), "--db", str(workdir / "x.db"), *flags],
            env=env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        try:
            yield server
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_console_script_runs_server_and_client_end_to_end(tmp_path: Path, stop: signal.Signals) -> None:
    rainbow = _script()
    conf, port = tmp_path / "conf", free_port()
    env = {**os.environ, "RAINBOW_CONFIG": str(conf / "client.yaml")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [rainbow, *args], env=env, capture_output=True, text=True, timeout=60, check=False
        )

    assert run("config", "init", "--dir", str(conf), "--address", f"127.0.0.1:{port}").returncode == 0
    with server_process(conf, tmp_path, env, "--metrics-port", "0") as server:
        health = run("health", "--wait", "30")
        assert health.returncode == 0 and health.stdout.strip() == "SERVING", health.stderr
        registered = run(
            "cluster", "register", "small", "--registration-secret-file", str(conf / "registration-secret"),
            "--node-group", "count=2,cpu=4,memory=16Gi", "--save", str(tmp_path / "small.yaml"),
        )  # fmt: skip
        assert registered.returncode == 0, registered.stderr
        submitted = run("submit", "--cpu", "2", "-o", "json", "--", "echo", "hi")
        assert json.loads(submitted.stdout)["job"]["cluster"] == "small"
        listed = run("jobs", "list")
        assert "echo" in listed.stdout and "ASSIGNED" in listed.stdout
        assert run("jobs", "get", "7").returncode == 3
        server.send_signal(stop)
        assert server.wait(timeout=20) == 0
    text = (tmp_path / "server.log").read_text()
    assert "listening on" in text and "stopped" in text and "Traceback" not in text
    assert (tmp_path / "x.db").exists()  # --db overrides the config file
    token = yaml.safe_load((conf / "client.yaml").read_text())["token"]
    assert token not in text
    assert run("jobs", "list").returncode == 6  # server gone


def test_demo_script_runs_unattended(tmp_path: Path) -> None:
    demo = Path(__file__).resolve().parents[2] / "scripts" / "demo-cli"
    env = {**os.environ, "RAINBOW": _script(), "RAINBOW_DEMO_DIR": str(tmp_path / "demo")}
    env.pop("RAINBOW_CONFIG", None)
    done = subprocess.run(
        ["bash", str(demo)], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    final = done.stdout.split("== final state", 1)[1]
    assert final.count("SUCCEEDED") == 9 and "UNSCHEDULABLE" in final
    assert "QUEUED" not in final and "ASSIGNED" not in final


def test_server_reports_a_busy_port_as_one_error(rainbow: Run) -> None:
    rainbow("config", "init").ok()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = rainbow("server", "--port", str(port), "--metrics-port", "-1")
    assert result.code == 1
    assert f"error: cannot start the server on 127.0.0.1:{port}" in result.err
    assert "Traceback" not in result.err


def test_the_database_url_may_come_from_the_environment(
    rainbow: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rainbow.cli.main import build_parser
    from rainbow.cli.serve import server_config

    rainbow("config", "init", "--dir", str(tmp_path / "conf")).ok()
    config_file = str(tmp_path / "conf" / "rainbow.yaml")
    parser = build_parser()
    url = "postgresql://rainbow:pw@db.example:5432/rainbow"
    monkeypatch.setenv("RAINBOW_DATABASE_URL", url)
    assert server_config(parser.parse_args(["server", "--config", config_file])).database == url
    given = parser.parse_args(["server", "--config", config_file, "--db", str(tmp_path / "x.db")])
    assert server_config(given).database == str(tmp_path / "x.db")  # --db wins


def test_server_logs_what_operators_trace_as_json_and_never_a_secret(tmp_path: Path) -> None:
    """``rainbow server --log-format json``: one JSON object per line; an INFO line per cluster
    registered, changed and deleted, job assigned, lease expired and job cancelled; refused
    authentication logged; no secret or token anywhere."""
    rainbow = _script()
    conf, port = tmp_path / "conf", free_port()
    done = subprocess.run(
        [rainbow, "config", "init", "--dir", str(conf), "--address", f"127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    env = {key: value for key, value in os.environ.items() if key != "GRPC_VERBOSITY"}
    client_doc = yaml.safe_load((conf / "client.yaml").read_text())
    registration = (conf / "registration-secret").read_text().strip()
    secrets = [client_doc["token"], registration]
    with server_process(conf, tmp_path, env, "--metrics-port", "-1", "--log-format", "json") as server:
        admin = RainbowClient(ClientConfig(address=f"127.0.0.1:{port}", token=client_doc["token"]))
        poll_until = time.monotonic() + 30
        while True:
            try:
                registered = admin.register_cluster("small", registration, [cpu_nodes(2)])
                break
            except RainbowClientError:
                if time.monotonic() > poll_until:
                    raise
                time.sleep(0.2)
        secrets += [registered.secret, registered.submit_token]
        first = admin.submit({"name": "first", "resources": {"cpu": "8"}}).job
        admin.receive("small", registered.secret, lease_seconds=0.1)
        time.sleep(1.5)  # the lease expires and the sweeper (every second) returns the job
        admin.cancel(first.id)
        admin.update_state("small", registered.secret, [cpu_nodes(3)], [cpu_nodes(3)])
        with pytest.raises(RainbowClientError):
            admin.receive("small", "rbc_wrong-secret")
        admin.delete_cluster("small", registered.secret)
        admin.close()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 0
    text = (tmp_path / "server.log").read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every line is one JSON object
    events = {line.get("event"): line for line in lines}
    assert events["cluster-registered"]["cluster"] == "small"
    assert events["job-assigned"]["job"] == first.id and events["job-assigned"]["level"] == "INFO"
    assert events["lease-expired"]["job"] == first.id
    assert events["job-cancelled"]["message"] == f"job {first.id} cancelled by admin (on small)"
    assert events["cluster-capacity"]["message"] == "cluster small now has 3 nodes in 1 groups"
    assert events["cluster-deleted"]["cluster"] == "small"
    assert (events["refused"]["method"], events["refused"]["code"]) == ("ReceiveJobs", "UNAUTHENTICATED")
    assert all(line["time"].endswith("+00:00") for line in lines)
    for secret in secrets:
        assert secret not in text
