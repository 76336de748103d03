"""The event types: what each one means and what its `data` holds (README "Events" is
made from this table: tests/events/test_types.py checks that they agree)."""

from enum import StrEnum


class EventType(StrEnum):
    SERVER_CREATED = "server.created"
    SERVER_STATUS_CHANGED = "server.status_changed"
    SERVER_DELETED = "server.deleted"
    ACTION_QUEUED = "action.queued"
    ACTION_RUNNING = "action.running"
    ACTION_FINISHED = "action.finished"
    SNAPSHOT_AVAILABLE = "snapshot.available"
    SNAPSHOT_FAILED = "snapshot.failed"
    ACCOUNT_SUSPENDED = "account.suspended"
    ACCOUNT_UNSUSPENDED = "account.unsuspended"
    ACCOUNT_CREDIT_ADDED = "account.credit_added"


# type: (object, when, the keys of `data`)
DESCRIPTIONS: dict[EventType, tuple[str, str, str]] = {
    EventType.SERVER_CREATED: ("server", "a server was created", "server_id, name, status"),
    EventType.SERVER_STATUS_CHANGED: (
        "server",
        "its status changed (e.g. provisioning to active)",
        "server_id, name, from, to",
    ),
    EventType.SERVER_DELETED: ("server", "a customer deleted it", "server_id, name"),
    EventType.ACTION_QUEUED: ("action", "an action was queued", "action_id, server_id, type, status"),
    EventType.ACTION_RUNNING: (
        "action",
        "the worker started it",
        "action_id, server_id, type, status",
    ),
    EventType.ACTION_FINISHED: (
        "action",
        "it ended: status `success` or `error` (then `error` says why)",
        "action_id, server_id, type, status, error",
    ),
    EventType.SNAPSHOT_AVAILABLE: (
        "snapshot",
        "a snapshot or backup is ready",
        "snapshot_id, server_id, name, kind, size_gb",
    ),
    EventType.SNAPSHOT_FAILED: (
        "snapshot",
        "taking it failed",
        "snapshot_id, server_id, name, kind, error",
    ),
    EventType.ACCOUNT_SUSPENDED: ("account", "the account was suspended", "reason"),
    EventType.ACCOUNT_UNSUSPENDED: ("account", "the suspension was lifted", "(none)"),
    EventType.ACCOUNT_CREDIT_ADDED: (
        "account",
        "credit was added (a top-up, refund or positive adjustment)",
        "amount, balance, kind, reason",
    ),
}
