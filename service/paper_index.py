"""The catalog's index in Redis: paper ids by arXiv id, DOI and title key (the keys of
:func:`recommender.library.paper_keys`), kept in step with the papers.

:class:`IndexUpdate` is computed inside the store's ``WATCH`` of the papers and the index (so
what it read cannot change before it writes), and queued into the same ``MULTI`` as the papers:
a stored paper is always indexed. An arXiv id or DOI names one paper, the first stored with it
(a later paper claiming it does not take it over); a title key lists every paper with that
title, so that an ambiguous title can be reported.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis

from recommender.catalog import Paper
from recommender.library import paper_keys
from service import keys

__all__ = ["BUILT", "KEYS", "IndexUpdate", "build", "full_index"]

log = logging.getLogger(__name__)

#: The meta field saying the index covers every stored paper.
BUILT = "paper-index"
_CHUNK = 1000

#: The index's keys (all watched while an update is computed).
KEYS = (keys.PAPER_BY_ARXIV, keys.PAPER_BY_DOI, keys.PAPER_BY_TITLE)


@dataclass
class IndexUpdate:
    """The fields to set and delete in each index hash."""

    set_: dict[str, dict[str, str]] = field(default_factory=lambda: {k: {} for k in KEYS})
    delete: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in KEYS})

    @classmethod
    def compute(
        cls,
        client: Any,
        old: Mapping[str, Paper | None],
        new: Iterable[Paper],
        removed: Iterable[Paper] = (),
        *,
        layout: keys.Layout = keys.SINGLE,
    ) -> IndexUpdate:
        """What storing ``new`` (replacing ``old``, the stored versions by id, ``None`` where
        there was none) and deleting ``removed`` does to the index; reads the index's current
        fields through ``client`` (a pipeline in ``WATCH`` mode answers at once)."""
        entering = {p.paper_id: paper_keys(p) for p in new}
        leaving = {pid: paper_keys(p) for pid, p in old.items() if p is not None}
        leaving.update({p.paper_id: paper_keys(p) for p in removed})
        names = layout.paper_index
        out = cls({k: {} for k in names}, {k: [] for k in names})
        for slot, hash_key in ((0, layout.PAPER_BY_ARXIV), (1, layout.PAPER_BY_DOI)):
            affected: list[str] = sorted(
                {v for k in (*entering.values(), *leaving.values()) if (v := k[slot])}
            )
            if not affected:
                continue
            current = dict(zip(affected, client.hmget(hash_key, affected), strict=True))
            for key in affected:
                owner = current[key]
                leaves = owner in leaving and leaving[owner][slot] == key
                if leaves and (owner not in entering or entering[owner][slot] != key):
                    owner = None  # its paper leaves the key (removed, or another id now)
                if owner is None:
                    owner = next((pid for pid, k in entering.items() if k[slot] == key), None)
                if owner != current[key]:
                    if owner is None:
                        out.delete[hash_key].append(key)
                    else:
                        out.set_[hash_key][key] = owner
        titles = sorted({k[2] for k in (*entering.values(), *leaving.values()) if k[2]})
        if titles:
            raw = client.hmget(layout.PAPER_BY_TITLE, titles)
            lists = {t: list(json.loads(r)) if r else [] for t, r in zip(titles, raw, strict=True)}
            for t in titles:
                ids = [
                    pid
                    for pid in lists[t]
                    if not (pid in leaving and (pid not in entering or entering[pid][2] != t))
                ]
                ids += [pid for pid, k in entering.items() if k[2] == t and pid not in ids]
                ids.sort()
                if ids != lists[t]:
                    if ids:
                        out.set_[layout.PAPER_BY_TITLE][t] = json.dumps(ids, ensure_ascii=False)
                    else:
                        out.delete[layout.PAPER_BY_TITLE].append(t)
        return out

    def apply(self, pipe: Any) -> None:
        """Queue the writes into ``pipe`` (inside its ``MULTI``)."""
        for hash_key in self.set_:
            if self.set_[hash_key]:
                pipe.hset(hash_key, mapping=self.set_[hash_key])
            if self.delete[hash_key]:
                pipe.hdel(hash_key, *self.delete[hash_key])


def full_index(
    papers: Iterable[Paper], layout: keys.Layout = keys.SINGLE
) -> dict[str, dict[str, str]]:
    """The whole index of ``papers``, hash by hash (for building it over a stored catalog)."""
    arxiv: dict[str, str] = {}
    doi: dict[str, str] = {}
    title: dict[str, list[str]] = {}
    for p in sorted(papers, key=lambda p: p.paper_id):
        a, d, t = paper_keys(p)
        if a:
            arxiv.setdefault(a, p.paper_id)
        if d:
            doi.setdefault(d, p.paper_id)
        if t:
            title.setdefault(t, []).append(p.paper_id)
    return {
        layout.PAPER_BY_ARXIV: arxiv,
        layout.PAPER_BY_DOI: doi,
        layout.PAPER_BY_TITLE: {t: json.dumps(ids, ensure_ascii=False) for t, ids in title.items()},
    }


def build(
    client: Any, papers: Callable[[], Iterator[Paper]], layout: keys.Layout = keys.SINGLE
) -> None:
    """Build the whole index over the stored ``papers`` (read while the papers are watched, so
    no paper stored meanwhile is missed) and mark it built."""
    with client.pipeline(transaction=True) as pipe:
        while True:
            try:
                pipe.watch(layout.PAPERS, layout.META)
                if pipe.hexists(layout.META, BUILT):
                    return
                index = full_index(papers(), layout)
                pipe.multi()
                pipe.delete(*layout.paper_index)
                for hash_key, fields in index.items():
                    items = list(fields.items())
                    for i in range(0, len(items), _CHUNK):
                        pipe.hset(hash_key, mapping=dict(items[i : i + _CHUNK]))
                pipe.hset(layout.META, BUILT, f"{time.time():.0f}")
                pipe.execute()
                if index[layout.PAPER_BY_TITLE]:
                    log.info("indexed the stored papers by arXiv id, DOI and title")
                return
            except redis.WatchError:
                continue
