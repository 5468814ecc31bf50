"""Synthetic data whose right answer is known: for tests, demos and benchmarks.

``block_dataset`` builds users and papers in ``n_blocks`` topics: every user likes papers of their
own topic only, and every paper's text is made mostly of its topic's words. A good model ranks a
user's own-topic papers first, from likes alone (collaborative) or from text alone (content).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

__all__ = ["BlockData", "block_dataset"]


@dataclass
class BlockData:
    likes: sp.csr_matrix  # users x items, training likes
    heldout: np.ndarray  # per user: one liked item removed from training (the "diagonal")
    texts: list[str]  # per item
    counts: sp.csr_matrix  # items x words, bag of words of ``texts``
    vocabulary: list[str]
    user_block: np.ndarray
    item_block: np.ndarray

    @property
    def n_users(self) -> int:
        return int(self.likes.shape[0])

    @property
    def n_items(self) -> int:
        return int(self.likes.shape[1])

    def items_of_block(self, b: int) -> np.ndarray:
        return np.flatnonzero(self.item_block == b)


def block_dataset(
    n_blocks: int = 4,
    users_per_block: int = 15,
    items_per_block: int = 20,
    likes_per_user: int = 8,
    words_per_block: int = 12,
    words_per_item: int = 8,
    noise_words: int = 1,
    seed: int = 0,
) -> BlockData:
    """Users of topic *b* like ``likes_per_user`` random papers of topic *b*; one of them is held
    out. Each paper's text has ``words_per_item`` words of its topic and ``noise_words`` random
    words of any topic."""
    rng = np.random.default_rng(seed)
    n_users, n_items = n_blocks * users_per_block, n_blocks * items_per_block
    user_block = np.repeat(np.arange(n_blocks), users_per_block)
    item_block = np.repeat(np.arange(n_blocks), items_per_block)
    vocabulary = [f"topic{b}word{w}" for b in range(n_blocks) for w in range(words_per_block)]

    rows, cols, heldout = [], [], np.empty(n_users, dtype=np.int64)
    for u in range(n_users):
        items = rng.choice(
            np.flatnonzero(item_block == user_block[u]), size=likes_per_user, replace=False
        )
        heldout[u] = items[0]
        rows += [u] * (likes_per_user - 1)
        cols += items[1:].tolist()
    likes = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(n_users, n_items)
    )

    texts, c_rows, c_cols = [], [], []
    for i in range(n_items):
        b = item_block[i]
        words = (b * words_per_block + rng.choice(words_per_block, words_per_item)).tolist()
        words += rng.choice(len(vocabulary), noise_words).tolist()
        texts.append(" ".join(vocabulary[w] for w in words))
        c_rows += [i] * len(words)
        c_cols += words
    counts = sp.csr_matrix(
        (np.ones(len(c_rows), dtype=np.float32), (c_rows, c_cols)),
        shape=(n_items, len(vocabulary)),
    )
    counts.sum_duplicates()
    return BlockData(likes, heldout, texts, counts, vocabulary, user_block, item_block)
