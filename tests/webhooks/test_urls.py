"""The SSRF rules (vpsorg.webhooks.urls), one refusal at a time: numeric addresses and names
that resolve on this machine (localhost) only; nothing leaves loopback."""

import asyncio
import ipaddress

import pytest

from vpsorg.webhooks import urls

STRICT = urls.Policy()
DEV = urls.Policy(allow_http=True)
PRIVATE = urls.Policy(allow_private=True)
EVERYTHING = urls.Policy(allow_http=True, allow_private=True)


def check(url: str, policy: urls.Policy) -> urls.Target:
    return asyncio.run(urls.check(url, policy))


def refused(url: str, policy: urls.Policy) -> str:
    with pytest.raises(urls.UnsafeUrl) as caught:
        check(url, policy)
    assert caught.value.status_code == 400 and caught.value.code == "validation_error"
    assert caught.value.details["fields"][0]["name"] == "url"
    return caught.value.details["fields"][0]["message"]


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1 is loopback"),
        ("https://127.8.9.10/", "loopback"),
        ("https://[::1]/", "::1 is loopback"),
        ("https://localhost/", "localhost resolves to"),  # a name: resolved, then judged
        ("https://2130706433/", "2130706433 resolves to 127.0.0.1, which is loopback"),
        ("https://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("https://[64:ff9b::7f00:1]/", "loopback"),  # NAT64
        ("https://10.1.2.3/", "private"),
        ("https://172.16.0.1/", "private"),
        ("https://192.168.1.1/", "private"),
        ("https://100.64.0.1/", "private"),  # carrier-grade NAT
        ("https://[fd12:3456::1]/", "private"),
        ("https://[2002:a00:1::]/", "private"),  # 6to4 of 10.0.0.1
    ],
)
def test_loopback_and_private_addresses_are_refused_by_default(url: str, said: str) -> None:
    assert said in refused(url, STRICT)


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address"),
        ("https://[fd00:ec2::254]/", "fd00:ec2::254 is a cloud metadata address"),
        ("https://[::ffff:169.254.169.254]/", "cloud metadata"),
        ("https://100.100.100.200/", "cloud metadata"),
        ("https://169.254.1.1/", "link-local"),
        ("https://[fe80::1]/", "link-local"),
        ("https://224.0.0.1/", "multicast"),
        ("https://[ff02::1]/", "multicast"),
        ("https://240.0.0.1/", "reserved"),
        ("https://255.255.255.255/", "broadcast"),
        ("https://0.0.0.0/", "unspecified"),
        ("https://[::]/", "unspecified"),
    ],
)
def test_metadata_link_local_multicast_reserved_and_unspecified_are_refused_whatever_is_allowed(
    url: str, said: str
) -> None:
    for policy in (STRICT, DEV, PRIVATE, EVERYTHING):
        assert said in refused(url.replace("https:", "http:") if policy.allow_http else url, policy)


def test_http_needs_allow_http() -> None:
    assert "the scheme must be https" in refused("http://93.184.216.34/", STRICT)
    assert "the scheme must be https" in refused("http://10.0.0.1/", PRIVATE)
    assert check("http://127.0.0.1:9/", DEV).address == ipaddress.ip_address("127.0.0.1")


def test_allow_http_allows_loopback_but_not_private() -> None:
    assert check("http://localhost:8080/x", DEV).address.is_loopback
    assert "private" in refused("http://10.0.0.1/", DEV)


def test_allow_private_allows_private_and_loopback() -> None:
    assert check("https://10.0.0.1/", PRIVATE).address == ipaddress.ip_address("10.0.0.1")
    assert check("https://[fd12::1]:8443/", PRIVATE).port == 8443
    assert check("https://127.0.0.1/", PRIVATE).address.is_loopback


def test_a_public_address_is_allowed() -> None:
    target = check("https://93.184.216.34/hook?x=1", STRICT)
    assert target.address == ipaddress.ip_address("93.184.216.34") and target.port == 443


@pytest.mark.parametrize(
    ("url", "said"),
    [
        ("ftp://93.184.216.34/", "the scheme must be"),
        ("https:///nohost", "it has no host"),
        ("https://user:pw@93.184.216.34/", "credentials"),
        ("https://93.184.216.34:99999/", "not a URL"),
        ("not a url", "the scheme must be"),
    ],
)
def test_malformed_urls_are_refused(url: str, said: str) -> None:
    assert said in refused(url, EVERYTHING)
