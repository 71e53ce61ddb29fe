"""The rehearsal's one error."""

from __future__ import annotations


class RehearsalError(Exception):
    """The rehearsal could not run to its end (the message says where it stopped)."""
