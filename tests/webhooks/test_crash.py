"""At least once across processes: the API in this process (no worker of its own), workers in
processes of their own. A worker killed right after a receiver took a delivery, before it
could record it (the failpoint `webhooks.after_send`, as abrupt as kill -9), leaves it to the
next worker, which sends it again once the lease runs out: the receiver has every event, in
order, after deduplication by event id; none is lost."""

from pathlib import Path

from tests.conftest import Proc, prepare_database, serve_in_thread, spawn, test_settings
from tests.webhooks.conftest import FAST
from tests.webhooks.helpers import account_events, create_webhook, deduplicated, deliveries, wait
from tests.webhooks.receiver import receiving

TIMEOUT = 60  # a bound on each wait, not an expectation (a worker process starts slowly here)


def test_a_worker_killed_mid_delivery_leads_to_a_redelivery_never_a_loss(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "vpsorg.db", **FAST | {"worker_lease_seconds": 1.5})
    prepare_database(settings)
    workers: list[Proc] = []
    with serve_in_thread(settings, run_worker=False) as live, receiving() as r:
        try:
            customer = live.account()
            start = max(account_events(customer))
            hook = create_webhook(customer, r.url)
            created = customer.create_server()
            failpoint = {"VPSORG_FAILPOINTS": "webhooks.after_send"}
            workers.append(spawn(["worker"], settings, tmp_path / "worker1.log", env=failpoint))
            r.wait_for(1, timeout=TIMEOUT)
            assert workers[0].popen.wait(timeout=TIMEOUT) == 70, workers[0].log.read_text()  # the failpoint
            assert len(r.got) == 1
            workers.append(spawn(["worker"], settings, tmp_path / "worker2.log"))
            customer.wait_status(created["id"], "active", timeout=TIMEOUT)
            expected = account_events(customer, after=start)
            wait(lambda: set(deduplicated(r)) >= set(expected), "every event", TIMEOUT)
            ids = r.event_ids()
            log = {d["event_id"]: d for d in deliveries(customer, hook["id"])}
        finally:
            for proc in workers:
                proc.stop()
    assert ids[0] == ids[1] == expected[0]  # sent by the first worker, and again by the second
    assert deduplicated(r) == expected and len(ids) == len(expected) + 1
    assert log[expected[0]]["attempts"] == 2 and log[expected[0]]["status"] == "succeeded"
    assert "Traceback" not in workers[1].log.read_text()
