"""How the sync hands memory back: cheaply, after every load."""

from __future__ import annotations

import subprocess

import pytest
from kickscale_sync import memory


def test_handing_memory_back_starts_no_process_after_the_first_time(monkeypatch) -> None:
    # Finding the C library ran `ldconfig -p` in a fork of the sync process at every load.
    started: list[object] = []
    real_popen = subprocess.Popen.__init__

    def recording_popen(self, args, *rest, **options) -> None:
        started.append(args)
        real_popen(self, args, *rest, **options)

    monkeypatch.setattr(subprocess.Popen, "__init__", recording_popen)
    memory._libc.cache_clear()
    memory.release_freed()
    first = len(started)
    for _ in range(3):
        memory.release_freed()
        memory.configure()
    assert len(started) == first <= 1


@pytest.mark.skipif(memory._libc() is None, reason="no C library to load here")
def test_the_c_library_is_found_and_trims(monkeypatch) -> None:
    assert hasattr(memory._libc(), "malloc_trim")
