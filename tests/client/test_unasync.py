"""The sync client is generated from the async one (scripts/unasync.py): current, checked,
and method for method the same API."""

import inspect
import subprocess
import sys
from pathlib import Path

import vpsorg.client.aio as aio
import vpsorg.client.sync as sync

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "unasync.py"


def unasync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_the_committed_sync_client_is_current() -> None:
    done = unasync("--check")
    assert done.returncode == 0, done.stdout + done.stderr
    text = (ROOT / "src/vpsorg/client/sync.py").read_text()
    assert text.startswith("# Generated from aio.py by scripts/unasync.py; do not edit")
    assert "await" not in text.split('"""', 2)[2] and "Async" not in text.split('"""', 2)[2]


def test_check_fails_on_a_stale_file_and_a_run_makes_it_current(tmp_path: Path) -> None:
    target = tmp_path / "sync.py"
    target.write_text((ROOT / "src/vpsorg/client/sync.py").read_text().replace("def close(", "def shut("))
    stale = unasync("--check", "--target", str(target))
    assert stale.returncode == 1 and "make sdk" in stale.stderr
    assert "-    def shut(self) -> None:" in stale.stdout and "+    def close(self) -> None:" in stale.stdout
    assert unasync("--target", str(target)).returncode == 0
    assert unasync("--check", "--target", str(target)).returncode == 0
    assert target.read_text() == (ROOT / "src/vpsorg/client/sync.py").read_text()


def test_a_new_async_method_needs_no_new_rule(tmp_path: Path) -> None:
    source = tmp_path / "aio.py"
    source.write_text(
        '"""Async docs, dropped."""\n\nimport asyncio\n\nimport httpx\n\n\n'
        "class AsyncThing:\n"
        '    """Wraps an httpx.AsyncClient."""\n\n'
        "    async def __aenter__(self) -> 'AsyncThing':\n        return self\n\n"
        "    async def resize(self, http: httpx.AsyncClient) -> None:\n"
        "        async with http.stream('GET', '/') as r:\n"
        "            async for line in r.aiter_lines():\n"
        "                await asyncio.sleep(0)\n"
        "        await http.aclose()\n"
    )
    target = tmp_path / "out.py"
    done = unasync("--source", str(source), "--target", str(target))
    assert done.returncode == 0, done.stderr
    made = target.read_text()
    assert "Async docs" not in made and "import time\n" in made and '"""Wraps an httpx.Client."""' in made
    assert (
        'def __enter__(self) -> "Thing":' in made and "def resize(self, http: httpx.Client) -> None:" in made
    )
    assert "with http.stream(" in made and "for line in r.iter_lines():" in made
    assert "time.sleep(0)" in made and "http.close()" in made
    assert "async " not in made and "await" not in made.split('"""')[2]


def test_what_no_rule_covers_is_refused_in_words(tmp_path: Path) -> None:
    source = tmp_path / "aio.py"
    source.write_text("import asyncio\n\n\nasync def both() -> None:\n    await asyncio.gather()\n")
    target = tmp_path / "out.py"
    done = unasync("--source", str(source), "--target", str(target))
    assert done.returncode == 1 and "no rule makes these lines synchronous" in done.stderr
    assert "asyncio.gather()" in done.stderr and not target.exists()


SYNC_NAMES = {"__aenter__": "__enter__", "__aexit__": "__exit__", "aclose": "close"}


def methods(cls: type) -> dict[str, str | None]:
    """Public methods and the context manager's, by their sync name, with their docstrings."""
    return {
        SYNC_NAMES.get(name, name): inspect.getdoc(member)
        for name, member in vars(cls).items()
        if callable(member) or isinstance(member, property)
        if not name.startswith("_") or name in ("__init__", *SYNC_NAMES, *SYNC_NAMES.values())
    }


def test_every_async_class_has_its_sync_twin_with_the_same_methods_and_docs() -> None:
    pairs = [
        (obj, getattr(sync, name.removeprefix("Async")))
        for name, obj in vars(aio).items()
        if inspect.isclass(obj) and obj.__module__ == aio.__name__
    ]
    assert {a.__name__ for a, _ in pairs} >= {"AsyncClient", "AsyncServer", "AsyncAction", "AsyncServers"}
    for async_cls, sync_cls in pairs:
        assert sync_cls.__module__ == sync.__name__
        assert inspect.getdoc(sync_cls) == unasynced(inspect.getdoc(async_cls))
        assert methods(sync_cls) == {name: unasynced(doc) for name, doc in methods(async_cls).items()}
        for name, method in vars(async_cls).items():
            if inspect.isfunction(method) and not name.startswith("__"):
                twin = getattr(sync_cls, SYNC_NAMES.get(name, name))
                assert (
                    inspect.signature(twin).parameters.keys() == inspect.signature(method).parameters.keys()
                )


def unasynced(doc: str | None) -> str | None:
    return None if doc is None else doc.replace("AsyncClient", "Client")
