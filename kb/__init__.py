"""Hindsight's lessons-learned knowledge base (placeholder; documented below once complete)."""

from kb.embedding import DEFAULT_MODEL_NAME, Embedder, SentenceTransformerEmbedder
from kb.store import LessonStore

__all__ = ["DEFAULT_MODEL_NAME", "Embedder", "LessonStore", "SentenceTransformerEmbedder"]
