"""When a top-N widget reads its dimension whole rather than choosing its values first (pure)."""

from __future__ import annotations

from campaignreports.query.sizes import DimensionSizes

PLACE = ("tenant", "campaign", "", "live")


def test_a_dimension_is_read_whole_only_once_a_read_found_it_small() -> None:
    sizes = DimensionSizes(100)
    assert not sizes.read_whole(PLACE, "url"), "nothing known: choose first"
    sizes.chosen(PLACE, "url", 36, limit=101)
    assert sizes.read_whole(PLACE, "url")
    assert not sizes.read_whole(PLACE, "recipient_domain"), "per dimension"
    assert not sizes.read_whole(("tenant", "campaign", "", "other window"), "url"), "per place"


def test_a_choosing_read_reads_enough_to_tell_a_small_dimension() -> None:
    assert DimensionSizes(100).choosing(10) == 101
    assert DimensionSizes(100).choosing(1000) == 1000
    assert DimensionSizes(0).choosing(10) == 10


def test_a_choosing_read_cut_at_its_limit_means_many() -> None:
    sizes = DimensionSizes(100)
    sizes.whole(PLACE, "url", 36)
    sizes.chosen(PLACE, "url", 101, limit=101)
    assert not sizes.read_whole(PLACE, "url")


def test_a_read_whole_corrects_a_guess_and_a_later_choosing_read_does_not_undo_it() -> None:
    """A choosing read counts only the values shown: 6 domains with opens may be 5,000 domains."""
    sizes = DimensionSizes(100)
    sizes.chosen(PLACE, "recipient_domain", 6, limit=1000)
    assert sizes.read_whole(PLACE, "recipient_domain")
    sizes.whole(PLACE, "recipient_domain", 5000)
    assert not sizes.read_whole(PLACE, "recipient_domain")
    sizes.chosen(PLACE, "recipient_domain", 6, limit=1000)
    assert not sizes.read_whole(PLACE, "recipient_domain"), "no read whole of 5,000 every other time"
    sizes.whole(PLACE, "recipient_domain", 80)
    assert sizes.read_whole(PLACE, "recipient_domain"), "a read whole is the truth, small again"


def test_zero_always_chooses_first() -> None:
    sizes = DimensionSizes(0)
    sizes.whole(PLACE, "url", 0)
    assert not sizes.read_whole(PLACE, "url")


def test_it_remembers_a_bounded_number_of_places_the_least_recently_used_going_first() -> None:
    sizes = DimensionSizes(100, remembered=2)
    sizes.whole(("a",), "url", 1)
    sizes.whole(("b",), "url", 1)
    assert sizes.read_whole(("a",), "url")  # used: b is now the oldest
    sizes.whole(("c",), "url", 1)
    assert sizes.read_whole(("a",), "url") and sizes.read_whole(("c",), "url")
    assert not sizes.read_whole(("b",), "url")
