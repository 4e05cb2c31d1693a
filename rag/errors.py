"""Errors a user can act on; each message says what to do."""


class RagError(Exception):
    """Base class of the errors this package raises on purpose."""


class QuestionError(RagError, ValueError):
    """The question is empty, too long or otherwise unusable."""


class IndexMissingError(RagError):
    """There is no complete index where one was expected."""


class IndexMismatchError(RagError):
    """The index on disk was built with another model, format or chunking."""


class UnknownNameError(RagError, KeyError):
    """A registry was asked for a name it does not know."""

    def __str__(self) -> str:  # KeyError quotes its message; we do not
        return str(self.args[0]) if self.args else ""


class AnswererError(RagError):
    """An answerer failed (e.g. the LLM endpoint is down); the caller may fall back."""


class ArgumentError(RagError, TypeError):
    """An API argument of the wrong type or out of range (``k="5"``, ``mode=3``, ``history="x"``)."""


class SeedsError(RagError):
    """The seeds folder is missing, unreadable, or empty where that would empty a good index."""


class IndexWriteError(RagError):
    """The index could not be written (full disk, read-only folder); the previous index is unchanged."""


class ModelPathError(RagError):
    """The embedding model setting names a path that does not exist."""


class ServeError(RagError):
    """The chat page cannot listen where asked (a busy port, an unknown host)."""


class DuplicateDocumentError(RagError):
    """An added file holds an article that is already indexed (same content); it is not indexed twice."""


class DocumentExistsError(RagError):
    """A file of that name is already in the seeds folder; it is never overwritten."""


class DocumentNotFoundError(RagError):
    """No file of that name is in the seeds folder."""
