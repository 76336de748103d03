"""A body over VPSORG_MAX_BODY_BYTES is refused (413 payload_too_large) before it is read: at once
on its Content-Length, after at most the limit when chunked; with or without a token. Against a
spawned server process, whose resident memory must not grow with what clients send."""

import json
import re
import socket
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Proc, free_port, prepare_database, run_db, spawn, test_settings, wait_http
from vpsorg.accounts import service as accounts

EIGHT_MB = 8 * 1024 * 1024
CHUNK = 64 * 1024


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    found = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    assert found, status
    return int(found.group(1))


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        got = sock.recv(65536)
        assert got, f"connection closed before a response: {data!r}"
        data += got
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        got = sock.recv(65536)
        if not got:
            break
        body += got
    return int(lines[0].split()[1]), headers, body


def post(
    port: int, token: str | None, *, chunked: bool, send_body: bool = True
) -> tuple[int, dict[str, Any]]:
    """POST 8 MB of JSON to /api/v1/ssh-keys/ from a thread (the server may answer and close
    before it is all sent), reading the response meanwhile."""
    head = [
        "POST /api/v1/ssh-keys/ HTTP/1.1",
        f"Host: 127.0.0.1:{port}",
        "Content-Type: application/json",
        "Transfer-Encoding: chunked" if chunked else f"Content-Length: {EIGHT_MB}",
    ] + ([f"Authorization: Bearer {token}"] if token else [])
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)

    def body() -> Iterator[bytes]:
        piece = b'{"name": "' + b"x" * (CHUNK - 10)
        for sent in range(0, EIGHT_MB, CHUNK):
            chunk = piece[: min(CHUNK, EIGHT_MB - sent)]
            yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if chunked else chunk
        if chunked:
            yield b"0\r\n\r\n"

    def sender() -> None:
        try:
            sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
            for piece in body() if send_body else ():
                sock.sendall(piece)
        except OSError:
            pass  # the server answered and closed: what we want

    thread = threading.Thread(target=sender, daemon=True)
    thread.start()
    try:
        status, headers, raw = read_response(sock)
    finally:
        sock.close()
        thread.join(timeout=30)
    assert headers.get("content-type") == "application/json", headers
    return status, json.loads(raw)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proc, int, str]]:
    tmp = tmp_path_factory.mktemp("bodysize")
    settings = test_settings(tmp / "vpsorg.db")
    prepare_database(settings)

    async def make(session: Any) -> str:
        account = await accounts.create_account(session, email="big@example.com", credit=Decimal(10))
        return await accounts.create_token(session, account_id=account.id)

    token = run_db(settings, make)
    port = free_port()
    proc = spawn(["serve", "--no-worker", "--port", str(port)], settings, tmp / "api.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", timeout=90)
        yield proc, port, token
    finally:
        proc.stop()
    assert "Traceback" not in proc.log.read_text()


def assert_too_large(status: int, body: dict[str, Any]) -> None:
    assert status == 413, body
    assert body["error"]["code"] == "payload_too_large", body
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["details"] == {"limit": 1048576}


def test_a_content_length_over_the_limit_is_refused_before_the_body_is_sent(
    server: tuple[Proc, int, str],
) -> None:
    _, port, token = server
    for who in (None, token):
        # Only the headers are sent: the answer cannot have waited for the body.
        assert_too_large(*post(port, who, chunked=False, send_body=False))


def test_eight_megabytes_are_refused_without_growing_the_process(server: tuple[Proc, int, str]) -> None:
    proc, port, token = server
    assert_too_large(*post(port, None, chunked=True))  # warm up the code paths
    before = rss_kb(proc.popen.pid)
    for _ in range(2):
        for who in (None, token):
            for chunked in (False, True):
                assert_too_large(*post(port, who, chunked=chunked))
    grown = rss_kb(proc.popen.pid) - before
    assert grown < 20 * 1024, f"RSS grew by {grown} kB"
