import ipaddress
import re
from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from vpsorg.accounts.schemas import Money


class PlanOut(BaseModel):
    id: int
    name: str
    vcpus: int
    memory: int = Field(description="MiB")
    storage: int = Field(description="GB")
    bandwidth: int = Field(description="GB per month")
    price_monthly: Money
    price_hourly: Annotated[Decimal, Field(description="USD per hour, four decimals")]
    currency: str = "USD"


class OperatingSystemOut(BaseModel):
    id: int
    name: str
    slug: str = Field(description="Unique and stable, e.g. ubuntu-22.04", examples=["ubuntu-22.04"])
    family: str
    version: str


class LocationOut(BaseModel):
    code: str
    name: str
    country: str


# Catalog files (YAML or JSON) an operator loads with `vpsorg catalog load FILE`.
class PlanIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    name: str
    vcpus: Annotated[int, Field(ge=1)]
    memory: Annotated[int, Field(ge=128)]
    storage: Annotated[int, Field(ge=1)]
    bandwidth: Annotated[int, Field(ge=0)]
    price_monthly: Annotated[Decimal, Field(ge=0)]
    price_hourly: Annotated[Decimal, Field(ge=0)]
    available: bool = True


SLUG = re.compile(r"[a-z0-9][a-z0-9.-]{0,62}")


def check_slug(value: str) -> str:
    if not SLUG.fullmatch(value):
        raise ValueError(
            "must be 1-63 lowercase letters, digits, dots and hyphens, starting with a letter or digit"
        )
    return value


def default_slug(family: str, version: str) -> str:
    """`family-version` in lower case, each run of other characters one hyphen: ubuntu-22.04."""
    words = re.sub(r"[^a-z0-9.]+", "-", f"{family}-{version}".lower()).strip("-.")
    return words[:63].rstrip("-.")


class OperatingSystemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: Annotated[int, Field(ge=1, le=2**31 - 1)]
    name: str
    # Omitted: default_slug(family, version).
    slug: Annotated[str | None, AfterValidator(lambda v: v if v is None else check_slug(v))] = None
    family: str
    version: str
    image: str | None = None
    kernel: str | None = None
    initrd: str | None = None
    kernel_args: str | None = None
    available: bool = True

    @model_validator(mode="after")
    def _slug(self) -> "OperatingSystemIn":
        if self.slug is None:
            slug = default_slug(self.family, self.version)
            if not SLUG.fullmatch(slug):
                raise ValueError(
                    f"give a slug: none can be made from family {self.family!r} and version {self.version!r}"
                )
            self.slug = slug
        return self


LOCATION_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,38}[a-z0-9]")


def check_location_code(value: str) -> str:
    # In words: a pattern's own error shows the regular expression.
    if not LOCATION_CODE.fullmatch(value):
        raise ValueError(
            "must be 2-40 lowercase letters, digits and hyphens, not starting or ending with a hyphen"
        )
    return value


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: Annotated[str, AfterValidator(check_location_code)]
    name: str
    country: Annotated[str, Field(min_length=2, max_length=2)]
    ipv4_pool: str
    ipv4_gateway: str
    ipv6_pool: str
    ipv6_gateway: str
    available: bool = True

    @model_validator(mode="after")
    def _pools(self) -> "LocationIn":
        for pool, gateway, version in (
            (self.ipv4_pool, self.ipv4_gateway, 4),
            (self.ipv6_pool, self.ipv6_gateway, 6),
        ):
            net = ipaddress.ip_network(pool, strict=True)
            if net.version != version:
                raise ValueError(f"{pool} is not an IPv{version} network")
            if ipaddress.ip_address(gateway) not in net:
                raise ValueError(f"gateway {gateway} is not in {pool}")
        return self


class CatalogIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    plans: list[PlanIn] = []
    operating_systems: list[OperatingSystemIn] = []
    locations: list[LocationIn] = []
    # USD per GB of snapshot and backup storage a month; unset: the one loaded before, else 0.06
    snapshot_price_gb_month: Annotated[Decimal, Field(ge=0, le=1000, decimal_places=4)] | None = None

    @model_validator(mode="after")
    def _unique(self) -> "CatalogIn":
        # A repeated key would reach the database as a unique-constraint error (a traceback).
        for what, keys in (
            ("plan id", [str(p.id) for p in self.plans]),
            ("operating system id", [str(o.id) for o in self.operating_systems]),
            ("operating system slug", [str(o.slug) for o in self.operating_systems]),
            ("location code", [loc.code for loc in self.locations]),
        ):
            repeated = sorted({k for k in keys if keys.count(k) > 1})
            if repeated:
                raise ValueError(f"duplicate {what}: {', '.join(repeated)}")
        return self
