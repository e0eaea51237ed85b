"""Recognise retrospective section headings (and Parabol prompts) in English and Chinese."""

from __future__ import annotations

import re

# Checked in order: the first kind with a matching phrase wins. "didn't go well" must be tried
# before "go well", and "改进措施" (action) before "改进" (needs improvement).
_SECTION_PHRASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "action",
        (
            "action item",
            "actions",
            "action plan",
            "next step",
            "follow-up",
            "follow up",
            "followup",
            "remediation",
            "corrective",
            "preventive",
            "to do",
            "todo",
            "行动项",
            "行动",
            "改进措施",
            "措施",
            "后续",
            "待办",
            "跟进",
        ),
    ),
    (
        "lesson",
        (
            "lessons learned",
            "lessons learnt",
            "lesson",
            "learnings",
            "takeaway",
            "经验教训",
            "教训",
            "经验",
            "启示",
        ),
    ),
    ("root_cause", ("root cause", "cause", "why it happened", "根本原因", "根因", "原因")),
    ("risk", ("risk", "风险", "隐患")),
    (
        "went_wrong",
        (
            "went wrong",
            "go wrong",
            "didn't go well",
            "did not go well",
            "didnt go well",
            "could be improved",
            "could have gone better",
            "needs improvement",
            "to improve",
            "improve",
            "problem",
            "issues",
            "challenges",
            "what hurt",
            "pain point",
            "less well",
            "stop doing",
            "puzzles",
            "问题",
            "需要改进",
            "待改进",
            "不足",
            "做得不好",
            "痛点",
        ),
    ),
    (
        "went_well",
        (
            "went well",
            "go well",
            "worked well",
            "what we did well",
            "did well",
            "good",
            "successes",
            "wins",
            "keep doing",
            "glad",
            "做得好",
            "做得好的",
            "亮点",
            "好的方面",
            "值得保持",
            "成功",
        ),
    ),
)

_NOISE = re.compile(r"[\s\d.:：、()（）\[\]【】#*_`~!?？！-]+")


def section_kind(heading: str) -> str | None:
    """The lesson kind a heading or prompt announces, or None when it is not a retro section."""
    normalised = " " + _NOISE.sub(" ", heading.lower().replace("’", "'")).strip() + " "
    for kind, phrases in _SECTION_PHRASES:
        for phrase in phrases:
            if phrase.isascii():
                if re.search(rf"(?<![a-z]){re.escape(phrase)}", normalised):
                    return kind
            elif phrase in normalised:
                return kind
    return None
