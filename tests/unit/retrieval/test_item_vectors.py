"""The one exact content index (text search in the service and over a run, image search): cosine
ranking among items with content, masks, one excluded item per query, padding, dimension errors."""

from __future__ import annotations

import numpy as np
import pytest

from recsmith.errors import RecsmithError
from recsmith.retrieval.ann import exact_search
from recsmith.retrieval.item_vectors import ItemVectors


def _index() -> ItemVectors:
    rows = np.array([[1, 0], [0.9, 0.1], [0, 1], [-1, 0]], dtype=np.float32)
    valid = np.array([True, True, False, True, True])  # item 2 has no content
    return ItemVectors.from_rows(rows, valid)


def test_ranks_by_cosine_among_items_with_content() -> None:
    index = _index()
    np.testing.assert_allclose(np.linalg.norm(index.vectors[index.valid], axis=1), 1.0, rtol=1e-6)
    items, scores = index.search(np.array([3.0, 0.0]), k=5)  # the query is normalised too
    assert items.tolist() == [[0, 1, 3, 4, -1]] and np.isneginf(scores[0, -1])
    assert scores[0, 0] == pytest.approx(1.0)


def test_allowed_and_exclude() -> None:
    index = _index()
    items, _ = index.search(np.array([[1.0, 0.0], [0.0, 1.0]]), k=2, exclude=np.array([0, -1]))
    assert items[0].tolist() == [1, 3] and items[1].tolist() == [3, 1]
    allowed = np.array([False, True, True, True, True])
    items, _ = index.search(np.array([1.0, 0.0]), k=3, allowed=allowed)
    assert items[0].tolist() == [1, 3, 4]


def test_a_query_of_another_dimension_says_so() -> None:
    with pytest.raises(RecsmithError, match="3 dimensions but the text index has 2"):
        _index().search(np.ones(3), k=2)


def test_exact_search_ties_go_to_the_lower_row() -> None:
    x = np.array([[1.0, 0.0], [1.0, 0.0], [0.5, 0.0]], dtype=np.float32)
    items, _ = exact_search(x, np.array([[1.0, 0.0]]), 2)
    assert items.tolist() == [[0, 1]]
