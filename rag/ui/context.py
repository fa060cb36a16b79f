"""What every tab shares: the pipeline, the settings, the locks around index reloads, index-change events.

A tab is a `Tab(label, id, build)`; `build(ctx)` lays out the tab's components inside the
`gr.Tab` that build_app opens for it, and wires its events. Tabs talk to each other only
through the context:

- `ctx.reading()` around anything that reads the store (questions, facets, stats);
- `ctx.index_changed(report)` after an ingest: reloads the pipeline (waiting for running
  questions) and returns the value for `ctx.index_version`, which an event must output;
- `ctx.on_index_change(fn, outputs)` to refresh components when the page loads and whenever
  this session changed the index (facet menus, the stats table).
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from rag.config import Settings
from rag.errors import RagError


class ReadWriteLock:
    """Many questions at once; an index reload (after an upload) waits for them and blocks new ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def read(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._readers += 1
        try:
            yield
        finally:
            with self._cond:
                self._readers -= 1
                self._cond.notify_all()

    @contextmanager
    def write(self) -> Iterator[None]:
        with self._cond:
            while self._writing:
                self._cond.wait()
            self._writing = True
            while self._readers:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._writing = False
                self._cond.notify_all()


EMPTY_FACETS = {"bodies": [], "meetings": [], "kinds": [], "speakers": []}


@dataclass
class UIContext:
    settings: Settings
    pipe: Any  # rag.pipeline.Pipeline
    lock: ReadWriteLock = field(default_factory=ReadWriteLock)
    ingest_lock: threading.Lock = field(default_factory=threading.Lock)  # one upload at a time
    app: Any = None  # the gr.Blocks being built (set by build_app)
    index_version: Any = None  # gr.State: changes when this session changed the index

    def reading(self):
        return self.lock.read()

    def facets(self) -> dict[str, list[str]]:
        """What the filter menus offer (empty lists when there is no index yet)."""
        try:
            with self.reading():
                return self.pipe.store.facets()
        except RagError:
            return dict(EMPTY_FACETS)

    def index_changed(self, report: Any) -> Any:
        """After an ingest: reload the pipeline if documents changed; the new value for index_version."""
        if not getattr(report, "documents", 0):
            return self._no_change()
        with self.lock.write():
            self.pipe.reload()
        return time.time_ns()

    @staticmethod
    def _no_change() -> Any:
        import gradio as gr

        return gr.update()

    def on_index_change(self, fn: Callable[[], Any], outputs: list[Any]) -> None:
        """Run fn (no inputs) into outputs when the page loads and after this session changed the index."""
        self.app.load(fn, None, outputs, api_visibility="private")
        self.index_version.change(fn, None, outputs, api_visibility="private")


@dataclass(frozen=True)
class Tab:
    label: str  # shown on the tab
    id: str  # gr.Tab id (and the tab's anchor in tests)
    build: Callable[[UIContext], None]
