"""The daily digest against a real SMTP server (aiosmtpd, started here): one message per
subscribed user with text and HTML parts and an unsubscribe link, nothing when nothing is new,
retries, and a failed digest sent later exactly once."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from service_conftest import free_port, user_headers
from topic_catalog import store_papers, topic, topic_papers

from service import cli, digest, keys
from service.main import create_app
from service.settings import Settings


def today() -> str:
    """Today's date (UTC), read when a paper is made: a module constant goes stale when the
    suite runs past midnight, and a paper dated the day before the last digest is not new."""
    return datetime.now(UTC).date().isoformat()


class Inbox:
    """What the SMTP server received; it refuses the next ``refuse`` messages (451)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refuse > 0:
            self.refuse -= 1
            return "451 4.3.0 try again later"
        self.messages.append(message_from_bytes(envelope.content, policy=default))  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


@pytest.fixture
def app_client(make_settings: Callable[..., Settings], smtp: tuple[Inbox, int]):
    settings = make_settings(
        smtp_host="127.0.0.1",
        smtp_port=smtp[1],
        smtp_tls="none",
        public_url="https://papers.example.org",
        digest_size=5,
    )
    with TestClient(create_app(settings)) as c:
        yield c, settings


def _set_up(client: TestClient) -> None:
    store_papers(client, topic_papers(published=today()))
    for user, likes in (("alice", topic("quantum", 1, 2)), ("bob", topic("climate", 1, 2))):
        h = user_headers(client, user)
        for p in likes:
            assert client.put(f"/users/{user}/likes/{p}", headers=h).status_code == 201
        r = client.put(f"/users/{user}/digest", json={"email": f"{user}@example.org"}, headers=h)
        assert r.status_code == 200 and r.json()["subscribed"] is True
    # Alice also has a collection: a second section.
    h = user_headers(client, "alice")
    client.put("/users/alice/collections/nlp", headers=h)
    for p in topic("nlp", 1, 2):
        client.put(f"/users/alice/collections/nlp/papers/{p}", headers=h)
    # Carol has likes and no subscription: no digest.
    hc = user_headers(client, "carol")
    client.put(f"/users/carol/likes/{topic('vision', 1)[0]}", headers=hc)


def test_one_message_per_subscriber_then_nothing(
    app_client: tuple[TestClient, Settings],
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    client, settings = app_client
    inbox, port = smtp
    _set_up(client)
    # The command reaches the app's Redis: one server, or the cluster (tests/service/cluster).
    store_env = (
        ("PAPERREC_REDIS_CLUSTER", settings.redis_cluster)
        if settings.redis_cluster
        else ("REDIS_URL", settings.redis_url)
    )
    for name, value in (
        store_env,
        ("PAPERREC_DATA_DIR", str(settings.data_dir)),
        ("PAPERREC_MODEL", settings.model),
        ("PAPERREC_SMTP_HOST", "127.0.0.1"),
        ("PAPERREC_SMTP_PORT", str(port)),
        ("PAPERREC_SMTP_TLS", "none"),
        ("PAPERREC_PUBLIC_URL", "https://papers.example.org"),
        ("PAPERREC_DIGEST_SIZE", "5"),
        ("PAPERREC_ADMIN_TOKEN", "test-admin-token-not-secret-0123456789"),
    ):
        monkeypatch.setenv(name, str(value))
    # A dry run says what would go and sends (and stores) nothing.
    assert cli.main(["digest", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "alice <alice@example.org>: 10 papers" in out and "bob <bob@example.org>: 5" in out
    assert "carol" not in out and inbox.messages == []
    assert cli.main(["digest"]) == 0
    assert "2 sent, 0 with nothing new, 0 failed" in capsys.readouterr().out
    assert sorted(str(m["To"]) for m in inbox.messages) == ["alice@example.org", "bob@example.org"]

    alice = next(m for m in inbox.messages if m["To"] == "alice@example.org")
    text = alice.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    page = alice.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "Your papers" in text and "Collection nlp" in text
    titles = {p["paper_id"]: p["title"] for p in topic_papers()}
    by_title = {t: pid for pid, t in titles.items()}
    # The main list follows all likes (quantum and NLP), the collection its NLP papers only.
    main_part, coll_part = text.split("Collection nlp")

    def listed(part: str) -> list[str]:
        return [by_title[line[2:]] for line in part.splitlines() if line.startswith("* ")]

    assert len(listed(main_part)) == 5 and len(listed(coll_part)) == 5
    assert any(p.startswith("t:quantum-") for p in listed(main_part))
    assert all(p.startswith("t:nlp-") for p in listed(coll_part))
    # A paper goes in one section only; liked ones in none.
    assert not set(listed(main_part)) & set(listed(coll_part))
    liked = set(topic("quantum", 1, 2) + topic("nlp", 1, 2))
    assert not liked & set(listed(main_part) + listed(coll_part))
    assert "Because you liked:" in text and "https://papers.example.org/papers/t:" in text
    link = str(alice["List-Unsubscribe"]).strip("<>")
    assert link.startswith("https://papers.example.org/users/alice/digest/unsubscribe?key=")
    assert link in text and link.replace("&", "&amp;") in page
    assert "<html>" in page and titles[listed(main_part)[0]] in page

    # A second run with no new papers sends nothing.
    assert cli.main(["digest"]) == 0
    assert "0 sent, 2 with nothing new" in capsys.readouterr().out
    assert len(inbox.messages) == 2

    # A new paper: each subscriber hears of it, and only of it.
    fresh = dict(topic_papers(published=today())[51], paper_id="t:quantum-new", title="Qubits anew")
    store_papers(client, [fresh])
    assert cli.main(["digest"]) == 0
    assert len(inbox.messages) == 4
    for third in inbox.messages[2:]:
        body = third.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        assert "Qubits anew" in body and str(third["Subject"]) == "paperrec: 1 new paper for you"

    # The unsubscribe link works without a token (a wrong key changes nothing).
    path = link.removeprefix("https://papers.example.org")
    assert client.get(path.replace("key=", "key=x")).status_code == 404
    assert client.get(path.replace("key=", "key=%C3%A9")).status_code == 404  # non-ASCII: no 500
    assert client.get(path).status_code == 200
    assert client.get("/users/alice/digest", headers=user_headers(client, "alice")).json() == {
        "user_id": "alice",
        "subscribed": False,
        "email": None,
        "collections": None,
        "last_sent_at": None,
    }


def test_a_refused_message_is_retried_and_sent_once(
    app_client: tuple[TestClient, Settings], smtp: tuple[Inbox, int]
) -> None:
    client, settings = app_client
    inbox, _ = smtp
    _set_up(client)
    store = client.app.state.store
    engine = client.app.state.models.engine
    inbox.refuse = 3  # alice's first two tries and bob's first
    report = digest.run_digest(
        store, engine, settings, digest.smtp_sender(settings), retry_wait_s=0
    )
    assert sorted(report.sent) == ["alice", "bob"] and not report.failed
    assert len(inbox.messages) == 2


def test_a_digest_that_cannot_be_sent_is_sent_later_the_same_and_once(
    app_client: tuple[TestClient, Settings], smtp: tuple[Inbox, int]
) -> None:
    client, settings = app_client
    inbox, _ = smtp
    _set_up(client)
    store = client.app.state.store
    engine = client.app.state.models.engine
    down = settings.model_copy(update={"smtp_port": free_port(), "digest_retries": 1})
    report = digest.run_digest(store, engine, down, digest.smtp_sender(down), retry_wait_s=0)
    assert sorted(report.failed) == ["alice", "bob"] and not report.sent
    assert "ConnectionRefusedError" in report.failed["alice"]
    pending = digest.subscription(store, "alice").pending  # type: ignore[union-attr]
    assert pending is not None
    # New papers meanwhile do not make a second message: the pending one goes as it was.
    store_papers(client, [dict(topic_papers(published=today())[51], paper_id="t:quantum-new")])
    report = digest.run_digest(store, engine, settings, digest.smtp_sender(settings))
    assert sorted(report.sent) == ["alice", "bob"]
    assert len(inbox.messages) == 2
    alice = next(m for m in inbox.messages if m["To"] == "alice@example.org")
    sent_id = str(alice["Message-ID"])
    assert sent_id in pending["raw"]
    assert digest.subscription(store, "alice").pending is None  # type: ignore[union-attr]
    # The next run sends only what is new since (the paper added meanwhile), not that again.
    digest.run_digest(store, engine, settings, digest.smtp_sender(settings))
    later = [m for m in inbox.messages[2:] if m["To"] == "alice@example.org"]
    assert len(inbox.messages) == 4
    assert len(later) == 1 and str(later[0]["Message-ID"]) != sent_id
    assert "t:quantum-new" in later[0].get_body(("plain",)).get_content()  # type: ignore[union-attr]


def _bodies(messages: list[EmailMessage]) -> dict[str, str]:
    return {
        str(m["To"]): m.get_body(("plain",)).get_content()  # type: ignore[union-attr]
        for m in messages
    }


def test_a_second_run_sends_nothing_however_many_papers_the_first_passed_over(
    app_client: tuple[TestClient, Settings],
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """New means entered the catalog since the last digest: the papers of the day that the
    first digest ranked too low to look at are not news to the next one."""
    client, settings = app_client
    inbox, _ = smtp
    monkeypatch.setattr(digest, "DEPTH", 10)  # fewer than the 60 papers published today
    _set_up(client)
    store = client.app.state.store
    engine = client.app.state.models.engine
    report = digest.run_digest(store, engine, settings, digest.smtp_sender(settings))
    assert sorted(report.sent) == ["alice", "bob"]
    report = digest.run_digest(store, engine, settings, digest.smtp_sender(settings))
    assert not report.sent and sorted(report.nothing_new) == ["alice", "bob"]
    assert len(inbox.messages) == 2


def test_a_paper_imported_after_its_day_is_new_and_a_backfill_is_not(
    app_client: tuple[TestClient, Settings],
    smtp: tuple[Inbox, int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A paper dated before the last digest that entered the catalog after it (an import a
    day late) is in the next digest; an old paper imported now, or a known paper stored again
    with a new date, is not."""
    client, settings = app_client
    inbox, _ = smtp
    monkeypatch.setattr(digest, "DEPTH", 10)
    _set_up(client)
    store = client.app.state.store
    engine = client.app.state.models.engine
    digest.run_digest(store, engine, settings, digest.smtp_sender(settings))
    seen = {p for u in ("alice", "bob") for p in store.redis.zrange(keys.digest_seen(u), 0, -1)}
    known = next(p for p in topic("quantum", *range(3, 11)) if p not in seen)
    papers = {p["paper_id"]: p for p in topic_papers()}
    days_ago = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    store_papers(
        client,
        [
            dict(papers["t:quantum-03"], paper_id="t:quantum-late", published=days_ago),
            dict(papers["t:quantum-04"], paper_id="t:quantum-old", published="2005-06-01"),
            dict(papers[known], published=today()),
        ],
    )
    digest.run_digest(store, engine, settings, digest.smtp_sender(settings))
    later = _bodies(inbox.messages[2:])
    assert sorted(later) == ["alice@example.org", "bob@example.org"]
    for body in later.values():
        assert "t:quantum-late" in body
        assert "t:quantum-old" not in body and known not in body


def test_subscription_errors(app_client: tuple[TestClient, Settings]) -> None:
    client, _ = app_client
    h = user_headers(client, "alice")
    r = client.put("/users/alice/digest", json={"email": "not an address"}, headers=h)
    assert r.status_code == 422 and "email" in r.json()["detail"]
    # A control character is refused whichever regex engine reads the schema (found by the fuzz).
    r = client.put("/users/alice/digest", json={"email": "a\x1eb@example.org"}, headers=h)
    assert r.status_code == 422
    assert client.delete("/users/alice/digest", headers=h).status_code == 404
    bob = user_headers(client, "bob")
    r = client.put("/users/alice/digest", json={"email": "a@example.org"}, headers=bob)
    assert r.status_code == 403


def test_the_command_without_an_smtp_server_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PAPERREC_SMTP_HOST", raising=False)
    assert cli.main(["digest"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no SMTP server: set PAPERREC_SMTP_HOST") and err.count("\n") == 1
