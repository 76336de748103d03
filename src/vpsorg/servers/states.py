"""Server statuses and the lifecycle transition table: pure data, no I/O."""

from dataclasses import dataclass
from enum import StrEnum

# The hypervisor's vocabulary, defined by the drivers; re-exported for existing importers.
from vpsorg.drivers.base import PowerState as PowerState


class ServerStatus(StrEnum):
    PROVISIONING = "provisioning"
    ACTIVE = "active"
    STARTING = "starting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    REBOOTING = "rebooting"
    SUSPENDED = "suspended"
    # Moving to another host (a cold migration); back to the status it had when done.
    MIGRATING = "migrating"
    # Getting another plan's vCPUs, memory and disk (vpsorg.servers.resize); stopped after.
    RESIZING = "resizing"
    # Reinstalled from a clean image (vpsorg.servers.rebuild); active once done.
    REBUILDING = "rebuilding"
    ERROR = "error"


class ActionType(StrEnum):
    CREATE = "create"
    START = "start"
    STOP = "stop"
    REBOOT = "reboot"
    DELETE = "delete"
    # Queued by billing (balance at or below zero) or an operator: power off, stay suspended.
    SUSPEND = "suspend"
    # Queued by an operator (or a host's drain): move the machine to another host of the
    # location (see vpsorg.servers.migration).
    MIGRATE = "migrate"
    # Asked for by a customer with the server stopped: another plan (vpsorg.servers.resize).
    RESIZE = "resize"
    # Written by reconcile when the hypervisor's view corrected ours; never queued.
    SYNC = "sync"
    # Copy the server's disk into a snapshot (vpsorg.snapshots); the server's status stays.
    SNAPSHOT = "snapshot"
    # The disk replaced by a fresh copy of an OS image, the machine booted (servers.rebuild).
    REBUILD = "rebuild"


class ActionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    ERROR = "error"


@dataclass(frozen=True)
class Transition:
    allowed_from: frozenset[ServerStatus]
    during: ServerStatus | None  # status while the action is queued or running
    on_success: ServerStatus | None  # status when the worker finishes it
    message: str


ALL = frozenset(ServerStatus)

TRANSITIONS: dict[ActionType, Transition] = {
    ActionType.CREATE: Transition(
        frozenset(),
        ServerStatus.PROVISIONING,
        ServerStatus.ACTIVE,
        "Server is being provisioned. This may take 2-5 minutes.",
    ),
    ActionType.START: Transition(
        frozenset({ServerStatus.STOPPED}),
        ServerStatus.STARTING,
        ServerStatus.ACTIVE,
        "Server is starting",
    ),
    ActionType.STOP: Transition(
        frozenset({ServerStatus.ACTIVE}),
        ServerStatus.STOPPING,
        ServerStatus.STOPPED,
        "Server is stopping",
    ),
    ActionType.REBOOT: Transition(
        frozenset({ServerStatus.ACTIVE}),
        ServerStatus.REBOOTING,
        ServerStatus.ACTIVE,
        "Server is rebooting",
    ),
    # Delete is allowed in every status; the server leaves the API at once.
    ActionType.DELETE: Transition(ALL, None, None, "Server is being deleted"),
    # Never asked for by a customer (allowed from nothing); see vpsorg.servers.suspension.
    ActionType.SUSPEND: Transition(
        frozenset(), ServerStatus.SUSPENDED, ServerStatus.SUSPENDED, "Server is suspended"
    ),
    # Never asked for by a customer either (an operator's); on success the server returns to
    # the status it had, which the action keeps (Action.resume_status), so no fixed one here.
    ActionType.MIGRATE: Transition(
        frozenset(),
        ServerStatus.MIGRATING,
        None,
        "Server is moving to another host",
    ),
    ActionType.RESIZE: Transition(
        frozenset({ServerStatus.STOPPED}),
        ServerStatus.RESIZING,
        ServerStatus.STOPPED,
        "Server is being resized",
    ),
    # A snapshot leaves the server as it is (no `during` status): the machine keeps running
    # (or stays off), and its place in the server's line of actions orders it against a
    # stop or a delete asked for meanwhile. Its outcome is the snapshot's, not the server's.
    ActionType.SNAPSHOT: Transition(
        frozenset({ServerStatus.ACTIVE, ServerStatus.STOPPED}), None, None, "Snapshot is being taken"
    ),
    ActionType.REBUILD: Transition(
        frozenset({ServerStatus.ACTIVE, ServerStatus.STOPPED}),
        ServerStatus.REBUILDING,
        ServerStatus.ACTIVE,
        "Server is being rebuilt. Everything on its disk will be erased.",
    ),
}

# The statuses an operator may migrate a server from (the action keeps which, to return to it).
MIGRATABLE = frozenset({ServerStatus.ACTIVE, ServerStatus.STOPPED, ServerStatus.SUSPENDED})

# What the hypervisor should report once an action has succeeded.
POWER_AFTER: dict[ActionType, PowerState] = {
    ActionType.CREATE: PowerState.RUNNING,
    ActionType.START: PowerState.RUNNING,
    ActionType.STOP: PowerState.SHUTOFF,
    ActionType.REBOOT: PowerState.RUNNING,
    ActionType.DELETE: PowerState.MISSING,
    ActionType.SUSPEND: PowerState.SHUTOFF,
    ActionType.RESIZE: PowerState.SHUTOFF,
    ActionType.REBUILD: PowerState.RUNNING,
}

# Statuses in which the worker owns the server; reconcile leaves them alone.
TRANSITIONAL = frozenset(
    {
        ServerStatus.PROVISIONING,
        ServerStatus.STARTING,
        ServerStatus.STOPPING,
        ServerStatus.REBOOTING,
        ServerStatus.MIGRATING,
        ServerStatus.RESIZING,
        ServerStatus.REBUILDING,
    }
)

# Stable statuses and the power state they imply, for reconcile.
EXPECTED_POWER: dict[ServerStatus, PowerState] = {
    ServerStatus.ACTIVE: PowerState.RUNNING,
    ServerStatus.STOPPED: PowerState.SHUTOFF,
    ServerStatus.SUSPENDED: PowerState.SHUTOFF,
}


def can_request(action: ActionType, status: ServerStatus) -> bool:
    """Whether a customer may ask for `action` while the server is in `status`."""
    return status in TRANSITIONS[action].allowed_from
