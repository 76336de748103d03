"""The catalog over HTTP, and `vpsorg catalog load FILE` (in this process, and as real processes
for a sample of malformed files)."""

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import text

from tests.conftest import Customer
from tests.databases import database_url, on_postgresql
from tests.operator_cli import vpsorg_in_process
from vpsorg import migrate
from vpsorg.config import Settings
from vpsorg.db import run_transaction

ENVELOPE = {"count", "next", "previous", "results"}


def page(customer: Customer, path: str) -> dict[str, Any]:
    r = customer.http.get(path)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == ENVELOPE
    assert body["count"] == len(body["results"]) > 0
    assert body["next"] is None and body["previous"] is None
    return dict(body)


def test_plans(customer: Customer) -> None:
    plans = {p["id"]: p for p in page(customer, "/api/v1/plans/")["results"]}
    standard, performance = plans[1], plans[2]
    assert {k: standard[k] for k in ("id", "name", "vcpus", "memory", "storage", "bandwidth")} == {
        "id": 1,
        "name": "Standard VPS",
        "vcpus": 2,
        "memory": 4096,
        "storage": 80,
        "bandwidth": 2048,
    }
    assert {k: performance[k] for k in ("id", "name", "vcpus", "memory", "storage", "bandwidth")} == {
        "id": 2,
        "name": "Performance VPS",
        "vcpus": 4,
        "memory": 8192,
        "storage": 160,
        "bandwidth": 4096,
    }
    for plan in plans.values():
        assert isinstance(plan["price_monthly"], str)
        assert re.fullmatch(r"\d+\.\d{2}", plan["price_monthly"]), plan
        assert isinstance(plan["price_hourly"], str)
        assert re.fullmatch(r"\d+\.\d{2,4}", plan["price_hourly"]), plan
        assert plan["currency"] == "USD"
    assert standard["price_monthly"] == "24.00" and performance["price_monthly"] == "48.00"
    assert list(plans) == sorted(plans)


def test_operating_systems(customer: Customer) -> None:
    systems = {o["id"]: o for o in page(customer, "/api/v1/os/")["results"]}
    assert systems[5]["name"] == "Ubuntu 22.04 LTS"
    assert systems[3]["name"] == "Debian 12"
    assert systems[5]["family"] == "ubuntu" and systems[5]["version"] == "22.04"
    assert (systems[5]["slug"], systems[3]["slug"]) == ("ubuntu-22.04", "debian-12")
    for os_ in systems.values():
        assert set(os_) == {"id", "name", "slug", "family", "version"}  # the image path stays the operator's
        assert re.fullmatch(r"[a-z0-9][a-z0-9.-]*", os_["slug"]), os_
    assert len({o["slug"] for o in systems.values()}) == len(systems)


def test_locations(customer: Customer) -> None:
    locations = {loc["code"]: loc for loc in page(customer, "/api/v1/locations/")["results"]}
    assert {"us-west", "us-east"} <= set(locations)
    assert locations["us-west"]["country"] == "US"
    for loc in locations.values():
        assert set(loc) == {"code", "name", "country"}  # address pools are not customers' business


def test_the_catalog_matches_what_servers_show(customer: Customer) -> None:
    plans = {p["id"]: p for p in page(customer, "/api/v1/plans/")["results"]}
    systems = {o["id"]: o for o in page(customer, "/api/v1/os/")["results"]}
    server = customer.create_server(plan_id=2, os_id=3, location="us-east")
    assert server["plan"] == {k: plans[2][k] for k in ("id", "name", "vcpus", "memory", "storage")}
    assert server["os"] == {"id": 3, "name": systems[3]["name"], "slug": "debian-12"}
    for shown in (
        customer.http.get(f"/api/v1/servers/{server['id']}/").json(),
        customer.http.get("/api/v1/servers/").json()["results"][0],
    ):
        assert shown["os"] == server["os"]


# --- `vpsorg catalog load FILE` -------------------------------------------------------------


def _env(db: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VPSORG_") and k != "COLUMNS"}
    return env | {"VPSORG_DATABASE_URL": db}


def vpsorg(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`vpsorg ARGS` in this process (tests/operator_cli.py); the malformed-file runs below
    are real processes."""
    return vpsorg_in_process(list(args), _env(db))


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A freshly migrated, empty SQLite database, made once; SQLite tests work on copies."""
    path = tmp_path_factory.mktemp("catalog") / "template.db"
    migrate.upgrade(Settings(database_url=f"sqlite+aiosqlite:///{path}"))
    return path


def fresh_db(migrated: Path, directory: Path) -> str:
    """The URL of a migrated, empty database of the backend under test."""
    if on_postgresql():
        url = database_url(directory / "catalog.db")
        migrate.upgrade(Settings(database_url=url))
        return url
    path = directory / "catalog.db"
    shutil.copyfile(migrated, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
def db(migrated: Path, tmp_path: Path) -> str:
    return fresh_db(migrated, tmp_path)


def rows(db: str, sql: str) -> list[tuple[Any, ...]]:
    async def query(session: Any) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in (await session.execute(text(sql))).all()]

    return list(run_transaction(Settings(database_url=db), query))


CATALOG: dict[str, Any] = {
    "plans": [
        {
            "id": 10,
            "name": "Tiny",
            "vcpus": 1,
            "memory": 512,
            "storage": 10,
            "bandwidth": 500,
            "price_monthly": "3.50",
            "price_hourly": "0.0052",
        },
        {
            "id": 11,
            "name": "Big",
            "vcpus": 16,
            "memory": 65536,
            "storage": 640,
            "bandwidth": 16384,
            "price_monthly": "384.00",
            "price_hourly": "0.5714",
            "available": False,
        },
    ],
    "operating_systems": [
        {
            "id": 20,
            "name": "Alpine 3.20",
            "family": "alpine",
            "version": "3.20",
            "image": "/var/lib/img/alpine.qcow2",
        }
    ],
    "locations": [
        {
            "code": "lab-1",
            "name": "Lab",
            "country": "NL",
            "ipv4_pool": "10.20.0.0/24",
            "ipv4_gateway": "10.20.0.1",
            "ipv6_pool": "fd20::/64",
            "ipv6_gateway": "fd20::1",
        }
    ],
}


@pytest.mark.parametrize("fmt", ["yaml", "json"])
def test_catalog_load_from_file(db: str, tmp_path: Path, fmt: str) -> None:
    path = tmp_path / f"catalog.{fmt}"
    path.write_text(yaml.safe_dump(CATALOG) if fmt == "yaml" else json.dumps(CATALOG))
    r = vpsorg(db, "catalog", "load", str(path))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "loaded 2 plans, 1 operating systems, 1 locations"
    assert rows(
        db, "SELECT id, name, vcpus, memory, storage, bandwidth, available FROM plans ORDER BY id"
    ) == [
        (10, "Tiny", 1, 512, 10, 500, 1),
        (11, "Big", 16, 65536, 640, 16384, 0),
    ]
    ((monthly, hourly),) = rows(db, "SELECT price_monthly, price_hourly FROM plans WHERE id = 10")
    assert Decimal(str(monthly)) == Decimal("3.50") and Decimal(str(hourly)) == Decimal("0.0052")
    assert rows(db, "SELECT id, name, family, version, image FROM operating_systems") == [
        (20, "Alpine 3.20", "alpine", "3.20", "/var/lib/img/alpine.qcow2")
    ]
    assert rows(db, "SELECT code, country, ipv4_pool, ipv4_gateway, ipv6_pool FROM locations") == [
        ("lab-1", "NL", "10.20.0.0/24", "10.20.0.1", "fd20::/64")
    ]


def test_catalog_load_updates_existing_entries(db: str, tmp_path: Path) -> None:
    first = tmp_path / "first.yaml"
    first.write_text(yaml.safe_dump(CATALOG))
    assert vpsorg(db, "catalog", "load", str(first)).returncode == 0

    changed = json.loads(json.dumps(CATALOG))
    changed["plans"][0].update(name="Tiny v2", memory=1024, price_monthly="4.00")
    changed["plans"] = changed["plans"][:1]  # plans left out of a file are kept as they are
    changed["operating_systems"][0]["available"] = False
    changed["locations"][0]["name"] = "Laboratory"
    second = tmp_path / "second.json"
    second.write_text(json.dumps(changed))
    r = vpsorg(db, "catalog", "load", str(second))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "loaded 1 plans, 1 operating systems, 1 locations"

    assert rows(db, "SELECT id, name, memory FROM plans ORDER BY id") == [
        (10, "Tiny v2", 1024),
        (11, "Big", 65536),
    ]
    ((monthly,),) = rows(db, "SELECT price_monthly FROM plans WHERE id = 10")
    assert Decimal(str(monthly)) == Decimal("4.00")
    assert rows(db, "SELECT id, available FROM operating_systems") == [(20, 0)]
    assert rows(db, "SELECT code, name FROM locations") == [
        ("lab-1", "Laboratory")
    ]  # updated, not duplicated

    # Loading the same file again changes nothing.
    assert vpsorg(db, "catalog", "load", str(second)).returncode == 0
    assert rows(db, "SELECT count(*) FROM plans") == [(2,)]
    assert rows(db, "SELECT count(*) FROM locations") == [(1,)]


def test_catalog_load_without_a_file_loads_the_default(db: str) -> None:
    r = vpsorg(db, "catalog", "load")
    assert r.returncode == 0, r.stderr
    assert rows(db, "SELECT name FROM plans WHERE id IN (1, 2) ORDER BY id") == [
        ("Standard VPS",),
        ("Performance VPS",),
    ]
    assert rows(db, "SELECT name FROM operating_systems WHERE id IN (3, 5) ORDER BY id") == [
        ("Debian 12",),
        ("Ubuntu 22.04 LTS",),
    ]


def _plan(**changes: Any) -> dict[str, Any]:
    return {"plans": [CATALOG["plans"][0] | changes]}


def _location(**changes: Any) -> dict[str, Any]:
    return {"locations": [CATALOG["locations"][0] | changes]}


MALFORMED: dict[str, tuple[str, str | None]] = {
    # None: no such file; the long name would be broken in two by a console that wraps.
    "missing-file-with-a-rather-long-name-that-a-wrapping-console-would-break": ("yaml", None),
    "yaml-syntax": ("yaml", "plans: [\n  {id: 1,\n"),
    "yaml-tabs": ("yaml", "plans:\n\t- id: 1\n"),
    "json-syntax": ("json", '{"plans": [}'),
    "json-trailing-comma": ("json", '{"plans": [],}'),
    "empty": ("yaml", ""),
    "scalar": ("yaml", "hello"),
    "list": ("json", "[]"),
    "unknown-section": ("yaml", "servers: []\n"),
    "unknown-plan-field": ("json", json.dumps(_plan(gpu=1))),
    "missing-plan-field": ("json", json.dumps({"plans": [{"id": 1, "name": "x"}]})),
    "zero-vcpus": ("yaml", yaml.safe_dump(_plan(vcpus=0))),
    "negative-price": ("json", json.dumps(_plan(price_monthly="-1.00"))),
    "price-not-a-number": ("json", json.dumps(_plan(price_monthly="cheap"))),
    "id-too-big": ("json", json.dumps(_plan(id=2**31))),
    "bad-location-code": ("yaml", yaml.safe_dump(_location(code="Lab_1"))),
    "bad-pool": ("yaml", yaml.safe_dump(_location(ipv4_pool="10.20.0.0/33"))),
    "gateway-outside-pool": ("yaml", yaml.safe_dump(_location(ipv4_gateway="10.99.0.1"))),
    "v6-pool-as-v4": ("yaml", yaml.safe_dump(_location(ipv4_pool="fd20::/64", ipv4_gateway="fd20::1"))),
    "duplicate-plan-id": ("json", json.dumps({"plans": CATALOG["plans"][:1] * 2})),
    "duplicate-location-code": (
        "yaml",
        yaml.safe_dump({"locations": [CATALOG["locations"][0], CATALOG["locations"][0] | {"name": "Other"}]}),
    ),
    "markup-like-text": ("yaml", "plans: [{id: 1, name: '[/bold]'}]\n"),
}


def check_one_line_error(path: Path, returncode: int, stdout: str, stderr: str) -> None:
    assert returncode == 1, (stdout, stderr)
    assert "Traceback" not in stderr and "Traceback" not in stdout
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("error: ") and str(path) in lines[0]
    assert stdout == ""


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_catalog_load_malformed_file_in_process(db: str, tmp_path: Path, case: str) -> None:
    """The whole matrix through the same CLI entry point, in this process (a process each is slow)."""
    from typer.testing import CliRunner

    from vpsorg.cli import app

    fmt, text = MALFORMED[case]
    path = tmp_path / f"{case}.{fmt}"
    if text is not None:
        path.write_text(text)
    r = CliRunner().invoke(app, ["catalog", "load", str(path)], env={"VPSORG_DATABASE_URL": db})
    assert r.exception is None or isinstance(r.exception, SystemExit), r.exception
    check_one_line_error(path, r.exit_code, r.stdout, r.stderr)
    assert rows(db, "SELECT count(*) FROM plans") == [(0,)]
    assert rows(db, "SELECT count(*) FROM locations") == [(0,)]


SUBPROCESS_CASES = [
    "yaml-syntax",
    "zero-vcpus",
    "duplicate-location-code",
    "missing-file-with-a-rather-long-name-that-a-wrapping-console-would-break",
]


@pytest.fixture(scope="module")
def malformed_runs(
    migrated: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, dict[str, tuple[Path, int, str, str]]]:
    """`vpsorg catalog load` as real processes on some malformed files, run side by side."""
    workdir = tmp_path_factory.mktemp("malformed")
    db = fresh_db(migrated, workdir)
    procs = {}
    for case in SUBPROCESS_CASES:
        fmt, text = MALFORMED[case]
        path = workdir / f"{case}.{fmt}"
        if text is not None:
            path.write_text(text)
        procs[case] = (
            path,
            subprocess.Popen(
                [sys.executable, "-m", "vpsorg", "catalog", "load", str(path)],
                env=_env(db),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    results = {}
    for case, (path, proc) in procs.items():
        out, err = proc.communicate(timeout=300)
        results[case] = (path, proc.returncode, out, err)
    return db, results


@pytest.mark.parametrize("case", SUBPROCESS_CASES)
def test_catalog_load_malformed_file_is_a_one_line_error(
    malformed_runs: tuple[str, dict[str, tuple[Path, int, str, str]]], case: str
) -> None:
    db, results = malformed_runs
    check_one_line_error(*results[case])
    assert rows(db, "SELECT count(*) FROM plans") == [(0,)]
    assert rows(db, "SELECT count(*) FROM locations") == [(0,)]


def test_catalog_error_keeps_the_validation_detail(
    malformed_runs: tuple[Path, dict[str, tuple[Path, int, str, str]]],
) -> None:
    _, results = malformed_runs
    stderr = results["zero-vcpus"][3]
    assert "plans[0].vcpus: must be greater than or equal to 1 (found 0)" in stderr
    assert "pydantic" not in stderr and "https://" not in stderr
    assert "duplicate location code: lab-1" in results["duplicate-location-code"][3]
    assert "No such file" in results[SUBPROCESS_CASES[-1]][3]


# What each malformed file's error says, in words: where in the file, what, the value found.
IN_WORDS = {
    "zero-vcpus": "plans[0].vcpus: must be greater than or equal to 1 (found 0)",
    "negative-price": "plans[0].price_monthly: must be greater than or equal to 0 (found '-1.00')",
    "price-not-a-number": "plans[0].price_monthly: must be a valid decimal (found 'cheap')",
    "unknown-plan-field": "plans[0].gpu: is not a known field",
    "unknown-section": "servers: is not a known field",
    "missing-plan-field": "plans[0].vcpus: is missing; plans[0].memory: is missing",
    "bad-location-code": "locations[0].code: must be 2-40 lowercase letters, digits and hyphens",
    "gateway-outside-pool": "locations[0]: gateway 10.99.0.1 is not in 10.20.0.0/24",
    "empty": "the catalog: must be a mapping (found nothing)",
    "list": "the catalog: must be a mapping (found a list)",
    "duplicate-plan-id": "the catalog: duplicate plan id: 10",
}


@pytest.mark.parametrize("case", sorted(IN_WORDS))
def test_catalog_errors_are_in_words_without_links(db: str, tmp_path: Path, case: str) -> None:
    from typer.testing import CliRunner

    from vpsorg.cli import app

    fmt, text = MALFORMED[case]
    assert text is not None
    path = tmp_path / f"{case}.{fmt}"
    path.write_text(text)
    r = CliRunner().invoke(app, ["catalog", "load", str(path)], env={"VPSORG_DATABASE_URL": db})
    check_one_line_error(path, r.exit_code, r.stdout, r.stderr)
    said = " ".join(r.stderr.split())
    assert IN_WORDS[case] in said, said
    for raw in (
        "errors.pydantic.dev",
        "https://",
        "For further information",
        "input_value",
        "Value error",
        "CatalogIn",
        "PlanIn",
        "Input should",
    ):
        assert raw not in said, said


def test_catalog_errors_past_ten_are_counted(tmp_path: Path) -> None:
    from vpsorg.catalog import service

    path = tmp_path / "many.json"
    path.write_text(json.dumps({"plans": [{"id": i} for i in range(1, 4)]}))  # 7 missing fields each
    with pytest.raises(service.CatalogError) as caught:
        service.read_catalog(path)
    said = str(caught.value)
    assert said.count("is missing") == service.MAX_ERRORS_SHOWN
    assert said.endswith("; and 11 more")


# --- operating system slugs -----------------------------------------------------------------


def _systems(*systems: dict[str, Any]) -> dict[str, Any]:
    base = {"name": "X", "family": "alpine", "version": "3.20"}
    return {"operating_systems": [base | s for s in systems]}


def load(
    db: str, tmp_path: Path, content: dict[str, Any], name: str = "c.json"
) -> subprocess.CompletedProcess[str]:
    path = tmp_path / name
    path.write_text(json.dumps(content))
    return vpsorg(db, "catalog", "load", str(path))


def test_os_slugs_are_given_or_made_from_family_and_version(db: str, tmp_path: Path) -> None:
    r = load(
        db,
        tmp_path,
        _systems(
            {"id": 20},  # alpine-3.20
            {"id": 21, "family": "Rocky Linux", "version": "9 (Blue Onyx)"},
            {"id": 22, "slug": "my-alpine.edge", "version": "edge"},
        ),
    )
    assert r.returncode == 0, r.stderr
    assert rows(db, "SELECT id, slug FROM operating_systems ORDER BY id") == [
        (20, "alpine-3.20"),
        (21, "rocky-linux-9-blue-onyx"),
        (22, "my-alpine.edge"),
    ]


def test_os_slugs_may_move_between_systems_of_one_file(db: str, tmp_path: Path) -> None:
    assert load(db, tmp_path, _systems({"id": 20, "slug": "a"}, {"id": 21, "slug": "b"})).returncode == 0
    r = load(db, tmp_path, _systems({"id": 20, "slug": "b"}, {"id": 21, "slug": "a"}), "swap.json")
    assert r.returncode == 0, r.stderr
    assert rows(db, "SELECT id, slug FROM operating_systems ORDER BY id") == [(20, "b"), (21, "a")]


def test_an_os_slug_another_system_keeps_is_refused_in_one_line(db: str, tmp_path: Path) -> None:
    assert load(db, tmp_path, _systems({"id": 20, "slug": "alpine"})).returncode == 0
    path = tmp_path / "taken.json"
    path.write_text(json.dumps(_systems({"id": 21, "slug": "alpine"})))
    r = vpsorg(db, "catalog", "load", str(path))
    check_one_line_error(path, r.returncode, r.stdout, r.stderr)
    assert "slug already taken: alpine (operating system 20)" in " ".join(r.stderr.split())
    assert rows(db, "SELECT id, slug FROM operating_systems") == [(20, "alpine")]  # nothing loaded


@pytest.mark.parametrize(
    ("systems", "words"),
    [
        (({"id": 20, "slug": "Alpine"},), "operating_systems[0].slug: must be 1-63 lowercase letters"),
        (({"id": 20, "slug": "-alpine"},), "operating_systems[0].slug: must be 1-63 lowercase letters"),
        (({"id": 20, "slug": "a" * 64},), "operating_systems[0].slug: must be 1-63 lowercase letters"),
        (({"id": 20, "slug": "al pine"},), "operating_systems[0].slug: must be 1-63 lowercase letters"),
        (({"id": 20}, {"id": 21}), "duplicate operating system slug: alpine-3.20"),
        (({"id": 20, "family": "∞", "version": "—"},), "operating_systems[0]: give a slug"),
    ],
)
def test_a_bad_os_slug_is_refused_in_words(
    db: str, tmp_path: Path, systems: tuple[dict[str, Any], ...], words: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(_systems(*systems)))
    r = vpsorg(db, "catalog", "load", str(path))
    check_one_line_error(path, r.returncode, r.stdout, r.stderr)
    assert words in " ".join(r.stderr.split())
    assert rows(db, "SELECT count(*) FROM operating_systems") == [(0,)]


def test_the_slug_migration_fills_existing_systems(tmp_path: Path) -> None:
    url = database_url(tmp_path / "slugs.db")
    settings = Settings(database_url=url)
    from alembic import command

    command.upgrade(migrate.alembic_config(settings), "2e6b8d4f1a37")  # the revision before slugs

    async def old_rows(session: Any) -> None:
        await session.execute(
            text(
                "INSERT INTO operating_systems (id, name, family, version, available) VALUES "
                "(1, 'Ubuntu', 'ubuntu', '22.04', true), (2, 'Ubuntu again', 'Ubuntu', '22.04', true),"
                " (3, 'Odd', 'Open SUSE', 'Leap 15.6', true)"
            )
        )

    run_transaction(settings, old_rows)
    migrate.upgrade(settings)
    assert rows(url, "SELECT id, slug FROM operating_systems ORDER BY id") == [
        (1, "ubuntu-22.04"),
        (2, "ubuntu-22.04-2"),
        (3, "open-suse-leap-15.6"),
    ]
