"""The service's settings: the one place that reads the environment.

Every setting is read from an environment variable prefixed ``PAPERREC_`` (``PAPERREC_DATA_DIR``,
``PAPERREC_ADMIN_TOKEN``, ...) or from a ``.env`` file in the working directory. ``REDIS_URL`` is
also read unprefixed, as most platforms set it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    PlainSerializer,
    PlainValidator,
    SecretStr,
    WithJsonSchema,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from recommender.features import FEATURE_SETS, FeatureSet
from recommender.training import DEFAULT_FEATURES, DEFAULT_MODEL
from recommender.tuned import TUNED_PATH, load_settings

#: The least an admin token (``PAPERREC_ADMIN_TOKEN`` or the admin token file) must be: long, and
#: not a word repeated. A generated token is 43 characters of about 6 bits each.
MIN_ADMIN_TOKEN_LENGTH = 32
MIN_ADMIN_TOKEN_DISTINCT = 10


def admin_token_weakness(token: str) -> str | None:
    """Why ``token`` is too weak to be the admin token, or None."""
    if len(token) < MIN_ADMIN_TOKEN_LENGTH or len(set(token)) < MIN_ADMIN_TOKEN_DISTINCT:
        return (
            f"the admin token must be at least {MIN_ADMIN_TOKEN_LENGTH} characters with at "
            f"least {MIN_ADMIN_TOKEN_DISTINCT} different ones (this one: {len(token)} "
            f"characters, {len(set(token))} different); make one with: python3 -c "
            "'import secrets; print(secrets.token_urlsafe(32))'"
        )
    return None


#: A feature set, read from its name by the library's one parser (an unknown name is an error
#: listing the names) and written back as its name. NoDecode: the environment holds the name,
#: not the JSON that pydantic-settings would expect of a dataclass.
FeatureSetSetting = Annotated[
    FeatureSet,
    NoDecode,
    PlainValidator(FeatureSet.parse),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "enum": list(FEATURE_SETS)}),
]


class Settings(BaseSettings):
    """Configuration of the API, the CLI and the retrain worker."""

    model_config = SettingsConfigDict(
        env_prefix="PAPERREC_",
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    data_dir: Path = Field(
        default=Path("data"),
        description="Folder for the embedded Redis files, the model bundle and the admin token.",
    )
    datasets_dir: Path | None = Field(
        default=None,
        description="Folder of the research dataset folders that `paperrec import citeulike-a` "
        "reads. Unset: ../shared/datasets beside a checkout of the project.",
    )
    redis_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("REDIS_URL", "PAPERREC_REDIS_URL", "redis_url"),
        description="Redis to use (redis://, rediss:// or unix://). Unset: an embedded Redis "
        "server is started inside data_dir.",
    )
    redis_cluster: str | None = Field(
        default=None,
        pattern=r"^\s*[^\s,:]+:[0-9]+\s*(,\s*[^\s,:]+:[0-9]+\s*)*$",
        description="A Redis Cluster to use instead: seed nodes as host:port,host:port,... "
        "(some of its nodes; the others are found from them). Takes precedence over REDIS_URL.",
    )
    redis_wait_replicas: int | None = Field(
        default=None,
        ge=0,
        description="On a Redis Cluster, before answering 2xx to a write the store makes by "
        "script (feedback, a paper put in a collection, a collection created, rules set), WAIT "
        "until this many replicas hold it (else 503: retry). Unset: 1. Not used with one server.",
    )
    redis_wait_timeout_ms: int = Field(
        default=500,
        ge=1,
        description="How long a write waits for its replicas (redis_wait_replicas), ms; at "
        "most 80% of redis_timeout_s.",
    )
    redis_appendfsync: Literal["always", "everysec", "no"] = Field(
        default="always",
        description="Append-only file fsync policy of the embedded Redis: 'always' acknowledges a "
        "write only once it is on disk; 'everysec' may lose the last second on a power cut.",
    )
    redis_maxmemory: str = Field(
        default="1gb",
        pattern=r"^[0-9]+(b|kb|mb|gb)?$",
        description="Memory bound of the embedded Redis (Redis's maxmemory: '1gb', '512mb'; "
        "'0' = none), with the policy noeviction: at the bound writes are refused with 507 "
        "(nothing stored) while reads go on; never is an acknowledged like evicted. An external "
        "Redis: set maxmemory and maxmemory-policy noeviction on it.",
    )
    events_max: int = Field(
        default=1_000_000,
        ge=1000,
        description="Most feedback events the paperrec:events stream keeps (the oldest go "
        "first); about 100 bytes each in Redis.",
    )
    events_retention_days: float = Field(
        default=90.0,
        ge=0,
        description="Feedback events older than this are dropped from the stream; 0 = kept "
        "until events_max pushes them out. Likes and dislikes themselves are kept forever.",
    )
    redis_timeout_s: float = Field(
        default=1.0,
        gt=0,
        description="Seconds a Redis command (or connecting) may take before the request fails "
        "with 503: a hung Redis fails requests fast instead of holding them.",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of the admin, at least 32 characters. Unset: one is generated "
        "on first start and kept in <data_dir>/admin_token (mode 0600).",
    )
    model: str = Field(default=DEFAULT_MODEL, description="Ranking model trained by retrains.")
    features: FeatureSetSetting = Field(
        default=DEFAULT_FEATURES,
        description=f"Content features of the papers, one of {', '.join(FEATURE_SETS)}: TF-IDF "
        "of title and abstract, plus their citation links (papers' `references`; left out when "
        "no paper has any) and/or sentence embeddings (needs the [embed] extra: pip install -e "
        "'.[embed]').",
    )
    model_params: dict[str, Any] = Field(
        default_factory=dict,
        description="Hyperparameters of the model (JSON object), over the tuned defaults.",
    )
    tuned_defaults: bool = Field(
        default=True,
        description="Start from the hyperparameters and feature weights chosen on validation "
        "for the model and feature set (recommender/tuned.json, citeulike-a P=10); false: the "
        "model's own defaults.",
    )
    tuned_file: Path | None = Field(
        default=None,
        description="A file of tuned choices in the layout of recommender/tuned.json (e.g. "
        "written by `python -m experiments.tune_served --settings FILE` on a library of your "
        "own) to train by instead of the one shipped with the library. Unset: the shipped one.",
    )
    seed_sample: bool = Field(
        default=True, description="Load the bundled sample catalog when Redis holds no paper."
    )
    model_poll_s: float = Field(
        default=30.0,
        ge=0,
        description="How often the API checks whether another process (the retrain worker) "
        "saved a newer model bundle; 0 turns it off.",
    )
    papers_poll_s: float = Field(
        default=1.0,
        ge=0,
        description="How often the API takes in papers that another API process added "
        "(--workers); 0 turns it off.",
    )
    max_batch: int = Field(default=1000, ge=1, description="Most papers in one POST /papers.")
    max_body_bytes: int = Field(
        default=10_000_000, ge=1024, description="Largest request body accepted, in bytes."
    )
    rate_limit_per_s: float = Field(
        default=20.0,
        ge=0,
        description="Requests per second one user may make, sustained, whatever number of "
        "tokens they hold (a token bucket in each API process, so with --workers N a user gets "
        "at most N times this); 0 turns the limit off. The admin is exempt.",
    )
    rate_limit_burst: int = Field(
        default=100, ge=1, description="Requests a user may make at once after a pause."
    )
    address_rate_limit_per_s: float = Field(
        default=20.0,
        ge=0,
        description="Requests per second one client address may make without a valid token "
        "(public routes: papers, search, /health; and requests whose token is missing, unknown "
        "or expired), sustained, per API process; 0 turns the limit off.",
    )
    address_rate_limit_burst: int = Field(
        default=100, ge=1, description="Such requests one client address may make at once."
    )
    ann_threshold: int = Field(
        default=200_000,
        ge=0,
        description="Catalogs of at least this many papers rank through an approximate "
        "nearest-neighbour index (faiss) when the model scores by vectors (content on dense "
        "features, ALS, BPR, LightFM); the hybrid is always scored exactly. 0 = always.",
    )
    ranking_cache: int = Field(
        default=2048,
        ge=0,
        description="Rankings kept per API process for the users served last (least recently "
        "used dropped first; about 8 bytes per kept row, twice the rows a list needed): a "
        "user asking again with the same likes and dislikes is answered without scoring the "
        "catalog again. Any like, dislike or change of the papers scores afresh. 0: off.",
    )
    ann_method: Literal["exact", "hnsw", "ivf"] = Field(
        default="ivf", description="The approximate index: ivf or hnsw (exact: for comparison)."
    )
    client_header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client may take to send a request's headers (from its first "
        "byte; a new connection: from connecting): a client that trickles them is cut off.",
    )
    client_body_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a client may take to send a request's body: a trickled body is "
        "answered 408 and the connection closed.",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Addresses of reverse proxies whose X-Forwarded-For is believed (comma "
        "separated, '*' = any): the per-address rate limit then applies to the real client.",
    )
    stale_feedback: int = Field(
        default=1000,
        ge=1,
        description="/health says 'stale' once the serving model has not seen this many "
        "feedback changes (or more than it was trained on): time to retrain.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token a Prometheus scraper sends to GET /metrics (at least 32 "
        "characters; the admin token works too). Unset: only the admin token.",
    )
    session_days: float = Field(
        default=14.0,
        gt=0,
        description="How long a sign-in to the web page lasts (its session cookie), in days; "
        "signing out ends it at once.",
    )
    login_link_minutes: float = Field(
        default=15.0,
        gt=0,
        description="How long a one-time sign-in link (`paperrec login-link USER`) stays "
        "valid, in minutes.",
    )
    explore: float = Field(
        default=0.0,
        ge=0,
        le=2,
        description="How much GET /users/{id}/recommendations explores when the request does "
        "not say (its `explore` parameter): the prior width of in-slate Thompson sampling, in "
        "units of the list's score range; 0 is the ranker's own order (experiments/README.md, "
        "the replay, says why this default).",
    )
    diversity: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="How varied a list is when the request does not say (its `diversity` "
        "parameter): the weight of MMR's penalty on papers like those already in the list, "
        "0 (none) to 1.",
    )
    impressions: bool = Field(
        default=True,
        description="Remember per user what was shown: a list never repeats the previous one "
        "unless nothing else is left, and papers shown PAPERREC_IMPRESSIONS_MAX_SHOWS times "
        "without a reaction stop being shown.",
    )
    impressions_max_shows: int = Field(
        default=3,
        ge=0,
        description="Times a paper is shown without a like or dislike before it stops being "
        "shown (0: never stops).",
    )
    impressions_kept: int = Field(
        default=500, ge=1, description="Most recently shown papers remembered per user."
    )
    impressions_flush_s: float = Field(
        default=1.0,
        ge=0,
        description="How often impressions are written to Redis in one batch; 0 writes them in "
        "each request (an append-only-file write, and an fsync under appendfsync always, per "
        "list). A crash loses at most this interval of them.",
    )
    log_level: str = Field(default="INFO", description="Logging level.")
    # Feeds and the digest (service/feeds.py, service/digest.py).
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s?#]+$",
        description="The service's address as people, feed readers and mail readers reach it "
        "(the sign-in links `paperrec login-link` prints, feed URLs, links in the digest, its "
        "unsubscribe link; behind a proxy: its https address), e.g. https://papers.example.org. "
        "Unset: the address a request came to (feeds); http://127.0.0.1:8000 (sign-in links, "
        "the digest).",
    )
    feed_size: int = Field(default=20, ge=1, le=200, description="Most entries of one feed fetch.")
    feed_depth: int = Field(
        default=100,
        ge=1,
        le=1000,
        description="A feed serves papers from the top this many of the reader's list only: "
        "once those are served, it waits for new papers rather than going down the list.",
    )
    smtp_host: str | None = Field(default=None, description="SMTP server of the digest.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="Its port.")
    smtp_tls: Literal["starttls", "ssl", "none"] = Field(
        default="starttls",
        description="'starttls' (port 587), 'ssl' (implicit TLS, port 465) or 'none' (a local "
        "relay only).",
    )
    smtp_username: str | None = Field(default=None, description="SMTP login, if it needs one.")
    smtp_password: SecretStr | None = Field(default=None, description="SMTP password.")
    smtp_timeout_s: float = Field(default=30.0, gt=0, description="Seconds an SMTP step may take.")
    digest_from: str = Field(
        default="paperrec <paperrec@localhost>", description="The digest's From address."
    )
    digest_size: int = Field(
        default=10, ge=1, le=100, description="Most papers per section (list) of a digest."
    )
    digest_first_days: int = Field(
        default=7,
        ge=1,
        le=365,
        description="A user's first digest covers papers published in this many last days; a "
        "later one, papers that entered the catalog since the previous digest, published at "
        "most this many days before it.",
    )
    digest_retries: int = Field(
        default=3,
        ge=0,
        le=10,
        description="Retries of a digest that failed to send, within one run (a digest still "
        "unsent is sent, the same message, by the next run).",
    )

    @field_validator("tuned_file")
    @classmethod
    def _readable_choices(cls, value: Path | None) -> Path | None:
        if value is not None:
            if not value.is_file():
                raise ValueError(f"{value}: no such file")
            try:
                load_settings(value)
            except (OSError, ValueError) as e:  # JSONDecodeError is a ValueError
                raise ValueError(f"{value}: not a file of tuned choices ({e})") from None
        return value

    @field_validator("admin_token", "metrics_token")
    @classmethod
    def _strong_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and value.get_secret_value():
            why = admin_token_weakness(value.get_secret_value())
            if why is not None:
                raise ValueError(why.replace("the admin token", "the token"))
        return value

    @property
    def tuned_path(self) -> Path:
        """The file of tuned choices retrains start from: PAPERREC_TUNED_FILE, else the
        library's."""
        return self.tuned_file or TUNED_PATH

    @property
    def bundle_path(self) -> Path:
        return self.data_dir / "model.npz"

    @property
    def embedding_cache(self) -> Path:
        return self.data_dir / "embeddings"

    @property
    def admin_token_path(self) -> Path:
        return self.data_dir / "admin_token"
