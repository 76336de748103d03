"""The operators' representations of the fleet: hosts, and any account's servers with their host."""

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from vpsorg.actions.schemas import ActionOut, ActionRef
from vpsorg.hosts.service import HostState
from vpsorg.schemas import RequestModel, Timestamp
from vpsorg.servers.schemas import PlanRef, ServerBrief
from vpsorg.servers.states import PowerState, ServerStatus

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
