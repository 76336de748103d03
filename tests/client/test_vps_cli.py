"""`vps`, the customer's command line, as real processes against a live API server."""

import importlib.metadata
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from typer.testing import CliRunner

from tests.conftest import Customer, Live, new_public_key, run_db
from tests.production.cluster import Cluster
from vpsorg.client import cli
from vpsorg.drivers.simulator import inject_fault

VPS = Path(sys.executable).with_name("vps")
RUNNER = CliRunner()


def vps(
    *args: str, env: dict[str, str], stdin: str | None = None, process: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run `vps ARGS`: in this process (Typer's runner: the same code, no interpreter start
    per command) or, with process=True, as the installed console script."""
    if process:
        return subprocess.run(
            [str(VPS), *args], env=env, capture_output=True, text=True, timeout=120, input=stdin
        )
    outside = {k for k in os.environ if k not in env}
    result = RUNNER.invoke(
        cli.app, list(args), input=stdin, env=env | dict.fromkeys(outside), prog_name="vps"
    )
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["vps", *args], result.exit_code, result.stdout, result.stderr)


def clean_env(tmp: Path, **extra: str) -> dict[str, str]:
    """No VPS_* from the outside, a private HOME and config path, no colours or terminal."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("VPS_") and not k.lower().endswith("_proxy")
    }
    return (
        env | {"HOME": str(tmp), "VPS_CONFIG": str(tmp / "vps.json"), "NO_COLOR": "1", "TERM": "dumb"} | extra
    )


@pytest.fixture
def customer(live: Live) -> Customer:
    return live.account(credit="1000")


@pytest.fixture
def env(live: Live, customer: Customer, tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def as_json(result: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(ok(result))


def test_every_command(env: dict[str, str], customer: Customer) -> None:
    api = customer.http
    assert as_json(vps("-o", "json", "plans", "list", env=env)) == api.get("/api/v1/plans/").json()["results"]
    assert as_json(vps("-o", "json", "os", "list", env=env)) == api.get("/api/v1/os/").json()["results"]
    assert (
        as_json(vps("-o", "json", "locations", "list", env=env))
        == api.get("/api/v1/locations/").json()["results"]
    )
    assert "us-west" in ok(vps("-q", "locations", "list", env=env)).split()
    assert "Starter VPS" in ok(vps("plans", "list", env=env))
    assert as_json(vps("-o", "json", "account", env=env)) == api.get("/api/v1/account/").json()
    assert "1000.00 USD" in ok(vps("account", env=env))

    key_text = new_public_key()
    key_id = int(ok(vps("-q", "ssh-keys", "create", "--name", "laptop", "--public-key", key_text, env=env)))
    assert ok(vps("-q", "ssh-keys", "list", env=env)).split() == [str(key_id)]
    assert "laptop" in ok(vps("ssh-keys", "list", env=env))

    created = as_json(
        vps(
            *("-o", "json", "servers", "create", "--name", "cli-1", "--plan", "3", "--os", "5"),
            *("--location", "us-west", "--ssh-key", str(key_id), "--wait"),
            env=env,
        )
    )
    sid = created["id"]
    assert created["status"] == "active" and created["ip_address"]
    detail = api.get(f"/api/v1/servers/{sid}/").json()
    shown = as_json(vps("-o", "json", "servers", "get", str(sid), env=env))
    assert {k: v for k, v in shown.items() if k != "resource_usage"} == {
        k: v for k, v in detail.items() if k != "resource_usage"
    }
    table = ok(vps("servers", "get", str(sid), env=env))
    assert "cli-1" in table and created["ip_address"] in table
    second = int(
        ok(
            vps(
                "-q",
                "servers",
                "create",
                "--name",
                "cli-2",
                "--plan",
                "3",
                "--os",
                "5",
                "--location",
                "us-east",
                env=env,
            )
        )
    )
    assert ok(vps("-q", "servers", "list", env=env)).split() == [str(sid), str(second)]
    listed = as_json(vps("-o", "json", "servers", "list", "--location", "us-east", env=env))
    assert [s["id"] for s in listed] == [second]
    assert "cli-2" in ok(vps("servers", "list", env=env))

    updated = as_json(
        vps("-o", "json", "servers", "update", str(sid), "--name", "cli-one", "--backups", env=env)
    )
    assert updated["name"] == "cli-one" and updated["backups_enabled"] is True
    for verb, status in (("stop", "stopped"), ("start", "active"), ("reboot", "active")):
        action = as_json(vps("-o", "json", "servers", verb, str(sid), "--wait", env=env))
        assert action["type"] == verb and action["status"] == "success", action
        assert api.get(f"/api/v1/servers/{sid}/").json()["status"] == status
    actions = as_json(vps("-o", "json", "actions", "list", "--server", str(sid), env=env))
    assert [a["type"] for a in actions] == ["create", "stop", "start", "reboot"]
    assert actions == api.get(f"/api/v1/servers/{sid}/actions/").json()["results"]
    one = as_json(vps("-o", "json", "actions", "get", str(actions[1]["id"]), env=env))
    assert one == api.get(f"/api/v1/actions/{actions[1]['id']}/").json()
    assert "reboot" in ok(vps("actions", "list", "--server", str(sid), env=env))

    ok(vps("servers", "delete", str(second), "--yes", env=env))
    refused = vps("servers", "delete", str(sid), env=env, stdin="n\n")
    assert refused.returncode == 2
    ok(vps("ssh-keys", "delete", str(key_id), env=env))
    assert ok(vps("-q", "ssh-keys", "list", env=env)).split() == []
    assert ok(vps("-q", "servers", "list", env=env)).split() == [str(sid)]


def test_errors_are_one_line_with_documented_exit_codes(
    env: dict[str, str], customer: Customer, live: Live
) -> None:
    missing = vps("servers", "get", "2147483647", env=env, process=True)
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.strip().splitlines() == ["error: Server 2147483647 not found (not_found)"]
    bad = vps(
        "servers", "create", "--name", "a b", "--plan", "3", "--os", "5", "--location", "us-west", env=env
    )
    assert (
        bad.returncode == 1
        and "(validation_error)" in bad.stderr
        and len(bad.stderr.strip().splitlines()) == 1
    )
    unnamed = vps("servers", "get", "no-such-name", env=env, process=True)  # not a number: a name
    assert unnamed.returncode == 1 and "no server named 'no-such-name'" in unnamed.stderr
    assert vps("servers", "frobnicate", env=env).returncode == 2
    # The action fails: the message names it, exit 1.
    sid = customer.active_server(plan_id=3)["id"]
    run_db(live.settings, lambda s: inject_fault(s, op="reboot", server_id=sid, message="disk on fire"))
    failed = vps("servers", "reboot", str(sid), "--wait", env=env)
    assert failed.returncode == 1 and "disk on fire" in failed.stderr and "Traceback" not in failed.stderr
    unreachable = vps("account", env=env | {"VPS_URL": "http://127.0.0.1:9"})
    assert unreachable.returncode == 1 and "cannot reach the API" in unreachable.stderr


def test_wait_times_out_with_exit_3(tmp_path: Path) -> None:
    """No worker runs: the create stays queued, and --wait gives up after --timeout."""
    cluster = Cluster(tmp_path)
    try:
        env = clean_env(tmp_path, VPS_URL=cluster.url, VPS_TOKEN=cluster.token())
        args = ("servers", "create", "--name", "w", "--plan", "3", "--os", "5", "--location", "us-west")
        done = vps(*args, "--wait", "--timeout", "1", env=env, process=True)
        assert done.returncode == 3, done.stderr
        assert "still queued after 1 s" in done.stderr
    finally:
        cluster.close()


def test_token_and_url_precedence_and_login(live: Live, customer: Customer, tmp_path: Path) -> None:
    env = clean_env(tmp_path)
    none = vps("account", env=env)
    assert none.returncode == 2 and "vps login" in none.stderr
    wrong = vps("login", "--url", live.url, "--token", "vps_wrong", env=env)
    assert wrong.returncode == 1 and "(unauthorized)" in wrong.stderr
    assert not (tmp_path / "vps.json").exists()
    ok(vps("login", "--url", live.url, "--token", customer.token, env=env, process=True))
    config = tmp_path / "vps.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    assert json.loads(config.read_text()) == {"url": live.url, "token": customer.token}
    me = str(customer.account_id)
    assert ok(vps("-q", "account", env=env)).strip() == me  # from the file
    other = live.account()
    assert ok(vps("-q", "account", env=env | {"VPS_TOKEN": other.token})).strip() == str(other.account_id)
    flagged = vps("--token", customer.token, "-q", "account", env=env | {"VPS_TOKEN": "vps_wrong"})
    assert ok(flagged).strip() == me  # the flag beats the environment
    assert vps("-q", "account", env=env | {"VPS_TOKEN": "vps_wrong"}).returncode == 1
    dead = vps("--url", "http://127.0.0.1:9", "account", env=env | {"VPS_URL": live.url})
    assert dead.returncode == 1  # --url beats VPS_URL too
    assert httpx.get(f"{live.url}/healthz").status_code == 200


def test_shell_completion(env: dict[str, str]) -> None:
    """What `vps --install-completion` installs: the shell asks vps for completions."""
    script = vps(env=env | {"_VPS_COMPLETE": "source_bash"}, process=True)
    assert script.returncode == 0 and "_vps_completion" in script.stdout
    for words, cword, want in (("vps serv", "1", ["servers"]), ("vps servers st", "2", ["start", "stop"])):
        asked = env | {"_VPS_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": cword}
        done = vps(env=asked, process=True)
        assert done.returncode == 0 and done.stdout.split() == want, done


def test_a_private_key_file_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    """The API is not even reachable: the refusal is vps's own, exit 2."""
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    path = tmp_path / "id_ed25519"
    path.write_text(private)
    env = clean_env(tmp_path, VPS_URL="http://127.0.0.1:9", VPS_TOKEN="vps_x")
    for given in (("--public-key-file", str(path)), ("--public-key", private)):
        refused = vps("ssh-keys", "create", "--name", "laptop", *given, env=env)
        assert refused.returncode == 2, refused.stderr
        assert "this is a private key; give the .pub file" in refused.stderr
        assert "cannot reach" not in refused.stderr and "Traceback" not in refused.stderr
        assert private.splitlines()[1] not in refused.stderr + refused.stdout


def test_login_reads_the_token_from_a_pipe(live: Live, customer: Customer, tmp_path: Path) -> None:
    """`echo TOKEN | vps login`: the token is the piped line, the URL comes from --url or VPS_URL."""
    env = clean_env(tmp_path)
    done = vps("login", "--url", live.url, env=env, stdin=customer.token + "\n", process=True)
    ok(done)
    assert "GetPassWarning" not in done.stderr
    assert json.loads((tmp_path / "vps.json").read_text()) == {"url": live.url, "token": customer.token}
    (tmp_path / "vps.json").unlink()
    ok(vps("login", env=env | {"VPS_URL": live.url}, stdin=customer.token + "\n", process=True))
    assert json.loads((tmp_path / "vps.json").read_text()) == {"url": live.url, "token": customer.token}
    (tmp_path / "vps.json").unlink()
    no_url = vps("login", env=env, stdin=customer.token + "\n", process=True)
    assert no_url.returncode == 2 and "--url" in no_url.stderr and customer.token not in no_url.stderr
    empty = vps("login", "--url", live.url, env=env, stdin="\n", process=True)
    assert empty.returncode == 2 and "no token" in empty.stderr
    assert not (tmp_path / "vps.json").exists()


def test_output_options_after_the_subcommand(env: dict[str, str], customer: Customer) -> None:
    key_id = customer.http.post(
        "/api/v1/ssh-keys/", json={"name": "k", "public_key": new_public_key()}
    ).json()["id"]
    listed = customer.http.get("/api/v1/ssh-keys/").json()["results"]
    for args in (
        ("ssh-keys", "list", "-o", "json"),
        ("ssh-keys", "list", "--output", "json"),
        ("ssh-keys", "list", "--output=json"),
        ("-q", "ssh-keys", "list", "-o", "json"),  # -o json wins over -q, wherever given
    ):
        assert as_json(vps(*args, env=env)) == listed, args
    assert ok(vps("ssh-keys", "list", "-q", env=env)).split() == [str(key_id)]
    assert ok(vps("account", "--quiet", env=env)).strip() == str(customer.account_id)
    assert as_json(vps("account", "-o", "json", env=env))["id"] == customer.account_id
    # A bad value is still a usage error, after the subcommand too.
    assert vps("ssh-keys", "list", "-o", "yaml", env=env).returncode == 2


def test_version(tmp_path: Path) -> None:
    want = f"vps {importlib.metadata.version('vpsorg')}"
    done = vps("--version", env=clean_env(tmp_path), process=True)
    assert done.returncode == 0 and done.stdout.strip() == want, done
    # Eager: no URL or token needed, whatever follows.
    assert ok(vps("--version", "servers", "list", env=clean_env(tmp_path))).strip() == want


def test_the_api_down_names_the_url_tried(tmp_path: Path) -> None:
    env = clean_env(tmp_path, VPS_URL="http://127.0.0.1:9", VPS_TOKEN="vps_x")
    down = vps("account", env=env)
    assert down.returncode == 1 and down.stdout == ""
    [line] = down.stderr.strip().splitlines()
    assert line.startswith(
        "error: cannot reach the API: GET http://127.0.0.1:9/api/v1/account/: ConnectError"
    )
    assert line.endswith("(tried 4 times)")


def test_piped_tables_are_plain_columns_cut_nowhere(env: dict[str, str], customer: Customer) -> None:
    """stdout is not a terminal here: one line per row, every value whole, --no-header drops
    the header line (wherever given)."""
    names = ["k" * 100, "laptop"]
    keys = [
        customer.http.post("/api/v1/ssh-keys/", json={"name": n, "public_key": new_public_key()}).json()
        for n in names
    ]
    server = customer.active_server(name="s" * 63, plan_id=3)
    lines = ok(vps("ssh-keys", "list", env=env)).splitlines()
    assert lines[0].split() == ["id", "name", "fingerprint"]
    assert [line.split() for line in lines[1:]] == [[str(k["id"]), k["name"], k["fingerprint"]] for k in keys]
    assert lines[1].index(keys[0]["fingerprint"]) == lines[0].index("fingerprint")  # aligned
    assert [line.split() for line in ok(vps("--no-header", "ssh-keys", "list", env=env)).splitlines()] == [
        line.split() for line in lines[1:]
    ]
    [row] = ok(vps("servers", "list", "--no-header", env=env)).splitlines()
    assert row.split()[:4] == [str(server["id"]), server["name"], server["status"], server["ip_address"]]
    detail = ok(vps("servers", "get", str(server["id"]), env=env)).splitlines()
    assert ["name", server["name"]] in [line.split() for line in detail]
    assert ["hostname", server["hostname"]] in [line.split() for line in detail]
