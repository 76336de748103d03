"""A delivery the receiver never takes is given up after the retry window (here 1 s, by
settings), and the webhook's next deliveries then go, in order."""

import json
from pathlib import Path

from tests.conftest import prepare_database, serve_in_thread, test_settings
from tests.webhooks.conftest import FAST
from tests.webhooks.helpers import account_events, create_webhook, deduplicated, deliveries, wait
from tests.webhooks.receiver import Received, receiving


def refuse_creations(got: Received) -> int:
    return 500 if json.loads(got.body)["type"] == "server.created" else 200


def test_a_delivery_past_the_retry_window_is_given_up_and_the_next_goes(tmp_path: Path) -> None:
    settings = test_settings(tmp_path / "vpsorg.db", **FAST | {"webhooks_retry_window_seconds": 1.0})
    prepare_database(settings)
    with serve_in_thread(settings) as live, receiving(answer=refuse_creations) as r:
        customer = live.account()
        start = max(account_events(customer))
        hook = create_webhook(customer, r.url)
        customer.active_server()
        expected = account_events(customer, after=start)
        wait(lambda: set(deduplicated(r)) >= set(expected), "every event to be tried")
        wait(lambda: all(d["status"] != "pending" for d in deliveries(customer, hook["id"])), "all done")
        ids = r.event_ids()
        log = {d["event_id"]: d for d in deliveries(customer, hook["id"])}
    created = expected[0]
    tries = ids.count(created)
    assert tries >= 2 and ids[:tries] == [created] * tries  # retried, and the rest waited
    assert ids[tries:] == expected[1:]
    gave_up = log[created]
    assert gave_up["status"] == "failed" and gave_up["attempts"] == tries
    assert gave_up["last_status_code"] == 500 and gave_up["last_error"] == "HTTP 500"
    assert all(log[e]["status"] == "succeeded" for e in expected[1:])
