"""Every Redis key the service uses, defined here and nowhere else.

Layout (``<u>`` a user id, ``<p>`` a paper id, ``<h>`` the sha256 hex digest of a token):

=====================================  ======  ==================================================
key                                    type    holds
=====================================  ======  ==================================================
``paperrec:papers``                    hash    paper id -> paper as JSON (the whole catalog)
``paperrec:users``                     set     ids of users who ever gave feedback
``paperrec:{user:<u>}:likes``          set     paper ids the user likes
``paperrec:{user:<u>}:dislikes``       set     paper ids the user dislikes
``paperrec:{user:<u>}:tokens``         set     hashes of the user's tokens
``paperrec:{user:<u>}:shown``          hash    paper id -> times shown to the user (the papers
                                               of ``shown-at`` only; service/impressions.py)
``paperrec:{user:<u>}:shown-at``       zset    paper id -> when last shown (ms): the
                                               PAPERREC_IMPRESSIONS_KEPT most recent
``paperrec:{user:<u>}:last-list``      string  the previous list shown, JSON list of paper ids
``paperrec:token:<h>``                 string  the token's record: JSON ``{user, scope,
                                               created, expires}`` (tokens of older versions:
                                               the bare user id); expires with the token
``paperrec:events``                    stream  the recent feedback changes: user, paper,
                                               action, time, source (the last
                                               PAPERREC_EVENTS_MAX, of the last
                                               PAPERREC_EVENTS_RETENTION_DAYS)
``paperrec:feedback-changes``          string  how many feedback changes were ever made (a
                                               model records the count it was trained at)
``paperrec:meta``                      hash    service bookkeeping (e.g. sample catalog loaded)
``paperrec:paper-changes``             stream  ids of the papers each catalog write added,
                                               changed or removed, so every API process can follow
``paperrec:paper-by:arxiv``            hash    arXiv id (no version) -> paper id
``paperrec:paper-by:doi``              hash    DOI (lower case) -> paper id
``paperrec:paper-by:title``            hash    title key (identifiers.title_key) -> JSON list of
                                               the ids of the papers with that title
``paperrec:sample-papers``             set     ids of the bundled sample papers while they are in
                                               the catalog (they leave it when real papers come)
=====================================  ======  ==================================================

The three ``paper-by`` hashes are the catalog's index for matching a researcher's library; they
are written in the same transaction as the papers they index.

A user's keys share the hash tag ``{user:<u>}``. A like or dislike changes the user's sets, the
users set and the event stream in one Lua script (atomic: a stored change always has its event),
so the service needs one Redis server (with replicas if wanted), not a Redis Cluster.
"""

from __future__ import annotations

PREFIX = "paperrec"

PAPERS = f"{PREFIX}:papers"
USERS = f"{PREFIX}:users"
EVENTS = f"{PREFIX}:events"
META = f"{PREFIX}:meta"
PAPER_CHANGES = f"{PREFIX}:paper-changes"
PAPER_BY_ARXIV = f"{PREFIX}:paper-by:arxiv"
PAPER_BY_DOI = f"{PREFIX}:paper-by:doi"
PAPER_BY_TITLE = f"{PREFIX}:paper-by:title"
SAMPLE_PAPERS = f"{PREFIX}:sample-papers"
FEEDBACK_CHANGES = f"{PREFIX}:feedback-changes"


def _user(user_id: str) -> str:
    return f"{PREFIX}:{{user:{user_id}}}"


def likes(user_id: str) -> str:
    return f"{_user(user_id)}:likes"


def dislikes(user_id: str) -> str:
    return f"{_user(user_id)}:dislikes"


def impression_counts(user_id: str) -> str:
    return f"{_user(user_id)}:shown"


def impression_times(user_id: str) -> str:
    return f"{_user(user_id)}:shown-at"


def previous_list(user_id: str) -> str:
    return f"{_user(user_id)}:last-list"


def user_tokens(user_id: str) -> str:
    return f"{_user(user_id)}:tokens"


def token(token_hash: str) -> str:
    return f"{PREFIX}:token:{token_hash}"
