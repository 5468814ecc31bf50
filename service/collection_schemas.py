"""Bodies of the collection, rule, feed and digest routes (beside :mod:`service.schemas`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from recommender.rules import MAX_RULE_ITEMS
from service.collections import NAME_PATTERN
from service.schemas import NOT_BLANK, Recommendation

CollectionName = Annotated[
    str,
    Path(
        pattern=NAME_PATTERN,
        description="1-64 letters, digits and . _ -, starting with a letter or digit.",
        examples=["thesis"],
    ),
]
_Item = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=NOT_BLANK)]


class RulesBody(BaseModel):
    """What a researcher wants in and out of a list (recommender.rules.Rules)."""

    model_config = ConfigDict(extra="forbid")
    follow_authors: list[_Item] = Field(
        default_factory=list,
        max_length=MAX_RULE_ITEMS,
        description="Their papers come first, with the reason 'followed author X'; matched on "
        "the family name's last word and the first initial ('Hinton, G.' = 'Geoffrey Hinton').",
    )
    mute_words: list[_Item] = Field(
        default_factory=list,
        max_length=MAX_RULE_ITEMS,
        description="Papers whose title or abstract holds one of these words or phrases (whole "
        "words, case and accents aside) are left out.",
    )
    include_categories: list[_Item] = Field(
        default_factory=list,
        max_length=MAX_RULE_ITEMS,
        description="When given, only papers in one of these categories ('cs' = 'cs.*').",
    )
    exclude_categories: list[_Item] = Field(
        default_factory=list,
        max_length=MAX_RULE_ITEMS,
        description="No paper in any of these categories.",
    )
    min_year: int | None = Field(
        None, ge=0, le=9999, description="Only papers of this year or later (none without one)."
    )


class RulesPublic(RulesBody):
    user_id: str
    collection: str | None = Field(None, description="None: the user's own rules.")


class CollectionInfoPublic(BaseModel):
    name: str
    size: int = Field(description="Papers in it.")
    created_at: float | None = Field(None, description="Unix time.")


class CollectionList(BaseModel):
    user_id: str
    collections: list[CollectionInfoPublic]


class CollectionPublic(BaseModel):
    user_id: str
    name: str
    paper_ids: list[str]
    created: bool = Field(False, description="True when this request created it.")


class CollectionPaperChanged(BaseModel):
    user_id: str
    collection: str
    paper_id: str
    created: bool = Field(description="False when it was in the collection already.")
    liked: bool = Field(description="True when this request also made it a like.")


class CollectionRecommendations(BaseModel):
    user_id: str
    collection: str
    model_version: str
    rules: RulesBody = Field(description="The rules applied: the user's with the collection's.")
    items: list[Recommendation]


class FeedTokenCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    collection: str | None = Field(
        None, pattern=NAME_PATTERN, description="The collection's feed; none: the user's own."
    )
    expires_in_s: int | None = Field(
        None, ge=60, le=10 * 365 * 86400, description="Seconds it works; none: until revoked."
    )


class FeedTokenPublic(BaseModel):
    user_id: str
    collection: str | None
    token: str = Field(description="The feed token; shown once. It reads this feed only.")
    token_id: str = Field(description="Revoke with DELETE /users/{user_id}/tokens/{token_id}.")
    expires_at: float | None
    feed_url: str = Field(description="The URL to give a feed reader (the token is in it).")


#: An address: no whitespace or control character, none of @<>,;" but the one @, a dot in the
#: domain. Spelled out rather than with ``\s``, which Python's re (used by the API's fuzz tests
#: to make examples) and pydantic-core's regex read differently (``\x1c``-``\x1f``).
_BAD = r'@<>,;"\x00-\x20\x7f'
_EMAIL = rf"^[^{_BAD}]+@[^{_BAD}]+\.[^{_BAD}]+$"


class DigestSubscribe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Annotated[
        str,
        StringConstraints(max_length=254, pattern=_EMAIL),
    ] = Field(description="Where the digest goes.")
    collections: list[Annotated[str, StringConstraints(pattern=NAME_PATTERN)]] | None = Field(
        None,
        max_length=100,
        description="The collections it covers, each a section; none: the main list and every "
        "collection.",
    )


class DigestPublic(BaseModel):
    user_id: str
    subscribed: bool
    email: str | None = None
    collections: list[str] | None = None
    last_sent_at: float | None = Field(None, description="Unix time of the last digest sent.")
