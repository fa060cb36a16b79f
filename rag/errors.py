"""Errors a user can act on: the CLI prints their message as one line and exits non-zero."""


class RagError(Exception):
    """Base of the errors shown to users as they are."""


class IndexMissing(RagError):
    pass


class IndexMismatch(RagError):
    """The index was built with another model or format, or is busy."""


class BadQuestion(RagError):
    pass


class ConfigError(RagError):
    """A setting (environment variable or flag) with a value it cannot have."""


class SourceError(RagError):
    """Bad input (a document that cannot be read): the message is a clear one-line reason."""
