"""The serving model's life cycle: load or train at start, retrain in the background, swap.

Requests read :attr:`ModelManager.engine`, one reference that a retrain replaces in a single
assignment, so a request sees the old engine or the new one, never a mix, and none is dropped.
What a retrain uses and whether a saved bundle still fits the settings are the library's
(:mod:`recommender.training`): this module names the settings and asks. Files are written only
through :mod:`recommender.artifacts`. The API route and ``paperrec train`` run the same
:meth:`run_job`.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from recommender.artifacts import Bundle, BundleError, load_bundle, save_bundle
from recommender.catalog import Catalog, Paper
from recommender.serving import Engine
from recommender.training import TrainingPlan, bundle_differences, training_plan
from service.settings import Settings
from service.store import Store

if TYPE_CHECKING:
    from service.metrics import Metrics

__all__ = ["TRAINING_STEPS", "ModelManager", "RetrainJob", "training_hyperparameters"]

#: The steps of a retrain, in order, as :meth:`ModelManager.run_job` reports them.
TRAINING_STEPS = ("reading the catalog", "reading the feedback", "training", "saving")

log = logging.getLogger(__name__)

JobStatus = Literal["running", "succeeded", "failed"]


def _training_plan(
    settings: Settings, tuned: Path | None = None, *, has_references: bool = True
) -> TrainingPlan:
    """The library's plan for a catalog (with or without ``references``) under ``settings``
    (tuned choices from ``tuned``, else PAPERREC_TUNED_FILE, else the library's)."""
    return training_plan(
        settings.model,
        settings.features,
        catalog_has_references=has_references,
        tuned=settings.tuned_defaults,
        overrides=settings.model_params,
        tuned_path=tuned or settings.tuned_path,
    )


def training_hyperparameters(
    settings: Settings, tuned: Path | None = None, *, has_references: bool = True
) -> tuple[dict[str, Any], dict[str, float]]:
    """``(model params, feature weights)`` a retrain uses
    (:func:`recommender.training.training_plan`): the tuned defaults of the model and the
    features it will really have unless ``tuned_defaults`` is off, with PAPERREC_MODEL_PARAMS
    over them."""
    plan = _training_plan(settings, tuned, has_references=has_references)
    return plan.params, plan.feature_weights


@dataclass
class RetrainJob:
    job_id: str
    status: JobStatus
    requested_at: float
    finished_at: float | None = None
    model_version: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class _Build:
    """An engine built off the lock, waiting to be swapped in (:meth:`ModelManager._install`)."""

    engine: Engine
    mark: str | None
    token: int


def _check(engine: Engine, bundle: Bundle) -> None:
    """Ask an engine of a bundle read from disk for one answer of each kind: a file whose arrays
    do not fit together fails here, with a ``BundleError``, instead of in every request once it
    serves."""
    try:
        paper_id = next((p for p in bundle.paper_ids if p in engine), None)
        engine.recommend([], [], 1)
        if paper_id is not None:
            engine.recommend([paper_id], [], 1)
            engine.similar(paper_id, 1)
        engine.search("paper", 1)
    except Exception as e:
        raise BundleError(f"the model bundle does not serve ({type(e).__name__}: {e})") from e


def _file_id(path: os.PathLike[str] | str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


class ModelManager:
    """Holds the serving :class:`Engine` and replaces it after a retrain."""

    def __init__(self, settings: Settings, store: Store, metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self._engine: Engine | None = None
        # Serialises changes of the serving engine (papers added to it, swaps). Never held
        # across a Redis call: a hung Redis must not hold every catalog write and swap behind
        # it. A paper this process adds while a new engine is being built is logged
        # (``_added``) and applied to that engine when it is swapped in (:meth:`_install`).
        self._papers_lock = threading.Lock()
        self._added_seq = 0
        self._added: list[tuple[int, Sequence[Paper]]] = []
        self._builds: dict[int, int] = {}  # build -> the _added_seq it started at
        self._next_build = 0
        self._job_lock = threading.Lock()
        self.job: RetrainJob | None = None
        self.last_failure: RetrainJob | None = None
        #: The last bundle file that could not be loaded by :meth:`check_bundle`, and why.
        self.last_failed_load: dict[str, Any] | None = None
        self._bundle_id: tuple[int, int, int] | None = None
        #: The catalog change (``Store.last_paper_change``) the serving engine has taken in.
        self._papers_seen = "0-0"
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    @property
    def engine(self) -> Engine | None:
        return self._engine

    def _build(
        self,
        bundle: Bundle,
        catalog: Catalog | None = None,
        mark: str | None = None,
        *,
        check: bool = False,
    ) -> _Build:
        """An engine of ``bundle`` over the catalog in Redis (``catalog`` with the catalog change
        ``mark`` read before it, when the caller has them), built without the lock; ``check``:
        ask it for one answer of each kind first (:meth:`_check`). Hand it to :meth:`_install`
        (or :meth:`_abandon`)."""
        with self._papers_lock:
            token = self._next_build
            self._next_build += 1
            self._builds[token] = self._added_seq
        try:
            if catalog is None:
                # The newest change before the catalog: later ones reach the engine through
                # sync_papers (twice at most, which is harmless).
                mark = self.store.last_paper_change()
                catalog = self.store.catalog()
            engine = Engine(
                bundle,
                catalog,
                ann_threshold=self.settings.ann_threshold,
                ann_method=self.settings.ann_method,
                ranking_cache=self.settings.ranking_cache,
            )
            if check:
                _check(engine, bundle)
        except BaseException:
            self._abandon(token)
            raise
        return _Build(engine, mark, token)

    def _install(self, build: _Build) -> Engine:
        """Serve ``build``'s engine, with the papers this process added while it was built."""
        with self._papers_lock:
            since = self._builds.pop(build.token)
            missed = [p for seq, papers in self._added if seq > since for p in papers]
            if missed:
                build.engine.add_papers(missed)
            self._serve(build.engine)
            if build.mark is not None:
                self._papers_seen = build.mark
            self._prune_added()
        return build.engine

    def _abandon(self, token: int) -> None:
        with self._papers_lock:
            self._builds.pop(token, None)
            self._prune_added()

    def _prune_added(self) -> None:
        """Forget the added papers that no engine being built still needs (lock held)."""
        oldest = min(self._builds.values(), default=self._added_seq)
        self._added = [(seq, papers) for seq, papers in self._added if seq > oldest]

    # ------------------------------------------------------------------ start / stop
    def _load_bundle(self, path: os.PathLike[str] | str) -> Bundle:
        """The bundle at ``path``, if it is what a retrain with the settings would train: the
        same model and features, and hyperparameters (tuned defaults of a new release,
        PAPERREC_MODEL_PARAMS) unchanged since (else BundleError)."""
        bundle = load_bundle(path, embedding_cache=self.settings.embedding_cache)
        try:
            differences = bundle_differences(
                bundle,
                self.settings.model,
                self.settings.features,
                tuned=self.settings.tuned_defaults,
                overrides=self.settings.model_params,
                tuned_path=self.settings.tuned_path,
            )
        except Exception as e:  # metadata of the wrong shape: a bundle that does not load
            raise BundleError(
                f"{path}: unreadable training metadata ({type(e).__name__}: {e})"
            ) from e
        if differences:
            raise BundleError(f"{path}: {'; '.join(differences)}")
        return bundle

    def startup(self) -> None:
        """Serve the saved bundle if it is valid for the catalog in Redis; train otherwise."""
        path = self.settings.bundle_path
        mark = self.store.last_paper_change()
        catalog = self.store.catalog()
        if len(catalog) == 0:
            log.warning("the catalog is empty: add papers (POST /papers, paperrec import)")
            return
        try:
            bundle = self._load_bundle(path)
            engine = self._install(self._build(bundle, catalog, mark, check=True))
            self._bundle_id = _file_id(path)
            log.info("serving model %s (%d papers) from %s", engine.version, len(engine), path)
        except Exception as e:  # any bundle that does not load is a retrain (docs/SECURITY.md)
            if path.exists():
                log.warning("cannot serve the saved model (%s); retraining from Redis", e)
                self.last_failed_load = {
                    "path": str(path),
                    "error": f"{type(e).__name__}: {e}",
                    "at": time.time(),
                }
            else:
                log.info("no saved model yet: training one from the catalog and feedback")
            self.run_job(self._new_job())

    def start_watching(self) -> None:
        """Pick up bundles saved by another process (the retrain worker), and papers that
        another API process added (``--workers``)."""
        for poll_s, check, name in (
            (self.settings.model_poll_s, self.check_bundle, "model"),
            (self.settings.papers_poll_s, self.sync_papers, "papers"),
        ):
            if poll_s > 0:
                t = threading.Thread(
                    target=self._watch,
                    args=(poll_s, check),
                    name=f"paperrec-{name}-watch",
                    daemon=True,
                )
                t.start()
                self._threads.append(t)

    def shutdown(self, timeout_s: float = 30.0) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout_s)
        self._threads.clear()

    def _serve(self, engine: Engine) -> None:
        """Swap ``engine`` in (one assignment), then move everything alive now out of the
        garbage collector's reach (``gc.freeze``): the catalog and model are hundreds of thousands
        of long-lived objects, and every full collection walked them all, a 50-90 ms pause of
        every request in flight, measured on citeulike-a under load. Frozen objects are still
        freed by reference counting when the next model replaces them."""
        self._engine = engine
        gc.collect()
        gc.freeze()

    # ------------------------------------------------------------------ retraining
    def _new_job(self) -> RetrainJob:
        return RetrainJob(uuid.uuid4().hex[:12], "running", time.time())

    def start_retrain(self) -> tuple[RetrainJob, bool]:
        """Start a retrain in a background thread; ``(job, started)``. While one runs, that one is
        returned and no second is started."""
        with self._job_lock:
            if self.job is not None and self.job.status == "running":
                return self.job, False
            job = self._new_job()
            self.job = job
        t = threading.Thread(
            target=self.run_job, args=(job,), name=f"paperrec-retrain-{job.job_id}", daemon=True
        )
        self._threads = [x for x in self._threads if x.is_alive()] + [t]
        t.start()
        return job, True

    def run_job(
        self, job: RetrainJob, *, on_step: Callable[[str], object] | None = None
    ) -> RetrainJob:
        """Train on the whole catalog and all feedback, save the bundle atomically, swap it in.
        On failure the serving engine stays as it was and the job says why. ``on_step`` is
        called with the name of each of :data:`TRAINING_STEPS` as it starts (progress)."""
        step = on_step or (lambda name: None)
        self.job = job
        started = time.monotonic()
        try:
            # The count of feedback changes before the feedback is read: what the model will
            # not have seen is what the count grows by from here (a change made while the
            # feedback is read is counted as unseen, which errs on the safe side).
            seen = self.store.feedback_changes()
            step(TRAINING_STEPS[0])
            catalog = self.store.catalog()
            step(TRAINING_STEPS[1])
            likes, dislikes = self.store.all_feedback()
            plan = _training_plan(self.settings, has_references=any(p.references for p in catalog))
            step(TRAINING_STEPS[2])
            bundle = plan.train(
                catalog, likes, dislikes, embedding_cache=self.settings.embedding_cache
            )
            # The library's version has one-second resolution; the job id makes it unique.
            bundle.metadata["version"] = f"{bundle.version}+{job.job_id}"
            bundle.metadata["job_id"] = job.job_id
            bundle.metadata["feedback_changes"] = seen
            step(TRAINING_STEPS[3])
            save_bundle(self.settings.bundle_path, bundle)
            engine = self._install(self._build(bundle))
            self._bundle_id = _file_id(self.settings.bundle_path)
        except Exception as e:  # a failed retrain must leave the service serving
            job.status, job.error = "failed", f"{type(e).__name__}: {e}"
            job.finished_at = time.time()
            self.last_failure = job
            log.exception("retrain %s failed", job.job_id)
            if self.metrics is not None:
                self.metrics.observe_retrain(False, time.monotonic() - started)
            return job
        job.status, job.model_version, job.finished_at = "succeeded", engine.version, time.time()
        if self.metrics is not None:
            self.metrics.observe_retrain(True, time.monotonic() - started)
        log.info("retrain %s: now serving %s", job.job_id, engine.version)
        return job

    def _watch(self, poll_s: float, check: Callable[[], object]) -> None:
        while not self._stop.wait(poll_s):
            try:
                check()
            except Exception:  # Redis away for a moment: the next round tries again
                log.exception("%s failed; trying again in %.1fs", check.__name__, poll_s)

    def check_bundle(self) -> bool:
        """Serve the bundle file if another process replaced it since it was last read; True
        when a new model now serves. A file that does not load (truncated, garbled, half
        written by a non-atomic copy, another model) never replaces the serving model: the
        error is kept for ``/health`` and the file is tried again once it changes."""
        path = self.settings.bundle_path
        fid = _file_id(path)
        if fid is None or fid == self._bundle_id:
            return False
        try:
            bundle = self._load_bundle(path)
            current = self._engine
            swapped = current is None or bundle.version != current.version
            if swapped:
                self._install(self._build(bundle, check=True))
                log.info("loaded model %s saved by another process", bundle.version)
            self._bundle_id = fid
        except Exception as e:  # keep serving; the next change of the file is tried again
            log.exception(
                "could not load the model bundle at %s; the old model keeps serving", path
            )
            self.last_failed_load = {
                "path": str(path),
                "error": f"{type(e).__name__}: {e}",
                "at": time.time(),
            }
            self._bundle_id = fid
            return False
        self.last_failed_load = None
        return swapped

    # ------------------------------------------------------------------ catalog writes
    def sync_papers(self) -> int:
        """Take in the papers that other processes added or changed since the serving engine
        was built or last synced (read from the catalog change stream); the number taken in."""
        with self._papers_lock:
            engine, seen = self._engine, self._papers_seen
        if engine is None:
            return 0
        last, papers, removed = self.store.paper_changes(seen)  # Redis: outside the lock
        if papers is None:  # the stream was trimmed past us: re-read everything
            log.warning("catalog changes trimmed beyond this process: re-reading the catalog")
            papers = list(self.store.catalog())
            stored = {p.paper_id for p in papers}
            removed = [pid for pid in engine.paper_ids if pid not in stored]
        with self._papers_lock:
            if self._engine is not engine or self._papers_seen != seen:
                return 0  # swapped meanwhile: the next round starts from the new engine's mark
            if papers:
                engine.add_papers(papers)
            if removed:
                engine.remove_papers(removed)
            self._papers_seen = last
        return len(papers) + len(removed)

    def add_papers(self, papers: Sequence[Paper]) -> tuple[int, int]:
        """Store papers in Redis (durable first), then make them recommendable at once (and the
        sample papers they push out of the catalog no longer). ``(created, updated)``."""
        # Redis first, without the lock: a write that fails or hangs leaves the engine as it was.
        put = self.store.put_papers(papers)
        with self._papers_lock:
            engine = self._engine
            if engine is not None:
                engine.add_papers(papers)
                engine.remove_papers(put.removed)
            if self._builds:  # an engine being built read the catalog maybe before these
                self._added_seq += 1
                self._added.append((self._added_seq, papers))
        if engine is None and papers:  # first papers of an empty service: train a first model
            self.start_retrain()
        return put.created, put.updated

    # ------------------------------------------------------------------ status
    def freshness(self, feedback_changes: int) -> dict[str, Any]:
        """The serving model as an operator needs it, given the store's count of feedback
        changes now: ``status`` (ready / not trained), version, age, papers, the feedback it was
        trained on, the changes it has not seen, and whether that makes it ``stale``: at least
        ``PAPERREC_STALE_FEEDBACK`` unseen changes, or more unseen than it was trained on (a
        model trained on 0 likes after 204,986 were imported). A bundle of an older version,
        which did not record the count, counts as having seen none of it."""
        engine = self._engine
        if engine is None:
            return {"status": "not trained", "stale": False}
        meta = engine.metadata
        trained = int(meta.get("n_likes") or 0) + int(meta.get("n_dislikes") or 0)
        unseen = max(0, feedback_changes - int(meta.get("feedback_changes") or 0))
        trained_at = meta.get("trained_at")
        return {
            "status": "ready",
            "version": engine.version,
            "trained_at": trained_at,
            "age_s": None if trained_at is None else round(time.time() - float(trained_at), 1),
            "n_papers": len(engine),
            "n_feedback": trained,
            "unseen_feedback": unseen,
            "stale": unseen >= self.settings.stale_feedback or unseen > trained,
        }

    def status(self) -> dict[str, Any]:
        engine = self._engine
        model: dict[str, Any] = {"status": "not trained", "name": self.settings.model}
        if engine is not None:
            meta = engine.metadata
            model = {
                "status": "ready",
                "name": engine.model_name,
                "version": engine.version,
                "n_papers": len(engine),
                "trained_at": meta.get("trained_at"),
                "n_users": meta.get("n_users"),
                "n_likes": meta.get("n_likes"),
            }
        return {
            "model": model,
            "retrain": None if self.job is None else self.job.to_dict(),
            "last_failed_retrain": (
                None if self.last_failure is None else self.last_failure.to_dict()
            ),
            "last_failed_load": self.last_failed_load,
        }
