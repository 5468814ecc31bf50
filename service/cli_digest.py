"""``paperrec digest``: send the daily digest to every subscribed user (:mod:`service.digest`)."""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

from service.cli_imports import CommandError, progress
from service.settings import Settings

log = logging.getLogger(__name__)


def add_command(sub: Any, common: argparse.ArgumentParser, fmt: Any) -> None:
    d = sub.add_parser(
        "digest",
        parents=[common],
        help="email each subscribed user their new papers (the daily digest)",
        description="Send each user subscribed to the digest (PUT /users/{id}/digest) one "
        "message: per list (their main list and each collection, or the collections they "
        "chose) the top papers new to the catalog since their last digest that no digest sent before, "
        "as plain text and HTML with an unsubscribe link. A user with nothing new gets "
        "nothing; a digest that fails to send is retried and, still unsent, sent (the same "
        "message, never a second one) by the next run. Exit status 1 when some digest is "
        "still unsent.\n\n"
        "settings: PAPERREC_SMTP_HOST, PAPERREC_SMTP_PORT (587), PAPERREC_SMTP_TLS (starttls, "
        "ssl or none), PAPERREC_SMTP_USERNAME, PAPERREC_SMTP_PASSWORD, PAPERREC_DIGEST_FROM, "
        "PAPERREC_PUBLIC_URL (links), PAPERREC_DIGEST_SIZE, PAPERREC_DIGEST_FIRST_DAYS, "
        "PAPERREC_DIGEST_RETRIES (docs/API.md)\n\n"
        "example (daily, from cron):\n"
        "  0 7 * * *  cd /srv/paperrec && .venv/bin/paperrec digest",
        formatter_class=fmt,
    )
    d.add_argument(
        "--user", action="append", metavar="USER", help="only this user (repeat for more)"
    )
    d.add_argument(
        "--dry-run",
        action="store_true",
        help="print what each user would be sent; send and store nothing",
    )
    d.add_argument(
        "--every",
        type=int,
        metavar="SECONDS",
        default=0,
        help="keep running and send every SECONDS (a worker; e.g. 86400)",
    )
    d.set_defaults(func=cmd_digest, settings=True)


def cmd_digest(args: argparse.Namespace, settings: Settings) -> int:
    from threadpoolctl import threadpool_limits

    from service.connection import open_store
    from service.digest import run_digest, smtp_sender
    from service.model import ModelManager

    threadpool_limits(limits=1)
    send = None if args.dry_run else smtp_sender(settings)  # no SMTP server: one line, exit 2
    with open_store(settings) as store:
        models = ModelManager(settings, store)
        through = time.time()  # every paper that entered the catalog before is in the engine
        models.startup()
        engine = models.engine
        if engine is None:
            raise CommandError(
                "no model to rank with: add papers (paperrec import) and train (paperrec train)"
            )
        while True:
            if send is None:
                _dry_run(store, engine, settings, args.user)
                return 0
            n = len(args.user) if args.user else len(store.digest_subscribers())
            with progress("sending digests", n, " users") as bar:
                report = run_digest(
                    store,
                    engine,
                    settings,
                    send,
                    users=args.user,
                    progress=bar.update,
                    through=through,
                )
            print(
                f"digest: {len(report.sent)} sent, {len(report.nothing_new)} with nothing new, "
                f"{len(report.failed)} failed (retried next run), {len(report.busy)} being "
                "sent by another run"
            )
            for user, why in sorted(report.failed.items()):
                print(f"  {user}: {why}", file=sys.stderr)
            if not args.every:
                return 1 if report.failed else 0
            time.sleep(args.every)
            through = time.time()
            models.sync_papers()  # papers imported meanwhile


def _dry_run(store: Any, engine: Any, settings: Settings, users: list[str] | None) -> None:
    from service import digest

    for user_id in sorted(store.digest_subscribers()):
        if users is not None and user_id not in users:
            continue
        sub = digest.subscription(store, user_id)
        if sub is None:
            continue
        sections, _ = digest.build_sections(store, engine, settings, sub, time.time())
        n = sum(len(s.items) for s in sections)
        print(f"{user_id} <{sub.email}>: {n} papers" + (" (pending resend)" if sub.pending else ""))
        for s in sections:
            print(f"  {s.title}")
            for it in s.items:
                print(f"    {it.paper_id}  {it.title}")
