from sqlalchemy import BigInteger, ForeignKey, SmallInteger
from sqlalchemy.orm import Mapped, mapped_column

from vpsorg.db import Base


class ReleasedAddress(Base):
    """A location's free list: an address of its pool that a server held and has released.

    `host` is the address's index in the pool's host addresses (0 is the first host, in the
    order of `ipaddress`'s `hosts()`); every released index is below the location's counter
    of never-used hosts (`Location.ipv4_next_host` / `ipv6_next_host`). The primary key is
    the index the allocator takes the lowest one from.
    """

    __tablename__ = "released_addresses"

    location_id: Mapped[int] = mapped_column(ForeignKey("locations.id", ondelete="CASCADE"), primary_key=True)
    family: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # 4 or 6
    host: Mapped[int] = mapped_column(BigInteger, primary_key=True)
