"""Query construction and rank fusion for hybrid search.

Keyword side: the query's significant words, each quoted (so `"`, `AND`, `OR (` are just
text to FTS5), OR-ed together and ranked by bm25 with the title weighted above the body.
Hybrid: weighted reciprocal rank fusion (RRF) of the keyword and semantic rankings.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kb.text import cjk_bigrams, dedupe, significant_terms


@dataclass(frozen=True)
class SearchSettings:
    """Tuning knobs of search; the defaults are what the benchmarks measure."""

    candidates: int = 100  # depth of each ranking fed to the fusion
    max_query_terms: int = 64  # long queries (a whole bug report) keep their first terms
    column_weights: tuple[float, float, float] = (4.0, 1.0, 1.0)  # bm25: title, text, cjk
    # A small k trusts the top of each ranking more; 10 beat the customary 60 on GitBugs.
    rrf_k: int = 10
    weights: dict[str, float] = field(default_factory=lambda: {"keyword": 1.0, "semantic": 1.0})


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def keyword_query(query: str, max_terms: int) -> str | None:
    """An FTS5 MATCH expression OR-ing the query's terms, or None when nothing is searchable."""
    terms = significant_terms(query)[:max_terms]
    terms += dedupe(cjk_bigrams(query))[:max_terms]
    if not terms:
        return None
    return " OR ".join(_quote(term) for term in terms)


def fuse(
    rankings: dict[str, list[int]], settings: SearchSettings, limit: int
) -> list[tuple[int, float]]:
    """The `limit` best (pk, score) by weighted reciprocal rank fusion of `rankings`."""
    scores: dict[int, float] = {}
    for name, ranking in rankings.items():
        weight = settings.weights.get(name, 1.0)
        for rank, pk in enumerate(ranking, start=1):
            scores[pk] = scores.get(pk, 0.0) + weight / (settings.rrf_k + rank)
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return ordered[:limit]
