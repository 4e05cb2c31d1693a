"""Offline question answering over a folder of articles, with cited answers.

>>> from rag import Assistant
>>> a = Assistant.open()
>>> print(a.ask("How many tanks did Russia produce in 2024?").text)
"""
from .assistant import Assistant
from .config import Settings
from .errors import (AnswererError, DocumentExistsError, DocumentNotFoundError, DuplicateDocumentError,
                     IndexMismatchError, IndexMissingError, QuestionError, RagError, UnknownNameError)
from .indexer import BuildReport
from .types import Answer, Chunk, Citation, Document, Hit

__all__ = ["Assistant", "Settings", "Answer", "Chunk", "Citation", "Document", "Hit", "BuildReport",
           "RagError", "QuestionError", "IndexMissingError", "IndexMismatchError", "UnknownNameError",
           "AnswererError", "DuplicateDocumentError", "DocumentExistsError", "DocumentNotFoundError"]
__version__ = "0.1.0"
