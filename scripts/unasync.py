#!/usr/bin/env python3
"""Write the synchronous client (src/vpsorg/client/sync.py) from the asynchronous one (aio.py).

    python scripts/unasync.py            # regenerate sync.py (`make sdk`)
    python scripts/unasync.py --check    # exit 1, with a diff, if sync.py is not current (`make lint`)

The rules are httpcore's (scripts/unasync.py there): whole-word regular expressions applied
line by line, to code, comments and docstrings alike, so a docstring in aio.py that says
"httpx.AsyncClient" says "httpx.Client" in sync.py. They are general (any `AsyncX` class
becomes `X`, any `await` goes), so a method added to aio.py needs no new rule; the result
is then sorted and formatted by ruff as the rest of src/ is. A line that still holds
`async`, `await` or `asyncio` afterwards is an error: it would be a bug, not a sync client.

aio.py's module docstring describes aio.py; sync.py gets its own (SYNC_DOCSTRING) beneath a
"do not edit" header.
"""

import argparse
import ast
import difflib
import io
import re
import subprocess
import sys
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src/vpsorg/client/aio.py"
TARGET = ROOT / "src/vpsorg/client/sync.py"

HEADER = "# Generated from aio.py by scripts/unasync.py; do not edit (edit aio.py, then `make sdk`).\n"
SYNC_DOCSTRING = '''"""The synchronous client, `Client`: vpsorg.client's API, each call returning its answer.

Generated from vpsorg.client.aio (the same classes without `Async` in their names, the same
methods without `await`): read that file for what a method does, and change it there.
"""
'''

# (pattern, replacement), applied in this order to every line. \b keeps them to whole words:
# `aclose` becomes `close`, but a name merely containing "aclose" is left alone.
RULES: list[tuple[str, str]] = [
    (r"\basync def\b", "def"),
    (r"\basync with\b", "with"),
    (r"\basync for\b", "for"),
    (r"\bawait\s+", ""),
    (r"\bimport asyncio\b", "import time"),
    (r"\basyncio\.sleep\b", "time.sleep"),
    (r"\basynccontextmanager\b", "contextmanager"),
    # AsyncClient, AsyncServer, AsyncIterator, AsyncRetrying, httpx.AsyncClient, ...
    (r"\bAsync([A-Z]\w*)", r"\1"),
    (r"\b__a(enter|exit|iter|next)__\b", r"__\1__"),
    # httpx's and our own: aclose, aread, aiter_bytes, aiter_lines, ...
    (r"\baclose\b", "close"),
    (r"\baread\b", "read"),
    (r"\baiter_(\w+)", r"iter_\1"),
    (r"\basynchronous\b", "synchronous"),
]
COMPILED = [(re.compile(pattern), replacement) for pattern, replacement in RULES]
LEFTOVER = {"async", "await", "asyncio"}


def unasync_line(line: str) -> str:
    for pattern, replacement in COMPILED:
        line = pattern.sub(replacement, line)
    return line


def without_module_docstring(source: str) -> str:
    """`source` from the line after its module docstring (all of it if there is none)."""
    body = ast.parse(source).body
    first = body[0] if body else None
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        assert first.end_lineno is not None
        return "".join(source.splitlines(keepends=True)[first.end_lineno :])
    return source


def leftovers(code: str) -> list[str]:
    """Lines of the generated code whose tokens (not strings or comments) are still async."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.NAME and (token.string in LEFTOVER or token.string.startswith("Async")):
            found.append(f"line {token.start[0]}: {token.line.rstrip()}")
    return found


def ruff(*args: str, code: str) -> str:
    """`code` through ruff (`python -m ruff ...`, the project's own, with the project's
    settings), as if it were sync.py: the same rules and format wherever the output goes."""
    config = ("--config", str(ROOT / "pyproject.toml"))
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *args, *config, "--stdin-filename", str(TARGET), "-"],
        input=code,
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"ruff {' '.join(args)} failed on the generated code:\n{done.stderr}{done.stdout}")
    return done.stdout


def generate(source: str) -> str:
    """The sync module for the async module `source`."""
    body = "".join(unasync_line(line) for line in without_module_docstring(source).splitlines(True))
    code = HEADER + SYNC_DOCSTRING + body
    problems = leftovers(code)
    if problems:
        raise SystemExit("no rule makes these lines synchronous (add one to RULES):\n" + "\n".join(problems))
    # Import sorting first (AsyncIterator -> Iterator moves it in its import line), then format:
    # lines that lost `await ` may now fit on one.
    code = ruff("check", "--select", "I", "--fix", "--quiet", code=code)
    return ruff("format", "--quiet", code=code)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the target is not current")
    parser.add_argument("--source", type=Path, default=SOURCE, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=Path, default=TARGET, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    expected = generate(args.source.read_text(encoding="utf-8"))
    try:
        current = args.target.read_text(encoding="utf-8")
    except FileNotFoundError:
        current = ""
    if not args.check:
        if current != expected:
            args.target.write_text(expected, encoding="utf-8")
            print(f"{args.source.name} -> {args.target}")
        return 0
    if current == expected:
        return 0
    diff = difflib.unified_diff(
        current.splitlines(True),
        expected.splitlines(True),
        f"{args.target} (as it is)",
        f"{args.target} (generated from {args.source.name})",
    )
    sys.stdout.writelines(diff)
    print(f"\n{args.target} is not current: run `make sdk` (python scripts/unasync.py).", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
