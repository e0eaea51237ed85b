"""Knowledge-base doubles: a deterministic embedder and an in-memory lessons index, so tests and
benchmarks need no model."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from kb.errors import LessonNotFoundError
from kb.readers import read_text
from kb.records import Lesson, SearchHit, Snippet
from kb.text import cjk_bigrams, light_stem, significant_terms, words
from plugin.lessons.index import Retrospective


class HashingEmbedder:
    """Texts sharing (stemmed) words get similar vectors; one token per word, 32 per text max."""

    def __init__(self, name: str = "fake-hashing", dimensions: int = 64, max_tokens: int = 32):
        self._name = name
        self._dimensions = dimensions
        self._max_tokens = max_tokens
        self.embedded: list[str] = []  # every text embedded, to assert on reuse

    @property
    def name(self) -> str:
        return self._name

    @property
    def dimensions(self) -> int:
        return self._dimensions

    @property
    def max_tokens(self) -> int:
        return self._max_tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(text.split()) + len(cjk_bigrams(text)) + 2 for text in texts]

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self._dimensions), dtype=np.float32)
        for row, text in enumerate(texts):
            for token in [light_stem(w) for w in words(text)] + cjk_bigrams(text):
                digest = hashlib.blake2b(token.encode(), digest_size=4).digest()
                out[row, int.from_bytes(digest, "little") % self._dimensions] += 1.0
            norm = np.linalg.norm(out[row])
            out[row] = out[row] / norm if norm else out[row]
            if not norm:
                out[row, 0] = 1.0
        return out


class GlossaryEmbedder(HashingEmbedder):
    """A fake multilingual model: Chinese words in its glossary read as their English words, so
    a Chinese text and an English one on the same problem get similar vectors."""

    GLOSSARY: ClassVar[dict[str, str]] = {
        "证书": "certificate",
        "过期": "expired",
        "数据库": "database",
        "迁移": "migration",
        "回滚": "rollback",
        "入职": "onboarding",
    }

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        translated = []
        for text in texts:
            for chinese, english in self.GLOSSARY.items():
                text = text.replace(chinese, f" {english} ")
            translated.append(text)
        return super().embed(translated)


def bag(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for word in significant_terms(text):
        counts[word] = counts.get(word, 0) + 1
    return counts


def cosine(a: str, b: str) -> float:
    x, y = bag(a), bag(b)
    dot = sum(v * y.get(k, 0) for k, v in x.items())
    norm = math.sqrt(sum(v * v for v in x.values())) * math.sqrt(sum(v * v for v in y.values()))
    return dot / norm if norm else 0.0


@dataclass
class FakeIndex:
    """Lessons in a list; similarity is the cosine of word counts (deterministic, no model)."""

    lessons: list[Lesson] = field(default_factory=list)
    searches: list[str] = field(default_factory=list)
    related_similarity: float = 0.5  # the "calibrated" bar a None threshold falls back to

    def add(self, lesson_id: str, title: str, text: str, **extra: Any) -> Lesson:
        lesson = Lesson(
            id=lesson_id,
            title=title,
            text=text,
            kind=extra.get("kind", "lesson"),
            project=extra.get("project"),
            tags=tuple(extra.get("tags", ())),
            date=extra.get("date"),
            source=extra.get("source", f"retros/{lesson_id}.md"),
            section="",
            votes=0,
            url=None,
            ingested_at="2026-01-01T00:00:00+00:00",
            metadata={},
        )
        self.lessons.append(lesson)
        return lesson

    def search(self, query: str, *, limit: int) -> Sequence[SearchHit]:
        self.searches.append(query)
        scored = [
            (cosine(query, f"{lesson.title} {lesson.text}"), lesson) for lesson in self.lessons
        ]
        scored.sort(key=lambda pair: (-pair[0], pair[1].id))
        return [
            SearchHit(
                lesson=lesson,
                snippet=Snippet(lesson.text),
                score=similarity,
                found_by={"semantic": rank},
                similarity=similarity,
            )
            for rank, (similarity, lesson) in enumerate(scored[:limit], start=1)
        ]

    def get(self, lesson_id: str) -> Lesson:
        for lesson in self.lessons:
            if lesson.id == lesson_id:
                return lesson
        raise LessonNotFoundError(lesson_id)

    def replace_retrospective(self, retro: Retrospective) -> int:
        """Read the Markdown with the knowledge base's real reader; replace the source's lessons."""
        self.lessons = [lesson for lesson in self.lessons if lesson.source != retro.source]
        parsed = read_text(retro.source, retro.markdown, "markdown")
        for number, draft in enumerate(parsed.lessons):
            self.add(
                f"{retro.source}#{number}",
                retro.title,
                draft.text,
                kind=draft.kind,
                project=retro.project,
                source=retro.source,
            )
        return len(parsed.lessons)
