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
    WithJsonSchema,
)

from recommender import identifiers
from recommender.catalog import (
    MAX_ID_LENGTH,
    PAPER_ID_PATTERN,
    USER_ID_PATTERN,
    Paper,
    check_paper_id,
    check_user_id,
    parse_date,
)

#: Most results one request may ask for (``k``).
MAX_K = 1000

#: The id rule's schema for the OpenAPI document: the library's pattern is the whole rule
#: (written without look-ahead for that), so clients and fuzzers see what the API accepts.
PAPER_ID_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": PAPER_ID_PATTERN,
}
USER_ID_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_ID_LENGTH,
    "pattern": USER_ID_PATTERN,
}
# Validated by the library's one rule (its messages say why an id is refused).
PaperId = Annotated[str, AfterValidator(check_paper_id), WithJsonSchema(PAPER_ID_SCHEMA)]
UserId = Annotated[str, AfterValidator(check_user_id), WithJsonSchema(USER_ID_SCHEMA)]
#: Some character that is not blank (``str.isspace``), for the OpenAPI document too; escapes that
#: pydantic's regex engine, Python's and JSON Schema's all read.
NOT_BLANK = r"[^\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# Checked before it is stripped, so that the document's limits hold for what is sent.
Title = Annotated[
    str, StringConstraints(max_length=2000, pattern=NOT_BLANK), AfterValidator(str.strip)
]
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
    title: Title
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
    reason: str | None = Field(
        None,
        description="Why it is here beside the ranking: 'followed author X' (a rule put it "
        "first), or 'explore' (put in the list by exploration or diversity, `explore`, "
        "`diversity`, outside the ranker's own top k; a front end can label it). Else null.",
    )


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


class TokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: Literal["user", "feed:read"] = Field(
        "user",
        description="'user': the user's likes, dislikes, recommendations and tokens; "
        "'feed:read': reading a feed and nothing else.",
    )
    expires_in_s: int | None = Field(
        None,
        ge=60,
        le=10 * 365 * 86400,
        description="Seconds until the token stops working (60 s to 10 years); none: until "
        "revoked.",
    )


class TokenInfo(BaseModel):
    token_id: str = Field(description="Names the token in listings and DELETE; not a secret.")
    scope: str
    created_at: float | None = Field(None, description="Unix time; none for older tokens.")
    expires_at: float | None = Field(None, description="Unix time; none: until revoked.")
    feed: str | None = Field(
        None, description="A feed token's feed: '' the user's own, else a collection's name."
    )


class TokenPublic(TokenInfo):
    user_id: str
    token: str = Field(description="Bearer token; shown once, only its hash is stored.")


class TokenList(BaseModel):
    user_id: str
    tokens: list[TokenInfo]


class RetrainPublic(BaseModel):
    job_id: str
    status: str
    requested_at: float
    finished_at: float | None = None
    model_version: str | None = None
    error: str | None = None


class HealthPublic(BaseModel):
    status: Literal["ok", "stale", "degraded", "unavailable"] = Field(
        description="ok; stale: the model has not seen much of the feedback (retrain); "
        "degraded: no model yet; unavailable: Redis does not answer (503)."
    )
    redis: dict[str, Any] = Field(description="ok; with the admin token: details.")
    model: dict[str, Any] = Field(
        description="status, version, trained_at, age_s, stale; with the admin token also the "
        "papers, the feedback it was trained on and the changes it has not seen."
    )
    retrain: dict[str, Any] | None = Field(
        default=None, description="Admin only: the last retrain."
    )
    last_failed_retrain: dict[str, Any] | None = Field(default=None, description="Admin only.")
    last_failed_load: dict[str, Any] | None = Field(
        default=None,
        description="Admin only: the last model bundle file that could not be loaded (the old "
        "model kept serving): path, error, time.",
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
    collection: str | None = Field(None, description="The collection the likes also went in.")
