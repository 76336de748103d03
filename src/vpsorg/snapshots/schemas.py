from decimal import Decimal

from pydantic import BaseModel, Field

from vpsorg.actions.schemas import ActionRef
from vpsorg.schemas import RequestModel, Timestamp
from vpsorg.servers.schemas import Name
from vpsorg.snapshots.models import SnapshotKind, SnapshotStatus


class SnapshotCreate(RequestModel):
    name: Name


class SnapshotOut(BaseModel):
    id: int
    name: str
    kind: SnapshotKind = Field(description="`snapshot` (taken on request) or `backup` (daily)")
    status: SnapshotStatus
    server_id: int = Field(description="The server it was taken of (which may be deleted since)")
    size_gb: int | None = Field(description="Its size in GB, once available")
    price_monthly: Decimal | None = Field(
        description="USD a month for its storage (size_gb times the price per GB-month), once available"
    )
    error: str | None = Field(description="What went wrong, when status is error")
    created_at: Timestamp


class SnapshotTaken(BaseModel):
    snapshot: SnapshotOut
    action: ActionRef
