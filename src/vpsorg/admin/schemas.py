"""The operators' representations: requests on accounts, account suspensions, the audit log,
the fleet (hosts, and any account's servers with their host)."""

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from vpsorg.accounts import limits
from vpsorg.accounts.schemas import AccountOut, Usage
from vpsorg.actions.schemas import ActionOut, ActionRef
from vpsorg.admin.audit import AuditAction, TargetType
from vpsorg.hosts.service import HostState
from vpsorg.schemas import RequestModel, Timestamp
from vpsorg.servers.schemas import PlanRef, ServerBrief
from vpsorg.servers.states import PowerState, ServerStatus

Reason = Annotated[str, Field(min_length=1, max_length=500)]
Amount = Annotated[
    str,
    Field(
        pattern=r"^-?\d{1,10}(\.\d{1,2})?$",
        description='A decimal string with at most two decimals, e.g. "25.00"; negative for a debit',
        examples=["25.00"],
    ),
]


class CreditIn(RequestModel):
    amount: Amount
    reason: Annotated[str, Field(min_length=1, max_length=500)]
    kind: Literal["top_up", "refund", "adjustment"] | None = Field(
        default=None, description="Default: top_up for a positive amount, adjustment for a negative one"
    )


class ReasonIn(RequestModel):
    reason: Reason = "by an operator"


def _whole(value: Any) -> Any:
    """JSON Schema's integer includes 2.0; strict validation would refuse it (not 2.5, not "2")."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# A limit, or null for the default; documented as one schema (not anyOf), so that its bounds
# are plain to every client and generator.
Limit = Annotated[
    Annotated[int, BeforeValidator(_whole), Field(ge=0, le=limits.MAX_LIMIT)] | None,
    WithJsonSchema({"type": ["integer", "null"], "minimum": 0, "maximum": limits.MAX_LIMIT}),
]


class LimitsIn(RequestModel):
    """Any non-empty subset; null sets a limit back to the default."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    servers: Limit = Field(default=None, description="Servers the account may have; null: the default")
    ssh_keys: Limit = Field(default=None, description="SSH keys the account may have; null: the default")


class LimitOut(Usage):
    override: int | None = Field(description="The account's own limit; null: the default applies")


class LimitsOut(BaseModel):
    servers: LimitOut
    ssh_keys: LimitOut


class SuspensionResult(BaseModel):
    server: ServerBrief
    action: ActionRef | None = Field(description="The action queued, if any")


class AccountSuspendIn(RequestModel):
    reason: Reason = Field(description="Why; shown to the account's customer (GET /api/v1/account/)")


class AccountSuspensionOut(BaseModel):
    account: AccountOut
    actions: list[ActionOut] = Field(
        description="The actions queued on its servers: suspend (suspending), or start/stop (unsuspending)"
    )


class AuditEntryOut(BaseModel):
    id: int
    actor_id: int | None = Field(
        description="The operator's account; null with actor_email null: the operator CLI on the "
        "control plane's machine"
    )
    actor_email: str | None = Field(description="The operator's email when the action was taken")
    action: AuditAction
    target_type: TargetType
    target_id: int
    details: dict[str, Any] = Field(
        description="What the action did: amounts (decimal strings), reasons, old and new values"
    )
    created_at: Timestamp


HostName = Annotated[str, Field(min_length=1, max_length=63, examples=["us-west-2"])]


class HostOut(BaseModel):
    id: int
    name: str
    location: str = Field(description="The code of its location")
    driver: Literal["simulator", "libvirt"] | None = Field(
        description="Its hypervisor's driver; null: the worker's own (VPSORG_DRIVER)"
    )
    uri: str | None = Field(description="libvirt connection URI; null: the worker's own")
    storage: str | None = Field(description="Directory of the machines' disks; null: the worker's own")
    network: str | None = Field(description="libvirt network of the guests; null: the worker's own")
    bridge: str | None = Field(description="Host bridge of the guests; null: the worker's own")
    state: HostState = Field(
        description="enabled: takes new servers; disabled: takes none; draining: its servers are being "
        "moved away (disabled once none is left)"
    )
    down: bool = Field(description="No heartbeat from its worker within VPSORG_HOST_DOWN_SECONDS (or never)")
    heartbeat_at: Timestamp | None = Field(description="Its worker's last heartbeat; null: never")
    vcpus: int
    memory_mib: int
    disk_gb: int
    cpu_overcommit: float = Field(description="Placement counts vcpus times this as its vCPU room")
    memory_overcommit: float
    disk_overcommit: float
    used_vcpus: int = Field(description="What its servers' plans take (migrations to it included)")
    used_memory_mib: int
    used_disk_gb: int
    servers: int = Field(description="Servers on it, and on their way to it")
    created_at: Timestamp


class AdminServer(BaseModel):
    id: int
    account_id: int
    name: str
    hostname: str
    status: ServerStatus
    power_state: PowerState = Field(description="What the hypervisor last reported")
    host: str | None = Field(description="The host its machine is on; null: none (torn down)")
    location: str
    ip_address: str | None
    ipv6_address: str | None
    plan: PlanRef
    error: str | None
    labels: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp


class AdminServerDetail(AdminServer):
    actions: list[ActionOut] = Field(description="Its latest actions, newest first, with their errors")


class MigrateIn(RequestModel):
    host: HostName | None = Field(
        default=None,
        description="The host to move to (same location, enabled, with room); default: placement chooses",
    )


class MigrationResult(BaseModel):
    server: ServerBrief
    action: ActionRef
    host: str = Field(description="The host it is moving to")


class DrainedServer(BaseModel):
    server: ServerBrief
    action: ActionRef


class LeftServer(BaseModel):
    server: ServerBrief
    error: str = Field(description="Why it stays on the host")


class DrainResult(BaseModel):
    host: HostOut
    queued: list[DrainedServer] = Field(description="The migrations queued, one per server")
    failed: list[LeftServer] = Field(description="The servers that stay on the host, and why")
