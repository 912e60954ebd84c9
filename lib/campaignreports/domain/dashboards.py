"""Dashboard layouts (pure): the default layout of a tab and the rules a saved one must follow.

A layout places widgets on a grid GRID_COLUMNS wide, each with a view (graph, table, donut).
The default shows every widget of the tab in catalog order, flowing left to right.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from campaignreports.domain.catalog import TABS, VIEWS, WIDGETS, Kind, tab_widgets

GRID_COLUMNS = 12
MAX_HEIGHT = 48
# Default size (width, height) per kind.
_DEFAULT_SIZE = {Kind.KPI: (6, 3), Kind.ROWS: (6, 4), Kind.SERIES: (12, 4)}
_FUNNEL_SIZE = (6, 4)  # a step per line: a KPI's tiles fit in less


@dataclass(frozen=True)
class Placement:
    widget_id: str
    x: int
    y: int
    width: int
    height: int
    view: str


class LayoutError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def default_layout(tab: str) -> list[Placement]:
    placements, x, y, row_height = [], 0, 0, 0
    for widget in tab_widgets(tab):
        width, height = _FUNNEL_SIZE if widget.view == "funnel" else _DEFAULT_SIZE[widget.kind]
        if x + width > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        placements.append(Placement(widget.id, x, y, width, height, widget.view))
        x, row_height = x + width, max(row_height, height)
    return placements


def check_tab(tab: str) -> None:
    if tab not in TABS:
        raise LayoutError("tab", f"unknown tab {tab!r}; one of {', '.join(TABS)}")


def check_layout(tab: str, placements: list[Placement]) -> None:
    """Raise LayoutError naming the first placement field at fault."""
    seen: set[str] = set()
    for index, p in enumerate(placements):
        at = f"placements[{index}]"
        widget = WIDGETS.get(p.widget_id)
        if widget is None:
            raise LayoutError(f"{at}.widget_id", f"unknown widget {p.widget_id!r}")
        if widget.tab != tab:
            raise LayoutError(
                f"{at}.widget_id", f"widget {p.widget_id!r} belongs to tab {widget.tab!r}, not {tab!r}"
            )
        if p.widget_id in seen:
            raise LayoutError(f"{at}.widget_id", f"widget {p.widget_id!r} is placed twice")
        seen.add(p.widget_id)
        if p.view not in VIEWS:
            raise LayoutError(f"{at}.view", f"view {p.view!r} is not one of {', '.join(VIEWS)}")
        if p.view == "funnel" and widget.kind is not Kind.KPI:
            raise LayoutError(
                f"{at}.view", f"a funnel draws a KPI widget's metrics; {p.widget_id!r} is not one"
            )
        if not 1 <= p.width <= GRID_COLUMNS:
            raise LayoutError(f"{at}.width", f"width must be between 1 and {GRID_COLUMNS}")
        if not 0 <= p.x <= GRID_COLUMNS - p.width:
            raise LayoutError(f"{at}.x", f"x must be between 0 and {GRID_COLUMNS} - width")
        if not 1 <= p.height <= MAX_HEIGHT:
            raise LayoutError(f"{at}.height", f"height must be between 1 and {MAX_HEIGHT}")
        if p.y < 0:
            raise LayoutError(f"{at}.y", "y must not be negative")


def encode(placements: list[Placement]) -> bytes:
    return json.dumps([asdict(p) for p in placements]).encode()


def decode(stored: bytes) -> list[Placement]:
    return [Placement(**item) for item in json.loads(stored)]
