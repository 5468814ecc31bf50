"""``paperrec login-link USER``: a one-time sign-in link to the web page, printed for the admin
to send to USER (errors in one line, as every command: :func:`service.cli.main`)."""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from service.cli_imports import CommandError

if TYPE_CHECKING:
    from service.settings import Settings

__all__ = ["add_login_link_command", "cmd_login_link"]


def cmd_login_link(args: argparse.Namespace, settings: Settings) -> int:
    from recommender.catalog import check_user_id
    from service.connection import open_store
    from service.web.sessions import make_login_link

    try:
        check_user_id(args.user)
    except ValueError as e:
        raise CommandError(str(e)) from None
    minutes = args.minutes if args.minutes is not None else settings.login_link_minutes
    if minutes <= 0:
        raise CommandError(f"--minutes must be more than 0, not {minutes:g}")
    base = args.base_url or settings.public_url or "http://127.0.0.1:8000"
    if not base.startswith(("http://", "https://")):
        raise CommandError(f"--base-url must start with http:// or https://, not {base!r}")
    with open_store(settings) as store:
        link = make_login_link(store, args.user, ttl_s=minutes * 60)
    until = datetime.fromtimestamp(link.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    print(link.url(base))
    print(f"one use, until {until}; send it to {args.user} only", file=sys.stderr)
    return 0


def add_login_link_command(sub: Any, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "login-link",
        parents=[common],
        help="make a one-time sign-in link to the web page for a user and print it",
        description="Make a one-time sign-in link to the web page for USER and print it. "
        "Opening it and pressing Continue signs USER in (a session cookie); the link then no "
        "longer works, nor after --minutes. Only its hash is stored.",
    )
    p.add_argument("user", metavar="USER")
    p.add_argument(
        "--minutes",
        type=float,
        default=None,
        help="how long the link works (default PAPERREC_LOGIN_LINK_MINUTES, 15)",
    )
    p.add_argument(
        "--base-url",
        default=None,
        metavar="URL",
        help="the address of the page (default PAPERREC_PUBLIC_URL, http://127.0.0.1:8000)",
    )
    p.set_defaults(func=cmd_login_link, settings=True)
