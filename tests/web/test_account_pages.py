"""The account pages (SSH keys, API tokens, billing) over real HTTP, checked against the API."""

import csv
import html
import io
import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.conftest import Customer, Live, new_public_key
from tests.web.panel import form_csrf, signed_in
from vpsorg.accounts import limits
from vpsorg.billing import service as billing
from vpsorg.web import billing as web_billing
from vpsorg.web.templating import money


def api(live: Live, account_id: int, scope: str = "write") -> httpx.Client:
    return live.client(live.token(account_id, scope))


def post_form(http: httpx.Client, path: str, page: str, **fields: str) -> httpx.Response:
    """Post a form of `page` (its CSRF token), as the browser does."""
    return http.post(path, data={"csrf_token": form_csrf(page), **fields})


def add_key(http: httpx.Client, name: str, public_key: str) -> httpx.Response:
    return post_form(http, "/ssh-keys/", http.get("/ssh-keys/").text, name=name, public_key=public_key)


def shown(text: str) -> str:
    """A page's text as a person reads it: tags dropped, entities decoded, spaces folded."""
    words = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())
    return re.sub(r" ([:.,;])", r"\1", words)


# SSH keys -----------------------------------------------------------------------------------


def test_a_key_is_added_listed_and_deleted(live: Live) -> None:
    http, account_id = signed_in(live)
    assert "No SSH keys yet." in http.get("/ssh-keys/").text
    added = add_key(http, "laptop", new_public_key())
    assert added.status_code == 303 and added.headers["location"] == "/ssh-keys/?done=added"
    (key,) = api(live, account_id).get("/api/v1/ssh-keys/").json()["results"]
    page = http.get("/ssh-keys/?done=added").text
    assert "The key was added." in page and "laptop" in page and key["fingerprint"] in page
    deleted = post_form(http, f"/ssh-keys/{key['id']}/delete", page)
    assert deleted.status_code == 303 and deleted.headers["location"] == "/ssh-keys/?done=deleted"
    assert api(live, account_id).get("/api/v1/ssh-keys/").json()["count"] == 0
    after = http.get("/ssh-keys/?done=deleted").text
    assert "The key was deleted." in after and key["fingerprint"] not in after


def test_a_bad_key_a_duplicate_and_the_quota_are_refused_in_words(live: Live) -> None:
    http, account_id = signed_in(live)
    bad = add_key(http, "broken", "ssh-ed25519 not-base64-at-all")
    assert bad.status_code == 400 and "text/html" in bad.headers["content-type"]
    text = shown(bad.text)
    assert "The key was not added." in text and "Public key: not a valid OpenSSH public key" in text
    assert 'aria-invalid="true"' in bad.text and "ssh-ed25519 not-base64-at-all</textarea>" in bad.text
    assert 'value="broken"' in bad.text  # the form keeps what was typed

    key = new_public_key()
    assert add_key(http, "one", key).status_code == 303
    again = add_key(http, "two", key)
    assert again.status_code == 400 and "this key is already saved as key" in shown(again.text)
    unnamed = add_key(http, "", new_public_key())
    assert unnamed.status_code == 400 and "Name: must not be empty" in shown(unnamed.text)

    live.db(lambda s: limits.set_limits(s, account_id=account_id, changes={limits.Resource.SSH_KEYS: 1}))
    full = add_key(http, "three", new_public_key())
    assert full.status_code == 403
    assert "Quota exceeded: the account has 1 SSH keys and may have 1" in shown(full.text)
    assert api(live, account_id).get("/api/v1/ssh-keys/").json()["count"] == 1


def test_a_form_without_the_sessions_csrf_token_is_refused(live: Live) -> None:
    http, account_id = signed_in(live)
    body = {"name": "forged", "public_key": new_public_key()}
    for sent in (body, {**body, "csrf_token": "not the token"}):
        refused = http.post("/ssh-keys/", data=sent)
        assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
    assert http.post("/tokens/", data={"name": "forged", "csrf_token": "x"}).status_code == 403
    # A page of another session holds another token: it does not open this session's forms.
    elsewhere, _ = signed_in(live)
    stolen = form_csrf(elsewhere.get("/tokens/").text)
    assert http.post("/tokens/", data={"name": "forged", "csrf_token": stolen}).status_code == 403
    key = http.get("/ssh-keys/").text
    assert post_form(http, "/ssh-keys/1/delete", key.replace(form_csrf(key), "x")).status_code == 403
    client = api(live, account_id)
    assert client.get("/api/v1/ssh-keys/").json()["count"] == 0
    assert [t["name"] for t in client.get("/api/v1/tokens/").json()["results"]] == ["token"]


def test_another_accounts_key_and_token_are_not_found(live: Live) -> None:
    http, _ = signed_in(live)
    _, other = signed_in(live)
    owner = api(live, other)
    key = owner.post("/api/v1/ssh-keys/", json={"name": "theirs", "public_key": new_public_key()}).json()
    token = owner.post("/api/v1/tokens/", json={"name": "theirs"}).json()
    page = http.get("/ssh-keys/").text
    for path in (f"/ssh-keys/{key['id']}/delete", f"/tokens/{token['id']}/revoke"):
        missing = post_form(http, path, page)
        assert missing.status_code == 404 and "Not found" in missing.text, path
    assert owner.get(f"/api/v1/ssh-keys/{key['id']}/").status_code == 200
    assert live.client(token["token"]).get("/api/v1/account/").status_code == 200


# API tokens ---------------------------------------------------------------------------------


def create_token(http: httpx.Client, name: str, scope: str = "write", days: str = "") -> httpx.Response:
    return post_form(
        http, "/tokens/", http.get("/tokens/").text, name=name, scope=scope, expires_in_days=days
    )


def secret_of(page: str) -> str:
    found = re.search(r'id="token-secret" class="mono secret" readonly value="([^"]+)"', page)
    assert found, page[:2000]
    return found.group(1)


def test_a_token_is_shown_once_works_and_stops_when_revoked(live: Live) -> None:
    http, account_id = signed_in(live)
    created = create_token(http, "deploy")
    assert created.status_code == 201 and created.headers["cache-control"] == "no-store"
    secret = secret_of(created.text)
    assert f'data-copy="{secret}"' in created.text
    assert "you will not see it again" in created.text
    client = live.client(secret)
    me = client.get("/api/v1/account/")
    assert me.status_code == 200 and me.json()["id"] == account_id
    assert (
        client.post("/api/v1/ssh-keys/", json={"name": "k", "public_key": new_public_key()}).status_code
        == 201
    )

    listed = http.get("/tokens/").text
    assert secret not in listed and "deploy" in listed and "you will not see it again" not in listed
    row = shown(listed.split("<tbody>")[1].split("</tbody>")[0])
    assert "deploy write" in row and "never" in row
    (token,) = [
        t for t in api(live, account_id).get("/api/v1/tokens/").json()["results"] if t["name"] == "deploy"
    ]
    revoked = post_form(http, f"/tokens/{token['id']}/revoke", listed)
    assert revoked.status_code == 303 and revoked.headers["location"] == "/tokens/?done=revoked"
    assert client.get("/api/v1/account/").status_code == 401
    assert "The token was revoked" in http.get("/tokens/?done=revoked").text


def test_a_read_token_reads_and_may_not_write_and_expires(live: Live) -> None:
    http, _ = signed_in(live)
    created = create_token(http, "monitoring", scope="read", days="30")
    assert created.status_code == 201
    client = live.client(secret_of(created.text))
    assert client.get("/api/v1/servers/").status_code == 200
    refused = client.post("/api/v1/ssh-keys/", json={"name": "k", "public_key": new_public_key()})
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    (token,) = [t for t in client.get("/api/v1/tokens/").json()["results"] if t["name"] == "monitoring"]
    assert token["scope"] == "read" and token["expires_at"] is not None
    assert token["expires_at"][:10] in http.get("/tokens/").text


def test_only_an_operator_may_create_an_admin_token(live: Live) -> None:
    http, account_id = signed_in(live)
    page = http.get("/tokens/").text
    assert '<option value="admin"' not in page and '<option value="read"' in page
    refused = create_token(http, "root", scope="admin")
    assert refused.status_code == 403 and "A write token cannot create a admin token" in shown(refused.text)
    assert "root" not in [t["name"] for t in api(live, account_id).get("/api/v1/tokens/").json()["results"]]

    operator, _ = signed_in(live, admin=True)
    assert '<option value="admin"' in operator.get("/tokens/").text
    created = create_token(operator, "ops", scope="admin")
    assert created.status_code == 201
    assert live.client(secret_of(created.text)).get("/api/v1/admin/accounts/").status_code == 200


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"name": "", "days": ""}, "Name: must not be empty"),
        ({"name": "t", "days": "0"}, "Expires after: must be at least 1"),
        ({"name": "t", "days": "3651"}, "Expires after: must be at most 3650"),
        ({"name": "t", "days": "soon"}, "Expires after: must be a whole number"),
        ({"name": "t", "days": "", "scope": "root"}, "Scope: must be one of 'read', 'write' or 'admin'"),
    ],
)
def test_a_refused_token_form_says_why(live: Live, fields: dict[str, str], words: str) -> None:
    http, account_id = signed_in(live)
    refused = create_token(http, fields["name"], scope=fields.get("scope", "write"), days=fields["days"])
    assert refused.status_code == 400 and words in shown(refused.text)
    assert "token-secret" not in refused.text
    assert api(live, account_id).get("/api/v1/tokens/").json()["count"] == 1  # the test's own


# Billing ------------------------------------------------------------------------------------


def credit(live: Live, account_id: int, reasons: list[str]) -> None:
    async def post(session: Any) -> None:
        for reason in reasons:
            await billing.credit(session, account_id=account_id, amount=Decimal("1.25"), reason=reason)

    live.db(post)


def figure(page: str, element_id: str) -> str:
    found = re.search(rf'id="{element_id}">([^<]+)<', page)
    assert found, element_id
    return found.group(1)


def test_the_billing_figures_are_the_apis(live: Live) -> None:
    http, account_id = signed_in(live)
    client = api(live, account_id)
    body = {"name": "billed", "plan_id": 1, "os_id": 5, "location": "us-west", "backups_enabled": True}
    server = client.post("/api/v1/servers/", json=body).json()
    Customer(live, account_id, live.token(account_id)).wait_status(server["id"], "active")
    live.db(lambda s: billing.charge_account(s, account_id=account_id, now=billing.utcnow()))
    page = http.get("/billing/").text
    me = client.get("/api/v1/account/").json()
    assert figure(page, "balance") == money(Decimal(me["balance"]))
    assert figure(page, "available-credit") == money(Decimal(me["available_credit"]))
    assert figure(page, "monthly-commitment") == money(Decimal(me["monthly_commitment"]))
    assert Decimal(me["monthly_commitment"]) > 0 and Decimal(me["balance"]) < 1000
    charges = [e for e in client.get("/api/v1/account/ledger/").json()["results"] if e["kind"] == "charge"]
    charged = -sum(Decimal(e["amount"]) for e in charges)
    assert charges and charged > 0
    month = shown(page.split('id="this-month"')[1].split("</table>")[0])
    hours = sum(e["hours"] for e in charges)
    assert f"billed {hours} ({hours} with backups) {money(charged)}" in month
    assert figure(page, "month-total") == money(charged)


def test_the_ledger_is_paged_newest_first_as_the_api_pages_it(live: Live) -> None:
    http, account_id = signed_in(live)
    credit(live, account_id, [f"gift number {i}" for i in range(120)])
    client = api(live, account_id)
    for number in (1, 2, 3):
        page = http.get(f"/billing/?page={number}").text
        listed = client.get(f"/api/v1/account/ledger/?page={number}&page_size=50").json()["results"]
        reasons = re.findall(r"<td>([^<]*)</td>\s*</tr>", page.split('id="ledger"')[1])
        assert reasons == [e["reason"] for e in listed], number
        assert f"Page {number} of 3" in page
        assert ('rel="next"' in page) == (number < 3) and ('rel="prev"' in page) == (number > 1)
    assert 'href="/billing/?page=2#ledger" rel="next"' in http.get("/billing/").text


def test_the_csv_is_the_whole_ledger(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(web_billing, "CSV_BATCH", 7)  # several batches of the stream
    http, account_id = signed_in(live)
    credit(live, account_id, [f"gift {i}" for i in range(20)] + ['=HYPERLINK("http://x")', 'say "hi", ok'])
    answer = http.get("/billing/ledger.csv")
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.fullmatch(
        rf'attachment; filename="vpsorg-ledger-{account_id}-\d{{4}}-\d{{2}}-\d{{2}}\.csv"',
        answer.headers["content-disposition"],
    )
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    ledger = api(live, account_id).get("/api/v1/account/ledger/?page_size=200").json()
    assert len(rows) == ledger["count"] == 23  # the account's opening credit and 22 more
    for row, entry in zip(rows, ledger["results"], strict=True):
        expected = {k: "" if v is None else str(v) for k, v in entry.items()}
        if expected["reason"].startswith("="):
            expected["reason"] = "'" + expected["reason"]  # never run as a spreadsheet formula
        assert row == expected
    assert rows[1]["reason"] == '\'=HYPERLINK("http://x")' and rows[0]["reason"] == 'say "hi", ok'


def test_account_pages_need_a_session(live: Live) -> None:
    anonymous = httpx.Client(base_url=live.url, headers={"Accept": "text/html"})
    for path in ("/ssh-keys/", "/tokens/", "/billing/", "/billing/ledger.csv"):
        away = anonymous.get(path)
        assert away.status_code == 303 and away.headers["location"].startswith("/login?next="), path
