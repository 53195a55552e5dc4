"""The recorder's size: the entry applications embed must not grow unnoticed.

ARCHITECTURE.md's budget is 15 KB gzip. The default-deny masking of issue 10 put the
bundle above it (about 21 KB: a CSS Syntax tokenizer, per-attribute value kinds,
pseudonyms, the URL vocabulary, a data-driven detector); `make bench` reports the budget
as not met. Until the budget is decided this test holds a ceiling, the same as
sdk-js/scripts/build.mjs, so that every further byte is a decision.
"""

from __future__ import annotations

import gzip

from collector.assets import recorder_bundle

BUDGET_BYTES = 15 * 1024  # ARCHITECTURE.md: recorder entry <= 15 KB gzip (not met)
CEILING_BYTES = 22 * 1024  # as sdk-js/scripts/build.mjs CEILING_GZIP_BYTES


def test_recorder_bundle_stays_under_its_ceiling() -> None:
    bundle = recorder_bundle().read_bytes()
    size = len(gzip.compress(bundle, compresslevel=9))
    assert b"PhiReplay" in bundle
    assert size <= CEILING_BYTES, f"recorder is {size} bytes gzip, ceiling {CEILING_BYTES}"
