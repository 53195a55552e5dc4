from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from collector.testing import RunningServer, running_collector


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One dev-mode collector per test module, on a free loopback port."""
    data_dir: Path = tmp_path_factory.mktemp("collector") / "var"
    with running_collector(data_dir) as server:
        yield server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
