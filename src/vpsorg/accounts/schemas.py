from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, PlainSerializer

from vpsorg.schemas import Timestamp

Money = Annotated[Decimal, PlainSerializer(lambda d: f"{d:.2f}", return_type=str)]


class AccountOut(BaseModel):
    id: int
    email: str
    credit: Money = Field(description="Prepaid credit, a decimal string with two places")
    currency: str = "USD"
    created_at: Timestamp
