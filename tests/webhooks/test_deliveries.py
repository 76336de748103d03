"""Deliveries end to end on the database under test: the API with its worker, a receiver on
loopback. Every event exactly once per webhook after deduplication by event id, in order,
signed (verified with the README's snippet); only the types asked for; retried until the
receiver takes it, in order; the delivery log and a manual redeliver."""

import json

from tests.conftest import Live
from tests.webhooks.helpers import (
    account_events,
    all_done,
    create_webhook,
    deduplicated,
    deliveries,
    readme_verify,
    wait,
)
from tests.webhooks.receiver import receiving


def test_every_event_once_in_order_signed_and_logged(hooked: Live) -> None:
    customer = hooked.account()
    verify = readme_verify()
    with receiving() as r:
        start = max(account_events(customer))  # its credit: before the webhook, not sent
        hook = create_webhook(customer, r.url)
        server = customer.active_server()
        assert customer.http.post(f"/api/v1/servers/{server['id']}/reboot/").status_code == 200
        customer.wait_status(server["id"], "active")
        assert customer.http.delete(f"/api/v1/servers/{server['id']}/").status_code == 204
        wait(lambda: all_done(customer, server["id"]), "the delete to finish")
        expected = account_events(customer, after=start)
        wait(lambda: set(deduplicated(r)) >= set(expected), "every event to be received")
        got = list(r.got)
    assert len(expected) >= 10  # created, queued, running, statuses, finished... for 3 actions
    assert deduplicated(r) == expected  # each one, in event order, and nothing else
    types = [json.loads(g.body)["type"] for g in got]
    assert types[0] == "server.created" and "server.deleted" in types and "action.finished" in types
    for g in got:
        body = json.loads(g.body)
        assert g.headers["vpsorg-event-id"] == str(body["id"])
        assert g.headers["vpsorg-event-type"] == body["type"]
        assert set(body) == {"id", "type", "object", "server_id", "data", "created_at"}
        assert verify(hook["secret"], g.headers["vpsorg-signature"], g.body)
        assert not verify("whsec_wrong", g.headers["vpsorg-signature"], g.body)
        assert not verify(hook["secret"], g.headers["vpsorg-signature"], g.body + b" ")
    # the API shows the same event as the delivery's body
    listed = customer.http.get("/api/v1/events/", params={"page_size": 200})
    assert listed.status_code == 200, listed.text
    by_id = {e["id"]: e for e in listed.json()["results"]}
    assert all(json.loads(g.body) == by_id[json.loads(g.body)["id"]] for g in got)
    log = deliveries(customer, hook["id"])
    assert [d["event_id"] for d in log] == expected[::-1]  # newest first
    assert {(d["status"], d["attempts"], d["last_status_code"], d["last_error"]) for d in log} == {
        ("succeeded", 1, 200, None)
    }
    assert all(d["next_attempt_at"] is None and d["finished_at"] for d in log)


def test_only_the_types_asked_for_are_sent(hooked: Live) -> None:
    customer = hooked.account()
    start = max(account_events(customer))
    with receiving() as r, receiving() as everything:
        create_webhook(customer, r.url, event_types=["server.status_changed"])
        create_webhook(customer, everything.url)
        customer.active_server()
        expected = account_events(customer, after=start)
        wait(lambda: set(deduplicated(everything)) >= set(expected), "every event")
        wait(lambda: len(r.got) >= 1, "a status change")
    types = {json.loads(g.body)["type"] for g in r.got}
    assert types == {"server.status_changed"}
    assert len(set(deduplicated(everything))) > len(set(deduplicated(r)))


def test_a_receiver_failing_three_times_gets_the_event_on_the_fourth_try_and_the_rest_wait(
    hooked: Live,
) -> None:
    customer = hooked.account()
    start = max(account_events(customer))
    with receiving(answers=[500, 500, 500]) as r:
        hook = create_webhook(customer, r.url)
        customer.active_server()
        expected = account_events(customer, after=start)
        wait(lambda: set(deduplicated(r)) >= set(expected), "every event to be received")
        ids = r.event_ids()
    first = expected[0]
    assert ids[:4] == [first] * 4  # three 500s, then the 200: the others waited their turn
    assert ids[4:] == expected[1:]
    log = {d["event_id"]: d for d in deliveries(customer, hook["id"])}
    assert log[first]["attempts"] == 4 and log[first]["status"] == "succeeded"
    assert log[first]["last_status_code"] == 200 and log[first]["last_error"] is None
    assert all(log[e]["attempts"] == 1 for e in expected[1:])


def test_a_redeliver_sends_the_same_event_again(hooked: Live) -> None:
    customer = hooked.account()
    with receiving() as r:
        hook = create_webhook(customer, r.url, event_types=["server.created"])
        customer.create_server()
        (first,) = r.wait_for(1)
        wait(lambda: deliveries(customer, hook["id"])[0]["status"] == "succeeded", "the delivery logged")
        (logged,) = deliveries(customer, hook["id"])
        again = customer.http.post(f"/api/v1/webhooks/{hook['id']}/deliveries/{logged['id']}/redeliver/")
        assert again.status_code == 202, again.text
        assert again.json()["redelivery_of"] == logged["id"] and again.json()["status"] == "pending"
        second = r.wait_for(2)[1]
    assert second.body == first.body and second.headers["vpsorg-event-id"] == first.headers["vpsorg-event-id"]
    log = deliveries(customer, hook["id"])
    wait(lambda: deliveries(customer, hook["id"])[0]["status"] == "succeeded", "the redelivery logged")
    assert [d["event_id"] for d in log] == [logged["event_id"]] * 2
    missing = customer.http.post(f"/api/v1/webhooks/{hook['id']}/deliveries/999999/redeliver/")
    assert missing.status_code == 404


def test_a_disabled_webhook_gets_nothing_then_only_later_events(hooked: Live) -> None:
    customer = hooked.account()
    with receiving() as r:
        hook = create_webhook(customer, r.url, event_types=["server.created"], enabled=False)
        customer.create_server(name="while-off")
        before = account_events(customer)
        patched = customer.http.patch(f"/api/v1/webhooks/{hook['id']}/", json={"enabled": True})
        assert patched.status_code == 200
        customer.create_server(name="while-on")
        (got,) = r.wait_for(1)
    assert json.loads(got.body)["data"]["name"] == "while-on"
    assert int(got.headers["vpsorg-event-id"]) > max(before)
