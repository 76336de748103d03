"""`vps events list` and `vps events watch` against a live API server on the simulator."""

import json
import signal
import subprocess
from pathlib import Path

from tests.client.test_vps_cli import VPS, as_json, clean_env, ok, vps
from tests.conftest import Live


def test_watch_prints_one_line_per_event_and_list_lists_them(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="1000")
    env = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    events = customer.http.get("/api/v1/events/").json()["results"]
    start = str(max((e["id"] for e in events), default=0))
    server = customer.active_server(name="watched")
    listed = customer.http.get("/api/v1/events/", params={"server_id": server["id"]}).json()["results"]
    assert len(listed) >= 5

    watched = ok(vps("-o", "json", "events", "watch", "--after", start, "--count", "4", env=env))
    lines = [json.loads(line) for line in watched.splitlines()]
    assert lines == listed[::-1][:4]  # the oldest four, one JSON object per line

    changes = ok(
        vps(
            "events",
            "watch",
            "--after",
            start,
            "--count",
            "1",
            "--type",
            "server.status_changed",
            "--server",
            "watched",
            env=env,
        )
    ).splitlines()
    assert len(changes) == 1
    when, kind, obj, summary = changes[0].split("  ", 3)
    assert kind == "server.status_changed" and obj == f"server {server['id']}"
    assert summary == "watched: provisioning -> active" and when.endswith("Z")
    assert ok(vps("-q", "events", "watch", "--after", start, "--count", "2", env=env)).split() == [
        str(e["id"]) for e in listed[::-1][:2]
    ]

    assert as_json(vps("-o", "json", "events", "list", "--server", "watched", env=env)) == listed
    finished = as_json(vps("-o", "json", "events", "list", "--type", "action.finished", env=env))
    assert [e["data"]["status"] for e in finished] == ["success"] and finished[0]["server_id"] == server["id"]
    assert ok(vps("-q", "events", "list", "--limit", "2", env=env)).split() == [
        str(e["id"]) for e in listed[:2]
    ]
    table = ok(vps("events", "list", "--server", str(server["id"]), env=env))
    assert "action.finished" in table and "create success" in table and "watched (provisioning)" in table
    refused = vps("events", "watch", "--type", "server.exploded", "--count", "1", env=env)
    assert (
        refused.returncode == 1 and "server.exploded" in refused.stderr and "Traceback" not in refused.stderr
    )


def test_ctrl_c_ends_a_watch_cleanly(live: Live, tmp_path: Path) -> None:
    customer = live.account(credit="1000")
    env = clean_env(tmp_path, VPS_URL=live.url, VPS_TOKEN=customer.token)
    customer.active_server(name="interrupted")
    watch = subprocess.Popen(
        [str(VPS), "events", "watch", "--after", "0", "--type", "server.created"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        first = watch.stdout.readline()  # the backlog's first: the stream is open
        assert "server.created" in first and "interrupted (provisioning)" in first
        watch.send_signal(signal.SIGINT)
        code = watch.wait(timeout=30)
        _, stderr = watch.communicate(timeout=10)
    finally:
        if watch.poll() is None:
            watch.kill()
            watch.wait()
    assert code == 0 and "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
