"""The README's commands, run as written: `make run`, then the quick-start curl calls."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import yaml

from tests.conftest import free_port, new_public_key, wait_http
from tests.web.panel import browser_client_at, log_in

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
        # The quick start's web panel: the printed password logs the demo account in.
        password = re.search(r"^  password:\s+(\S+)", log.read_text(), re.MULTILINE)
        assert password and "demo@vpsorg.local" in README.split("## Use it", 1)[0]
        with browser_client_at(base) as browser:
            assert browser.get("/").headers["location"] == "/login"
            assert log_in(browser, "demo@vpsorg.local", password.group(1)).status_code == 303
            assert "web-server-02" in browser.get("/servers/").text
        assert httpx.get(base + "/docs").status_code == 200
        assert httpx.get(base + "/openapi.json").status_code == 200
        run_use_it_examples(tmp_path, base, token.group(1), curl_server=created["id"])
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def test_libvirt_host_setup_is_what_ci_runs() -> None:
    """The README's host setup for real servers is run by .ci/run: the same packages (CI
    installs a superset), the same start script, the same `make` bootstrap."""
    block = README.split("### Host setup (Debian 12)", 1)[1].split("```", 2)[1]
    lines = [line.strip() for line in block.strip().splitlines()]
    assert lines[0].startswith("apt-get install -y --no-install-recommends ")
    readme_packages = set(lines[0].split("--no-install-recommends", 1)[1].split())
    ci = (ROOT / ".ci" / "run").read_text()
    ci_packages = set(re.search(r"packages=\((.*?)\)", ci, re.S).group(1).split())  # type: ignore[union-attr]
    assert readme_packages <= ci_packages, readme_packages - ci_packages
    assert lines[1:] == ["scripts/start-libvirtd.sh", "make install"]
    assert "\nscripts/start-libvirtd.sh\n" in ci and "\nmake install\n" in ci
    assert re.search(r"\nVPSORG_TEST_LIBVIRT=required [^\n]*make test\n", ci)  # real guests run, never skip
    assert (ROOT / "scripts" / "start-libvirtd.sh").stat().st_mode & 0o111


def test_libvirt_image_catalog_example_loads() -> None:
    """The README's catalog entry for a directly booted image is valid catalog input, and
    its kernel command line is the one the tests boot the built image with."""
    from tests.drivers.libvirt.conftest import GuestImage
    from vpsorg.catalog.schemas import CatalogIn

    block = README.split("### Images", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    entry = CatalogIn.model_validate(yaml.safe_load(block)).operating_systems[0]
    assert entry.image and entry.kernel and entry.initrd
    assert entry.kernel_args == GuestImage.kernel_args
    assert "scripts/build-debian-image.sh /var/lib/vpsorg/images/debian-12" in README


def test_postgresql_test_command_is_what_ci_runs() -> None:
    block = README.split("### The test suite on PostgreSQL", 1)[1].split("```", 2)[1]
    lines = [line.strip() for line in block.strip().splitlines()]
    assert lines == ["pg_url=$(scripts/start-postgresql.sh)", "VPSORG_TEST_DATABASE_URL=$pg_url make test"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "\npg_url=$(scripts/start-postgresql.sh)\n" in ci
    assert re.search(r"\nVPSORG_TEST_DATABASE_URL=\$pg_url [^\n]*make test\n", ci)


def run_use_it_examples(tmp: Path, base: str, token: str, curl_server: int) -> None:
    """The "Use it" section, against the `make run` server the quick start used: its `vps`
    block as a shell script, then its Python example."""
    section = README.split("## Use it", 1)[1].split("\n## ", 1)[0]
    sh = re.search(r"```sh\n(.*?)```", section, re.S)
    py = re.search(r"```python\n(.*?)```", section, re.S)
    assert sh and py
    assert curl_server == 1  # the block's "server 1" is the one the curl example created
    home = tmp / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(new_public_key() + "\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VPS_")}
    env |= {"HOME": str(home), "PATH": f"{Path(sys.executable).parent}:{env['PATH']}", "NO_COLOR": "1"}
    script = sh.group(1).replace("http://127.0.0.1:8000", base).replace("vps_...", token)
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "web-1" in done.stdout and "Standard VPS" in done.stdout and "demo@vpsorg.local" in done.stdout
    code = py.group(1).replace("http://127.0.0.1:8000", base).replace("vps_...", token)
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert " active" in done.stdout and "web-2" in done.stdout
    headers = {"Authorization": f"Bearer {token}"}
    left = httpx.get(f"{base}/api/v1/servers/", headers=headers).json()["results"]
    assert [s["name"] for s in left] == ["web-1"]  # server 1 and web-2 were deleted
