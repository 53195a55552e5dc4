"""The recorder's size budget: at most 15 KB gzip for the entry applications embed."""

from __future__ import annotations

import gzip

from collector.assets import recorder_bundle

BUDGET_BYTES = 15 * 1024  # ARCHITECTURE.md: recorder entry ≤ 15 KB gzip


def test_recorder_bundle_fits_its_gzip_budget() -> None:
    bundle = recorder_bundle().read_bytes()
    size = len(gzip.compress(bundle, compresslevel=9))
    assert b"PhiReplay" in bundle
    assert size <= BUDGET_BYTES, f"recorder is {size} bytes gzip, budget {BUDGET_BYTES}"
