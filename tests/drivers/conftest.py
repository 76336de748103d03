from pathlib import Path

import pytest

from tests.conftest import prepare_database, test_settings
from vpsorg.config import Settings


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A fresh, migrated database for one driver."""
    s = test_settings(tmp_path / "driver.db")
    prepare_database(s)
    return s
