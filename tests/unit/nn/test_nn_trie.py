"""The prefix trie and the constrained beam search: never an invalid id, never a duplicate, exact
when the beam covers the catalogue; and the TIGER network's beam scores equal its teacher-forced
log-probabilities. Seeded random cases pin known shapes; a hypothesis property test searches for
catalogues and (adversarial) next-token distributions that would make the search emit an invalid or
duplicate id."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from recsmith.nn.tiger import TigerNetwork
from recsmith.nn.trie import PrefixTrie, constrained_beam_search, unique_ids

CASES = range(12)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_ids(seed: int) -> tuple[np.ndarray, list[int]]:
    """Unique ids from random, heavily colliding codes (sizes, depth and vocabularies vary by seed)."""
    rng = np.random.default_rng(seed)
    levels, codes, n = int(rng.integers(1, 4)), int(rng.integers(2, 6)), int(rng.integers(1, 60))
    ids, stats = unique_ids(rng.integers(0, codes, size=(n, levels)))
    return ids, [codes] * levels + [stats["max_group"]]


def table_log_probs(vocab_sizes: list[int], seed: int, batch: int, beam: int):
    """Deterministic random next-token log-probabilities: a function of (row, prefix, level) only."""

    def log_probs(prefix: torch.Tensor, t: int, parent: torch.Tensor | None = None) -> torch.Tensor:
        row = torch.arange(prefix.shape[0]) // beam
        key = row * 1_000_003 + (prefix * torch.tensor([7919**i for i in range(t)])).sum(1) + seed * 31
        g = [torch.Generator().manual_seed(int(k) * 10 + t) for k in key]
        logits = torch.stack([torch.randn(vocab_sizes[t], generator=gi) * 2 for gi in g])
        return logits.log_softmax(-1)

    return log_probs


def path_score(log_probs, ids: np.ndarray, row: int, beam: int) -> float:
    """Sum of log-probabilities of an id's tokens, asked one prefix at a time as row ``row``."""
    total = 0.0
    for t in range(ids.shape[0]):
        prefix = torch.as_tensor(ids[None, :t], dtype=torch.int64).repeat(beam, 1)
        out = log_probs(torch.cat([prefix] * (row + 1)), t)  # rows 0..row, each ``beam`` wide
        total += float(out[row * beam, ids[t]])
    return total


@pytest.mark.parametrize("seed", CASES)
def test_trie_step_matches_brute_force(seed: int) -> None:
    ids, vocab = random_ids(seed)
    trie = PrefixTrie(ids, vocab)
    for t in range(ids.shape[1]):
        prefixes = np.unique(ids[:, :t], axis=0)
        nodes = [] if t else [0]
        if t:
            _, node_of = np.unique(ids[:, :t], axis=0, return_inverse=True)
            nodes = [int(node_of.ravel()[np.flatnonzero((ids[:, :t] == p).all(1))[0]]) for p in prefixes]
        allowed, nxt = trie.step(t, torch.tensor([*nodes, -1]))
        for row, prefix in enumerate(prefixes if t else [np.zeros(0, dtype=np.int64)]):
            expected = np.zeros(vocab[t], dtype=bool)
            expected[ids[(ids[:, :t] == prefix).all(1), t]] = True
            np.testing.assert_array_equal(allowed[row].numpy(), expected)
        assert not allowed[-1].any() and (nxt[-1] == -1).all()  # a dead beam has no children
    leaves = torch.zeros(len(ids), dtype=torch.int64)  # walking each id reaches its own item
    for t in range(ids.shape[1]):
        _, nxt = trie.step(t, leaves)
        leaves = nxt[torch.arange(len(ids)), torch.as_tensor(ids[:, t])]
    np.testing.assert_array_equal(leaves.numpy(), np.arange(len(ids)))


@pytest.mark.parametrize("seed", CASES)
def test_beam_search_emits_only_valid_distinct_items(seed: int) -> None:
    ids, vocab = random_ids(seed)
    rng = np.random.default_rng(seed + 100)
    batch, beam = 3, int(rng.integers(1, 2 * len(ids) + 2))
    log_probs = table_log_probs(vocab, seed, batch, beam)
    items, scores = constrained_beam_search(log_probs, PrefixTrie(ids, vocab), batch, beam)
    assert items.shape == scores.shape == (batch, beam)
    for row in range(batch):
        found = items[row][items[row] >= 0].numpy()
        assert len(found) == min(beam, len(ids))  # only a catalogue smaller than the beam leaves gaps
        assert len(set(found)) == len(found)  # distinct items
        assert np.all(np.diff(scores[row].numpy()[: len(found)]) <= 0)  # best first
        assert np.all(np.isneginf(scores[row].numpy()[len(found) :]))
        for item, score in zip(found[:3], scores[row].numpy()):
            assert score == pytest.approx(path_score(log_probs, ids[item], row, beam), abs=1e-5)


@pytest.mark.parametrize("seed", CASES)
def test_beam_covering_the_catalogue_is_exact(seed: int) -> None:
    ids, vocab = random_ids(seed)
    beam = len(ids)
    log_probs = table_log_probs(vocab, seed, 1, beam)
    items, scores = constrained_beam_search(log_probs, PrefixTrie(ids, vocab), 1, beam)
    exact = np.array([path_score(log_probs, ids[i], 0, beam) for i in range(len(ids))])
    order = np.argsort(-exact, kind="stable")
    np.testing.assert_allclose(scores[0].numpy(), exact[order], atol=1e-5)
    assert sorted(items[0].tolist()) == list(range(len(ids)))


@st.composite
def catalogues(draw) -> tuple[np.ndarray, list[int]]:
    """Unique ids from drawn codes: 1-3 levels of 2-5 codes, 1-40 items, collisions welcome."""
    levels, codes = draw(st.integers(1, 3)), draw(st.integers(2, 5))
    rows = draw(
        st.lists(st.lists(st.integers(0, codes - 1), min_size=levels, max_size=levels), min_size=1, max_size=40)
    )
    ids, stats = unique_ids(np.array(rows))
    return ids, [codes] * levels + [stats["max_group"]]


@settings(max_examples=60, deadline=None)
@given(
    catalogue=catalogues(),
    seed=st.integers(0, 10_000),
    batch=st.integers(1, 3),
    beam=st.integers(1, 50),
    invalid_boost=st.sampled_from([0.0, 50.0]),
)
def test_property_beam_search_never_emits_an_invalid_or_duplicate_id(catalogue, seed, batch, beam, invalid_boost):
    ids, vocab = catalogue
    trie = PrefixTrie(ids, vocab)
    base = table_log_probs(vocab, seed, batch, beam)

    def log_probs(prefix: torch.Tensor, t: int, parent: torch.Tensor | None = None) -> torch.Tensor:
        # adversarial variant: most of the mass on tokens that no valid id continues with
        valid = torch.zeros(prefix.shape[0], vocab[t], dtype=torch.bool)
        for r, row in enumerate(prefix.numpy()):
            valid[r, ids[(ids[:, :t] == row).all(1), t]] = True
        return (base(prefix, t) + invalid_boost * (~valid)).log_softmax(-1)

    items, scores = constrained_beam_search(log_probs, trie, batch, beam)
    catalogue_ids = {tuple(row) for row in ids}
    for row in range(batch):
        found = items[row][items[row] >= 0].numpy()
        assert len(found) == min(beam, len(ids)) and len(set(found)) == len(found)
        assert all(0 <= item < len(ids) and tuple(ids[item]) in catalogue_ids for item in found)
        assert torch.isfinite(scores[row, : len(found)]).all() and torch.isneginf(scores[row, len(found) :]).all()
        for item, score in zip(found[:2], scores[row].numpy()):  # the score is that id's own path
            assert score == pytest.approx(path_score(log_probs, ids[item], row, beam), abs=1e-4)


def test_trie_rejects_bad_ids() -> None:
    with pytest.raises(ValueError, match="not unique"):
        PrefixTrie(np.array([[0, 1], [0, 1]]), [2, 2])
    with pytest.raises(ValueError, match="outside"):
        PrefixTrie(np.array([[0, 2]]), [2, 2])


def network(positions: str = "relative", beam: int = 7) -> TigerNetwork:
    ids, vocab = random_ids(3)
    torch.manual_seed(0)
    return TigerNetwork(
        ids,
        vocab,
        user_buckets=5,
        max_items=4,
        dim=16,
        heads=2,
        encoder_layers=1,
        decoder_layers=1,
        ff_dim=32,
        dropout=0.0,
        positions=positions,
        beam=beam,
    ).eval()


@pytest.mark.parametrize("positions", ["relative", "learned"])
def test_network_beam_scores_are_teacher_forced_log_probs(positions: str) -> None:
    net = network(positions)
    users = torch.tensor([0, 1, 2])
    history = torch.tensor([[-1, -1, 0, 1], [2, 3, 4, 5], [-1, -1, -1, -1]])  # left-padded; one empty
    with torch.no_grad():
        scores = net((users, history), None)
        assert scores.shape == (3, net.n_items)
        for row in range(3):
            top = torch.nonzero(torch.isfinite(scores[row])).ravel()
            assert len(top) == net.beam
            forced = net((users[row : row + 1], history[row : row + 1]), top)[0]
            torch.testing.assert_close(scores[row, top], forced, atol=1e-5, rtol=0)
        # log-softmax over each level's whole vocabulary, then the trie: the catalogue's ids hold at
        # most all the probability (invalid ids take the rest), and the beam holds the most likely ones
        everything = net((users, history), torch.arange(net.n_items))
        assert torch.all(everything.exp().sum(1) <= 1 + 1e-5)
        best = everything.topk(net.beam, dim=1)
        torch.testing.assert_close(best.values, scores.topk(net.beam, dim=1).values, atol=1e-5, rtol=0)
        loss = net((users, history), torch.tensor([0, 1, 2]), loss=True)
        assert loss.dim() == 0 and float(loss) > 0


def test_network_output_does_not_depend_on_padding_width() -> None:
    net = network()
    users = torch.tensor([4])
    with torch.no_grad():
        short = net((users, torch.tensor([[3, 1]])), torch.arange(net.n_items))
        padded = net((users, torch.tensor([[-1, -1, 3, 1]])), torch.arange(net.n_items))
    torch.testing.assert_close(short, padded, atol=1e-5, rtol=0)


def cold_network(cold: list[bool], cold_per_user: int) -> TigerNetwork:
    # prefixes (the first code): items 0-2 share prefix 0, items 3-4 prefix 1, item 5 prefix 2
    ids = np.array([[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [2, 0]])
    torch.manual_seed(0)
    return TigerNetwork(
        ids,
        [3, 3],
        user_buckets=2,
        max_items=2,
        dim=16,
        heads=2,
        encoder_layers=1,
        decoder_layers=1,
        ff_dim=32,
        dropout=0.0,
        beam=2,
        cold=np.array(cold),
        cold_per_user=cold_per_user,
    ).eval()


def test_cold_items_inherit_the_score_of_a_generated_prefix() -> None:
    from recsmith.nn.tiger import COLD_MARGIN

    net = cold_network([False, True, True, False, True, False], cold_per_user=1)
    items = torch.tensor([[0, 5], [5, 3], [5, -1]])  # row 2: one beam found no id
    scores = torch.tensor([[-1.0, -2.0], [-0.5, -3.0], [-0.7, float("-inf")]])
    out = torch.full((3, 6), float("-inf"))
    out[0, 0], out[0, 5], out[1, 5], out[1, 3], out[2, 5] = -1.0, -2.0, -0.5, -3.0, -0.7
    net._add_cold_items(out, items, scores)
    # row 0: prefix 0 generated (item 0); cold items 1 and 2 share it, one is allowed
    assert int(torch.isfinite(out[0, [1, 2]]).sum()) == 1
    assert float(out[0, [1, 2]].max()) == pytest.approx(-1.0 - COLD_MARGIN)
    # row 1: prefix 1 generated (item 3) at -3.0: cold item 4 comes right below it
    assert float(out[1, 4]) == pytest.approx(-3.0 - COLD_MARGIN) and torch.isinf(out[1, [1, 2]]).all()
    # row 2: only prefix 2, which no cold item has: nothing added
    assert int(torch.isfinite(out[2]).sum()) == 1


def test_cold_items_join_generation_only_when_asked() -> None:
    users, history = torch.tensor([0, 1]), torch.tensor([[0, 3], [-1, 5]])
    with torch.no_grad():
        plain = cold_network([False, True, True, False, True, False], cold_per_user=0)((users, history), None)
        more = cold_network([False, True, True, False, True, False], cold_per_user=2)((users, history), None)
    finite = torch.isfinite(plain)
    assert torch.equal(plain[finite], more[finite])  # generated items keep their scores
    added = torch.isfinite(more) & ~finite
    assert added.any()
    assert torch.all(added.sum(1) <= 2) and torch.all(added[:, [0, 3, 5]] == 0)  # only cold items are added
    for row in range(2):  # each added item sits right below a generated item of its prefix
        for item in torch.nonzero(added[row]).ravel().tolist():
            siblings = [i for i in range(6) if (i < 3) == (item < 3) and (i in (3, 4)) == (item in (3, 4))]
            assert any(torch.isfinite(plain[row, i]) for i in siblings)
