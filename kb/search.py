"""Query construction and rank fusion for hybrid search.

Keyword side: the query's significant words (and CJK bigrams), OR-ed together and ranked by
bm25 with the title weighted above the body (`keyword_terms`; each engine's `kb.keyword`
index renders them in its own query language). Words
found in a large share of the lessons are dropped when rarer ones remain: bm25 gives them little
weight, yet every lesson they match must be scored (most of a keyword query's time at 100k).
A multi-line query (an issue's summary then its description) also gets a keyword ranking of
its first line alone, where its problem is stated most densely.
Hybrid: weighted reciprocal rank fusion (RRF) of those rankings and the semantic ones (one per
model of the embedder), then ordered by evidence: the lessons whose calibrated similarity clears
the model's bar come first (see `order_by_evidence`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from kb.errors import InvalidQueryError
from kb.records import SearchHit
from kb.text import cjk_bigrams, dedupe, significant_terms

KEYWORD_RANKINGS = ("keyword", "headline")  # both reported as "keyword" in found_by
# Every other ranking comes from an embedding model and is reported as "semantic".

# The longest query searched, in characters: an issue's summary and the start of its
# description. Embedding costs ~0.1-0.4 s per 256 word pieces on 2 cores, and a 50 KB query took
# 35-52 s and 500 MB; 2,000 characters is 1-2 chunks of English (bench/bounded_paths.py).
MAX_QUERY_CHARS = 2_000


@dataclass(frozen=True)
class SearchSettings:
    """Tuning knobs of search; the defaults are what the benchmarks measure."""

    candidates: int = 100  # depth of each ranking fed to the fusion
    # The deepest a paged result list goes (`LessonStore.search_page`): ten pages of 25.
    max_results: int = 250
    max_query_chars: int = MAX_QUERY_CHARS  # a longer query is refused (InvalidQueryError)
    max_query_terms: int = 64  # long queries (a whole bug report) keep their first terms
    # Chunks of the query embedded (~256 word pieces each); 2,000 Chinese characters make ~9.
    max_query_chunks: int = 4
    # A query word found in more than this share of the lessons is left out of the keyword
    # query, unless fewer than `min_query_terms` rarer words would remain (tuned on half of
    # the GitBugs queries: 0.2 beat keeping every word, 0.05, 0.1 and 0.3). See
    # `selective_terms`.
    common_term_share: float = 0.2
    min_query_terms: int = 3
    # bm25 scores every lesson any query term matches (~1 us each): past the rarest term, the
    # keyword query stops adding terms once they match this many lessons in all (~20 ms).
    max_postings: int = 20_000
    column_weights: tuple[float, float, float] = (4.0, 1.0, 1.0)  # bm25: title, text, cjk
    # A small k trusts the top of each ranking more; 10 beat the customary 60 on GitBugs.
    rrf_k: int = 10
    # "headline": the keyword ranking of a multi-line query's first line (see `headline`).
    # The similarity from which a hit is a strong match (`order_by_evidence`); None: the one
    # calibrated for the store's model (kb.embedding.RELATED_SIMILARITY).
    related_similarity: float | None = None
    # "semantic" and "multilingual": the two models' rankings (kb.embedding.SideBySideEmbedder).
    weights: dict[str, float] = field(
        default_factory=lambda: {
            "keyword": 1.0,
            "headline": 1.0,
            "semantic": 1.0,
            "multilingual": 1.0,
        }
    )
    # With both models, one speaks for the query's meaning (`weights_for`): MiniLM for a query
    # in English, where it is the stronger (the multilingual ranking's weight is then this; 1,
    # 0.5, 0.25 and 0 were compared on GitBugs' tuning half: 0 was best, 0.857 / 0.952 R@5 /
    # R@10 against 0.841 / 0.921 at 1), the multilingual model for any other query, which
    # MiniLM cannot read. Lessons in another language than the query's still come first when
    # their similarity clears the bar (`order_by_evidence`).
    multilingual_weight_for_english: float = 0.0


TermCounter = Callable[[str], int]  # how many lessons the keyword index matches a term in


def check_query_length(query: str, settings: SearchSettings) -> None:
    """Refuse a query over `max_query_chars`, before any work is spent on it."""
    if len(query) > settings.max_query_chars:
        raise InvalidQueryError(
            f"the query is {len(query):,} characters; the limit is {settings.max_query_chars:,}"
            ": search with its key words or its first lines"
        )


def headline(query: str) -> str | None:
    """A multi-line query's first line when more text follows it, else None.

    Issues, bug reports and lessons lead with a one-line summary; a duplicate or a related
    lesson usually shares its words, which the description's many other words would drown.
    """
    lines = [line.strip() for line in query.strip().splitlines()]
    if len(lines) < 2 or not lines[0] or not any(lines[1:]):
        return None
    return lines[0]


def selective_terms(
    terms: Sequence[str], count: TermCounter | None, lessons: int, settings: SearchSettings
) -> list[str]:
    """The `terms` worth a keyword query, in query order.

    Rarest first, terms join while all chosen ones together match at most `max_postings`
    lessons (bm25 scores each: the query's cost) and, past the first `min_query_terms`, while
    each matches at most `common_term_share` of the lessons. The rarest term always stays, so a
    query of common words still finds something; terms matching nothing stay (free).
    """
    if count is None or not terms:
        return list(terms)
    counts = {term: count(term) for term in terms}
    present = sorted((term for term in terms if counts[term] > 0), key=counts.__getitem__)
    chosen: set[str] = set()
    postings = 0
    for position, term in enumerate(present):
        if position > 0 and postings + counts[term] > settings.max_postings:
            break
        if position >= settings.min_query_terms and (
            counts[term] > settings.common_term_share * lessons
        ):
            break  # rarest first: every later term is as common
        chosen.add(term)
        postings += counts[term]
    return [term for term in terms if term in chosen or counts[term] == 0]


def keyword_terms(
    query: str,
    settings: SearchSettings,
    count: TermCounter | None = None,
    lessons: int = 0,
) -> list[str]:
    """The terms a keyword search OR-s together (words, then CJK bigrams); empty when nothing
    is searchable. Engine-neutral: each `kb.keyword.KeywordIndex` renders them its own way.

    Long queries keep their first `max_query_terms` words; with `count` (and the store's
    number of `lessons`) common terms are left out as `selective_terms` says.
    """
    limit = settings.max_query_terms
    words = selective_terms(significant_terms(query)[:limit], count, lessons, settings)
    grams = selective_terms(dedupe(cjk_bigrams(query))[:limit], count, lessons, settings)
    return words + grams


def mostly_english(query: str) -> bool:
    """Whether at least 80% of the query's letters are ASCII (what MiniLM's vocabulary reads)."""
    letters = [char for char in query if char.isalpha()]
    return bool(letters) and sum(char.isascii() for char in letters) >= 0.8 * len(letters)


def weights_for(
    query: str, rankings: Mapping[str, list[int]], settings: SearchSettings
) -> dict[str, float]:
    """Each ranking's weight for this query: `settings.weights`, except that when both models
    ranked, only the one that reads the query's language speaks at full weight."""
    weights = dict(settings.weights)
    if "semantic" in rankings and "multilingual" in rankings:
        if mostly_english(query):
            weights["multilingual"] = settings.multilingual_weight_for_english
        else:
            weights["semantic"] = 0.0
    return weights


def fuse(
    rankings: Mapping[str, list[int]],
    settings: SearchSettings,
    limit: int | None = None,
    weights: Mapping[str, float] | None = None,
) -> list[tuple[int, float]]:
    """The `limit` (default: all) best (pk, score) by weighted reciprocal rank fusion
    (`weights` default to the settings')."""
    weights = settings.weights if weights is None else weights
    scores: dict[int, float] = {}
    for name, ranking in rankings.items():
        weight = weights.get(name, 1.0)
        for rank, pk in enumerate(ranking, start=1):
            scores[pk] = scores.get(pk, 0.0) + weight / (settings.rrf_k + rank)
    ordered = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return ordered if limit is None else ordered[:limit]


def order_by_evidence(
    fused: Sequence[tuple[int, float]], similarity: Mapping[int, float], bar: float
) -> tuple[list[tuple[int, float]], int]:
    """`fused` with the lessons whose similarity clears `bar` first, in fused order, then the
    rest by similarity; and how many cleared it.

    Rank fusion counts a place in every ranking, evidence or not: a lesson sharing one common
    word with the query, or read by a model that cannot read the query's language, gets votes
    that would outrank the lesson in another language that means the same. The calibrated
    similarity (kb.embedding.RELATED_SIMILARITY) says whether the meaning is there.
    """
    strong = [item for item in fused if similarity.get(item[0], -1.0) >= bar]
    weak = [item for item in fused if similarity.get(item[0], -1.0) < bar]
    weak.sort(key=lambda item: -similarity.get(item[0], -1.0))  # stable: fused order on ties
    return strong + weak, len(strong)


def found_by(pks: Sequence[int], rankings: Mapping[str, list[int]]) -> list[dict[str, int]]:
    """For each pk, the 1-based rank each kind of ranking gave it ("keyword", "semantic").

    A pk found by both keyword rankings (whole query and headline), or by several models,
    reports the better rank.
    """
    wanted = set(pks)
    best: dict[int, dict[str, int]] = {pk: {} for pk in pks}
    for name, ranking in rankings.items():
        kind = "keyword" if name in KEYWORD_RANKINGS else "semantic"
        for rank, pk in enumerate(ranking, start=1):
            if pk in wanted and rank < best[pk].get(kind, rank + 1):
                best[pk][kind] = rank
    return [best[pk] for pk in pks]


def sort_hits(hits: Sequence[SearchHit], sort: str) -> list[SearchHit]:
    """`hits` (best first) in `sort` order: "relevance" as they are, "date" newest first
    (undated last), "votes" most first; ties keep their relevance order."""
    if sort == "date":
        dated = sorted((h for h in hits if h.date), key=lambda h: h.date or "", reverse=True)
        return dated + [h for h in hits if not h.date]
    if sort == "votes":
        return sorted(hits, key=lambda h: -h.votes)
    return list(hits)
