"""Dashboard layouts (pure): the default layout and the placement rules."""

from __future__ import annotations

import pytest

from campaignreports.domain.catalog import TABS, tab_widgets
from campaignreports.domain.dashboards import (
    GRID_COLUMNS,
    LayoutError,
    Placement,
    check_layout,
    decode,
    default_layout,
    encode,
)


@pytest.mark.parametrize("tab", TABS)
def test_default_layout_places_every_widget_of_the_tab_in_catalog_order(tab: str) -> None:
    layout = default_layout(tab)
    assert [p.widget_id for p in layout] == [w.id for w in tab_widgets(tab)]
    check_layout(tab, layout)
    assert all(p.x + p.width <= GRID_COLUMNS for p in layout)
    assert decode(encode(layout)) == layout


@pytest.mark.parametrize(
    ("placement", "field"),
    [
        (Placement("nope", 0, 0, 6, 2, "table"), "placements[0].widget_id"),
        (Placement("sms_statistics", 0, 0, 6, 2, "table"), "placements[0].widget_id"),
        (Placement("email_statistics", 0, 0, 6, 2, "pie"), "placements[0].view"),
        (Placement("email_summary", 0, 0, 6, 2, "funnel"), "placements[0].view"),
        (Placement("email_statistics", 0, 0, 0, 2, "table"), "placements[0].width"),
        (Placement("email_statistics", 8, 0, 6, 2, "table"), "placements[0].x"),
        (Placement("email_statistics", 0, -1, 6, 2, "table"), "placements[0].y"),
        (Placement("email_statistics", 0, 0, 6, 0, "table"), "placements[0].height"),
    ],
)
def test_bad_placements_name_the_field(placement: Placement, field: str) -> None:
    with pytest.raises(LayoutError) as error:
        check_layout("email", [placement])
    assert error.value.field == field


def test_a_widget_placed_twice_is_refused() -> None:
    twice = [
        Placement("email_statistics", 0, 0, 6, 2, "table"),
        Placement("email_statistics", 6, 0, 6, 2, "graph"),
    ]
    with pytest.raises(LayoutError) as error:
        check_layout("email", twice)
    assert error.value.field == "placements[1].widget_id"


def test_a_kpi_widget_may_be_drawn_as_a_funnel() -> None:
    check_layout("email", [Placement("email_statistics", 0, 0, 6, 2, "funnel")])
