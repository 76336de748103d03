"""The transition table, without a database."""

import pytest

from vpsorg.servers.states import (
    POWER_AFTER,
    TRANSITIONAL,
    TRANSITIONS,
    ActionType,
    PowerState,
    ServerStatus,
    can_request,
)

S = ServerStatus


@pytest.mark.parametrize(
    ("action", "allowed"),
    [
        (ActionType.START, {S.STOPPED}),
        (ActionType.STOP, {S.ACTIVE}),
        (ActionType.REBOOT, {S.ACTIVE}),
        (ActionType.DELETE, set(S)),
        (ActionType.RESIZE, {S.STOPPED}),
        (ActionType.REBUILD, {S.ACTIVE, S.STOPPED}),
    ],
)
def test_requests_are_allowed_only_from_the_table(action: ActionType, allowed: set[S]) -> None:
    for status in S:
        assert can_request(action, status) is (status in allowed), (action, status)


def test_power_actions_never_allowed_while_suspended_or_transitional() -> None:
    for status in (S.SUSPENDED, S.PROVISIONING, S.STARTING, S.STOPPING, S.REBOOTING, S.ERROR):
        for action in (ActionType.START, ActionType.STOP, ActionType.REBOOT):
            assert not can_request(action, status)


def test_transitional_and_final_statuses_match_the_seed() -> None:
    assert TRANSITIONS[ActionType.CREATE].during == S.PROVISIONING
    assert TRANSITIONS[ActionType.CREATE].on_success == S.ACTIVE
    assert (TRANSITIONS[ActionType.START].during, TRANSITIONS[ActionType.START].on_success) == (
        S.STARTING,
        S.ACTIVE,
    )
    assert (TRANSITIONS[ActionType.STOP].during, TRANSITIONS[ActionType.STOP].on_success) == (
        S.STOPPING,
        S.STOPPED,
    )
    assert (TRANSITIONS[ActionType.REBOOT].during, TRANSITIONS[ActionType.REBOOT].on_success) == (
        S.REBOOTING,
        S.ACTIVE,
    )
    assert TRANSITIONS[ActionType.START].message == "Server is starting"
    assert TRANSITIONS[ActionType.STOP].message == "Server is stopping"
    assert TRANSITIONS[ActionType.REBOOT].message == "Server is rebooting"


def test_create_cannot_be_requested_on_an_existing_server() -> None:
    assert not any(can_request(ActionType.CREATE, s) for s in S)


def test_a_resize_is_resizing_while_it_runs_and_stopped_after() -> None:
    t = TRANSITIONS[ActionType.RESIZE]
    assert (t.during, t.on_success, t.message) == (S.RESIZING, S.STOPPED, "Server is being resized")
    assert S.RESIZING in TRANSITIONAL  # reconcile leaves it to the worker
    assert POWER_AFTER[ActionType.RESIZE] == "shutoff"


def test_a_rebuild_is_rebuilding_then_active_and_running() -> None:
    rebuild = TRANSITIONS[ActionType.REBUILD]
    assert (rebuild.during, rebuild.on_success) == (S.REBUILDING, S.ACTIVE)
    assert POWER_AFTER[ActionType.REBUILD] == PowerState.RUNNING
    assert S.REBUILDING in TRANSITIONAL  # the worker's: reconcile leaves it alone
