"""The base of the HA-free clients' errors (Realtime, Live): a message and a stable ``code`` that
callers may switch on."""

from __future__ import annotations


class CodedError(Exception):
    """An error with a stable ``code`` (the class's, or one given for this occurrence)."""

    code = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message
