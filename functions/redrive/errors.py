"""Named errors. Their class names are the States error names the ASL matches."""

from __future__ import annotations


class RedriveError(Exception):
    """Base of every error the workflow raises on purpose."""


class InvalidInput(RedriveError):
    """The run input is wrong; the message names the field and what is expected."""


class TargetError(RedriveError):
    """The redrive target refused a request in a way a retry will not fix."""
