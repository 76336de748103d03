"""The README's commands, run as written: `make run`, then the quick-start curl calls."""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx

from tests.conftest import free_port, wait_http

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def sh_blocks() -> list[str]:
    return re.findall(r"```sh\n(.*?)```", README, re.S)


def test_readme_quick_start_names_make_run_and_make_test() -> None:
    first = sh_blocks()[0]
    assert "make run" in first and "make test" in first


def test_make_run_prints_a_working_token_and_the_curl_examples_work(tmp_path: Path) -> None:
    port = free_port()
    env = dict(
        os.environ,
        VPSORG_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/readme.db",
        VPSORG_SIMULATOR_TIME_SCALE="0.1",
    )
    log = tmp_path / "make-run.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["make", "run", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(base + "/healthz", timeout=120)
        token = re.search(r"API token:\s+(vps_\S+)", log.read_text())
        assert token, log.read_text()
        # The quick start's curl block, with the README's base URL and the printed token.
        block = sh_blocks()[1]
        assert "http://127.0.0.1:8000" in block
        script = block.replace("http://127.0.0.1:8000", base).replace("vps_...", token.group(1))
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        decoder = json.JSONDecoder()
        created, end = decoder.raw_decode(result.stdout)
        listed, _ = decoder.raw_decode(result.stdout[end:].lstrip())
        assert created["status"] == "provisioning" and created["name"] == "web-server-02"
        assert listed["count"] == 1 and listed["results"][0]["id"] == created["id"]
        # "provisioning for about 5 seconds, then active with an IPv4 and an IPv6 address"
        headers = {"Authorization": f"Bearer {token.group(1)}"}
        deadline = time.monotonic() + 30
        while True:
            server = httpx.get(f"{base}/api/v1/servers/{created['id']}/", headers=headers).json()
            if server["status"] == "active":
                break
            assert time.monotonic() < deadline, server
            time.sleep(0.1)
        assert server["ip_address"] and server["ipv6_address"]
        assert httpx.get(base + "/docs").status_code == 200
        assert httpx.get(base + "/openapi.json").status_code == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
