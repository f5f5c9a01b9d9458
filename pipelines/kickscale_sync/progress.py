"""Progress for long work: a bar on a terminal, silence elsewhere (logs stay quiet)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from kickscale_sync.records import WindowRows
from kickscale_sync.windows import Window


class SyncProgress:
    """Counts finished windows; shows a bar only when enabled and writing to a terminal."""

    def __init__(self, total_windows: int, enabled: bool) -> None:
        console = Console(stderr=True)
        self._bar = (
            Progress(
                TextColumn("[bold]sync[/bold] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("windows"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            if enabled and console.is_terminal and total_windows > 1
            else None
        )
        self._task = self._bar.add_task("", total=total_windows) if self._bar else None

    def advance(self, endpoint: str, window: Window, rows: WindowRows) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(
                self._task, advance=1, description=f"{endpoint} {window.start:%Y-%m-%d}"
            )

    def __enter__(self) -> SyncProgress:
        if self._bar:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar:
            self._bar.stop()
