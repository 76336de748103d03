import re
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from vpsorg.accounts.schemas import Money
from vpsorg.actions.schemas import ActionRef
from vpsorg.schemas import AllowControls, Id, PatchModel, RequestModel, Timestamp
from vpsorg.servers.labels import MAX_LABELS, check_labels, labels_schema
from vpsorg.servers.states import ServerStatus

NAME_RE = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
# check_hostname as a JSON Schema (ECMA 262) pattern, for the OpenAPI document: one label (as
# a default hostname, the name, is), or two or more with the last one not all digits. The
# length bounds are the field's minLength/maxLength.
_LABEL_RE = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOSTNAME_RE = rf"^(?:{_LABEL_RE}|(?:{_LABEL_RE}\.)+(?![0-9]+$){_LABEL_RE})$"


def check_hostname(value: str) -> str:
    """An RFC 1123 host name: a single label (`web01`: what the name gives by default) or a
    fully qualified domain name of two or more labels, no trailing dot, the top-level label
    not all digits (so that no dotted IPv4 address passes)."""
    labels = value.split(".")
    if len(value) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        raise ValueError(
            "must be a host name such as web01 or a fully qualified domain name such as "
            "web01.example.com (labels of 1-63 letters, digits and hyphens, not starting or "
            "ending with a hyphen, joined by dots)"
        )
    if len(labels) > 1 and labels[-1].isdigit():
        raise ValueError("the top-level label must not be all digits")
    return value.lower()


NAME_RULE = "1-63 letters, digits and hyphens; not starting or ending with a hyphen"


def check_name(value: str) -> str:
    """NAME_RE, checked here rather than as the field's pattern so that a refusal says the
    rule in words (pydantic's pattern error shows the regular expression)."""
    if not _LABEL.fullmatch(value):
        raise ValueError(f"must be {NAME_RULE}, such as web-1")
    return value


Name = Annotated[
    str,
    Field(
        min_length=1,
        max_length=63,
        description=NAME_RULE,
        examples=["web-server-01"],
        json_schema_extra={"pattern": NAME_RE},
    ),
    AfterValidator(check_name),
]
Hostname = Annotated[
    str,
    Field(
        min_length=1,
        max_length=253,
        examples=["web01.example.com"],
        description="A host name (RFC 1123): one label (web01) or a fully qualified domain name",
        json_schema_extra={"pattern": HOSTNAME_RE},
    ),
    AfterValidator(check_hostname),
]

Labels = Annotated[
    dict[str, str],
    Field(
        description=f"Key/value labels (Kubernetes rules), at most {MAX_LABELS}; select servers by "
        "them with label_selector",
        examples=[{"env": "prod", "example.com/tier": "web"}],
        json_schema_extra=labels_schema,
    ),
    AfterValidator(check_labels),
]


USER_DATA_MAX_BYTES = 64 * 1024


def check_user_data(value: str | None) -> str | None:
    """At most 64 KiB once encoded as UTF-8 (what the seed carries), not 64 Ki characters."""
    if value is not None and len(value.encode()) > USER_DATA_MAX_BYTES:
        raise ValueError(
            f"must be at most 64 KiB ({USER_DATA_MAX_BYTES} bytes) encoded as UTF-8; "
            f"this is {len(value.encode())} bytes"
        )
    return value


def _user_data_schema(schema: dict[str, Any]) -> None:
    # A bound the document can state: 64 Ki characters are at least 64 KiB of UTF-8.
    for member in schema.get("anyOf", []):
        if member.get("type") == "string":
            member["maxLength"] = USER_DATA_MAX_BYTES


UserData = Annotated[
    str | None,
    Field(
        description="Cloud-init user data (a #cloud-config document, a script, ...), run on first "
        "boot beside vpsorg's own configuration; at most 64 KiB encoded as UTF-8. Kept for the "
        "server's machine, never shown again.",
        examples=["#cloud-config\nruncmd:\n  - touch /root/hello\n"],
        json_schema_extra=_user_data_schema,
    ),
    AfterValidator(check_user_data),
    AllowControls("\t\n\r"),
]


MAX_SSH_KEYS = 32


def _one_source(schema: dict[str, Any]) -> None:
    # As validated: the disk's source is an OS image or a snapshot, exactly one of them
    # (null, accepted as not given, is left out of the document).
    schema["oneOf"] = [{"required": ["os_id"]}, {"required": ["snapshot_id"]}]
    for name in ("os_id", "snapshot_id"):
        prop = schema["properties"][name]
        prop.update(next(m for m in prop.pop("anyOf") if m.get("type") != "null"))
        prop.pop("default", None)


SOURCES = ("os_id", "snapshot_id")


def refuse_null_source(data: Any) -> Any:
    """A model's before-validator: null for os_id or snapshot_id is refused as a wrong type
    (the document has them integers, given or not; None inside marks one not given)."""
    if isinstance(data, dict) and any(k in data and data[k] is None for k in SOURCES):
        return {k: "null" if k in SOURCES and v is None else v for k, v in data.items()}
    return data


def check_one_source(os_id: int | None, info: ValidationInfo) -> int | None:
    """os_id's validator (run even when it is not given; snapshot_id, declared before it, is
    validated first): exactly one of os_id and snapshot_id, the error named os_id."""
    given = os_id is not None, info.data.get("snapshot_id") is not None
    if given == (False, False):
        raise PydanticCustomError(
            "missing", "Field required: give os_id, or snapshot_id to restore a snapshot"
        )
    if given == (True, True):
        raise ValueError("give exactly one of os_id (an OS image) and snapshot_id (one of your snapshots)")
    return os_id


class ServerCreate(RequestModel):
    model_config = ConfigDict(json_schema_extra=_one_source)

    name: Name
    plan_id: Id
    # snapshot_id before os_id: os_id's validator sees it (check_one_source)
    snapshot_id: Id | None = Field(
        default=None,
        description="One of your snapshots (or backups) to copy the disk from, instead of os_id; "
        "the server gets the snapshot's OS, and the plan's disk must be at least the snapshot's size",
    )
    os_id: Id | None = Field(
        default=None, validate_default=True, description="The operating system to install (or snapshot_id)"
    )
    location: Annotated[str, Field(min_length=1, max_length=40, examples=["us-west"])]
    hostname: Hostname | None = Field(default=None, description="Defaults to the server's name")
    ssh_key_id: Id | None = None
    ssh_key_ids: list[Id] = Field(
        default_factory=list,
        max_length=MAX_SSH_KEYS,
        description=f"More SSH keys (ids), at most {MAX_SSH_KEYS}; with ssh_key_id, the machine "
        "gets every key named in either (each once)",
        examples=[[1, 2]],
    )
    backups_enabled: bool = False
    labels: Labels = Field(default_factory=dict)
    user_data: UserData = None

    _one_source = field_validator("os_id")(check_one_source)
    _no_null_source = model_validator(mode="before")(refuse_null_source)

    def key_ids(self) -> list[int]:
        """ssh_key_id and ssh_key_ids together, each once, in the order given (ssh_key_id first)."""
        given = ([self.ssh_key_id] if self.ssh_key_id is not None else []) + self.ssh_key_ids
        return list(dict.fromkeys(given))


class ServerResize(RequestModel):
    plan_id: Id = Field(
        description="The plan to take: another one, whose disk is at least the server's (a disk only grows)"
    )


class ServerReplace(RequestModel):
    """PUT: every field required but labels; without labels the server keeps its own (the
    seed's PUT has none)."""

    @staticmethod
    def _json_schema(schema: dict[str, Any]) -> None:
        schema["properties"]["labels"].pop("default", None)  # None only marks "not given"

    model_config = ConfigDict(json_schema_extra=_json_schema)

    name: Name
    hostname: Hostname
    backups_enabled: bool
    labels: Labels = None  # type: ignore[assignment]

    @field_validator("labels", mode="before")
    @classmethod
    def _labels_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null; leave labels out to keep them, or give {} to remove them all")
        return value


class ServerPatch(PatchModel):
    """PATCH: any non-empty subset of the PUT fields; null is not a value."""

    name: Name = None  # type: ignore[assignment]
    hostname: Hostname = None  # type: ignore[assignment]
    backups_enabled: bool = None  # type: ignore[assignment]
    labels: Labels = None  # type: ignore[assignment]


class PlanRef(BaseModel):
    id: int
    name: str
    vcpus: int
    memory: int = Field(description="MiB")
    storage: int = Field(description="GB")


class PlanDetailRef(PlanRef):
    bandwidth: int = Field(description="GB per month")


class OsRef(BaseModel):
    id: int
    name: str
    slug: str = Field(description="Unique and stable, e.g. ubuntu-22.04 (see GET /api/v1/os/)")


class ResourceUsage(BaseModel):
    cpu_percent: float = Field(description="0-100 of the plan's vCPUs")
    memory_used: int = Field(description="MiB")
    disk_used: int = Field(description="GB")
    bandwidth_used: int = Field(description="GB this month")
    sampled_at: Timestamp | None = Field(description="When the hypervisor was asked; null if never")


class ServerSummary(BaseModel):
    id: int
    name: str
    hostname: str
    status: ServerStatus
    ip_address: str | None
    location: str
    plan: PlanRef
    os: OsRef
    labels: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp


class ServerCreated(BaseModel):
    id: int
    name: str
    hostname: str
    status: ServerStatus
    ip_address: str | None
    location: str
    plan: PlanRef
    os: OsRef
    backups_enabled: bool
    labels: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp
    message: str
    action: ActionRef


class ServerDryRun(BaseModel):
    """A create's dry run (`?dry_run=true`) that the create would pass: nothing was created."""

    would_create: Literal[True]
    monthly_price: Money = Field(description="The most the server costs in a month, backups included")
    hourly_price: Annotated[
        Decimal, Field(description="What an hour adds to its month (exact: the plan's, +20% with backups)")
    ]
    location: str = Field(description="The location's code, as the create's answer names it")


class ServerDetail(BaseModel):
    id: int
    name: str
    hostname: str
    status: ServerStatus
    ip_address: str | None
    ipv6_address: str | None
    location: str
    plan: PlanDetailRef
    os: OsRef
    backups_enabled: bool
    resource_usage: ResourceUsage
    error: str | None = Field(description="Why the server is in status error, else null")
    labels: dict[str, str]
    created_at: Timestamp
    updated_at: Timestamp


class ServerBrief(BaseModel):
    id: int
    name: str
    status: ServerStatus


class PowerActionResult(BaseModel):
    status: str = Field(examples=["success"])
    message: str = Field(examples=["Server is starting"])
    server: ServerBrief
    action: ActionRef


MAX_SSH_KEYS = 32


class ServerRebuild(RequestModel):
    """POST /servers/{id}/rebuild/: the image to reinstall from (an OS, or a snapshot to
    restore), and the keys to install."""

    model_config = ConfigDict(json_schema_extra=_one_source)

    snapshot_id: Id | None = Field(
        default=None,
        description="One of your snapshots (or backups) to restore, instead of os_id: the disk "
        "becomes a copy of it and the server takes its OS; it must fit the plan's disk",
    )
    os_id: Id | None = Field(
        default=None,
        validate_default=True,
        description="The operating system to reinstall (the catalog's id), or snapshot_id",
    )
    ssh_key_ids: Annotated[list[Id], Field(max_length=MAX_SSH_KEYS)] | None = Field(
        default=None,
        description="Your SSH keys to install, in this order (duplicates count once; [] installs "
        "none); omitted: the keys the server has now",
        examples=[[1, 2]],
    )

    _one_source = field_validator("os_id")(check_one_source)
    _no_null_source = model_validator(mode="before")(refuse_null_source)
