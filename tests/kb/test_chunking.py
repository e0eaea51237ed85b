"""Chunking: every chunk fits the model, and no word is lost."""

from __future__ import annotations

from kb.chunking import embedding_inputs, split_to_budget
from testkit.kb import HashingEmbedder


def test_long_text_is_split_within_budget_and_nothing_is_lost() -> None:
    embedder = HashingEmbedder(max_tokens=32)
    text = " ".join(f"word{i}." for i in range(200)) + "\n\n" + "x" * 5 + " " + "y " * 90
    chunks = embedding_inputs("Title", text, embedder.count_tokens, embedder.max_tokens)
    assert len(chunks) > 5
    assert all(count <= embedder.max_tokens for count in embedder.count_tokens(chunks))
    assert all(chunk.startswith("Title\n") for chunk in chunks)
    joined = " ".join(chunk.removeprefix("Title\n") for chunk in chunks).split()
    assert joined == text.split()


def test_text_without_spaces_is_split_by_characters() -> None:
    embedder = HashingEmbedder(max_tokens=20)
    text = "数据库迁移必须在生产规模的数据上做压测和回滚演练" * 4
    chunks = split_to_budget(text, embedder.count_tokens, 10)
    assert "".join(chunks) == text
    assert all(count - 2 <= 10 for count in embedder.count_tokens(chunks))


def test_short_text_is_one_chunk() -> None:
    embedder = HashingEmbedder()
    assert embedding_inputs("T", "short text", embedder.count_tokens, 32) == ["T\nshort text"]
