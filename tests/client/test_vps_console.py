"""`vps servers console ID` on a pseudo-terminal, against the simulator's console: raw mode
while attached, Ctrl-] leaves, and the terminal's settings restored after."""

import os
import select
import subprocess
import sys
import termios
import time
from pathlib import Path

from tests.client.test_vps_cli import clean_env
from tests.conftest import Customer, Live

VPS = Path(sys.executable).with_name("vps")


def read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} never showed; the terminal showed {seen[-500:]!r}"
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            seen += os.read(fd, 4096)
    return seen


def test_the_terminal_is_attached_and_restored(live: Live, customer: Customer, tmp_path: Path) -> None:
    server = customer.active_server(hostname="tty.example.com")
    env = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    master, slave = os.openpty()
    before = termios.tcgetattr(slave)
    assert before[3] & termios.ECHO and before[3] & termios.ICANON  # a cooked terminal
    proc = subprocess.Popen(
        [str(VPS), "servers", "console", str(server["id"])],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        read_until(master, b"tty.example.com login: ")
        assert not termios.tcgetattr(slave)[3] & termios.ICANON  # raw while attached
        os.write(master, b"vpsorg\r")
        read_until(master, b"Password: ")
        os.write(master, b"vpsorg\r")
        read_until(master, b"$ ")
        os.write(master, b"hostname\r")
        assert b"\r\ntty.example.com\r\n" in read_until(master, b"$ ")
        os.write(master, b"\x1d")  # Ctrl-]
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, stderr
    assert b"Ctrl-] leaves" in stderr
    assert termios.tcgetattr(slave) == before  # restored
    os.close(master)
    os.close(slave)


def test_a_stopped_server_has_no_console(live: Live, customer: Customer, tmp_path: Path) -> None:
    server = customer.active_server()
    customer.http.post(f"/api/v1/servers/{server['id']}/stop/")
    customer.wait_status(server["id"], "stopped")
    env = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    result = subprocess.run(
        [str(VPS), "servers", "console", str(server["id"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result
    assert "invalid_state" in result.stderr


def test_input_that_cannot_be_waited_on_is_refused(live: Live, customer: Customer, tmp_path: Path) -> None:
    server = customer.active_server()
    env = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    result = subprocess.run(
        [str(VPS), "servers", "console", str(server["id"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1, result
    assert "standard input must be a terminal or a pipe" in result.stderr
    assert "Traceback" not in result.stderr
