"""``tfidf``: content-based item-item recommendations from the TF-IDF of item texts."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from pydantic import Field

from recsmith.data.interactions import Interactions
from recsmith.errors import DataError
from recsmith.models.base import _arrays_to_csr, _csr_to_arrays
from recsmith.models.content import item_texts, recency_profiles
from recsmith.models.item_item import ItemItemConfig, ItemItemModel
from recsmith.models.itemknn import top_k_cosine
from recsmith.models.registry import register


@register("tfidf")
class TfidfRecommender(ItemItemModel):
    """Content-based filtering: items are similar when their texts share informative words.

    Each item's text (``text_columns`` of the item table joined; list columns such as Amazon's
    ``attributes`` joined with commas) becomes an L2-normalised TF-IDF vector (scikit-learn's
    ``TfidfVectorizer``: smoothed idf, sublinear tf by default). Items keep their ``k`` most similar
    other items by (shrunk) cosine, exactly like :class:`~recsmith.models.itemknn.ItemKNN` but on
    words instead of users, giving the sparse ``W``; a user's score for ``j`` is the weighted sum of
    ``W[i, j]`` over their history ``i`` (recent items weigh more with ``recency_half_life``).

    Interactions are only used for the user profiles, never for ``W``: an item nobody interacted
    with (a new product) is scored as soon as it has text, which is what the cold-item slice tests.
    Items with empty text get no neighbours and score 0.

    The state keeps ``W``, the item TF-IDF matrix, and the vocabulary (a unicode array, no pickle)
    with its idf weights, so :meth:`text_vectors` embeds new texts (a query) in the same space.
    """

    summary = "content-based: items similar by the TF-IDF of their texts (cold items, no interactions needed)"

    uses_side_data = True

    class Config(ItemItemConfig):
        text_columns: list[str] = Field(
            default_factory=lambda: ["name"], description="item table columns joined into each item's text"
        )
        k: int = Field(100, ge=1, description="neighbours kept per item")
        shrink: float = Field(0.0, ge=0, description="added to the cosine denominator (vectors are unit length)")
        min_df: int = Field(1, ge=1, description="ignore words found in fewer items")
        max_df: float = Field(1.0, gt=0, le=1, description="ignore words found in more than this share of items")
        max_features: int | None = Field(None, ge=1, description="keep only the most frequent words (None: all)")
        ngram_max: int = Field(1, ge=1, le=3, description="word n-grams from 1 to this length")
        sublinear_tf: bool = Field(True, description="tf = 1 + log(count), so repeated words do not dominate")
        recency_half_life: float | None = Field(
            None,
            gt=0,
            description="weigh a history item 0.5 ** (p / half_life), p = interactions since it (None: all equal)",
        )

    config: Config

    _tfidf: sp.csr_matrix
    _vocabulary: np.ndarray
    _idf: np.ndarray

    def _vectorizer(self, vocabulary: dict[str, int] | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        cfg = self.config
        return TfidfVectorizer(
            min_df=cfg.min_df,
            max_df=cfg.max_df,
            max_features=cfg.max_features,
            ngram_range=(1, cfg.ngram_max),
            sublinear_tf=cfg.sublinear_tf,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def _item_weights(self, X: sp.csr_matrix) -> sp.csr_matrix:
        cfg = self.config
        texts = item_texts(self.side, cfg.text_columns, X.shape[1], self.name)
        vectorizer = self._vectorizer()
        try:
            tfidf = vectorizer.fit_transform(texts)
        except ValueError as err:  # "empty vocabulary": every text empty, or min_df / max_df too strict
            filled = sum(1 for t in texts if t)
            raise DataError(
                f"tfidf: no words left from item columns {cfg.text_columns} ({filled} of {len(texts)} items "
                f"have text): {err}",
                hint="pick text columns that are filled (e.g. name, detail_desc, attributes) or relax min_df / max_df",
            ) from None
        self._vocabulary = np.asarray(vectorizer.get_feature_names_out(), dtype=str)  # no pickle needed
        self._idf = vectorizer.idf_.astype(np.float32)
        self._tfidf = sp.csr_matrix(tfidf, dtype=np.float32)
        return top_k_cosine(self._tfidf, cfg.k, cfg.shrink)  # W from words only, never from X

    def _fit(self, interactions: Interactions) -> None:
        super()._fit(interactions)
        if self.config.recency_half_life is not None:
            self._profiles = recency_profiles(interactions, self.config.recency_half_life, binary=self.config.binary)

    @property
    def item_vectors(self) -> sp.csr_matrix:
        """``(n_items, n_terms)`` L2-normalised TF-IDF rows of the items."""
        self._check_fitted()
        return self._tfidf

    def text_vectors(self, texts: list[str]) -> sp.csr_matrix:
        """``(len(texts), n_terms)`` TF-IDF vectors of new texts in the items' space (words outside
        the vocabulary are ignored)."""
        self._check_fitted()
        vectorizer = self._vectorizer({str(t): i for i, t in enumerate(self._vocabulary)})
        vectorizer.idf_ = self._idf.astype(np.float64)  # a fixed vocabulary + idf: no refit needed
        return sp.csr_matrix(vectorizer.transform(texts), dtype=np.float32)

    def _state(self) -> dict[str, np.ndarray]:
        state = super()._state()
        state.update(_csr_to_arrays("tfidf", self._tfidf))
        state["vocabulary"] = self._vocabulary
        state["idf"] = self._idf
        return state

    def _load_state(self, state: dict[str, np.ndarray]) -> None:
        super()._load_state(state)
        self._vocabulary = state["vocabulary"]
        self._idf = state["idf"]
        self._tfidf = _arrays_to_csr("tfidf", state, (self.n_items, self._vocabulary.size))
