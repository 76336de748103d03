"""Schemathesis against our own OpenAPI document: the API must do what /openapi.json says.

How: the schemathesis CLI (`.venv/bin/schemathesis run`) in a subprocess, not the pytest
integration. The CLI runs every phase (examples, coverage, fuzzing, stateful) and every check
(`--checks all`: status codes, content types, headers, response schemas, negative and positive
data, missing auth, unsupported methods and Allow, use after free, resource availability,
ignored auth) over every operation with one command; the pytest integration would need a test
per phase and its own wiring for the stateful and method-level checks. Requests carry a
customer's bearer token, given as a Web Fuzzing Commons auth file with a second customer as its
peer, so that object_level_authorization runs too: it replays the first customer's reads as the
second, who must not see the objects (our rule: 404). The run is reproducible:
a fixed `--seed`, no example database (`--generation-database none`), one worker, a bounded
number of examples per operation, and a fresh database per run. Its JUnit report is parsed to
prove that every documented operation was tested and none failed; its console output is shown
when the test fails. `VPSORG_SCHEMATHESIS_SEED` and `VPSORG_SCHEMATHESIS_EXAMPLES` run it
deeper by hand.

The API runs in a server of its own (a real uvicorn on loopback with the worker in-process, as
`live`), not the shared `live`: schemathesis creates and deletes a few hundred servers and keys,
which would queue behind other tests' work in the shared worker and use up TINY_LOCATION's one
address. A customer with two servers (one active, one stopped), an SSH key and their actions is
made first, so that small ids exist and the operations that take an id meet real objects too.

Two checks run through narrowed copies (tests/schemathesis_hooks.py): positive_data_acceptance
forgives only 400/402 whose error code says the request referred to missing catalog rows or keys,
an unparseable or duplicate key, too little credit, or a server status that forbids the action
(400 invalid_state, as the seed demands); not_a_server_error forgives only POST /servers/'s
documented 503 capacity_exhausted. No OpenAPI document can say which ids exist or which state a
server is in; everything else those checks report fails the test.
"""

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from tests.conftest import Customer, Live, prepare_database, serve_in_thread, test_settings

SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
STREAM = "/api/v1/events/stream/"
SEED = os.environ.get("VPSORG_SCHEMATHESIS_SEED", "20261127")
MAX_EXAMPLES = os.environ.get("VPSORG_SCHEMATHESIS_EXAMPLES", "25")
# Replaced by the narrowed copies in HOOKS (see the module docstring).
NARROWED_CHECKS = "positive_data_acceptance,not_a_server_error"
# Warnings that would mean the run proved less than it seems (e.g. every request got 401) fail it.
# Not validation_mismatch: start/stop/reboot mostly answer 400 invalid_state and POST /ssh-keys/
# mostly 400 for generated keys, as explained above. Not missing_test_data: whether the ids the
# generator picks exist depends on what the stateful phase deleted and on the worker's timing.
CONFIG = """
[auth.wfc]
path = "wfc-auth.json"
user = "customer"
peers = ["customer", "peer"]

[warnings]
fail-on = [
  "missing_auth", "base_url_mismatch", "unused_openapi_auth", "unsupported_regex",
  "method_not_allowed", "unresolvable_reference", "missing_deserializer",
]
"""


@pytest.fixture(scope="module")
def own_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    """A private API server over a fresh database, like `live`."""
    # Metrics and reconcile are not under test here; at live's 0.5s over hundreds of servers
    # they would only take CPU from the run.
    db = tmp_path_factory.mktemp("openapi") / "vpsorg.db"
    settings = test_settings(db, metrics_interval_seconds=5.0, reconcile_interval_seconds=5.0)
    prepare_database(settings)
    with serve_in_thread(settings, log_level="critical") as server:
        yield server


def seed_objects(customer: Customer) -> None:
    """Objects with ids 1.. for the operations that take an id."""
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    r = customer.http.post("/api/v1/ssh-keys/", json={"name": "seed", "public_key": line})
    assert r.status_code == 201, r.text
    stopped = customer.active_server(name="seed-stopped", ssh_key_id=r.json()["id"])
    customer.active_server(name="seed-active")
    r = customer.http.post(f"/api/v1/servers/{stopped['id']}/stop/")
    assert r.status_code == 200, r.text
    customer.wait_status(stopped["id"], "stopped")


def write_config(tmp_path: Path, customer: Customer, peer: Customer) -> Path:
    """schemathesis.toml naming both customers' tokens, the second as a peer of the first."""
    auth = {
        "auth": [
            {"name": name, "fixedHeaders": [{"name": "Authorization", "value": f"Bearer {c.token}"}]}
            for name, c in (("customer", customer), ("peer", peer))
        ]
    }
    (tmp_path / "wfc-auth.json").write_text(json.dumps(auth))
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    return config


def test_api_conforms_to_its_openapi_document(own_live: Live, tmp_path: Path) -> None:
    # An admin token: it reaches the customer API and the admin API alike.
    customer = own_live.account(credit="100000", scope="admin")
    seed_objects(customer)
    peer = own_live.account(credit="100000")
    config = write_config(tmp_path, customer, peer)
    keep = ",".join(
        str(t["id"]) for c in (customer, peer) for t in c.http.get("/api/v1/tokens/").json()["results"]
    )
    doc = httpx.get(f"{own_live.url}/openapi.json").json()
    # The event stream never ends by design: schemathesis would wait for its body until the
    # request timeout and call that a failure. tests/events covers its parameters instead.
    operations = {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item if p != STREAM}

    junit = tmp_path / "junit.xml"
    # Loopback only: no proxy may see this traffic.
    env = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
    env |= {"SCHEMATHESIS_HOOKS": str(HOOKS), "NO_COLOR": "1", "VPSORG_SCHEMATHESIS_KEEP_TOKENS": keep}
    started = time.monotonic()
    proc = subprocess.run(
        [
            str(SCHEMATHESIS),
            f"--config-file={config}",
            "run",
            f"{own_live.url}/openapi.json",
            "--checks=all",
            f"--exclude-checks={NARROWED_CHECKS}",
            f"--seed={SEED}",
            "--generation-database=none",
            f"--max-examples={MAX_EXAMPLES}",
            "--workers=1",
            "--request-timeout=10",
            f"--exclude-path={STREAM}",
            "--report=junit",
            f"--report-junit-path={junit}",
            "--no-color",
        ],
        cwd=tmp_path,  # nothing is written to the repo
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    took = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"schemathesis found problems (exit {proc.returncode}):\n{output}"

    cases = ET.parse(junit).getroot().iter("testcase")
    tested = {c.get("name", "") for c in cases if c.find("failure") is None and c.find("error") is None}
    assert operations <= tested, f"not tested or failed: {sorted(operations - tested)}\n{output}"
    print(f"{output}\nschemathesis: {len(operations)} operations, no failures, {took:.1f}s")
