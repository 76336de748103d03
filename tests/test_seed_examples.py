"""The original API document's examples, run as written against a live server.

tests/seed_examples/ holds every example request of the VPS.org API document (curl, Python
requests, JavaScript fetch, PHP curl), copied byte for byte. Each test substitutes only the
URL base, the token and the server id, runs the snippet as the real program (bash, this
Python, node, php), and checks both what it printed and, through the API, what it did.
"""

import ast
import functools
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Customer, Live

EXAMPLES = Path(__file__).parent / "seed_examples"
# The original document; the verbatim check runs where it is available.
# The original document lives in shared/spec beside the repository (as laid out for CI too).
DOCUMENT = Path(
    os.environ.get(
        "VPSORG_SEED_DOCUMENT",
        Path(__file__).resolve().parents[2] / "shared" / "spec" / "000_a7b11646cb521f62.txt",
    )
)

SEED_URL = "https://admin.vps.org"
SEED_TOKEN = "YOUR_API_TOKEN"
SEED_SERVER_ID = "12345"

# Every example the document gives, by endpoint. The document has no JavaScript or PHP for
# some endpoints; those files do not exist.
EXPECTED = {
    "list": ("curl.sh", "py", "mjs", "php"),
    "create": ("curl.sh", "py", "mjs", "php"),
    "get": ("curl.sh", "py", "mjs"),
    "put": ("curl.sh", "py"),
    "patch": ("curl.sh", "py"),
    "stop": ("curl.sh", "py"),
    "start": ("curl.sh", "py", "mjs"),
    "reboot": ("curl.sh", "py"),
    "delete": ("curl.sh", "py"),
}
WITH_SERVER_ID = {"get", "put", "patch", "stop", "start", "reboot", "delete"}

# Observes the PHP snippets, which print nothing: at exit, their $server/$servers variables
# are written as JSON to the file named by SEED_OBSERVE. The snippet itself is unchanged.
PHP_OBSERVER = """<?php
register_shutdown_function(function () {
    $seen = [];
    foreach (['server', 'servers'] as $name) {
        if (array_key_exists($name, $GLOBALS)) {
            $seen[$name] = $GLOBALS[$name];
        }
    }
    file_put_contents(getenv('SEED_OBSERVE'), json_encode($seen));
});
"""


def example_files() -> list[Path]:
    """The snippets in the folder (not its ruff.toml, nor any cache)."""
    return sorted(
        p for p in EXAMPLES.glob("*.*") if p.is_file() and p.suffix in (".sh", ".py", ".mjs", ".php")
    )


def language(path: Path) -> str:
    return {"sh": "curl", "py": "python", "mjs": "javascript", "php": "php"}[path.suffix.lstrip(".")]


def examples(endpoint: str) -> list[Any]:
    return [
        pytest.param(EXAMPLES / f"{endpoint}.{ext}", id=f"{endpoint}.{ext}") for ext in EXPECTED[endpoint]
    ]


@functools.cache
def missing(lang: str) -> str | None:
    """Why the language's runtime cannot run the examples here, or None if it can."""
    if lang == "curl" and not shutil.which("curl"):
        return "curl is not installed"
    if lang == "javascript":
        node = shutil.which("node")
        if not node:
            return "node is not installed: the JavaScript examples need Node.js 18+ (global fetch)"
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        if int(version.lstrip("v").split(".")[0]) < 18:
            return f"node {version.strip()} has no global fetch; the JavaScript examples need 18+"
    if lang == "php":
        php = shutil.which("php")
        if not php:
            return "php is not installed: the PHP examples need php-cli and php-curl"
        probe = [php, "-r", 'exit(function_exists("curl_init") ? 0 : 1);']
        if subprocess.run(probe, capture_output=True, timeout=30).returncode != 0:
            return "PHP's curl extension is missing: the PHP examples need php-curl"
    return None


@dataclass
class Ran:
    """What a snippet did: its exit code and output, and what it printed, parsed if possible."""

    lang: str
    returncode: int
    stdout: str
    stderr: str
    # The response as a dict: JSON from curl, a repr from Python, PHP's observed variable.
    # None for node, whose console.log prints an object inspection; see `has`.
    data: Any

    def has(self, key: str, value: Any) -> bool:
        """Whether `key: value` appears in the output (anywhere in node's inspection)."""
        if self.lang == "javascript":
            pattern = rf"(?<![\w$]){re.escape(key)}: {re.escape(_inspected(value))}(?![\w.])"
            return re.search(pattern, self.stdout) is not None
        return _find(self.data, key, value)


def _inspected(value: Any) -> str:
    """How node's console.log shows a scalar."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return f"'{value}'"
    return str(value)


def _find(data: Any, key: str, value: Any) -> bool:
    if isinstance(data, dict):
        if key in data and data[key] == value and type(data[key]) is type(value):
            return True
        return any(_find(v, key, value) for v in data.values())
    if isinstance(data, list):
        return any(_find(v, key, value) for v in data)
    return False


def run_example(path: Path, customer: Customer, tmp_path: Path, server_id: int | None = None) -> Ran:
    """Run one example as written, with only the URL, the token and the server id replaced."""
    lang = language(path)
    if reason := missing(lang):
        pytest.skip(reason)  # CI installs every runtime
    source = path.read_text(encoding="utf-8")
    assert SEED_URL in source and SEED_TOKEN in source, f"{path.name} lost its URL or token"
    # The server id first: the port or the token could contain "12345" once substituted.
    if server_id is not None:
        assert SEED_SERVER_ID in source, f"{path.name} names no server id"
        source = source.replace(SEED_SERVER_ID, str(server_id))
    source = source.replace(SEED_URL, customer.live.url).replace(SEED_TOKEN, customer.token)

    script = tmp_path / path.name
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}  # only ever loopback
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    observed = tmp_path / "observed.json"
    if lang == "curl":
        command = ["bash", str(script)]
    elif lang == "python":
        command = [sys.executable, str(script)]
    elif lang == "javascript":
        command = ["node", str(script)]
    else:
        source = "<?php\n" + source  # the document shows the code without the opening tag
        observer = tmp_path / "observer.php"
        observer.write_text(PHP_OBSERVER, encoding="utf-8")
        command = ["php", "-d", f"auto_prepend_file={observer}", str(script)]
        env["SEED_OBSERVE"] = str(observed)
    script.write_text(source, encoding="utf-8")

    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, f"{path.name} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    out = done.stdout.strip()
    data: Any = None
    if lang == "curl" and out:
        data = json.loads(out)
    elif lang == "python":
        data = ast.literal_eval(out)
    elif lang == "php":
        assert out == "", f"{path.name} printed {out!r}"
        data = json.loads(observed.read_text(encoding="utf-8"))
    return Ran(lang, done.returncode, done.stdout, done.stderr, data)


def api_server(customer: Customer, server_id: int) -> dict[str, Any]:
    r = customer.http.get(f"/api/v1/servers/{server_id}/")
    assert r.status_code == 200, r.text
    return dict(r.json())


def only_server(customer: Customer) -> dict[str, Any]:
    r = customer.http.get("/api/v1/servers/")
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 1, r.json()
    return api_server(customer, r.json()["results"][0]["id"])


# --- the files themselves --------------------------------------------------------------------


def test_every_example_of_the_document_is_here() -> None:
    present = {p.name for p in example_files()}
    expected = {f"{endpoint}.{ext}" for endpoint, exts in EXPECTED.items() for ext in exts}
    assert present == expected


@pytest.mark.skipif(not DOCUMENT.is_file(), reason=f"the original document is not at {DOCUMENT}")
def test_examples_are_verbatim_copies_of_the_document() -> None:
    document = DOCUMENT.read_text(encoding="utf-8")
    for path in example_files():
        text = path.read_text(encoding="utf-8")
        assert text.endswith("\n") and text.rstrip("\n") in document, f"{path.name} differs from the document"


# --- the examples against a live server, in the document's order ---------------------------


@pytest.mark.parametrize("path", examples("list"))
def test_list(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()
    first = customer.active_server(name="web-server-01", hostname="web01.example.com")
    second = customer.create_server(name="db-server-01", plan_id=2, os_id=3, location="us-east")

    ran = run_example(path, customer, tmp_path)

    assert ran.has("count", 2)
    for server in (first, second):
        assert ran.has("id", server["id"]) and ran.has("name", server["name"])
    assert ran.has("hostname", "web01.example.com") and ran.has("location", "us-east")
    if ran.data is not None:
        key = "servers" if ran.lang == "php" else None
        body = ran.data[key] if key else ran.data
        assert [s["id"] for s in body["results"]] == [first["id"], second["id"]]
        assert body["results"][0]["status"] == "active"
        assert body["results"][0]["plan"] == {k: v for k, v in first["plan"].items() if k != "bandwidth"}
        assert body["results"][1]["os"] == {"id": 3, "name": "Debian 12", "slug": "debian-12"}


@pytest.mark.parametrize("path", examples("create"))
def test_create(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()

    ran = run_example(path, customer, tmp_path)

    server = only_server(customer)  # the example created exactly one server, as it described
    assert server["name"] == "web-server-02"
    assert server["hostname"] == "web02.example.com"
    assert server["location"] == "us-west"
    assert server["plan"]["id"] == 1 and server["os"]["id"] == 5
    assert server["backups_enabled"] is True
    assert ran.has("id", server["id"]) and ran.has("name", "web-server-02")
    assert ran.has("status", "provisioning") and ran.has("backups_enabled", True)
    assert ran.has("message", "Server is being provisioned. This may take 2-5 minutes.")
    if ran.data is not None:
        body = ran.data["server"] if ran.lang == "php" else ran.data
        assert body["plan"] == {"id": 1, "name": "Standard VPS", "vcpus": 2, "memory": 4096, "storage": 80}
        assert body["os"] == {"id": 5, "name": "Ubuntu 22.04 LTS", "slug": "ubuntu-22.04"}
        assert body["ip_address"] is None
    active = customer.wait_status(server["id"], "active")
    assert active["ip_address"]


@pytest.mark.parametrize("path", examples("get"))
def test_get(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()
    server = customer.active_server(name="web-server-01", hostname="web01.example.com", backups_enabled=True)

    ran = run_example(path, customer, tmp_path, server["id"])

    assert ran.has("id", server["id"]) and ran.has("name", "web-server-01")
    assert ran.has("hostname", "web01.example.com") and ran.has("status", "active")
    assert ran.has("ip_address", server["ip_address"]) and ran.has("ipv6_address", server["ipv6_address"])
    assert ran.has("backups_enabled", True)
    if ran.data is not None:
        assert ran.data["plan"] == server["plan"] and ran.data["os"] == server["os"]
        assert set(ran.data["resource_usage"]) >= {
            "cpu_percent",
            "memory_used",
            "disk_used",
            "bandwidth_used",
        }


@pytest.mark.parametrize("path", examples("put"))
def test_put(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()
    server = customer.active_server(name="web-server-01", hostname="web01.example.com", backups_enabled=False)

    ran = run_example(path, customer, tmp_path, server["id"])

    for key, value in {
        "name": "web-server-updated",
        "hostname": "web-updated.example.com",
        "backups_enabled": True,
    }.items():
        assert ran.has(key, value), key
        assert api_server(customer, server["id"])[key] == value
    assert api_server(customer, server["id"])["status"] == "active"


@pytest.mark.parametrize("path", examples("patch"))
def test_patch(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()
    server = customer.active_server(name="web-server-01", hostname="web01.example.com", backups_enabled=True)

    ran = run_example(path, customer, tmp_path, server["id"])

    assert ran.has("name", "new-server-name") and ran.has("hostname", "web01.example.com")
    after = api_server(customer, server["id"])
    assert after["name"] == "new-server-name"
    # Only the given field changed.
    assert after["hostname"] == "web01.example.com" and after["backups_enabled"] is True
    assert after["status"] == "active"


def power_result(ran: Ran, server: dict[str, Any], message: str, during: str) -> None:
    assert ran.has("status", "success") and ran.has("message", message)
    assert ran.has("id", server["id"]) and ran.has("name", server["name"]) and ran.has("status", during)
    if ran.data is not None:
        assert ran.data["server"] == {"id": server["id"], "name": server["name"], "status": during}


def wait_power_action(customer: Customer, server_id: int, type: str) -> None:
    """The server's newest action is `type`, and the worker finished it successfully."""
    r = customer.http.get(f"/api/v1/servers/{server_id}/actions/")
    assert r.status_code == 200, r.text
    newest = max(r.json()["results"], key=lambda a: a["id"])
    assert newest["type"] == type
    assert customer.wait_action(newest["id"])["status"] == "success"


@pytest.mark.parametrize("path", examples("stop"))
def test_stop(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()
    server = customer.active_server()

    ran = run_example(path, customer, tmp_path, server["id"])

    power_result(ran, server, "Server is stopping", "stopping")
    wait_power_action(customer, server["id"], "stop")
    customer.wait_status(server["id"], "stopped")


@pytest.mark.parametrize("path", examples("start"))
def test_start(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()
    server = customer.active_server()
    assert customer.http.post(f"/api/v1/servers/{server['id']}/stop/").status_code == 200
    customer.wait_status(server["id"], "stopped")

    ran = run_example(path, customer, tmp_path, server["id"])

    power_result(ran, server, "Server is starting", "starting")
    wait_power_action(customer, server["id"], "start")
    customer.wait_status(server["id"], "active")


@pytest.mark.parametrize("path", examples("reboot"))
def test_reboot(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()
    server = customer.active_server()

    ran = run_example(path, customer, tmp_path, server["id"])

    power_result(ran, server, "Server is rebooting", "rebooting")
    wait_power_action(customer, server["id"], "reboot")
    customer.wait_status(server["id"], "active")


@pytest.mark.parametrize("path", examples("delete"))
def test_delete(path: Path, live: Live, tmp_path: Path) -> None:
    customer = live.account()
    server = customer.active_server()

    ran = run_example(path, customer, tmp_path, server["id"])

    # 204 has no body: curl prints nothing, the Python example prints the status code.
    assert ran.stdout.strip() == ("204" if ran.lang == "python" else "")
    assert customer.http.get(f"/api/v1/servers/{server['id']}/").status_code == 404
    assert customer.http.get("/api/v1/servers/").json()["count"] == 0
