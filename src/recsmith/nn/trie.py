"""Unique semantic ids, the prefix trie of valid ids, and beam search constrained by it.

**Collisions.** Residual quantisation may give several items the same ``L`` codes (identical or
near-identical content). :func:`unique_ids` appends one more level that enumerates the items of
each such group (0, 1, 2, ... in item-id order; 0 for an item alone), so every item has a unique
id of ``D = L + 1`` tokens. The extra level's vocabulary is the size of the largest group.

**Trie.** :class:`PrefixTrie` holds the valid ids as CSR arrays per depth (node -> sorted child
tokens and child nodes), so a batch of beams gets its ``(N, V)`` mask of allowed next tokens with a
few vectorised gathers, whatever the catalogue size.

**Beam search.** :func:`constrained_beam_search` extends ``W`` beams per row one level at a time;
a token the trie does not allow from a beam's node is never chosen (score ``-inf``), so every
finished beam is a complete valid id, i.e. exactly one item, and distinct beams are distinct
items. Items that share a prefix compete at the next level like any other siblings: each keeps its
own beam only if its full id scores among the top ``W``; a prefix is never expanded into "all its
items". When a row has fewer than ``W`` valid ids, the surplus beams finish with item ``-1`` and
score ``-inf``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor


def unique_ids(codes: np.ndarray) -> tuple[np.ndarray, dict[str, float]]:
    """``(n, L + 1)`` int64 unique ids from ``(n, L)`` codes, and collision statistics.

    Statistics: ``collision_rate`` (share of items whose ``L`` codes another item also has),
    ``max_group`` (size of the largest such group = the extra level's vocabulary), ``unique_codes``
    (distinct ``L``-code tuples).
    """
    codes = np.asarray(codes, dtype=np.int64)
    n = len(codes)
    if n == 0:
        return np.zeros((0, codes.shape[1] + 1), dtype=np.int64), {
            "collision_rate": 0.0,
            "max_group": 0,
            "unique_codes": 0,
        }
    _, group, sizes = np.unique(codes, axis=0, return_inverse=True, return_counts=True)
    group = group.ravel()
    order = np.lexsort((np.arange(n), group))  # by group, then item id
    first = np.r_[0, np.cumsum(sizes)[:-1]]  # start of each group within ``order``
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - first[group[order]]
    stats = {
        "collision_rate": float((sizes[group] > 1).mean()),
        "max_group": int(sizes.max()),
        "unique_codes": len(sizes),
    }
    return np.concatenate([codes, rank[:, None]], axis=1), stats


class PrefixTrie:
    """The valid ids ``(n_items, D)`` as a trie; leaves map back to items.

    Nodes are numbered per depth: depth ``t`` has ``n_nodes[t]`` nodes (the distinct prefixes of
    length ``t``; depth 0 is the root alone). ``child_offsets[t][v] : child_offsets[t][v + 1]`` index
    ``child_tokens[t]`` / ``child_nodes[t]``, the children of node ``v`` at depth ``t``. The nodes of
    depth ``D`` are the items themselves (node id = item id).
    """

    def __init__(self, ids: np.ndarray, vocab_sizes: list[int]) -> None:
        ids = np.asarray(ids, dtype=np.int64)
        n, depth = ids.shape
        if len(vocab_sizes) != depth:
            raise ValueError(f"{len(vocab_sizes)} vocabulary sizes for ids of {depth} levels")
        if n and (ids.min() < 0 or np.any(ids.max(axis=0) >= np.asarray(vocab_sizes))):
            raise ValueError("an id token lies outside its level's vocabulary")
        if n and len(np.unique(ids, axis=0)) != n:
            raise ValueError("ids are not unique: make them unique with unique_ids() first")
        self.depth = depth
        self.vocab_sizes = list(vocab_sizes)
        self.child_offsets: list[Tensor] = []
        self.child_tokens: list[Tensor] = []
        self.child_nodes: list[Tensor] = []
        parent = np.zeros(n, dtype=np.int64)  # every item's node at the current depth (the root)
        for t in range(depth):
            if t + 1 < depth:
                _, node = np.unique(ids[:, : t + 1], axis=0, return_inverse=True)  # lexicographic ids
                node = node.ravel().astype(np.int64)
            else:
                node = np.arange(n, dtype=np.int64)  # leaves are the items
            pairs = np.unique(np.stack([parent, ids[:, t], node], axis=1), axis=0)  # sorted by parent, token
            n_parents = int(parent.max()) + 1 if n else 1
            counts = np.bincount(pairs[:, 0], minlength=n_parents)
            offsets = np.zeros(n_parents + 1, dtype=np.int64)
            np.cumsum(counts, out=offsets[1:])
            self.child_offsets.append(torch.from_numpy(offsets))
            self.child_tokens.append(torch.from_numpy(pairs[:, 1].copy()))
            self.child_nodes.append(torch.from_numpy(pairs[:, 2].copy()))
            parent = node

    def to(self, device: torch.device | str) -> "PrefixTrie":
        for name in ("child_offsets", "child_tokens", "child_nodes"):
            setattr(self, name, [a.to(device) for a in getattr(self, name)])
        return self

    def step(self, t: int, nodes: Tensor) -> tuple[Tensor, Tensor]:
        """Children of ``nodes`` (``(N,)`` at depth ``t``, ``-1`` = dead beam).

        Returns ``(allowed, next_nodes)``, both ``(N, vocab_sizes[t])``: whether each token is a
        valid continuation, and the node it leads to (``-1`` where not allowed).
        """
        offsets, tokens, children = self.child_offsets[t], self.child_tokens[t], self.child_nodes[t]
        n, vocab = nodes.shape[0], self.vocab_sizes[t]
        live = nodes >= 0
        safe = torch.where(live, nodes, torch.zeros_like(nodes))
        start = offsets[safe]
        count = torch.where(live, offsets[safe + 1] - start, torch.zeros_like(start))
        rows = torch.repeat_interleave(torch.arange(n, device=nodes.device), count)
        # position of each child within its parent's run: global index minus the run's start
        within = torch.arange(rows.numel(), device=nodes.device) - torch.repeat_interleave(
            count.cumsum(0) - count, count
        )
        index = start[rows] + within
        next_nodes = torch.full((n, vocab), -1, dtype=torch.int64, device=nodes.device)
        next_nodes[rows, tokens[index]] = children[index]
        return next_nodes >= 0, next_nodes


def constrained_beam_search(
    log_probs: Callable[[Tensor, int, Tensor | None], Tensor], trie: PrefixTrie, batch: int, beam: int
) -> tuple[Tensor, Tensor]:
    """Top-``beam`` valid ids per row, best first.

    Args:
        log_probs: ``log_probs(prefix, t, parent)`` with ``prefix`` ``(batch * beam, t)`` int64 (the
            tokens chosen so far; rows ``i * beam .. (i + 1) * beam - 1`` belong to row ``i``) returns
            ``(batch * beam, vocab_sizes[t])`` log-probabilities of the next token. ``parent``
            ``(batch * beam,)``: the row of the previous step each beam extends (None at ``t = 0``),
            for callers that cache per-beam state.
        trie: the valid ids.
        batch, beam: rows and beams per row.

    Returns:
        ``(items, scores)``, both ``(batch, beam)``: item ids (``-1`` for beams that found no
        valid id) and the summed log-probabilities of their tokens (``-inf`` for ``-1``).
    """
    device = trie.child_offsets[0].device
    nodes = torch.zeros(batch * beam, dtype=torch.int64, device=device)
    # only the first beam of each row is live at the start, so the root is expanded once
    scores = torch.full((batch, beam), float("-inf"), device=device)
    scores[:, 0] = 0.0
    nodes[scores.ravel() == float("-inf")] = -1
    prefix = torch.zeros(batch * beam, 0, dtype=torch.int64, device=device)
    parent: Tensor | None = None
    for t in range(trie.depth):
        allowed, next_nodes = trie.step(t, nodes)
        vocab = allowed.shape[1]
        step = log_probs(prefix, t, parent).float().masked_fill(~allowed, float("-inf"))
        total = (scores.reshape(-1, 1) + step).reshape(batch, beam * vocab)
        scores, flat = total.topk(beam, dim=1)  # (batch, beam)
        parent = flat // vocab + torch.arange(batch, device=device)[:, None] * beam  # global beam index
        token = flat % vocab
        parent, token = parent.ravel(), token.ravel()
        nodes = next_nodes[parent, token]
        nodes = torch.where(torch.isfinite(scores.ravel()), nodes, torch.full_like(nodes, -1))
        prefix = torch.cat([prefix[parent], token[:, None]], dim=1)
    items = nodes.reshape(batch, beam)
    return items, scores
