"""The operators' fleet commands (`vpsorg hosts ...`, `vpsorg servers ...`, `vpsorg accounts
list`), run in this process through Typer's runner (tests/operator_cli.py) on the shared
server's database, whose worker does the migrations."""

import subprocess

from tests.conftest import Live, vpsorg_env
from tests.hosts import fleet
from tests.hosts.test_migration import settle
from tests.operator_cli import vpsorg_in_process


def vpsorg(live: Live, *args: str) -> subprocess.CompletedProcess[str]:
    return vpsorg_in_process(list(args), vpsorg_env(live.settings))


def failed(result: subprocess.CompletedProcess[str], says: str) -> None:
    """Exit 1 with one line on stderr that says `says`, and no traceback."""
    assert result.returncode == 1, result
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert says in result.stderr, result.stderr


def table(out: str) -> list[list[str]]:
    return [line.split() for line in out.strip().splitlines()]


def test_hosts_are_added_listed_updated_and_drained_and_servers_migrated(live: Live) -> None:
    customer = live.account()
    loc = fleet.new_location(live.settings)
    a, b = f"cli-a-{loc[-6:]}", f"cli-b-{loc[-6:]}"
    r = vpsorg(live, "hosts", "add", a, "--location", loc, "--driver", "simulator", "--vcpus", "8",
               "--memory-mib", "4096", "--disk-gb", "500", "--cpu-overcommit", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert int(r.stdout.strip().splitlines()[-1]) == fleet.host(live.settings, a).id
    r = vpsorg(live, "hosts", "add", b, "--location", loc, "--driver", "simulator", "--vcpus", "1",
               "--memory-mib", "512", "--disk-gb", "10")  # fmt: skip
    assert r.returncode == 0, r.stderr
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]  # only a has room
    assert fleet.server_host(live.settings, sid) == a

    rows = {row[0]: row for row in table(vpsorg(live, "hosts", "list").stdout)}
    assert rows["NAME"][:3] == ["NAME", "LOCATION", "STATE"]
    # a new host's worker has not been heard from yet, or has (the shared worker serves all)
    assert rows[a][1] == loc and rows[a][2] in ("enabled", "down")
    assert rows[a][-4:] == ["1/16", "1024/4096", "25/500", "1"]  # used/room: 8 vCPUs x 2
    assert rows[b][-4:] == ["0/4", "0/512", "0/10", "0"]

    r = vpsorg(live, "servers", "migrate", str(sid), "--to", b)
    failed(r, "has no room")
    r = vpsorg(live, "hosts", "update", b, "--memory-mib", "4096", "--disk-gb", "500")
    assert r.returncode == 0, r.stderr
    assert fleet.host(live.settings, b).memory_mib == 4096
    r = vpsorg(live, "servers", "migrate", str(sid), "--to", b)
    assert r.returncode == 0, r.stderr
    action_id = int(r.stdout.strip().splitlines()[-1])
    assert customer.wait_action(action_id)["status"] == "success"
    assert fleet.server_host(live.settings, sid) == b

    listed = table(vpsorg(live, "servers", "list", "--host", b).stdout)
    assert listed[0][:5] == ["ID", "ACCOUNT", "NAME", "STATUS", "HOST"]
    assert [row[:5] for row in listed[1:]] == [[str(sid), str(customer.account_id), "web-1", "active", b]]
    assert len(table(vpsorg(live, "servers", "list", "--location", loc, "--status", "stopped").stdout)) == 1
    assert len(table(vpsorg(live, "servers", "list", "--account", str(customer.account_id)).stdout)) == 2
    failed(vpsorg(live, "servers", "list", "--host", "no-such-host"), "no host named")

    shown = vpsorg(live, "servers", "show", str(sid))
    assert shown.returncode == 0, shown.stderr
    assert f"host:     {b}" in shown.stdout and "status:   active" in shown.stdout
    assert f"account:  {customer.account_id}" in shown.stdout
    assert "migrate" in shown.stdout and "create" in shown.stdout
    failed(vpsorg(live, "servers", "show", "2147483647"), "not found")

    failed(vpsorg(live, "hosts", "remove", b), "drain it first")
    r = vpsorg(live, "hosts", "drain", b)  # back to a
    assert r.returncode == 0, r.stderr
    assert f"server {sid}: migration queued" in r.stdout and r.stdout.strip().endswith("0 servers stay")
    settle(customer, sid)
    assert fleet.server_host(live.settings, sid) == a
    assert fleet.host(live.settings, b).state == "disabled"
    assert vpsorg(live, "hosts", "enable", b).returncode == 0
    assert fleet.host(live.settings, b).state == "enabled"
    assert vpsorg(live, "hosts", "disable", b).returncode == 0
    assert fleet.host(live.settings, b).state == "disabled"
    r = vpsorg(live, "hosts", "remove", b)
    assert r.returncode == 0, r.stderr
    assert fleet.host(live.settings, b) is None

    accounts = {row[0]: row for row in table(vpsorg(live, "accounts", "list").stdout)}
    assert accounts["ID"] == ["ID", "EMAIL", "BALANCE", "SERVERS", "CREATED", "SUSPENDED"]
    assert accounts[str(customer.account_id)][3] == "1"


def test_the_fleet_commands_fail_in_one_line(live: Live) -> None:
    loc = fleet.new_location(live.settings)
    add = [
        "hosts",
        "add",
        "x-host",
        "--driver",
        "simulator",
        "--vcpus",
        "1",
        "--memory-mib",
        "1",
        "--disk-gb",
        "1",
    ]
    failed(vpsorg(live, *add, "--location", "nowhere"), "no location 'nowhere'")
    failed(vpsorg(live, *add, "--location", loc, "--driver", "xen"), "unknown driver")
    failed(vpsorg(live, *add[:-2], "--disk-gb", "0", "--location", loc), "at least 1")
    a = fleet.add_host(live.settings, loc)
    failed(vpsorg(live, "hosts", "add", a, *add[3:], "--location", loc), "exists already")
    for command in ("enable", "disable", "drain", "remove", "update"):
        failed(
            vpsorg(
                live, "hosts", command, "no-such-host", *(["--vcpus", "2"] if command == "update" else [])
            ),
            "not found",
        )
    failed(vpsorg(live, "hosts", "update", a), "give at least one")
    failed(vpsorg(live, "hosts", "update", a, "--cpu-overcommit", "0"), "above 0")
    failed(vpsorg(live, "servers", "migrate", "2147483647"), "not found")
    customer = live.account()
    sid = customer.active_server(plan_id=fleet.STARTER, location=loc)["id"]
    failed(vpsorg(live, "servers", "migrate", str(sid)), "No other host")  # a is the only one
    failed(vpsorg(live, "servers", "migrate", str(sid), "--to", "no-such-host"), "no host named")
