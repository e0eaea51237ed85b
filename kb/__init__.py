"""Hindsight's lessons-learned knowledge base: retrospectives in, hybrid search out.

No Flask here: `plugin/` and `webhooks/` call this API directly.

    from kb import LessonStore, load_embedder

    store = LessonStore("hindsight.db", load_embedder())  # or ":memory:", or a
    # "postgresql://user@host/db" URL (pip install 'hindsight[postgres]')
    report = store.ingest_paths(["retros/"], project="PAY", prune=False)   # -> IngestReport
    store.ingest_source("jira:PAY-7", text, format="markdown", title="PAY-7 retro",
                        project="PAY", tags=["retro"], date="2024-05-01", url=...)
    hits = store.search("migration rollback", limit=10, mode="hybrid", project=None,
                        tag=None, kind=None, since=None, strong_only=False)  # -> list[SearchHit]
    page = store.search_page("migration rollback", offset=25, limit=25, sort="date",
                             strong_only=True)  # options as search's
    page.hits, page.total, page.capped  # one page, the true count (capped: more than total)
    store.browse(project="PAY", tag=None, sort="votes", offset=0, limit=25)  # -> LessonPage
    store.retrospectives(project="PAY")  # -> ([RetrospectiveSummary], total)
    store.retrospective(lesson.retrospective_id)  # -> (RetrospectiveSummary, [Lesson])
    store.get("L3f9a...")  # -> Lesson, or LessonNotFoundError
    store.stats()          # -> StoreStats
    store.reindex()        # re-embed with the store's embedder (after a model change)
    store.remove_source("jira:PAY-7"); store.prune_missing_files()
    store.curation.edit(lesson_id, "dana", {"text": ...})  # also add, archive, restore, merge,
    store.curation.history(lesson_id)                       # state: every change is a Revision
    store.actions.open_action_items(project="PAY", overdue_only=True)  # -> list[ActionItem]

`ingest_source` replaces that source's lessons atomically and is a no-op when nothing changed;
it raises `IngestError` on bad input. `ingest_paths` never raises for one bad file: the report
lists it (`report.errors`).

A `SearchHit` has id, title, text, kind, project, tags, date, source, section, votes, url;
`score` (fused reciprocal-rank score, comparable only within one result list); `found_by`
({"keyword": rank, "semantic": rank}, 1-based, only the rankings that found it); `similarity`
(cosine between query and the lesson's best chunk, set whenever the semantic ranking ran: an
absolute relevance to threshold on); `snippet`, a `Snippet` with plain `text` and `highlights`
as (start, end) offsets into it. Render it with `snippet.html()` (escapes, then wraps matches
in <mark>) or `snippet.marked("«", "»")` for a terminal; `hit.to_dict()` is JSON-ready.

Embeddings enter through the `Embedder` protocol (`name`, `dimensions`, `max_tokens`,
`count_tokens(texts)`, `embed(texts) -> float32 unit vectors`). `load_embedder()` gives the
default: all-MiniLM-L6-v2 (English) and the multilingual Universal Sentence Encoder v3 side by
side (`SideBySideEmbedder`), both loaded offline from their packages, lazily, once per process;
`load_embedder(name)` one of them alone or any sentence-transformers model. Each model's ranking
is fused; a hit's `similarity` is the multilingual model's cosine, and hits whose similarity
clears the model's calibrated `store.related_similarity` (strong matches) come first. A store
embedded with another model raises `ModelMismatchError` until `reindex()` runs. Errors all
derive from `KnowledgeBaseError` and say what to fix.
"""

from kb.embedding import (
    DEFAULT_MODEL_NAME,
    Embedder,
    SentenceTransformerEmbedder,
    SideBySideEmbedder,
    UniversalSentenceEncoder,
    load_embedder,
)
from kb.errors import (
    EmbeddingModelError,
    IngestError,
    InvalidQueryError,
    KnowledgeBaseError,
    LessonNotFoundError,
    ModelMismatchError,
    StoreUnavailableError,
)
from kb.records import (
    KINDS,
    IngestReport,
    Lesson,
    SearchHit,
    Snippet,
    SourceOutcome,
    StoreStats,
)
from kb.search import SearchSettings
from kb.store import MODES, LessonStore

__all__ = [
    "DEFAULT_MODEL_NAME",
    "KINDS",
    "MODES",
    "Embedder",
    "EmbeddingModelError",
    "IngestError",
    "IngestReport",
    "InvalidQueryError",
    "KnowledgeBaseError",
    "Lesson",
    "LessonNotFoundError",
    "LessonStore",
    "ModelMismatchError",
    "SearchHit",
    "SearchSettings",
    "SentenceTransformerEmbedder",
    "SideBySideEmbedder",
    "Snippet",
    "SourceOutcome",
    "StoreStats",
    "StoreUnavailableError",
    "UniversalSentenceEncoder",
    "load_embedder",
]
