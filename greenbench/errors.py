"""User-facing errors.

Anything a user can fix (a bad suite, missing data, an unknown option) raises a
:class:`UserError`. The CLI prints its message on one line and exits with code 2;
it never shows a traceback for these.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input or environment, reported without a traceback (exit code 2)."""

    exit_code = 2


class SuiteError(UserError):
    """A suite file that cannot be read or does not match the schema."""


class DataError(UserError):
    """Data that is missing, malformed or fails its checksum."""


class ChecksumError(DataError):
    """A data file whose SHA-256 does not match the published value."""
