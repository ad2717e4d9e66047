"""Synthetic fashion-retail data in the H&M ("H&M Personalized Fashion Recommendations") schema.

Modules:

* :mod:`.catalogue`: the vocabulary (product types, colours, styles) with real H&M codes and names;
* :mod:`.articles`, :mod:`.customers`, :mod:`.transactions`: the generative model, vectorised numpy;
* :mod:`.generator`: :func:`generate_hm`, everything in memory (demo and test sizes);
* :mod:`.chunked`: :func:`write_hm_csv_chunked`, the Kaggle CSV files at any scale with bounded memory;
* :mod:`.files`: :func:`write_hm_csv`, in-memory tables to the Kaggle CSV files.

The registered source ``"synthetic"`` (:mod:`recsmith.data.sources.synthetic`) wraps the generator.
"""

from recsmith.data.synthetic.catalogue import STYLE_NAMES
from recsmith.data.synthetic.chunked import FULL_SCALE, write_hm_csv_chunked
from recsmith.data.synthetic.files import write_hm_csv
from recsmith.data.synthetic.generator import SyntheticHM, generate_hm
from recsmith.data.synthetic.params import SyntheticParamError
from recsmith.data.synthetic.schema import ARTICLE_COLUMNS, CUSTOMER_COLUMNS, HM_FILES, TRANSACTION_COLUMNS

__all__ = [
    "ARTICLE_COLUMNS",
    "CUSTOMER_COLUMNS",
    "FULL_SCALE",
    "HM_FILES",
    "STYLE_NAMES",
    "TRANSACTION_COLUMNS",
    "SyntheticHM",
    "SyntheticParamError",
    "generate_hm",
    "write_hm_csv",
    "write_hm_csv_chunked",
]
