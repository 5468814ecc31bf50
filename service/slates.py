"""How a list of recommendations is filled for a request: the exploring and diversifying policy
it asks for (``explore``, ``diversity``; the settings' defaults otherwise), less what the user's
impressions hide (:mod:`service.impressions`), and the list remembered as shown."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Query, Request

from recommender.exploration import Policy
from recommender.rules import Rules
from recommender.serving import Engine, Suggestion
from service.deps import UserFeedback
from service.impressions import Impressions, Seen
from service.settings import Settings

__all__ = ["Diversity", "Explore", "policy_of", "suggest"]

Explore = Annotated[
    float | None,
    Query(
        ge=0,
        le=2,
        description="How much to explore, 0-2: the prior width of in-slate Thompson sampling "
        "(each slot of the list takes the best paper under its own draw from the posterior of "
        "the user's taste, which narrows as likes and dislikes come in). 0: the ranker's own "
        'order. Explored papers (outside the ranker\'s own top k) carry `reason: "explore"`. '
        "Default: PAPERREC_EXPLORE.",
    ),
]
Diversity = Annotated[
    float | None,
    Query(
        ge=0,
        le=1,
        description="How varied the list is, 0-1: the weight of the penalty on papers like "
        "those already in it (maximal marginal relevance). 0: none. Default: PAPERREC_DIVERSITY.",
    ),
]


def policy_of(explore: float, diversity: float) -> Policy | None:
    """The slate policy of a request's ``explore`` and ``diversity``; ``None`` for neither (the
    ranker's own order, at today's cost)."""
    if explore <= 0 and diversity <= 0:
        return None
    if explore > 0:
        return Policy.thompson(explore, lam=1.0 - diversity)
    return Policy.mmr(1.0 - diversity)


async def suggest(
    request: Request,
    user: UserFeedback,
    engine: Engine,
    k: int,
    since: date | None,
    explore: float | None,
    diversity: float | None,
    *,
    rules: Rules | None = None,
    exclude: list[str] | None = None,
    collection: str = "",
) -> list[Suggestion]:
    """The user's list (the main one, or ``collection``'s when named: ``user.likes`` are then
    the collection's papers and ``exclude`` the rest of the user's likes): the policy asked
    for, without the papers their impressions hide, never that list's previous one again while
    others are left, the ``rules`` on top; remembered as shown."""
    settings: Settings = request.app.state.settings
    policy = policy_of(
        settings.explore if explore is None else explore,
        settings.diversity if diversity is None else diversity,
    )
    impressions: Impressions | None = getattr(request.app.state, "impressions", None)
    seen = await impressions.seen(user.user_id, collection) if impressions is not None else Seen()
    suggestions = engine.recommend(
        user.likes,
        user.dislikes,
        k,
        since=since,
        policy=policy,
        hide=seen.hidden(settings.impressions_max_shows),
        avoid=seen.previous,
        rules=rules,
        exclude=exclude or (),
    )
    if impressions is not None:
        await impressions.record(user.user_id, [s.paper_id for s in suggestions], collection)
    return suggestions
