"""Errors the knowledge base raises; each message says what to fix.

The CLI turns them into `click.ClickException`; library callers can catch `KnowledgeBaseError`.
"""

from __future__ import annotations


class KnowledgeBaseError(Exception):
    """Base class of every error the knowledge base raises on purpose."""


class IngestError(KnowledgeBaseError):
    """A source could not be read; names the source and, when known, the line."""

    def __init__(self, source: str, message: str, line: int | None = None) -> None:
        self.source = source
        self.line = line
        self.reason = message
        where = f"{source}:{line}" if line is not None else source
        super().__init__(f"{where}: {message}")


class EmbeddingModelError(KnowledgeBaseError):
    """The embedding model could not be loaded."""


class ModelMismatchError(KnowledgeBaseError):
    """The store's vectors were made by another model than the one in use."""

    def __init__(self, stored: str, current: str) -> None:
        self.stored = stored
        self.current = current
        super().__init__(
            f"this store was embedded with model {stored!r} but the current model is "
            f"{current!r}; run `hindsight reindex` to re-embed it with {current!r}, or set "
            f"HINDSIGHT_EMBED_MODEL={stored} to use the stored vectors"
        )


class InvalidQueryError(KnowledgeBaseError):
    """A search argument (mode, limit, date filter...) is not acceptable."""


class LessonNotFoundError(KnowledgeBaseError):
    """No lesson has the requested id."""


class StoreUnavailableError(KnowledgeBaseError):
    """The store's database cannot be opened (its server is unreachable, or its driver missing)."""
