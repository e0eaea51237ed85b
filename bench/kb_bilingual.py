"""Lessons across English and Chinese, and relevance on data the tuning never saw.

Data: `bench/data/bilingual.yaml` (32 lessons, 48 question -> lesson pairs in four directions,
24 unrelated issues), split into "tune" and "test" halves, and GitBugs Hadoop (English duplicate
bug reports; tuning half = even-numbered queries, held-out half = odd-numbered ones).

Every tuning choice is made on tuning data only and reported on the rest:
1. Fusion (the multilingual ranking's weight on English queries, keyword weight, RRF k): the
   best on GitBugs' tuning half among the settings that keep the fixture tune split's
   cross-language R@3 at the target.
2. Suggestion threshold (cosine similarity): the lowest at which no unrelated tune-split issue
   would get a comment, plus a margin; reported on the test split and on GitBugs.
Then prints cross-language R@3 (target >= 0.8), the share of unrelated issues that would get a
suggestion comment (target 0) and GitBugs R@5/R@10 on the held-out half (targets >= 0.794 /
0.825), each through the real search and suggestion code. HINDSIGHT_EMBED_MODEL picks the model
(default: the shipped one), so any model can be calibrated the same way.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from bench.kb_common import GitBugs, load_gitbugs
from bench.kb_quality import found_ranks, gitbugs_store, recalls
from kb import LessonStore
from kb.embedding import Embedder, load_embedder, related_similarity
from kb.search import SearchSettings
from plugin.jira.port import Issue, IssueType, Status
from plugin.lessons.config import LessonsSettings
from plugin.lessons.index import KbLessonIndex
from plugin.lessons.journal import SQLiteLessonsJournal
from plugin.lessons.signing import FeedbackSigner
from plugin.lessons.suggest import Suggester

FIXTURE = Path(__file__).resolve().parent / "data" / "bilingual.yaml"
TOP = 3  # R@3: the lesson is among the first three results
TARGET_CROSS = 0.8  # cross-language R@3 the fusion must keep on the tune split
LANGUAGES = ("en", "zh")
# Fusion candidates: the shipped settings and one change at a time from them: the multilingual
# ranking's weight on English queries, the keyword rankings' weight halved, RRF k at its
# customary 60.
# The calibrated threshold sits this far above the most similar unrelated tuning issue: the
# test split and other corpora hold texts the tuning split did not, a little more similar.
MARGIN = 0.03


@dataclass(frozen=True)
class Question:
    text: str
    lang: str
    lesson: str
    lesson_lang: str
    split: str

    @property
    def direction(self) -> str:
        return f"{self.lang.upper()}->{self.lesson_lang.upper()}"

    @property
    def cross_language(self) -> bool:
        return self.lang != self.lesson_lang


@dataclass(frozen=True)
class Unrelated:
    text: str
    lang: str
    split: str


@dataclass(frozen=True)
class Fixture:
    lessons: list[dict[str, Any]]
    questions: list[Question]
    unrelated: list[Unrelated]

    def split(self, name: str) -> tuple[list[Question], list[Unrelated]]:
        return (
            [q for q in self.questions if q.split == name],
            [u for u in self.unrelated if u.split == name],
        )


def load_fixture(path: Path = FIXTURE) -> Fixture:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    lang_of = {lesson["id"]: lesson["lang"] for lesson in data["lessons"]}
    questions = [
        Question(q["text"], q["lang"], q["lesson"], lang_of[q["lesson"]], q["split"])
        for q in data["questions"]
    ]
    unrelated = [Unrelated(u["text"], u["lang"], u["split"]) for u in data["unrelated"]]
    return Fixture(data["lessons"], questions, unrelated)


def fixture_store(fixture: Fixture, embedder: Embedder, folder: Path) -> LessonStore:
    corpus = folder / "bilingual-lessons.jsonl"
    corpus.write_text(
        "".join(
            json.dumps(
                {"id": item["id"], "title": item["title"], "text": item["text"]},
                ensure_ascii=False,
            )
            + "\n"
            for item in fixture.lessons
        ),
        encoding="utf-8",
    )
    store = LessonStore(folder / "bilingual.db", embedder)
    report = store.ingest_paths([corpus])
    if report.errors:
        raise RuntimeError(f"the fixture did not ingest: {report.summary()}")
    return store


def recall_at(store: LessonStore, questions: Iterable[Question]) -> dict[str, list[bool]]:
    """Per direction, whether each question's lesson is in the first `TOP` hybrid results."""
    found: dict[str, list[bool]] = {}
    for question in questions:
        hits = store.search(question.text, limit=TOP, mode="hybrid")
        found.setdefault(question.direction, []).append(question.lesson in {hit.id for hit in hits})
    return found


def share(values: Iterable[bool]) -> float:
    values = list(values)
    return sum(values) / len(values) if values else math.nan


def cross(found: dict[str, list[bool]]) -> list[bool]:
    """The cross-language questions' outcomes (EN->ZH and ZH->EN)."""
    return [ok for direction in ("EN->ZH", "ZH->EN") for ok in found.get(direction, [])]


def every(found: dict[str, list[bool]]) -> list[bool]:
    return [ok for oks in found.values() for ok in oks]


def issue(key: str, text: str) -> Issue:
    """An issue whose summary is the text's first line and description the rest."""
    summary, _, description = text.partition("\n")
    return Issue(
        key=key,
        id=key,
        project="BENCH",
        issuetype=IssueType("1", "Task"),
        status=Status("1", "Open", "new"),
        summary=summary,
        description=description,
    )


class SuggestionProbe:
    """The real `Suggester` over the store, at a given threshold."""

    def __init__(self, store: LessonStore) -> None:
        self.index = KbLessonIndex(store)
        self.journal = SQLiteLessonsJournal(":memory:")
        self.signer = FeedbackSigner("bench")

    def suggested(self, text: str, threshold: float, *, exclude: frozenset[str] = frozenset()):
        policy = LessonsSettings(threshold=threshold, limit=3)
        suggester = Suggester(self.index, self.journal, policy, self.signer, base_url="http://b")
        return [s.hit.id for s in suggester.rank(issue("BENCH-1", text), exclude=exclude)]

    def top_similarity(self, text: str) -> float:
        """The highest similarity any lesson reaches for this text (what a threshold must beat)."""
        hits = self.index.search(text, limit=30)
        return max((hit.similarity or 0.0 for hit in hits), default=0.0)


def tune_fusion(
    store: LessonStore, fixture: Fixture, gitbugs: GitBugs | None, gb_store: LessonStore | None
) -> SearchSettings:
    """The fusion settings that do best on GitBugs' tuning half (R@5 + R@10) among those whose
    cross-language R@3 on the fixture's tune split meets the target (0.8).

    GitBugs is real text and ranks finely; the small fixture is a floor, not a score to
    maximise. Ties keep the earlier candidate, and the shipped settings come first.
    """
    tune_questions, _ = fixture.split("tune")
    print(
        "fusion, chosen on tuning data (best GitBugs tuning half R@5 + R@10 among the settings "
        f"keeping the fixture tune split's cross-language R@3 >= {TARGET_CROSS}):"
    )
    shipped = SearchSettings()
    keyword_halved = {
        name: weight / 2 if name in ("keyword", "headline") else weight
        for name, weight in shipped.weights.items()
    }
    candidates = [
        shipped,
        *(replace(shipped, multilingual_weight_for_english=weight) for weight in (0.25, 0.5, 1.0)),
        replace(shipped, weights=keyword_halved),
        replace(shipped, rrf_k=60),
    ]
    best: tuple[float, SearchSettings] | None = None
    for settings in candidates:
        store.settings = settings
        found = recall_at(store, tune_questions)
        crossing = share(cross(found))
        score = crossing if crossing < TARGET_CROSS else 1.0  # a floor: past it, no more credit
        line = (
            f"  {describe(settings)}: fixture cross-language R@3 {crossing:.3f}, "
            f"all {share(every(found)):.3f}"
        )
        if gitbugs is not None and gb_store is not None:
            gb = recalls(found_ranks(gb_store, gitbugs, gitbugs.tuning, "hybrid", settings))
            score += gb[5] + gb[10]
            line += f"; GitBugs R@5 {gb[5]:.3f} R@10 {gb[10]:.3f}"
        print(line, flush=True)
        if best is None or score > best[0] + 1e-9:
            best = (score, settings)
    assert best is not None
    print(f"  -> chosen: {describe(best[1])}; shipped: {describe(shipped)}")
    return best[1]


def describe(settings: SearchSettings) -> str:
    weights = settings.weights
    return (
        f"k {settings.rrf_k:2d}, keyword weight {weights['keyword']:.1f}, multilingual weight "
        f"on English queries {settings.multilingual_weight_for_english:.2f}"
    )


def calibrate(probe: SuggestionProbe, fixture: Fixture) -> float:
    """The lowest threshold at which no unrelated tune-split issue gets a comment, plus MARGIN."""
    tune_questions, tune_unrelated = fixture.split("tune")
    worst = max(probe.top_similarity(u.text) for u in tune_unrelated)
    related = sorted(probe.top_similarity(q.text) for q in tune_questions)
    threshold = round(worst + MARGIN, 2)
    print(
        "suggestion threshold, chosen on the tune split: most similar unrelated issue "
        f"{worst:.3f}; related questions' best similarity min {related[0]:.3f}, "
        f"median {related[len(related) // 2]:.3f} -> threshold {threshold:.2f} "
        f"(+{MARGIN} margin)"
    )
    return threshold


def report_split(
    name: str, store: LessonStore, probe: SuggestionProbe, fixture: Fixture, threshold: float
) -> None:
    questions, unrelated = fixture.split(name)
    found = recall_at(store, questions)
    directions = ", ".join(
        f"{direction} {sum(oks)}/{len(oks)}" for direction, oks in sorted(found.items())
    )
    print(
        f"  {name:4s} split: cross-language R@3 {share(cross(found)):.3f} (target >= 0.8); "
        f"all R@3 {share(every(found)):.3f} ({directions})"
    )
    commented = {lang: 0 for lang in LANGUAGES}
    for item in unrelated:
        commented[item.lang] += bool(probe.suggested(item.text, threshold))
    total = sum(commented.values())
    per_lang = ", ".join(
        f"{lang} {commented[lang]}/{sum(u.lang == lang for u in unrelated)}" for lang in LANGUAGES
    )
    suggested = [q.lesson in probe.suggested(q.text, threshold) for q in questions]
    crossing = share(s for s, q in zip(suggested, questions, strict=True) if q.cross_language)
    print(
        f"             unrelated issues that would get a comment: {total}/{len(unrelated)} = "
        f"{total / len(unrelated):.3f} ({per_lang}; target 0); questions whose lesson would be "
        f"suggested: {sum(suggested)}/{len(suggested)} "
        f"(cross-language {crossing:.3f})"
    )


def report_gitbugs(gitbugs: GitBugs, gb_store: LessonStore, threshold: float) -> None:
    held_out = recalls(found_ranks(gb_store, gitbugs, gitbugs.held_out, "hybrid"))
    tuning = recalls(found_ranks(gb_store, gitbugs, gitbugs.tuning, "hybrid"))
    print(
        f"  GitBugs Hadoop hybrid, held-out half: R@5 {held_out[5]:.3f} R@10 {held_out[10]:.3f} "
        f"(targets >= 0.794 / 0.825); tuning half: R@5 {tuning[5]:.3f} R@10 {tuning[10]:.3f}"
    )
    probe = SuggestionProbe(gb_store)
    for half, pairs in (("tuning", gitbugs.tuning), ("held-out", gitbugs.held_out)):
        commented = found = 0
        for query_id, duplicates in pairs:
            row = gitbugs.bugs[query_id]
            ids = probe.suggested(
                f"{row['Summary']}\n{row['Description']}", threshold, exclude=frozenset({query_id})
            )
            commented += bool(ids)
            found += bool(set(ids) & duplicates)
        print(
            f"  GitBugs {half} half at threshold {threshold:.2f}: {commented}/{len(pairs)} new "
            f"reports get a comment, {found}/{len(pairs)} with their known duplicate in it"
        )


def main() -> int:
    fixture = load_fixture()
    embedder = load_embedder(os.environ.get("HINDSIGHT_EMBED_MODEL") or None)
    shipped = related_similarity(embedder.name)
    print(
        f"fixture: {len(fixture.lessons)} lessons, {len(fixture.questions)} questions, "
        f"{len(fixture.unrelated)} unrelated issues; model {embedder.name}"
    )
    gitbugs = load_gitbugs()
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        store = fixture_store(fixture, embedder, Path(scratch))
        gb_store = gitbugs_store(gitbugs, embedder) if gitbugs is not None else None
        probe = SuggestionProbe(store)
        threshold = calibrate(probe, fixture)
        print(f"  shipped threshold for {embedder.name}: {shipped:.2f}")
        tune_fusion(store, fixture, gitbugs, gb_store)
        store.settings = SearchSettings()
        print(
            f"results with the shipped settings ({describe(store.settings)}; threshold "
            f"{shipped:.2f}). tune: what the choices saw; test: what they did not:"
        )
        for name in ("tune", "test"):
            report_split(name, store, probe, fixture, shipped)
        if gitbugs is not None and gb_store is not None:
            gb_store.settings = SearchSettings()
            report_gitbugs(gitbugs, gb_store, shipped)
            gb_store.close()
        store.close()
        print(f"(took {time.perf_counter() - started:.0f} s; calibrated here {threshold:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
