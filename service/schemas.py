"""Request and response bodies, named by role (``PaperCreate`` in, ``PaperPublic`` out)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal, Self

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from recommender import identifiers
from recommender.catalog import Paper, parse_date
from service.settings import PAPER_ID_PATTERN, USER_ID_PATTERN

#: Most results one request may ask for (``k``).
MAX_K = 1000

PaperId = Annotated[str, StringConstraints(pattern=PAPER_ID_PATTERN)]
UserId = Annotated[str, StringConstraints(pattern=USER_ID_PATTERN)]
Text = Annotated[str, StringConstraints(max_length=100_000)]
ShortText = Annotated[str, StringConstraints(max_length=1000)]


def _day(value: object) -> date:
    # pydantic alone also reads numbers (and digit strings) as Unix times: "since=0" is 1970.
    return value if isinstance(value, date) else parse_date(value, "the day")


#: A day written ``YYYY-MM-DD`` and nothing else.
Day = Annotated[date, BeforeValidator(_day)]
#: An arXiv id and a DOI in any common spelling, kept in the library's normal form.
ArxivId = Annotated[
    str,
    StringConstraints(
        max_length=200,
        pattern=r"^(?:[Aa][Rr][Xx][Ii][Vv]:)?(?:[0-9]{4}\.[0-9]{4,5}"
        r"|[A-Za-z][A-Za-z-]*(?:\.[A-Za-z]{2})?/[0-9]{7})(?:v[0-9]+)?$",
    ),
    AfterValidator(identifiers.arxiv_id),
]
Doi = Annotated[
    str,
    StringConstraints(max_length=500, pattern=r"^(?:[Dd][Oo][Ii]:)?10\.[0-9]{4,9}/[!-~]+$"),
    AfterValidator(identifiers.doi),
]


class ErrorPublic(BaseModel):
    detail: str = Field(description="What went wrong and what to do about it.")


class PaperBase(BaseModel):
    paper_id: PaperId
    # Some character that is not white space, as Python's strip() sees it too (\x1c-\x1f).
    title: Annotated[
        str,
        StringConstraints(
            min_length=1, max_length=2000, strip_whitespace=True, pattern=r"[^\s\x1c-\x1f]"
        ),
    ]
    abstract: Text = ""
    authors: list[ShortText] = Field(default_factory=list, max_length=1000)
    year: int | None = Field(None, ge=0, le=9999)
    categories: list[ShortText] = Field(default_factory=list, max_length=100)
    url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    references: list[PaperId] = Field(
        default_factory=list,
        max_length=10_000,
        description="Ids of papers this one is linked to by citation (either direction); with "
        "PAPERREC_FEATURES including citations, they place the paper among related ones.",
    )
    published: Day | None = Field(
        None,
        description="The day the paper appeared (YYYY-MM-DD): what `since` on recommendations "
        "filters on. Sets `year` when that is absent.",
    )
    arxiv_id: ArxivId | None = Field(
        None,
        description="arXiv id (2101.00001, hep-th/9901001; 'arXiv:' and a version are "
        "accepted), stored without version: a library import matches by it.",
    )
    doi: Doi | None = Field(
        None,
        description="DOI (bare or after 'doi:'), stored in lower case: a library import "
        "matches by it.",
    )

    def to_paper(self) -> Paper:
        d = self.model_dump()
        d["published"] = None if self.published is None else self.published.isoformat()
        return Paper(**d)

    @classmethod
    def from_paper(cls, paper: Paper) -> Any:
        return cls(**paper.to_dict())


class PaperCreate(PaperBase):
    model_config = ConfigDict(extra="forbid")


class PaperPublic(PaperBase):
    pass


class PapersCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    papers: list[PaperCreate] = Field(min_length=1)


class PapersCreated(BaseModel):
    created: int
    updated: int


class ScoredPaper(BaseModel):
    paper_id: str
    title: str
    score: float
    published: date | None = Field(None, description="The day the paper appeared, if known.")

    @classmethod
    def of(cls, paper_id: str, score: float, paper: Paper | None, **extra: Any) -> Self:
        """The item of a ranked list: the paper's title and date (empty where the paper is no
        longer known) beside its score, and ``extra`` fields of a subclass."""
        return cls(
            paper_id=paper_id,
            title=paper.title if paper else "",
            score=score,
            published=paper.published_date if paper else None,
            **extra,
        )


class PaperList(BaseModel):
    items: list[ScoredPaper]


class Recommendation(ScoredPaper):
    because: list[str] = Field(description="Liked papers that most explain this suggestion.")


class RecommendationsPublic(BaseModel):
    user_id: str
    model_version: str
    items: list[Recommendation]


class FeedbackPublic(BaseModel):
    user_id: str
    paper_ids: list[str]


class FeedbackChanged(BaseModel):
    user_id: str
    paper_id: str
    created: bool = Field(description="False when it was already there (the PUT is idempotent).")


class TokenPublic(BaseModel):
    user_id: str
    token: str = Field(description="Bearer token; shown once, only its hash is stored.")


class RetrainPublic(BaseModel):
    job_id: str
    status: str
    requested_at: float
    finished_at: float | None = None
    model_version: str | None = None
    error: str | None = None


class HealthPublic(BaseModel):
    status: str
    redis: dict[str, Any]
    model: dict[str, Any]
    retrain: dict[str, Any] | None = None
    last_failed_retrain: dict[str, Any] | None = None
    last_failed_load: dict[str, Any] | None = Field(
        None,
        description="The last model bundle file that could not be loaded (the old model kept "
        "serving): path, error, time.",
    )


class LibraryMatchPublic(BaseModel):
    entry: str = Field(description="Where the entry is: 'line 12 (smith2020)' or 'entry key'.")
    paper_id: str
    by: Literal["arxiv", "doi", "title"] = Field(description="The key that matched.")


class LibraryNewPaper(BaseModel):
    entry: str
    paper_id: str = Field(description="The id the new paper got (its arXiv id, doi:..., ref:...).")


class LibrarySkipped(BaseModel):
    entry: str
    reason: str


class LibraryImportPublic(BaseModel):
    """What importing a library file did (or, with ``dry_run``, would do)."""

    model_config = ConfigDict(populate_by_name=True)

    user_id: str
    as_: Literal["like", "dislike"] = Field(alias="as")
    dry_run: bool
    file: str
    format: str = Field(description="The format the file was read as.")
    read: int = Field(description="Entries in the file, usable or not.")
    matched: int = Field(description="Entries found in the catalog.")
    matched_by: dict[str, int] = Field(description="Matched entries by key: arxiv, doi, title.")
    added: int = Field(description="Entries added to the catalog as new papers.")
    skipped: int
    matches: list[LibraryMatchPublic]
    new_papers: list[LibraryNewPaper]
    skipped_entries: list[LibrarySkipped]
    new_feedback: int = Field(description="Papers that became the user's likes (dislikes) now.")
    already: int = Field(description="Papers that already were.")
