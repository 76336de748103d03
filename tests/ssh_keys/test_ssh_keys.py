"""SSH keys over HTTP: create, fingerprint, list, get, delete, invalid keys, use at create."""

import base64
import hashlib
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.conftest import Customer, Live

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def _openssh(key: Any) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def ed25519_public_key(comment: str = "") -> str:
    line = _openssh(ed25519.Ed25519PrivateKey.generate())
    return f"{line} {comment}" if comment else line


def rsa_public_key(comment: str = "", bits: int = 2048) -> str:
    line = _openssh(rsa.generate_private_key(public_exponent=65537, key_size=bits))
    return f"{line} {comment}" if comment else line


def fingerprint(public_key: str) -> str:
    """What `ssh-keygen -lf` prints: SHA256 of the key blob, base64 without padding."""
    blob = base64.b64decode(public_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def add_key(customer: Customer, public_key: str, name: str = "laptop") -> httpx.Response:
    return customer.http.post("/api/v1/ssh-keys/", json={"name": name, "public_key": public_key})


def assert_public_key_error(r: httpx.Response) -> dict[str, Any]:
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "validation_error"
    assert set(error) == {"code", "message", "details"}
    assert [f["name"] for f in error["details"]["fields"]] == ["public_key"]
    return dict(error)


@pytest.mark.parametrize("make", [ed25519_public_key, rsa_public_key], ids=["ed25519", "rsa"])
def test_create_real_keys(customer: Customer, make: Any) -> None:
    key = make("alice@laptop")
    r = add_key(customer, key, name="Alice's laptop")
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == {"id", "name", "public_key", "fingerprint", "created_at"}
    assert body["name"] == "Alice's laptop"
    assert body["public_key"] == key
    assert body["fingerprint"] == fingerprint(key)
    assert re.fullmatch(r"SHA256:[A-Za-z0-9+/]{43}", body["fingerprint"])
    assert TIMESTAMP.match(body["created_at"])


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="ssh-keygen not installed")
@pytest.mark.parametrize("make", [ed25519_public_key, rsa_public_key], ids=["ed25519", "rsa"])
def test_fingerprint_matches_ssh_keygen(customer: Customer, make: Any, tmp_path: Path) -> None:
    key = make("x@y")
    path = tmp_path / "key.pub"
    path.write_text(key + "\n")
    out = subprocess.run(["ssh-keygen", "-lf", str(path)], capture_output=True, text=True, check=True).stdout
    r = add_key(customer, key)
    assert r.status_code == 201, r.text
    assert r.json()["fingerprint"] == out.split()[1]


def test_whitespace_in_the_key_line_is_normalised(customer: Customer) -> None:
    key = ed25519_public_key()
    kind, blob = key.split()
    r = add_key(customer, f"  {kind}\t{blob}   my   laptop \n")
    assert r.status_code == 201, r.text
    assert r.json()["public_key"] == f"{kind} {blob} my laptop"
    assert r.json()["fingerprint"] == fingerprint(key)


def test_list_get_delete(customer: Customer) -> None:
    keys = [ed25519_public_key("one"), rsa_public_key("two")]
    created = []
    for i, key in enumerate(keys):
        r = add_key(customer, key, name=f"k{i}")
        assert r.status_code == 201, r.text
        created.append(r.json())

    listed = customer.http.get("/api/v1/ssh-keys/")
    assert listed.status_code == 200
    body = listed.json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["count"] == 2 and body["results"] == created

    page = customer.http.get("/api/v1/ssh-keys/", params={"page_size": 1}).json()
    assert page["count"] == 2 and page["results"] == created[:1] and page["next"]

    got = customer.http.get(f"/api/v1/ssh-keys/{created[1]['id']}/")
    assert got.status_code == 200 and got.json() == created[1]

    r = customer.http.delete(f"/api/v1/ssh-keys/{created[0]['id']}/")
    assert r.status_code == 204 and r.content == b""
    for method in ("GET", "DELETE"):
        r = customer.http.request(method, f"/api/v1/ssh-keys/{created[0]['id']}/")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    after = customer.http.get("/api/v1/ssh-keys/").json()
    assert after["count"] == 1 and after["results"] == created[1:]

    # A deleted key may be added again.
    assert add_key(customer, keys[0]).status_code == 201


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _invalid_keys() -> dict[str, str]:
    ed = ed25519_public_key()
    rs = rsa_public_key()
    ed_kind, ed_blob = ed.split()
    _, rsa_blob = rs.split()
    return {
        "garbage": "this is not a key",
        "one-word": "ssh-ed25519",
        "blob-only": ed_blob,
        "wrong-base64": "ssh-ed25519 AAAA!!!!notbase64",
        "bad-padding": f"ssh-ed25519 {ed_blob[:-3]}",
        "truncated": f"ssh-ed25519 {_b64(base64.b64decode(ed_blob)[:-5])}",
        "random-bytes": f"ssh-ed25519 {_b64(b'x' * 51)}",
        "type-mismatch-ed-as-rsa": f"ssh-rsa {ed_blob}",
        "type-mismatch-rsa-as-ed": f"ssh-ed25519 {rsa_blob}",
        "unknown-type": f"ssh-foo {ed_blob}",
        "private-key-marker": "-----BEGIN OPENSSH PRIVATE KEY-----",
        "whitespace": "   ",
        "empty": "",
        "nul": f"{ed_kind} {ed_blob}\x00",
    }


INVALID = _invalid_keys()


@pytest.mark.parametrize("case", sorted(INVALID))
def test_invalid_keys_are_400_naming_public_key(customer: Customer, case: str) -> None:
    assert_public_key_error(add_key(customer, INVALID[case]))
    assert customer.http.get("/api/v1/ssh-keys/").json()["count"] == 0


@pytest.mark.parametrize("value", [None, 5, ["ssh-ed25519 AAAA"]])
def test_public_key_of_the_wrong_type(customer: Customer, value: Any) -> None:
    r = customer.http.post("/api/v1/ssh-keys/", json={"name": "k", "public_key": value})
    assert_public_key_error(r)


@pytest.mark.parametrize("name", [None, "", "a\nb", "tab\there", "x" * 101, 5])
def test_bad_key_names(customer: Customer, name: object) -> None:
    body = {"public_key": ed25519_public_key()} | ({} if name is None else {"name": name})
    r = customer.http.post("/api/v1/ssh-keys/", json=body)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "validation_error"
    assert [f["name"] for f in r.json()["error"]["details"]["fields"]] == ["name"]


def test_duplicate_key_is_400(customer: Customer) -> None:
    key = ed25519_public_key("first")
    first = add_key(customer, key)
    assert first.status_code == 201
    # Same key with another comment and name: still the same key.
    error = assert_public_key_error(add_key(customer, key.rsplit(" ", 1)[0] + " second", name="again"))
    assert str(first.json()["id"]) in error["message"]
    assert customer.http.get("/api/v1/ssh-keys/").json()["count"] == 1


def test_same_key_in_two_accounts_is_allowed(live: Live) -> None:
    key = ed25519_public_key()
    a, b = live.account(), live.account()
    assert add_key(a, key).status_code == 201
    assert add_key(b, key).status_code == 201


def test_keys_of_another_account_are_404(live: Live) -> None:
    alice, bob = live.account(), live.account()
    key = add_key(alice, ed25519_public_key()).json()
    missing = bob.http.get(f"/api/v1/ssh-keys/{2**31 - 1}/")
    for method in ("GET", "DELETE"):
        r = bob.http.request(method, f"/api/v1/ssh-keys/{key['id']}/")
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "not_found"
        assert r.json()["error"]["details"] == missing.json()["error"]["details"]
        assert r.json()["error"]["message"].replace(str(key["id"]), "N") == missing.json()["error"][
            "message"
        ].replace(str(2**31 - 1), "N")
    assert bob.http.get("/api/v1/ssh-keys/").json()["count"] == 0
    assert alice.http.get(f"/api/v1/ssh-keys/{key['id']}/").json() == key


def test_server_with_ssh_key(live: Live) -> None:
    from sqlalchemy import select

    from vpsorg.servers.models import Server

    customer = live.account()
    public_key = ed25519_public_key("deploy@ci")
    key = add_key(customer, public_key).json()
    blob = public_key.split()[1]

    created = customer.create_server(ssh_key_id=key["id"], location="us-east")
    server = customer.wait_status(created["id"], "active")
    listed = customer.http.get("/api/v1/servers/").json()
    actions = customer.http.get(f"/api/v1/servers/{created['id']}/actions/").json()
    # The key is installed, not echoed: no server representation carries it.
    for doc in (created, server, listed, actions):
        text = str(doc)
        assert blob not in text and key["fingerprint"] not in text
        assert "ssh_key" not in text and "public_key" not in text

    stored = live.db(lambda s: s.scalar(select(Server.ssh_public_key).where(Server.id == created["id"])))
    assert stored == public_key

    # Deleting the key later leaves the server alone.
    assert customer.http.delete(f"/api/v1/ssh-keys/{key['id']}/").status_code == 204
    r = customer.http.get(f"/api/v1/servers/{created['id']}/")
    assert r.status_code == 200 and r.json()["status"] == "active"
    row = live.db(
        lambda s: s.execute(
            select(Server.ssh_key_id, Server.ssh_public_key).where(Server.id == created["id"])
        )
    ).one()
    assert tuple(row) == (None, public_key)


def _private_keys() -> dict[str, str]:
    """A private key in each format a key file on a laptop holds."""
    ed = ed25519.Ed25519PrivateKey.generate()
    rs = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    none = serialization.NoEncryption()
    pem, openssh = serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH
    return {
        "openssh-ed25519": ed.private_bytes(pem, openssh, none).decode(),
        "openssh-rsa": rs.private_bytes(pem, openssh, none).decode(),
        "pkcs8": rs.private_bytes(pem, serialization.PrivateFormat.PKCS8, none).decode(),
        "pkcs1": rs.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL, none).decode(),
        "pkcs8-encrypted": ed.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.BestAvailableEncryption(b"secret")
        ).decode(),
    }


PRIVATE_KEYS = _private_keys()


@pytest.mark.parametrize("kind", sorted(PRIVATE_KEYS))
def test_a_private_key_is_refused_in_words_and_not_echoed(
    customer: Customer, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    private = PRIVATE_KEYS[kind]
    error = assert_public_key_error(add_key(customer, private))
    assert "private key" in error["message"] and ".pub" in error["message"]
    # Nothing of the key's body comes back or reaches a log line.
    secret_lines = [line for line in private.splitlines() if "-----" not in line]
    answer = json.dumps(error)
    assert secret_lines and not any(line in answer or line in caplog.text for line in secret_lines)
    assert "-----BEGIN" not in answer
    assert customer.http.get("/api/v1/ssh-keys/").json()["count"] == 0
