"""Errors a user can cause (a bad path, an empty question, an old index).

The CLI prints their message as one line and exits 2; everything else is a bug and
keeps its traceback.
"""


class UserError(Exception):
    """A mistake in the input, with a one-line message that names the input."""

    exit_code = 2


class DamagedIndex(UserError):
    """An index that cannot be read (damaged files): the message names it and the rebuild."""
