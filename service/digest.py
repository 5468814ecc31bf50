"""The daily digest by email: who is subscribed, what each is sent, and sending it once.

``paperrec digest`` (a scheduler, or the compose file's worker, runs it daily) sends each
subscribed user one message: per list (their main list and each collection, or the collections
they chose) the top new papers that no digest sent or passed over before, ranked and ruled as the
lists are. New, in the first digest: published in the last ``PAPERREC_DIGEST_FIRST_DAYS`` days;
after it: entered the catalog since the previous digest was made (a paper imported a day after
its publication date is not missed), published at most that many days before it (a backfill of
old papers is not news). A user with nothing new gets nothing, however many papers the previous
digest passed over.

Sending once: the message is built and stored (``pending``, with its Message-ID) before it is
sent; once the SMTP server accepted it the user's digest is marked sent in one transaction (the
time, the papers seen, the pending message dropped). A failure is retried
(``PAPERREC_DIGEST_RETRIES`` times, waiting longer each time); a message still unsent stays
pending and the next run sends that same message, never a second one. Runs at once are kept
apart per user by a lock with an expiry. The one window left: the process dying after the server
accepted the message and before the mark; the next run then sends it again with the same
Message-ID, which mail systems use to drop the duplicate.
"""

from __future__ import annotations

import html
import json
import logging
import secrets
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from email import message_from_string
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from typing import Any
from urllib.parse import quote

from recommender.rules import Rules
from recommender.serving import Engine
from service import collections, keys
from service.feeds import paper_link, why
from service.settings import Settings
from service.store import Store

__all__ = [
    "DigestReport",
    "Section",
    "Subscription",
    "run_digest",
    "smtp_sender",
    "subscribe",
    "subscription",
    "unsubscribe",
]

log = logging.getLogger(__name__)

#: How deep in each list a digest looks: papers ranked below this are neither sent nor seen.
DEPTH = 200
#: Seconds a run holds a user's lock (a run that died frees it after this).
LOCK_S = 600
DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Subscription:
    user_id: str
    email: str
    #: The collections it covers (None: the main list and every collection).
    collections: list[str] | None
    subscribed_at: float
    last_sent_at: float | None
    unsubscribe_key: str
    pending: dict[str, Any] | None = None
    #: The catalog the last digest sent was made from: papers that entered it up to this Unix
    #: time were considered (None: no digest sent since this was recorded).
    through: float | None = None


# ----------------------------------------------------------------------- subscriptions
def subscribe(store: Store, user_id: str, email: str, lists: list[str] | None) -> Subscription:
    """Subscribe (or change the address and lists of) ``user_id``; a new subscription gets its
    unsubscribe key, a changed one keeps it and its history."""
    old = subscription(store, user_id)
    key = old.unsubscribe_key if old else secrets.token_urlsafe(24)
    fields: dict[Any, Any] = {
        "email": email,
        "collections": json.dumps(lists),
        "unsubscribe": key,
        "subscribed": repr(old.subscribed_at if old else time.time()),
    }
    pipe = store.redis.pipeline(transaction=True)
    pipe.hset(keys.digest(user_id), mapping=fields)
    pipe.sadd(store.layout.digest_subscribers(user_id), user_id)  # the user's slot
    pipe.execute()
    found = subscription(store, user_id)
    assert found is not None
    return found


def subscription(store: Store, user_id: str) -> Subscription | None:
    raw: Any = store.redis.hgetall(keys.digest(user_id))
    if not raw or "email" not in raw:
        return None
    return Subscription(
        user_id=user_id,
        email=raw["email"],
        collections=json.loads(raw.get("collections") or "null"),
        subscribed_at=float(raw.get("subscribed") or 0.0),
        last_sent_at=float(raw["last"]) if raw.get("last") else None,
        unsubscribe_key=raw.get("unsubscribe", ""),
        pending=json.loads(raw["pending"]) if raw.get("pending") else None,
        through=float(raw["through"]) if raw.get("through") else None,
    )


def unsubscribe(store: Store, user_id: str, key: str | None = None) -> bool:
    """End the subscription (with ``key``: only when it is the subscription's unsubscribe key,
    compared in constant time); True when there was one to end. What was sent is kept, so a
    new subscription does not send it again."""
    sub = subscription(store, user_id)
    # As bytes: compare_digest refuses str with non-ASCII characters (a key from a link may
    # hold any).
    if sub is None or (
        key is not None and not secrets.compare_digest(key.encode(), sub.unsubscribe_key.encode())
    ):
        return False
    pipe = store.redis.pipeline(transaction=True)
    pipe.hdel(keys.digest(user_id), "email", "collections", "unsubscribe", "subscribed", "pending")
    pipe.srem(store.layout.digest_subscribers(user_id), user_id)
    pipe.execute()
    return True


def unsubscribe_url(settings: Settings, sub: Subscription) -> str:
    base = (settings.public_url or DEFAULT_URL).rstrip("/")
    return f"{base}/users/{quote(sub.user_id)}/digest/unsubscribe?key={sub.unsubscribe_key}"


# ----------------------------------------------------------------------- what is sent
@dataclass(frozen=True)
class DigestItem:
    paper_id: str
    title: str
    authors: list[str]
    published: str | None
    link: str
    why: str


@dataclass(frozen=True)
class Section:
    title: str
    items: list[DigestItem]


New = tuple[date, list[str] | None]


def _window_start(sub: Subscription, settings: Settings, now: float) -> date:
    """Papers published on or after this day are new for this digest."""
    if sub.last_sent_at is not None:
        return datetime.fromtimestamp(sub.last_sent_at, UTC).date()
    return datetime.fromtimestamp(now, UTC).date() - timedelta(days=settings.digest_first_days)


def _new_papers(store: Store, settings: Settings, sub: Subscription, now: float) -> New:
    """What is new to ``sub``'s digest now (the module's docstring): ``(since, among)``, the
    papers published from ``since`` and, unless ``among`` is None, in ``among`` only."""
    if sub.through is None:  # the first digest (or the last one predates ``through``)
        return _window_start(sub, settings, now), None
    since = datetime.fromtimestamp(sub.through, UTC).date()
    return since - timedelta(days=settings.digest_first_days), store.papers_added_after(sub.through)


def build_sections(
    store: Store, engine: Engine, settings: Settings, sub: Subscription, now: float
) -> tuple[list[Section], list[str]]:
    """The digest's lists, and every paper it saw (sent, or ranked among the top :data:`DEPTH`
    of a list and passed over): those are never new to this user's digest again."""
    since, among = _new_papers(store, settings, sub, now)
    if among is not None and not among:
        return [], []
    r: Any = store.redis
    u = sub.user_id
    likes: list[str] = sorted(r.smembers(keys.likes(u)))
    dislikes: list[str] = sorted(r.smembers(keys.dislikes(u)))
    seen: set[str] = set(r.zrange(keys.digest_seen(u), 0, -1))
    user_rules = collections.parse_rules(str(r.hget(keys.rules(u), "") or ""))
    known: Any = r.hkeys(keys.collections(u))
    names = sorted(known) if sub.collections is None else [c for c in sub.collections if c in known]
    lists: list[tuple[str, list[str], Rules]] = []
    if sub.collections is None:
        lists.append(("Your papers", likes, user_rules))
    for name in names:
        members: list[str] = sorted(r.smembers(keys.collection(u, name)))
        rules = user_rules.then(collections.parse_rules(str(r.hget(keys.rules(u), name) or "")))
        lists.append((f"Collection {name}", members, rules))
    base = (settings.public_url or DEFAULT_URL).rstrip("/")
    sections: list[Section] = []
    looked: list[str] = []
    taken: set[str] = set()
    for title, seed, rules in lists:
        ranked = engine.recommend(
            seed, dislikes, DEPTH, since=since, rules=rules, exclude=[*likes, *seen], among=among
        )
        looked += [s.paper_id for s in ranked]
        items = []
        for s in ranked:
            paper = engine.paper(s.paper_id)
            if paper is None or s.paper_id in taken:
                continue
            taken.add(s.paper_id)
            items.append(
                DigestItem(
                    s.paper_id,
                    paper.title,
                    list(paper.authors),
                    paper.published,
                    paper_link(paper, base),
                    why(s, engine),
                )
            )
            if len(items) == settings.digest_size:
                break
        if items:
            sections.append(Section(title, items))
    return sections, list(dict.fromkeys(looked))


def compose(settings: Settings, sub: Subscription, sections: Sequence[Section]) -> EmailMessage:
    """The message: a plain-text part and an HTML part, the unsubscribe link in both and in
    the List-Unsubscribe header (one-click, RFC 8058)."""
    n = sum(len(s.items) for s in sections)
    leave = unsubscribe_url(settings, sub)
    msg = EmailMessage(policy=SMTP_POLICY)
    msg["Subject"] = f"paperrec: {n} new paper{'s' if n != 1 else ''} for you"
    msg["From"] = settings.digest_from
    msg["To"] = sub.email
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = make_msgid(domain="paperrec.digest")
    msg["List-Unsubscribe"] = f"<{leave}>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    text = [f"New papers for {sub.user_id}", ""]
    parts = [f"<h1>New papers for {html.escape(sub.user_id)}</h1>"]
    for section in sections:
        text += [section.title, "=" * len(section.title)]
        parts.append(f"<h2>{html.escape(section.title)}</h2><ol>")
        for it in section.items:
            byline = ", ".join(it.authors) or "authors unknown"
            day = it.published or "date unknown"
            text += [f"* {it.title}", f"  {byline} ({day})", f"  {it.link}", f"  {it.why}", ""]
            parts.append(
                f'<li><a href="{html.escape(it.link)}">{html.escape(it.title)}</a><br>'
                f"{html.escape(byline)} ({html.escape(day)})<br><em>{html.escape(it.why)}</em></li>"
            )
        parts.append("</ol>")
    text += ["", f"Unsubscribe: {leave}"]
    parts.append(f'<p><a href="{html.escape(leave)}">Unsubscribe</a> from these emails.</p>')
    msg.set_content("\n".join(text))
    msg.add_alternative("<html><body>" + "".join(parts) + "</body></html>", subtype="html")
    return msg


# ----------------------------------------------------------------------------- sending
Sender = Callable[[EmailMessage], None]


def smtp_sender(settings: Settings) -> Sender:
    """Send a message through the SMTP server of the settings (TLS and login as they say)."""
    if not settings.smtp_host:
        raise ValueError(
            "no SMTP server: set PAPERREC_SMTP_HOST (and PAPERREC_SMTP_PORT, PAPERREC_SMTP_TLS, "
            "PAPERREC_SMTP_USERNAME, PAPERREC_SMTP_PASSWORD) to send the digest"
        )
    host: str = settings.smtp_host

    def send(msg: EmailMessage) -> None:
        context = ssl.create_default_context()
        timeout = settings.smtp_timeout_s
        smtp: smtplib.SMTP
        if settings.smtp_tls == "ssl":
            smtp = smtplib.SMTP_SSL(host, settings.smtp_port, timeout=timeout, context=context)
        else:
            smtp = smtplib.SMTP(host, settings.smtp_port, timeout=timeout)
        with smtp:
            if settings.smtp_tls == "starttls":
                smtp.starttls(context=context)
            if settings.smtp_username:
                password = (
                    settings.smtp_password.get_secret_value() if settings.smtp_password else ""
                )
                smtp.login(settings.smtp_username, password)
            smtp.send_message(msg)

    return send


@dataclass
class DigestReport:
    sent: list[str] = field(default_factory=list)
    #: Users with nothing new.
    nothing_new: list[str] = field(default_factory=list)
    #: User -> why their digest is still unsent (it stays pending for the next run).
    failed: dict[str, str] = field(default_factory=dict)
    #: Users whose digest another run is sending.
    busy: list[str] = field(default_factory=list)


def run_digest(
    store: Store,
    engine: Engine,
    settings: Settings,
    send: Sender,
    *,
    users: Sequence[str] | None = None,
    retry_wait_s: float = 2.0,
    progress: Callable[[int], object] | None = None,
    through: float | None = None,
) -> DigestReport:
    """Send every subscribed user (or ``users`` of them) their digest: see the module's
    docstring. ``retry_wait_s``: the first wait before a retry (doubled each time).
    ``through``: the Unix time up to which ``engine`` holds the papers that entered the
    catalog (read before it was loaded or last synced); by default the time each digest is
    made, right for an engine that takes in every catalog write at once."""
    report = DigestReport()
    for user_id in sorted(store.digest_subscribers()):
        if users is not None and user_id not in users:
            continue
        lock = keys.digest_lock(user_id)
        if not store.redis.set(lock, "1", nx=True, ex=LOCK_S):
            report.busy.append(user_id)
            continue
        try:
            _one(store, engine, settings, send, user_id, report, retry_wait_s, through)
        finally:
            store.redis.delete(lock)
            if progress is not None:
                progress(1)
    return report


def _one(
    store: Store,
    engine: Engine,
    settings: Settings,
    send: Sender,
    user_id: str,
    report: DigestReport,
    retry_wait_s: float,
    through: float | None,
) -> None:
    sub = subscription(store, user_id)
    if sub is None:
        return
    if sub.pending is None:
        now = time.time()
        sections, looked = build_sections(store, engine, settings, sub, now)
        if not sections:
            report.nothing_new.append(user_id)
            return
        msg = compose(settings, sub, sections)
        horizon = max(now if through is None else through, sub.through or 0.0)
        pending: dict[str, Any] = {
            "created": now,
            "through": horizon,
            "raw": msg.as_string(),
            "seen": looked,
        }
        # Stored before it is sent: a failed or interrupted send is this same message again.
        store.redis.hset(keys.digest(user_id), "pending", json.dumps(pending))
    else:
        pending = dict(sub.pending)
    raw = str(pending["raw"])
    error = ""
    for attempt in range(settings.digest_retries + 1):
        if attempt:
            time.sleep(retry_wait_s * 2 ** (attempt - 1))
        try:
            send(message_from_string(raw, _class=EmailMessage, policy=SMTP_POLICY))
            break
        except (OSError, smtplib.SMTPException) as e:
            error = f"{type(e).__name__}: {e}"
            log.warning(
                "digest of %s: sending failed (%s), attempt %d", user_id, error, attempt + 1
            )
    else:
        report.failed[user_id] = error
        return
    seen = list(pending.get("seen") or [])
    pipe = store.redis.pipeline(transaction=True)
    pipe.hset(keys.digest(user_id), "last", repr(float(pending["created"])))
    if pending.get("through") is not None:  # a message prepared by an older version has none
        pipe.hset(keys.digest(user_id), "through", repr(float(pending["through"])))
    pipe.hdel(keys.digest(user_id), "pending")
    if seen:
        pipe.zadd(keys.digest_seen(user_id), dict.fromkeys(seen, float(pending["created"])))
        pipe.zremrangebyrank(keys.digest_seen(user_id), 0, -keys.DIGEST_SEEN_KEPT - 1)
    pipe.execute()
    report.sent.append(user_id)
