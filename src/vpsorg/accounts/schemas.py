from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer, WithJsonSchema

from vpsorg.schemas import Timestamp

# Money leaves the API as a string with two decimals ("12.50"), never as a float.
Money = Annotated[
    Decimal,
    PlainSerializer(lambda d: f"{d:.2f}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "12.50"}),
]


class Usage(BaseModel):
    limit: int = Field(description="How many the account may have")
    used: int = Field(description="How many it has (servers: not deleted)")


class AccountLimits(BaseModel):
    servers: Usage
    ssh_keys: Usage


class AccountOut(BaseModel):
    id: int
    email: str
    balance: Money = Field(description="Prepaid credit left: the sum of the account's ledger")
    credit: Money = Field(description="The same as balance (kept for clients of earlier versions)")
    available_credit: Money = Field(
        description="Balance less one month of every server: what a new server's first month must fit in"
    )
    monthly_commitment: Money = Field(description="One month of every server the account has")
    servers: int = Field(description="Servers the account has (not deleted)")
    currency: str = "USD"
    created_at: Timestamp
    limits: AccountLimits = Field(description="Quotas: a create past a limit answers 403 quota_exceeded")
    suspended_at: Timestamp | None = Field(
        description="When an operator suspended the account (its servers suspended, creates answer "
        "403 account_suspended); null: not suspended"
    )
    suspended_reason: str | None = Field(description="The operator's reason; null: not suspended")


class LedgerEntryOut(BaseModel):
    id: int
    kind: str = Field(description="top_up, charge, refund or adjustment")
    amount: Money = Field(description="Negative for a charge")
    balance_after: Money
    currency: str = "USD"
    reason: str
    server_id: int | None
    period_start: Timestamp | None = Field(description="A charge: the start of the first hour it covers")
    period_end: Timestamp | None = Field(description="A charge: the end of the last hour it covers")
    hours: int | None = Field(description="A charge: how many hours it covers")
    backup_hours: int | None = Field(description="A charge: of those, hours with backups enabled")
    created_at: Timestamp
