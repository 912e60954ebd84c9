"""How `make test` shares tests among its pytest-xdist workers.

xdist's own modes either send a whole file to one worker (`loadfile`: its module fixtures start
once, but a file of three long tests keeps one worker busy while the others idle, and xdist
sends the files with the most tests first, so the few-but-long ones come last) or single tests
(`load`: a module fixture starts again on every worker that runs one of its tests).

This scheduler does both, by file: the files in `KEEP_TOGETHER`, whose module fixtures start a
whole stack or browser, go to one worker each, first; every other test is a unit of its own, so
the three long cases of a file run side by side. Those single tests go in order of their file's
size, fewest first: the files with few tests are the ones whose tests are long (a fault case, the
golden comparison), and the many short unit tests fill the end of the run.
"""

from __future__ import annotations

from collections import Counter, OrderedDict

import pytest
from xdist.scheduler import LoadScopeScheduling
from xdist.workermanage import WorkerController

# Files whose module-scoped fixtures are expensive (a whole stack, a browser, a Prometheus).
KEEP_TOGETHER = frozenset(
    {
        "tests/test_browser.py",
        "tests/test_stack_e2e.py",
        "tests/test_observability.py",
    }
)


def file_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0]


class KeepTogetherScheduling(LoadScopeScheduling):
    def __init__(self, config: pytest.Config, log: object = None) -> None:
        super().__init__(config, log)  # type: ignore[arg-type]
        self._ordered = False

    def _split_scope(self, nodeid: str) -> str:
        path = file_of(nodeid)
        return path if path in KEEP_TOGETHER else nodeid

    def _assign_work_unit(self, node: WorkerController) -> None:
        if not self._ordered:  # the queue is complete by the first assignment
            self._ordered = True
            sizes = Counter(file_of(nodeid) for nodeid in self.collection or ())

            def rank(unit: tuple[str, dict[str, bool]]) -> tuple[int, int]:
                scope, tests = unit
                return (0, -len(tests)) if scope in KEEP_TOGETHER else (1, sizes[file_of(scope)])

            self.workqueue = OrderedDict(sorted(self.workqueue.items(), key=rank))
        super()._assign_work_unit(node)
