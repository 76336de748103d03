"""Signatures of deliveries, as Stripe signs its webhooks: `VPSORG-Signature: t=<unix time>,
v1=<hex HMAC-SHA256 of "<t>.<body>" keyed with the webhook's secret>`. The receiver
recomputes it over the raw body and compares in constant time, and refuses a `t` too far
from its clock (a replay). Pure: no I/O."""

import hashlib
import hmac
import secrets

PREFIX = "whsec_"
HEADER = "VPSORG-Signature"


def new_secret() -> str:
    """A webhook's secret: whsec_ and 32 random bytes, URL-safe base64."""
    return PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of f"{timestamp}.{body}" keyed with the secret (its UTF-8 bytes)."""
    signed = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def header(secret: str, timestamp: int, body: bytes) -> str:
    """The VPSORG-Signature header's value."""
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"
