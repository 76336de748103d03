"""Customers' SSH public keys, installed into servers at create time."""

import base64
import hashlib
import re

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import load_ssh_public_key
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from vpsorg.accounts import limits
from vpsorg.errors import NotFound, ValidationFailed
from vpsorg.pagination import PageParams
from vpsorg.ssh_keys.models import SshKey

MAX_KEY_BYTES = 16 * 1024  # the key text, UTF-8 encoded
# A private key file's armour (PEM, PKCS#8, OpenSSH's own format) or PuTTY's .ppk header.
PRIVATE_KEY = re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----|PuTTY-User-Key-File-")
PRIVATE_KEY_REFUSAL = (
    "this is a private key, which must never leave your computer; give the public key instead "
    "(the .pub file beside it, e.g. ~/.ssh/id_ed25519.pub: one line starting with ssh-ed25519 or ssh-rsa)"
)


def parse_public_key(text: str) -> tuple[str, str]:
    """Validate an OpenSSH public key line; return it normalised and its SHA256 fingerprint.

    A private key is refused in words, and no part of it goes into the error (which is
    answered and may be logged)."""
    if PRIVATE_KEY.search(text):
        raise ValidationFailed.field("public_key", PRIVATE_KEY_REFUSAL)
    if len(text.encode()) > MAX_KEY_BYTES:
        raise ValidationFailed.field("public_key", f"must be at most {MAX_KEY_BYTES} bytes (16 KiB)")
    line = " ".join(text.split())
    parts = line.split(" ")
    if len(parts) < 2:
        raise ValidationFailed.field("public_key", "expected '<type> <base64 key> [comment]'")
    try:
        load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
        blob = base64.b64decode(parts[1], validate=True)
    except UnsupportedAlgorithm:
        raise ValidationFailed.field("public_key", f"unsupported key type {parts[0]!r}") from None
    except (ValueError, TypeError) as exc:
        raise ValidationFailed.field("public_key", f"not a valid OpenSSH public key ({exc})") from None
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return line, f"SHA256:{digest}"


async def create_key(
    session: AsyncSession,
    *,
    account_id: int,
    name: str,
    public_key: str,
    defaults: limits.Defaults = limits.Defaults(),  # noqa: B008 (frozen: never mutated)
) -> SshKey:
    line, fingerprint = parse_public_key(public_key)
    await limits.require_room(
        session, account_id=account_id, resource=limits.Resource.SSH_KEYS, defaults=defaults
    )
    await _check_new(session, account_id=account_id, fingerprint=fingerprint)
    key = SshKey(account_id=account_id, name=name, public_key=line, fingerprint=fingerprint)
    try:
        async with session.begin_nested():
            session.add(key)
            await session.flush()
    except IntegrityError:
        # A concurrent request saved the same key between our check and our insert.
        await _check_new(session, account_id=account_id, fingerprint=fingerprint)
        raise
    return key


async def _check_new(session: AsyncSession, *, account_id: int, fingerprint: str) -> None:
    existing = await session.scalar(
        select(SshKey.id).where(SshKey.account_id == account_id, SshKey.fingerprint == fingerprint)
    )
    if existing is not None:
        raise ValidationFailed.field("public_key", f"this key is already saved as key {existing}")


async def list_keys(session: AsyncSession, *, account_id: int, page: PageParams) -> tuple[int, list[SshKey]]:
    where = SshKey.account_id == account_id
    count = await session.scalar(select(func.count()).select_from(SshKey).where(where)) or 0
    rows = await session.scalars(
        select(SshKey).where(where).order_by(SshKey.id).offset(page.offset).limit(page.page_size)
    )
    return count, list(rows)


async def get_key(session: AsyncSession, *, account_id: int, key_id: int) -> SshKey:
    key = await session.get(SshKey, key_id)
    if key is None or key.account_id != account_id:
        raise NotFound(f"SSH key {key_id} not found")
    return key


async def delete_key(session: AsyncSession, *, account_id: int, key_id: int) -> None:
    await session.delete(await get_key(session, account_id=account_id, key_id=key_id))
    await session.flush()
