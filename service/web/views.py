"""What a page shows of a paper: a card (title, authors, date, a short abstract, the user's
feedback on it) and, for a suggestion, why it is there (the liked papers that explain it, the
words it shares with them, whether it is new since the user's last visit)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from recommender.catalog import Paper

__all__ = ["Card", "Reason", "card", "shared_words", "short"]

#: Characters of an abstract a card shows (cut at a word).
ABSTRACT_CHARS = 280
_WORD = re.compile(r"[a-z][a-z0-9-]{3,}")


@dataclass(frozen=True)
class Reason:
    """A liked paper that explains a suggestion."""

    paper_id: str
    title: str


@dataclass(frozen=True)
class Card:
    paper_id: str
    title: str
    authors: str
    when: str
    abstract: str
    #: The user's feedback on the paper: "like", "dislike" or "" (none).
    state: str = ""
    because: list[Reason] = field(default_factory=list)
    words: list[str] = field(default_factory=list)
    new: bool = False


def short(text: str, limit: int = ABSTRACT_CHARS) -> str:
    """``text`` cut at a word before ``limit`` characters, with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.")
    return cut + " …"


def _authors(paper: Paper) -> str:
    names = list(paper.authors)
    if len(names) > 4:
        return ", ".join(names[:3]) + f" and {len(names) - 3} more"
    return ", ".join(names)


def published_day(paper: Paper) -> date | None:
    return date.fromisoformat(paper.published) if paper.published else None


def _when(paper: Paper) -> str:
    if paper.published:
        return paper.published
    return str(paper.year) if paper.year else ""


def _words(paper: Paper) -> Counter[str]:
    text = f"{paper.title} {paper.abstract}".lower()
    return Counter(w for w in _WORD.findall(text) if w not in ENGLISH_STOP_WORDS)


def shared_words(paper: Paper, liked: Iterable[Paper], n: int = 5) -> list[str]:
    """Up to ``n`` words of ``paper``'s title and abstract that the ``liked`` papers also use,
    the most frequent in ``paper`` first (stop words and words under four letters aside)."""
    theirs: set[str] = set()
    for p in liked:
        theirs.update(_words(p))
    mine = _words(paper)
    common = [w for w, _ in sorted(mine.items(), key=lambda wc: (-wc[1], wc[0])) if w in theirs]
    return common[:n]


def card(
    paper: Paper,
    *,
    likes: frozenset[str] = frozenset(),
    dislikes: frozenset[str] = frozenset(),
    because: Iterable[str] = (),
    papers: Mapping[str, Paper] | None = None,
    new_since: date | None = None,
) -> Card:
    """The card of ``paper``; ``because`` (liked paper ids) are looked up in ``papers``."""
    state = "like" if paper.paper_id in likes else "dislike" if paper.paper_id in dislikes else ""
    liked = [papers[b] for b in because if papers is not None and b in papers]
    day = published_day(paper)
    return Card(
        paper_id=paper.paper_id,
        title=paper.title,
        authors=_authors(paper),
        when=_when(paper),
        abstract=short(paper.abstract),
        state=state,
        because=[Reason(p.paper_id, p.title) for p in liked],
        words=shared_words(paper, liked) if liked else [],
        new=new_since is not None and day is not None and day >= new_since,
    )
