"""Helpers for the operators' tests: an operator (an account with an admin token) and the
audit log as the admin API shows it."""

from dataclasses import dataclass
from typing import Any

import httpx

from tests.conftest import Live


@dataclass
class Operator:
    account_id: int
    email: str
    http: httpx.Client


def operator(live: Live) -> Operator:
    account = live.account()
    email = account.http.get("/api/v1/account/").json()["email"]
    return Operator(account.account_id, email, live.client(live.token(account.account_id, "admin")))


def audit(http: httpx.Client, **filters: Any) -> list[dict[str, Any]]:
    """The audit entries matching the filters, newest first (at most 200)."""
    r = http.get("/api/v1/admin/audit/", params=filters | {"page_size": 200})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == len(r.json()["results"]), "more than a page: filter closer"
    return list(r.json()["results"])


def on(http: httpx.Client, target_type: str, target_id: int) -> list[dict[str, Any]]:
    """The audit entries about one object, newest first."""
    return audit(http, target_type=target_type, target_id=target_id)
