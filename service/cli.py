"""``paperrec``: serve the API, import papers, feedback and a researcher's library, retrain,
issue tokens.

Heavy modules (numpy through the library) are imported inside the commands, after the BLAS thread
limit is set, so that ``paperrec --help`` is quick. Bad input (a file that does not follow its
format, a missing file or folder, a bad setting or argument) ends in one line on stderr, ``error:
FILE:LINE: what is wrong, and what to do``, and exit status 2; ``--debug`` shows the traceback.
The import commands live in :mod:`service.cli_imports`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import time
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

from service.cli_imports import CommandError

if TYPE_CHECKING:
    from service.settings import Settings
    from service.store import Store

log = logging.getLogger("paperrec")

SETTINGS_HELP = """\
settings (environment variables, or a .env file in the working directory):
  PAPERREC_DATA_DIR        data folder: embedded Redis, model bundle, admin token (default ./data)
  PAPERREC_DATASETS_DIR    folder of the dataset folders `paperrec import citeulike-a` reads
                           (default ../shared/datasets beside a checkout of the project)
  REDIS_URL                use this Redis (redis://host:6379/0, unix:///path.sock) instead of
                           the embedded one started inside the data folder
  PAPERREC_REDIS_APPENDFSYNC
                           fsync policy of the embedded Redis: always (default: a 2xx means
                           on disk), everysec or no
  PAPERREC_ADMIN_TOKEN     admin bearer token (32 characters at least); unset: generated into
                           <data dir>/admin_token (mode 0600) on first start and printed
                           once, on creation, to this console (never into the logs)
  PAPERREC_MODEL           model to train (default hybrid); PAPERREC_MODEL_PARAMS (JSON)
                           overrides single hyperparameters of the tuned defaults
  PAPERREC_TUNED_DEFAULTS  start from the settings chosen on validation for the model and
                           features (recommender/tuned.json; default true), false: the
                           model's own defaults
  PAPERREC_FEATURES        paper content features: text, text+citations (default), text+embed,
                           text+embed+citations (embeddings need the [embed] extra)
  PAPERREC_SEED_SAMPLE     load the bundled sample catalog into an empty store (default true;
                           it leaves the catalog once real papers are imported; false: none)
  PAPERREC_MODEL_POLL_S    how often the API looks for a bundle saved by `paperrec train`
  PAPERREC_PAPERS_POLL_S   how often each API process takes in papers another one added
                           (--workers; default 1 second)
  PAPERREC_ANN_THRESHOLD   papers from which vector models rank through an approximate
                           index (default 200000; the hybrid is always exact)
  PAPERREC_LOG_LEVEL       logging level (default INFO)
"""

WALKTHROUGH = """\
your own library (BibTeX, RIS, CSL-JSON, Zotero CSV, arXiv ids or DOIs):
  paperrec import citeulike-a                        # a catalog (or: import papers ARXIV-FEED)
  paperrec import-library refs.bib --user alice      # your papers become alice's likes

example:
  paperrec serve &                                   # first start prints the admin token
  ADMIN=$(cat data/admin_token)
  curl -s -X POST -H "Authorization: Bearer $ADMIN" localhost:8000/users/alice/tokens
  curl -s -X PUT -H "Authorization: Bearer $TOKEN" localhost:8000/users/alice/likes/sample:nlp-01
  curl -s -H "Authorization: Bearer $TOKEN" localhost:8000/users/alice/recommendations
  paperrec login-link alice                          # or read them on the web page, at /
  API documentation: http://127.0.0.1:8000/docs
"""


def _limit_blas_threads() -> None:
    # Before numpy is imported: one BLAS thread per process (threaded scoring collapses
    # otherwise). The app also sets this at start through threadpoolctl.
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _load_settings(args: argparse.Namespace) -> Settings:
    from service.settings import Settings

    settings = Settings()
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return settings


def _announce_admin_token(settings: Settings) -> None:
    from service.security import admin_token

    token, created = admin_token(settings)
    if created:
        print(
            f"Created an admin token, kept in {settings.admin_token_path} (mode 0600).\n"
            f"It is shown here once and never logged:\n\n    {token}\n"
        )
    elif settings.admin_token is None:
        print(f"Admin token: in {settings.admin_token_path}")


# ---------------------------------------------------------------------------- commands
def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.main import create_app
    from service.server import uvicorn_config
    from service.workers import check_port

    settings = _load_settings(args)
    # Before Redis starts and a model trains: a port in use is said at once.
    if (why := check_port(args.host, args.port)) is not None:
        print(f"error: {why}; choose another --port or stop what listens there", file=sys.stderr)
        return 2
    # A data folder that cannot be made is one line here, not a traceback from inside uvicorn.
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _announce_admin_token(settings)
    print(f"Serving on http://{args.host}:{args.port} (API documentation at /docs)")
    # uvicorn turns SIGINT/SIGTERM into a clean shutdown, which stops the embedded Redis.
    if args.workers > 1:
        return _serve_workers(args, settings)
    server = uvicorn.Server(uvicorn_config(settings, create_app(settings), args.host, args.port))
    # uvicorn re-raises SIGINT once its shutdown is complete; uvicorn.run() swallows it too.
    with contextlib.suppress(KeyboardInterrupt):
        server.run()
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings) -> int:
    """``serve --workers N``: one socket per process (SO_REUSEPORT), the kernel spreading
    connections across them. The embedded Redis is started here, once, before the workers."""
    import socket

    from service.redis_server import EmbeddedRedis, EmbeddedRedisError
    from service.workers import serve_workers

    if not hasattr(socket, "SO_REUSEPORT"):
        print("error: --workers > 1 needs SO_REUSEPORT (Linux, macOS, BSD)", file=sys.stderr)
        return 2
    level = settings.log_level.lower()
    if settings.redis_url or settings.redis_cluster:
        return serve_workers(args.host, args.port, args.workers, level)
    server = EmbeddedRedis(
        settings.data_dir,
        appendfsync=settings.redis_appendfsync,
        maxmemory=settings.redis_maxmemory,
    )
    try:
        server.start()
    except EmbeddedRedisError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    server.supervise()  # a crashed server comes back by itself, with its append-only file
    try:
        return serve_workers(args.host, args.port, args.workers, level, redis_url=server.url)
    finally:
        server.stop()


def _open(settings: Settings) -> Any:
    from service.connection import open_store

    return open_store(settings)


def _train_once(settings: Settings, store: Store) -> bool:
    from service.cli_imports import progress
    from service.model import TRAINING_STEPS, ModelManager

    models = ModelManager(settings, store)
    with progress("training", len(TRAINING_STEPS), " steps") as bar:
        started: list[str] = []

        def step(name: str) -> None:
            # A step is done when the next starts; the bar says which one runs.
            if started:
                bar.update(1)
            started.append(name)
            bar.set_description(name)

        job = models.run_job(models._new_job(), on_step=step)
        bar.update(1)
    if job.status == "succeeded":
        print(f"trained {job.model_version}; saved to {settings.bundle_path}")
        return True
    print(f"retrain failed: {job.error}", file=sys.stderr)
    return False


def cmd_train(args: argparse.Namespace) -> int:
    from threadpoolctl import threadpool_limits

    settings = _load_settings(args)
    threadpool_limits(limits=1)
    with _open(settings) as store:
        if not args.every:
            return 0 if _train_once(settings, store) else 1
        log.info("retraining every %ds (Ctrl-C or SIGTERM to stop)", args.every)
        try:
            while True:
                _train_once(settings, store)
                time.sleep(args.every)
        except KeyboardInterrupt:
            log.info("stopping")
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    from recommender.catalog import check_user_id
    from service.security import issue_token

    try:
        check_user_id(args.user)
    except ValueError as e:
        raise CommandError(str(e)) from None
    settings = _load_settings(args)
    with _open(settings) as store:
        issued = issue_token(store, args.user, scope=args.scope, expires_in_s=args.expires_in)
    print(issued.token)
    print(
        f"token_id {issued.token_id} (to revoke it: DELETE /users/{args.user}/tokens/"
        f"{issued.token_id})",
        file=sys.stderr,
    )
    return 0


# ---------------------------------------------------------------------------- parser
class _Parser(argparse.ArgumentParser):
    """Usage errors in one line that says where to look (argparse prints the usage too)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {self.prog}: {message} (see {self.prog} --help)\n")


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("paperrec")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def _command_imports(sub: Any, common: _Parser, fmt: Any) -> None:
    """The three import commands (their bodies are service.cli_imports's)."""
    from service import cli_digest, cli_imports

    i = sub.add_parser(
        "import",
        parents=[common],
        help="import papers (and likes) into the store",
        description="Import papers into the store (added or updated by paper_id). The file is "
        "read whole first: a file with a bad line imports nothing and says which line.\n\n"
        "  paperrec import papers FILE         JSON lines, CSV, an arXiv metadata snapshot or an\n"
        "                                      arXiv RSS/Atom feed (fields: paper_id, title,\n"
        "                                      abstract, authors, year, categories, url,\n"
        "                                      references, published YYYY-MM-DD, arxiv_id, doi;\n"
        "                                      a serving API takes them in within a second)\n"
        "  paperrec import papers URL          an arXiv listing feed, fetched (e.g. a day's new\n"
        "                                      papers of a category)\n"
        "  paperrec import citeulike-a [DIR]   the CiteULike dataset in DIR (default:\n"
        "                                      PAPERREC_DATASETS_DIR, else ../shared/datasets\n"
        "                                      beside a checkout); --likes also imports\n"
        "                                      its users' libraries as likes (users\n"
        "                                      'citeulike-a:user<N>', papers 'citeulike-a:<N>')\n\n"
        "The first real papers make the bundled sample papers leave the catalog.",
        formatter_class=fmt,
    )
    i.add_argument("source", choices=["papers", "citeulike-a", "citeulike-t"])
    i.add_argument("path", nargs="?", help="FILE or URL for papers; dataset folder for citeulike-*")
    i.add_argument(
        "--data-dir",
        dest="path",
        metavar="DIR",
        help="dataset folder for citeulike-* (same as the positional DIR)",
    )
    i.add_argument(
        "--format",
        choices=["auto", "jsonl", "csv", "arxiv", "feed"],
        default="auto",
        help="format of FILE (default: from its suffix and first line)",
    )
    i.add_argument("--likes", action="store_true", help="also import the dataset's likes")
    i.set_defaults(func=cli_imports.cmd_import, settings=True)

    il = sub.add_parser(
        "import-likes",
        parents=[common],
        help="bulk-import likes from a users.dat or user,paper CSV file",
        description="Bulk-import likes (pipelined, one event each) from FILE: a CiteULike-style "
        "users.dat (line i = '<count> <item> ...' of user i: users 'user<i>', papers '<item>') "
        "or a CSV of 'user,paper' lines. Papers must be in the store already; others are "
        "skipped and counted, and when ids need a prefix to match the store's (citeulike-a:) "
        "the command says which --paper-prefix would match.",
    )
    il.add_argument("file", metavar="FILE")
    il.add_argument("--user-prefix", default="", help="put in front of every user id")
    il.add_argument(
        "--paper-prefix", default="", help="put in front of every paper id (e.g. citeulike-a:)"
    )
    il.add_argument("--source", default="import", help="source field of the events")
    il.set_defaults(func=cli_imports.cmd_import_likes, settings=True)

    lib = sub.add_parser(
        "import-library",
        parents=[common],
        help="a researcher's BibTeX, RIS, Zotero or arXiv-id list becomes their likes",
        description="Make every paper of a reference library USER's likes (or dislikes): a "
        "BibTeX file, RIS (Zotero, Mendeley, EndNote), CSL-JSON (Zotero's, Better CSL JSON), "
        "Zotero's CSV export, or a text file with one arXiv id or DOI a line. Each entry is "
        "matched against the catalog by arXiv id, then DOI, then title (accents, case and "
        "punctuation aside; a title several papers share is reported, not guessed); an entry "
        "that matches nothing is added as a new paper from its own title, abstract and ids. "
        "Entries that cannot be used are skipped and listed with their line or key; the rest "
        "is imported. Importing the same file again changes nothing. No retrain is needed: "
        "the user's next recommendations follow the new likes.\n\n"
        "example:\n"
        "  paperrec import citeulike-a                 # a catalog to recommend from\n"
        "  paperrec import-library refs.bib --user alice",
        formatter_class=fmt,
    )
    lib.add_argument("file", metavar="FILE")
    lib.add_argument("--user", required=True, metavar="USER", help="whose library it is")
    lib.add_argument(
        "--format",
        choices=["auto", "bibtex", "ris", "csl-json", "zotero-csv", "ids"],
        default="auto",
        help="format of FILE (default: from its suffix .bib .ris .json .csv .txt, else its text)",
    )
    lib.add_argument(
        "--as",
        dest="as_",
        choices=["like", "dislike"],
        default="like",
        help="what the papers become for USER (default %(default)s)",
    )
    lib.add_argument(
        "--dry-run", action="store_true", help="report what would happen; store nothing"
    )
    lib.add_argument(
        "--collection", metavar="NAME", help="also put the likes in USER's collection NAME"
    )
    lib.set_defaults(func=cli_imports.cmd_import_library, settings=True)
    cli_digest.add_command(sub, common, fmt)


def build_parser() -> argparse.ArgumentParser:
    fmt = argparse.RawDescriptionHelpFormatter
    # --debug is taken before the command and after it (``paperrec import --debug ...``).
    common = _Parser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    p = _Parser(
        prog="paperrec",
        description="paperrec: a paper recommendation service (FastAPI + Redis).",
        epilog=SETTINGS_HELP + "\n" + WALKTHROUGH,
        formatter_class=fmt,
    )
    p.add_argument("--version", action="version", version=f"paperrec {_version()}")
    p.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    s = sub.add_parser(
        "serve",
        parents=[common],
        help="run the HTTP API",
        description="Run the HTTP API. Without REDIS_URL an embedded Redis (append-only, in the "
        "data folder) starts with it and stops with it. On an empty store the sample catalog "
        "is loaded (PAPERREC_SEED_SAMPLE=false: not). If PAPERREC_ADMIN_TOKEN is unset, an "
        "admin token is generated on first start, kept in <data dir>/admin_token (mode 0600) "
        "and printed once to this console.",
        epilog=SETTINGS_HELP,
        formatter_class=fmt,
    )
    s.add_argument(
        "--host", default="127.0.0.1", help="interface to listen on (default %(default)s)"
    )
    s.add_argument("--port", type=int, default=8000, help="port (default %(default)s)")
    s.add_argument(
        "--workers",
        type=int,
        default=1,
        help="API processes (default %(default)s); run `paperrec train` first so that they load "
        "one saved model instead of each training its own",
    )
    s.set_defaults(func=cmd_serve)

    _command_imports(sub, common, fmt)

    t = sub.add_parser(
        "train",
        parents=[common],
        help="retrain the model from the store",
        description="Retrain on every paper and all feedback in the store and save the bundle "
        "atomically into the data folder (the same code as POST /admin/retrain). A running API "
        "loads the new bundle within PAPERREC_MODEL_POLL_S seconds.",
    )
    t.add_argument(
        "--every",
        type=int,
        metavar="SECONDS",
        default=0,
        help="keep running and retrain every SECONDS (a retrain worker)",
    )
    t.set_defaults(func=cmd_train)

    k = sub.add_parser(
        "token",
        parents=[common],
        help="issue a bearer token for a user and print it",
        description="Issue a bearer token for USER and print it (only its hash is stored, so it "
        "cannot be shown again; issue another if it is lost).",
    )
    k.add_argument("user", metavar="USER")
    k.add_argument(
        "--scope",
        choices=["user", "feed:read"],
        default="user",
        help="user (default): the user's likes, dislikes and recommendations; feed:read: read "
        "a feed only",
    )
    k.add_argument(
        "--expires-in",
        type=int,
        metavar="SECONDS",
        default=None,
        help="the token stops working after SECONDS (default: when revoked)",
    )
    k.set_defaults(func=cmd_token)

    from service.cli_web import add_login_link_command

    add_login_link_command(sub, common)
    return p


def _one_line(exc: BaseException) -> tuple[str, int] | None:
    """``(message, exit status)`` of an error a person can act on; ``None`` for a bug (whose
    traceback is worth showing)."""
    import pydantic
    import redis

    from recommender.datasets import DataDirUnknown
    from recommender.io.lines import LoaderError
    from service.redis_server import EmbeddedRedisError

    if isinstance(exc, LoaderError):
        hint = "" if "nothing was" in exc.problem else " (nothing was imported)"
        return f"{exc}{hint}", 2
    if isinstance(exc, CommandError | DataDirUnknown):
        return str(exc), 2
    if isinstance(exc, pydantic.ValidationError):
        parts = [f"{'.'.join(str(x) for x in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return "bad setting: " + "; ".join(parts) + " (see paperrec --help, settings)", 2
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}", 2
    if isinstance(exc, redis.ConnectionError | redis.TimeoutError):
        return f"cannot reach Redis ({exc}): check REDIS_URL, or unset it for the embedded one", 1
    if isinstance(exc, EmbeddedRedisError):
        return str(exc), 1
    if isinstance(exc, ValueError):
        # The library's ValueErrors are messages about the input (an unknown format name...).
        return str(exc), 2
    return None


def main(argv: list[str] | None = None) -> int:
    _limit_blas_threads()
    args = build_parser().parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    if args.command != "serve":  # uvicorn handles signals itself for serve
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        if getattr(args, "settings", False):
            return int(args.func(args, _load_settings(args)))
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        said = None if debug else _one_line(e)
        if said is None:
            raise
        print(f"error: {said[0]}".replace("\n", " "), file=sys.stderr)
        return said[1]


if __name__ == "__main__":
    sys.exit(main())
