"""Rules a researcher sets on their list, applied on top of any model's ranking: written once.

A :class:`Rules` says which papers a list may hold and which rise to its top:

* ``follow_authors``: papers by these authors (matched by :func:`recommender.identifiers.author_key`,
  so ``"Hinton, G."`` follows ``"Geoffrey Hinton"``) come first, in the model's order among
  themselves, each with the reason ``"followed author <name>"``; with a ``since`` (a feed) these
  are the authors' new papers;
* ``mute_words``: papers whose title or abstract holds one of these words or phrases (case,
  accents and punctuation aside, whole words only) are left out;
* ``include_categories``: when given, only papers in one of them; ``exclude_categories``: none in
  any of them. A category matches itself and the categories below it (``cs`` matches ``cs.LG``),
  case aside;
* ``min_year``: only papers of that year or later (papers without a year are left out).

The rules never change a paper's score: the model ranks, the rules filter and promote. The
ranking itself is the caller's (``recommend(k, candidates)``, a model's top-``k`` among candidate
rows), so every model and every route gets the same rules.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from recommender.catalog import Paper
from recommender.identifiers import author_key, title_key

__all__ = ["MAX_RULE_ITEMS", "RankedRow", "RuleIndex", "Rules", "rank_with_rules"]

#: Most entries one rule list may hold (a bound on what a request stores and checks).
MAX_RULE_ITEMS = 200
_MAX_ITEM_LENGTH = 200

_LISTS = ("follow_authors", "mute_words", "include_categories", "exclude_categories")


@dataclass(frozen=True)
class Rules:
    """What a researcher wants in (and out of) a list; see the module's docstring."""

    follow_authors: tuple[str, ...] = ()
    mute_words: tuple[str, ...] = ()
    include_categories: tuple[str, ...] = ()
    exclude_categories: tuple[str, ...] = ()
    min_year: int | None = None

    def __post_init__(self) -> None:
        for name in _LISTS:
            values = getattr(self, name)
            if isinstance(values, str) or not isinstance(values, Iterable):
                raise ValueError(f"{name}: a list of strings, not {values!r}")
            object.__setattr__(self, name, tuple(dict.fromkeys(_clean(name, v) for v in values)))
        if self.min_year is not None and (
            isinstance(self.min_year, bool)
            or not isinstance(self.min_year, int)
            or not 0 <= self.min_year <= 9999
        ):
            raise ValueError(f"min_year: a year from 0 to 9999, not {self.min_year!r}")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rules:
        """Rules from their JSON form; ``ValueError`` naming the field for anything else."""
        if not isinstance(d, Mapping):
            raise ValueError(f"rules are a JSON object, not {type(d).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown rule {unknown[0]!r}; known: {', '.join(sorted(known))}")
        values: dict[str, Any] = {
            k: tuple(v) if k in _LISTS and isinstance(v, list) else v for k, v in d.items()
        }
        rules = cls(**values)
        for name in _LISTS:  # a bound on what one stored set of rules holds (their union, of
            n = len(getattr(rules, name))  # a user's and a collection's, may hold twice that)
            if n > MAX_RULE_ITEMS:
                raise ValueError(f"{name}: at most {MAX_RULE_ITEMS} entries, not {n}")
        return rules

    def to_dict(self) -> dict[str, Any]:
        return {
            "follow_authors": list(self.follow_authors),
            "mute_words": list(self.mute_words),
            "include_categories": list(self.include_categories),
            "exclude_categories": list(self.exclude_categories),
            "min_year": self.min_year,
        }

    def __bool__(self) -> bool:
        return self.min_year is not None or any(getattr(self, n) for n in _LISTS)

    def then(self, narrower: Rules) -> Rules:
        """These rules (a user's) with ``narrower`` ones (a collection's) on top: authors
        followed, words muted and categories excluded by either; the collection's included
        categories when it names any (else the user's); the later of the two minimum years."""
        years = [y for y in (self.min_year, narrower.min_year) if y is not None]
        return Rules(
            follow_authors=self.follow_authors + narrower.follow_authors,
            mute_words=self.mute_words + narrower.mute_words,
            include_categories=narrower.include_categories or self.include_categories,
            exclude_categories=self.exclude_categories + narrower.exclude_categories,
            min_year=max(years) if years else None,
        )


def _clean(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name}: entries are strings, not {value!r}")
    text = " ".join(value.split())
    if not text or len(text) > _MAX_ITEM_LENGTH:
        raise ValueError(f"{name}: entries are 1-{_MAX_ITEM_LENGTH} characters, not {value!r}")
    return text


def _category_keys(category: str) -> list[str]:
    """What a paper's category is found by: itself and each archive above it (``cs.lg``,
    ``cs``), case aside."""
    c = category.strip().casefold()
    parts = c.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))] if c else []


@dataclass
class RuleIndex:
    """What the rules look papers up by, for one catalog's rows (built once per catalog)."""

    #: Each row's year (0 where unknown).
    years: np.ndarray
    #: Category key (:func:`_category_keys`) -> rows, and author key -> rows.
    categories: dict[str, np.ndarray]
    authors: dict[str, np.ndarray]
    #: Each row's paper (for the muted words, read for the rows a list would show only).
    papers: Sequence[Paper | None]
    _texts: dict[int, str] = field(default_factory=dict)

    @classmethod
    def build(cls, papers: Sequence[Paper | None]) -> RuleIndex:
        """The index of ``papers``, one per row (``None``: a row with no paper any more)."""
        years = np.zeros(len(papers), dtype=np.int32)
        cats: dict[str, list[int]] = {}
        authors: dict[str, list[int]] = {}
        for row, p in enumerate(papers):
            if p is None:
                continue
            years[row] = p.year or 0
            for c in p.categories:
                for key in _category_keys(c):
                    cats.setdefault(key, []).append(row)
            for a in p.authors:
                if key := author_key(a):
                    authors.setdefault(key, []).append(row)

        def arrays(d: dict[str, list[int]]) -> dict[str, np.ndarray]:
            return {k: np.unique(np.asarray(v, dtype=np.int64)) for k, v in d.items()}

        return cls(years, arrays(cats), arrays(authors), papers)

    def allowed(self, rules: Rules, candidates: np.ndarray | None) -> np.ndarray | None:
        """The rows of ``candidates`` (None: all rows) that the rules let a list hold; None
        when that is every row."""
        if not (rules.min_year is not None or rules.include_categories or rules.exclude_categories):
            return candidates
        n = self.years.size
        if candidates is None:
            mask = np.ones(n, dtype=bool)
        else:
            mask = np.zeros(n, dtype=bool)
            mask[candidates[(candidates >= 0) & (candidates < n)]] = True
        if rules.min_year is not None:
            mask &= self.years >= rules.min_year
        if rules.include_categories:
            inside = np.zeros(n, dtype=bool)
            for c in rules.include_categories:
                inside[self._category_rows(c)] = True
            mask &= inside
        for c in rules.exclude_categories:
            mask[self._category_rows(c)] = False
        return np.flatnonzero(mask)

    def _category_rows(self, category: str) -> np.ndarray:
        keys = _category_keys(category)
        return self.categories.get(keys[-1], _NONE) if keys else _NONE

    def followed(self, rules: Rules) -> dict[int, str]:
        """Row -> the followed author (as the rule names them) of each paper by one."""
        by: dict[int, str] = {}
        for name in rules.follow_authors:
            for row in self.authors.get(author_key(name), _NONE).tolist():
                by.setdefault(row, name)
        return by

    def muted(self, rules: Rules, row: int) -> bool:
        """Whether the paper of ``row`` holds a muted word or phrase (whole words)."""
        if not rules.mute_words:
            return False
        text = self._texts.get(row)
        if text is None:
            p = self.papers[row] if row < len(self.papers) else None
            text = f" {title_key(p.text)} " if p is not None else " "
            self._texts[row] = text  # a benign race: any thread writes the same text
        return any(f" {title_key(w)} " in text for w in rules.mute_words)


_NONE = np.empty(0, dtype=np.int64)


@dataclass(frozen=True)
class RankedRow:
    row: int
    score: float
    #: Why a rule put it there (``"followed author X"``); None: the model's ranking alone.
    reason: str | None = None


#: A model's top-``k`` ``(rows, scores)`` among candidate rows (None: all), the user's own
#: exclusions already applied.
Recommend = Callable[[int, np.ndarray | None], tuple[np.ndarray, np.ndarray]]


def rank_with_rules(
    recommend: Recommend,
    index: RuleIndex,
    rules: Rules,
    k: int,
    candidates: np.ndarray | None = None,
) -> list[RankedRow]:
    """The top-``k`` of ``recommend`` among ``candidates`` under ``rules``: papers by followed
    authors first (each in the model's order), then the others, none that a rule leaves out."""
    if not rules:
        rows, scores = recommend(k, candidates)
        return [RankedRow(int(r), float(s)) for r, s in zip(rows, scores, strict=True)]
    allowed = index.allowed(rules, candidates)
    followed = index.followed(rules)
    out: list[RankedRow] = []
    if followed:
        rows = np.fromiter(followed, dtype=np.int64, count=len(followed))
        if allowed is not None:
            rows = rows[np.isin(rows, allowed)]
        for r, s in _take(recommend, index, rules, k, np.sort(rows)):
            out.append(RankedRow(r, s, f"followed author {followed[r]}"))
        if allowed is None:
            keep = np.ones(index.years.size, dtype=bool)
        else:
            keep = np.zeros(index.years.size, dtype=bool)
            keep[allowed] = True
        keep[np.fromiter(followed, dtype=np.int64, count=len(followed))] = False
        allowed = np.flatnonzero(keep)
    if len(out) < k:
        out += [RankedRow(r, s) for r, s in _take(recommend, index, rules, k - len(out), allowed)]
    return out


def _take(
    recommend: Recommend,
    index: RuleIndex,
    rules: Rules,
    k: int,
    candidates: np.ndarray | None,
) -> list[tuple[int, float]]:
    """The best ``k`` of ``recommend`` among ``candidates`` without muted papers: asks for more
    (four times as many each round) while muted ones push the list below ``k``."""
    if candidates is not None and candidates.size == 0:
        return []
    n = k
    while True:
        rows, scores = recommend(n, candidates)
        kept = [
            (int(r), float(s))
            for r, s in zip(rows.tolist(), scores.tolist(), strict=True)
            if not index.muted(rules, int(r))
        ]
        if len(kept) >= k or len(rows) < n:
            return kept[:k]
        n *= 4
