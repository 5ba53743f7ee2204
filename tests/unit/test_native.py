"""The settings of native libraries the daemon applies at start."""

from __future__ import annotations

import platform

import numpy as np
import pytest
from threadpoolctl import threadpool_info

from gateway.service.native import cap_malloc_arenas, single_threaded_blas


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="a glibc setting")
def test_glibc_takes_the_arena_cap():
    assert cap_malloc_arenas(2) is True


def test_numpy_blas_runs_on_one_thread():
    np.ones((64, 64)) @ np.ones((64, 64))  # BLAS loaded and used
    single_threaded_blas()
    blas = [pool for pool in threadpool_info() if pool["user_api"] == "blas"]
    assert blas and all(pool["num_threads"] == 1 for pool in blas)
