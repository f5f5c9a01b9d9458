"""The shaping worker: the same rows as shaping in-process, without the weight of pandas."""

from __future__ import annotations

import importlib
import sys
from datetime import UTC, datetime

import httpx
import pytest
from kickscale_sync import settings as api
from kickscale_sync.records import shape_page
from kickscale_sync.worker import shaping_pool

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def pandas_imported() -> bool:
    """Runs in the worker."""
    return "pandas" in sys.modules


def test_the_worker_shapes_as_this_process_does_without_importing_pandas(sandbox) -> None:
    params = {
        api.PAGE_SIZE_PARAM: 100,
        api.EXPAND_PARAM: f"{api.EXPAND_USER},{api.EXPAND_TRANSCRIPT}",
    }
    body = httpx.get(
        f"{sandbox.url}/meetings", params=params, headers=sandbox.auth_headers, timeout=10
    ).content
    with shaping_pool(1) as pool:
        assert pool is not None
        shaped = pool.submit(shape_page, body, "meetings", (NOW, NOW), NOW).result()
        # pyarrow.array asks pandas whether values are a Series: the worker refuses the import.
        assert pool.submit(pandas_imported).result() is False
        with pytest.raises(ImportError, match="without pandas"):
            pool.submit(importlib.import_module, "pandas").result()
    here = shape_page(body, "meetings", (NOW, NOW), NOW)
    assert shaped.records == here.records == 100
    assert shaped.rows.tables.keys() == here.rows.tables.keys()
    for name, table in here.rows.tables.items():
        assert shaped.rows.tables[name].equals(table), name
