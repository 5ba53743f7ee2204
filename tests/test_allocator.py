"""The allocator setting the daemon applies at start."""

from __future__ import annotations

import platform

import pytest

from gateway.allocator import cap_malloc_arenas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_glibc_takes_the_arena_cap():
    assert cap_malloc_arenas(2) is True

