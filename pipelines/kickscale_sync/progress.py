"""Progress for long work: a bar on a terminal, silence elsewhere (logs stay quiet)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class ProgressBar:
    """Counts finished items; shows a bar only when enabled and writing to a terminal."""

    def __init__(self, total: int, *, label: str, unit: str, enabled: bool) -> None:
        console = Console(stderr=True)
        self._bar = (
            Progress(
                TextColumn(f"[bold]{label}[/bold] {{task.description}}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn(unit),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
            if enabled and console.is_terminal and total > 1
            else None
        )
        self._task = self._bar.add_task("", total=total) if self._bar else None

    def advance(self, description: str = "") -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, advance=1, description=description)

    def __enter__(self) -> ProgressBar:
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
