"""How people name a size bucket (db/sizes.py): one rule for the API's `size` parameter and the dashboard's URL."""

from __future__ import annotations

import pytest

from clusterdash.db.sizes import bucket_label, short_form

# As the stored buckets come back from query.size_buckets: smallest first.
STORED = ("(..., 0)", "[0]", "[1]", "[2, 4)", "[512, 1K)", "[4K, 8K)", "[8K, 16K)", "[1M, 2M)", "[8M, ...)")


@pytest.mark.parametrize(
    "text, label",
    [
        ("[4K, 8K)", "[4K, 8K)"),
        ("4K", "[4K, 8K)"),
        ("4k", "[4K, 8K)"),
        ("4096", "[4K, 8K)"),
        ("4KiB", "[4K, 8K)"),
        ("4kb", "[4K, 8K)"),
        ("4K-8K", "[4K, 8K)"),
        ("4096-8192", "[4K, 8K)"),
        (" [4k,8k) ", "[4K, 8K)"),
        ("1024K", "[1M, 2M)"),
        ("512", "[512, 1K)"),
        ("0", "[0]"),
        ("1", "[1]"),
        ("2", "[2, 4)"),
        ("neg", "(..., 0)"),
        ("NEG", "(..., 0)"),
        ("8M", "[8M, ...)"),
        ("[8M, ...)", "[8M, ...)"),
    ],
)
def test_the_forms_people_type_name_the_stored_bucket(text, label):
    assert bucket_label(text, STORED) == label


@pytest.mark.parametrize(
    "text",
    ["3K", "4K-16K", "16K", "[16K, 32K)", "4X", "", "-", "4K-", "K", "99999999999999999999999", "1e3", "4 K B x"],
)
def test_a_form_that_names_no_stored_bucket_is_none(text):
    assert bucket_label(text, STORED) is None


def test_nothing_is_named_when_nothing_is_stored():
    assert bucket_label("4K", ()) is None and bucket_label("[4K, 8K)", []) is None


@pytest.mark.parametrize("label", STORED)
def test_the_short_form_names_its_bucket_again(label):
    assert bucket_label(short_form(label), STORED) == label
