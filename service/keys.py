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
``paperrec:papers-added``              zset    paper id -> Unix time it first entered the catalog
                                               (what is new to a digest)
``paperrec:login-link:<h>``            string  a one-time sign-in link of the web page (``<h>``:
                                               hash of its secret): JSON ``{user, created,
                                               expires}``; expires with the link, taken on use
``paperrec:session:<h>``               string  a web page session (``<h>``: hash of the cookie):
                                               JSON ``{user, csrf, created, expires}``; expires
``paperrec:{user:<u>}:sessions``       set     hashes of the user's web sessions (to end all)
``paperrec:{user:<u>}:visits``         hash    ``seen``, ``previous``: the user's visits to the
                                               suggestions page ("new since my last visit")
``paperrec:{user:<u>}:collections``    hash    collection name -> JSON ``{created}``
``paperrec:{user:<u>}:collection:<c>`` set     paper ids (all liked) in the user's collection
                                               ``<c>``
``paperrec:{user:<u>}:rules``          hash    ``""`` (the user's own) or a collection name ->
                                               the rules as JSON (recommender.rules.Rules)
``paperrec:{user:<u>}:feed-served:<t>`` zset   paper ids the feed token ``<t>`` (its token_id)
                                               was served -> when; the newest FEED_SERVED_KEPT
``paperrec:{user:<u>}:feed-fetched``   hash    token_id -> Unix time of its previous fetch
``paperrec:{user:<u>}:digest``         hash    the digest subscription: email, collections,
                                               unsubscribe (a sha256), subscribed, last (the
                                               last digest sent), pending (one prepared and not
                                               yet sent, as JSON)
``paperrec:{user:<u>}:digest-seen``    zset    paper ids a digest sent or passed over -> when;
                                               the newest DIGEST_SEEN_KEPT
``paperrec:{user:<u>}:digest-lock``    string  held while a digest of the user is being sent
``paperrec:digest-subscribers``        set     ids of users subscribed to the digest
=====================================  ======  ==================================================

The three ``paper-by`` hashes are the catalog's index for matching a researcher's library; they
are written in the same transaction as the papers they index.

A user's keys share the hash tag ``{user:<u>}``. A like or dislike changes the user's sets, the
users set and the event stream in one Lua script (atomic: a stored change always has its event).
The same scripts keep the user's collections consistent: a like that leaves (unlike, dislike)
leaves every collection too. The scripts reach a collection's set by its name under the user's
prefix (:func:`collection_prefix`), so every key they touch has the user's hash tag. On one server
the names above are all there is (:data:`SINGLE`).

On a Redis Cluster (``PAPERREC_REDIS_CLUSTER``, :mod:`service.cluster`) no script, pipeline or
transaction may touch two hash slots, so :data:`CLUSTER` places what is global on one server:

* the catalog (papers, their index, the sample set, the change stream, the meta hash) shares the
  hash tag ``{catalog}``: ``paperrec:{catalog}:papers`` and so on, so a chunk of papers is still
  stored with its index entries and change in one transaction (one slot: one master);
* the users set, the event stream and the feedback change count are kept per hash slot, in the
  slot of the user's own keys: ``paperrec:{s<n>}:users``, ``paperrec:{s<n>}:events``,
  ``paperrec:{s<n>}:feedback-changes``, where ``s<n>`` is the shard tag of that slot (the smallest
  ``n`` whose ``s<n>`` hashes to it, :func:`slot_tag`). A like is still one script with its
  event; readers (training, the event listing, the change count) read every slot's shard;
* the digest's subscribers set is kept per hash slot the same way
  (``paperrec:{s<n>}:digest-subscribers``), so that a subscription's hash and its entry change in
  one transaction; the digest run reads every shard
  (:meth:`service.store.Store.digest_subscribers`);
* everything else of a user (collections and their sets, rules, a feed token's served set and
  fetch times, the digest's subscription, seen set and lock, impressions, visits, the sets of
  tokens and sessions) is under the user's hash tag, in one slot with the user's likes, so the
  scripts and transactions that join them (a like leaving every collection, a list's
  impressions, a digest marked sent) are one slot as they are;
* tokens, sign-in links and web sessions (one key each, named by the hash of a secret that only
  the bearer, the link or the cookie holds) keep their names, each in its own slot: the request's
  read that joins a token with a user's data is two round trips there
  (:class:`service.cluster.ClusterStore`); a sign-in link is made, read and taken with single
  commands; a token's or a session's record and its entry in the user's set, which cannot share
  a transaction there, are written set first and removed record first, so that a live record is
  always listed under its user (revoking or signing out everywhere finds it).

The rate limiter keeps nothing in Redis (each API process counts its own requests,
:mod:`service.limits`).
"""

from __future__ import annotations

from functools import cache

from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

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
PAPERS_ADDED = f"{PREFIX}:papers-added"
FEEDBACK_CHANGES = f"{PREFIX}:feedback-changes"
DIGEST_SUBSCRIBERS = f"{PREFIX}:digest-subscribers"

#: Entries a feed token's served set keeps (the oldest go first), and a digest's seen set.
FEED_SERVED_KEPT = 5000
DIGEST_SEEN_KEPT = 20000


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


def previous_list(user_id: str, collection: str = "") -> str:
    """The list last shown to the user: of the main list, or of one of their collections."""
    suffix = f":{collection}" if collection else ""
    return f"{_user(user_id)}:last-list{suffix}"


def user_tokens(user_id: str) -> str:
    return f"{_user(user_id)}:tokens"


def token(token_hash: str) -> str:
    return f"{PREFIX}:token:{token_hash}"


def login_link(link_hash: str) -> str:
    return f"{PREFIX}:login-link:{link_hash}"


def session(session_hash: str) -> str:
    return f"{PREFIX}:session:{session_hash}"


def user_sessions(user_id: str) -> str:
    return f"{_user(user_id)}:sessions"


def visits(user_id: str) -> str:
    return f"{_user(user_id)}:visits"


def collections(user_id: str) -> str:
    return f"{_user(user_id)}:collections"


def collection_prefix(user_id: str) -> str:
    """What a collection's set key is, less the collection's name (the Lua scripts add it)."""
    return f"{_user(user_id)}:collection:"


def collection(user_id: str, name: str) -> str:
    return f"{collection_prefix(user_id)}{name}"


def rules(user_id: str) -> str:
    return f"{_user(user_id)}:rules"


def feed_served(user_id: str, token_id: str) -> str:
    return f"{_user(user_id)}:feed-served:{token_id}"


def feed_fetched(user_id: str) -> str:
    return f"{_user(user_id)}:feed-fetched"


def digest(user_id: str) -> str:
    return f"{_user(user_id)}:digest"


def digest_seen(user_id: str) -> str:
    return f"{_user(user_id)}:digest-seen"


def digest_lock(user_id: str) -> str:
    return f"{_user(user_id)}:digest-lock"


class Layout:
    """Where the global keys are on one Redis server: the names above."""

    #: A Redis Cluster's layout: writes that join keys of two slots (a session's record and its
    #: user's set) are made one after the other, in a safe order, instead of in one transaction.
    cluster = False

    PAPERS = PAPERS
    META = META
    PAPER_CHANGES = PAPER_CHANGES
    PAPER_BY_ARXIV = PAPER_BY_ARXIV
    PAPER_BY_DOI = PAPER_BY_DOI
    PAPER_BY_TITLE = PAPER_BY_TITLE
    SAMPLE_PAPERS = SAMPLE_PAPERS
    PAPERS_ADDED = PAPERS_ADDED

    @property
    def paper_index(self) -> tuple[str, str, str]:
        """The catalog index's hashes (arXiv id, DOI, title key)."""
        return (self.PAPER_BY_ARXIV, self.PAPER_BY_DOI, self.PAPER_BY_TITLE)

    def users(self, user_id: str) -> str:
        """The users set that ``user_id`` belongs in."""
        return USERS

    def events(self, user_id: str) -> str:
        """The event stream of ``user_id``'s feedback."""
        return EVENTS

    def feedback_changes(self, user_id: str) -> str:
        """The change count that ``user_id``'s feedback counts in."""
        return FEEDBACK_CHANGES

    def digest_subscribers(self, user_id: str) -> str:
        """The digest subscribers set that ``user_id`` belongs in while subscribed."""
        return DIGEST_SUBSCRIBERS

    def all_users(self) -> list[str]:
        return [USERS]

    def all_events(self) -> list[str]:
        return [EVENTS]

    def all_feedback_changes(self) -> list[str]:
        return [FEEDBACK_CHANGES]

    def all_digest_subscribers(self) -> list[str]:
        return [DIGEST_SUBSCRIBERS]


@cache
def _slot_tags() -> tuple[str, ...]:
    found: dict[int, str] = {}
    n = 0
    while len(found) < REDIS_CLUSTER_HASH_SLOTS:  # about 156,000 tries, a fraction of a second
        found.setdefault(key_slot(f"s{n}".encode()), f"s{n}")
        n += 1
    return tuple(found[s] for s in range(REDIS_CLUSTER_HASH_SLOTS))


def slot_tag(slot: int) -> str:
    """The shard tag of hash slot ``slot``: the smallest ``s<n>`` that hashes to it."""
    return _slot_tags()[slot]


class ClusterLayout(Layout):
    """Where the global keys are on a Redis Cluster (the module's docstring)."""

    cluster = True

    PAPERS = f"{PREFIX}:{{catalog}}:papers"
    META = f"{PREFIX}:{{catalog}}:meta"
    PAPER_CHANGES = f"{PREFIX}:{{catalog}}:paper-changes"
    PAPER_BY_ARXIV = f"{PREFIX}:{{catalog}}:paper-by:arxiv"
    PAPER_BY_DOI = f"{PREFIX}:{{catalog}}:paper-by:doi"
    PAPER_BY_TITLE = f"{PREFIX}:{{catalog}}:paper-by:title"
    SAMPLE_PAPERS = f"{PREFIX}:{{catalog}}:sample-papers"
    PAPERS_ADDED = f"{PREFIX}:{{catalog}}:papers-added"

    @staticmethod
    def _shard(user_id: str) -> str:
        return f"{PREFIX}:{{{slot_tag(key_slot(likes(user_id).encode()))}}}"

    def users(self, user_id: str) -> str:
        return f"{self._shard(user_id)}:users"

    def events(self, user_id: str) -> str:
        return f"{self._shard(user_id)}:events"

    def feedback_changes(self, user_id: str) -> str:
        return f"{self._shard(user_id)}:feedback-changes"

    def digest_subscribers(self, user_id: str) -> str:
        return f"{self._shard(user_id)}:digest-subscribers"

    def all_users(self) -> list[str]:
        return [f"{PREFIX}:{{{t}}}:users" for t in _slot_tags()]

    def all_events(self) -> list[str]:
        return [f"{PREFIX}:{{{t}}}:events" for t in _slot_tags()]

    def all_feedback_changes(self) -> list[str]:
        return [f"{PREFIX}:{{{t}}}:feedback-changes" for t in _slot_tags()]

    def all_digest_subscribers(self) -> list[str]:
        return [f"{PREFIX}:{{{t}}}:digest-subscribers" for t in _slot_tags()]


#: The layout on one server, and on a cluster.
SINGLE = Layout()
CLUSTER = ClusterLayout()
