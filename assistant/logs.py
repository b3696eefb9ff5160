"""Where the package's log records go when it runs as the ``assistant`` command.

Modules log through ``logging.getLogger(__name__)``; user-facing notes are warnings, so
they show by default. Without :func:`setup_logging` (the Python API, the chat page
imported elsewhere) Python's last-resort handler still prints warnings to stderr.
"""

from __future__ import annotations

import logging

from rich.console import Console, ConsoleRenderable
from rich.logging import RichHandler
from rich.text import Text

LEVELS = (logging.WARNING, logging.INFO, logging.DEBUG)  # by the number of -v


class _LineHandler(RichHandler):
    """One record, one line, never wrapped to the terminal's width: a note reads exactly
    as its message (tests and teachers grep for it); with -v, level and module go first."""

    def __init__(self, verbose: bool):
        super().__init__(console=Console(stderr=True, soft_wrap=True), markup=False, show_path=False)
        self.verbose = verbose

    def render(self, *, record: logging.LogRecord, traceback, message_renderable: ConsoleRenderable):
        if not self.verbose or not isinstance(message_renderable, Text):
            return message_renderable
        return Text.assemble(self.get_level_text(record), " ", (f"{record.name}: ", "dim"), message_renderable)


def _ours_or_a_warning(record: logging.LogRecord) -> bool:
    # Some libraries set their own loggers to DEBUG: only their warnings get through.
    return record.levelno >= logging.WARNING or record.name == "assistant" or record.name.startswith("assistant.")


def reset_logging() -> None:
    """Remove the command's handler (a command may run again in one process: tests)."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _LineHandler)]:
        root.removeHandler(handler)


def setup_logging(verbosity: int = 0) -> None:
    """Log to stderr at WARNING, INFO (``-v``) or DEBUG (``-vv`` and more)."""
    reset_logging()
    root = logging.getLogger()
    handler = _LineHandler(verbose=verbosity > 0)
    handler.addFilter(_ours_or_a_warning)
    root.addHandler(handler)
    logging.getLogger("assistant").setLevel(LEVELS[min(verbosity, len(LEVELS) - 1)])
