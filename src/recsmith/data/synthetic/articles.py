"""Drawing the synthetic catalogue: products, their colour variants (articles) and their popularity.

* Within a style, product popularity is Zipf-like; colour variants of one product (articles
  sharing ``product_code``) split its popularity unevenly.
* Each article's popularity drifts log-linearly over the period; some products launch during the
  period (and get a launch boost that decays, see :mod:`.transactions`). Newer products have
  larger product codes, as at H&M.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from recsmith.data.synthetic.catalogue import ADJECTIVE_MATERIALS, APPEARANCES, COLOURS, INDEXES, PRODUCT_TYPES, STYLES
from recsmith.data.synthetic.schema import ARTICLE_COLUMNS


def _zipf_weights(ranks: np.ndarray, exponent: float) -> np.ndarray:
    return 1.0 / np.power(ranks + 1.0, exponent)


def draw_catalogue(
    rng: np.random.Generator,
    n_articles: int,
    days: int,
    zipf_exponent: float,
    new_article_share: float,
    trend_strength: float,
) -> dict[str, Any]:
    n_styles = len(STYLES)
    share = np.array([s.share for s in STYLES])
    share = share / share.sum()

    # products (1..6 colour variants each) until n_articles articles exist
    n_var = np.minimum(rng.geometric(0.5, size=n_articles), 6)
    cum = np.cumsum(n_var)
    n_products = int(np.searchsorted(cum, n_articles) + 1)
    n_var = n_var[:n_products].copy()
    n_var[-1] -= int(cum[n_products - 1] - n_articles)
    product_of = np.repeat(np.arange(n_products), n_var)  # article -> product
    first_of_product = np.concatenate([[0], np.cumsum(n_var)[:-1]])
    variant_rank = np.arange(n_articles) - first_of_product[product_of]

    # product attributes ------------------------------------------------------------------------
    p_style = rng.choice(n_styles, size=n_products, p=share)
    launch = np.where(
        rng.random(n_products) < new_article_share,
        rng.uniform(0.0, 0.9 * days, n_products),  # launched during the period
        -rng.uniform(0.0, 365.0, n_products),  # in the range before the period started
    )
    # newest products get the largest product codes
    codes = np.sort(rng.choice(900_000, size=n_products, replace=False) + 100_000)
    p_code = np.empty(n_products, dtype=np.int64)
    p_code[np.argsort(launch, kind="stable")] = codes

    # within-style Zipf rank of each product
    p_rank = np.empty(n_products, dtype=np.float64)
    perm = rng.permutation(n_products)
    for s in range(n_styles):
        members = perm[p_style[perm] == s]
        p_rank[members] = np.arange(members.size)
    p_base = _zipf_weights(p_rank, zipf_exponent)

    p_dept = np.empty(n_products, dtype=np.int64)
    p_type = np.empty(n_products, dtype=np.int64)
    p_adj = np.empty(n_products, dtype=object)
    p_mat = np.empty(n_products, dtype=object)
    p_noun = np.empty(n_products, dtype=object)
    p_desc = np.empty(n_products, dtype=object)
    p_price = np.empty(n_products, dtype=np.float64)
    u = rng.random((n_products, 9))
    for p in range(n_products):  # per product (names and texts), not per transaction
        st = STYLES[p_style[p]]
        dept = st.depts[int(u[p, 0] * len(st.depts))]
        ptype = dept.product_types[int(u[p, 1] * len(dept.product_types))]
        tname, _group, nouns, materials, features, (lo, hi) = PRODUCT_TYPES[ptype]
        mats = dept.materials or materials
        adj = st.adjectives[int(u[p, 2] * len(st.adjectives))]
        m = int(u[p, 3] * len(mats))
        if mats[m].lower() == adj.lower() and len(mats) > 1:  # no "Cable-knit Cable-knit Cardigan"
            m = (m + 1) % len(mats)
        mat = mats[m]
        noun = nouns[int(u[p, 4] * len(nouns))]
        f1 = int(u[p, 5] * len(features))
        f2 = (f1 + 1 + int(u[p, 6] * (len(features) - 1))) % len(features)
        phrase = st.phrases[int(u[p, 7] * len(st.phrases))]
        p_dept[p] = st.depts.index(dept)
        p_type[p] = ptype
        p_adj[p], p_mat[p], p_noun[p] = adj, mat.title() if " " in mat else mat, noun
        desc_noun = noun if noun.startswith("T-") else noun.lower()
        desc_mat = mat.lower() + (" fabric" if mat in ADJECTIVE_MATERIALS else "")
        p_desc[p] = f"{adj} {desc_noun} in {desc_mat} with {features[f1]} and {features[f2]}. {phrase}"
        price_steps = np.arange(lo, hi + 1, 10)
        p_price[p] = float(price_steps[int(u[p, 8] * price_steps.size)]) - 0.1  # e.g. 199.9

    # articles: colour and appearance per variant -----------------------------------------------
    a_style = p_style[product_of]
    palette_pos = np.empty(n_articles, dtype=np.int64)
    appear_pos = np.empty(n_articles, dtype=np.int64)
    # variant k of a product takes the k-th colour of a product-specific rotation of the palette,
    # with typical colours (first in the palette) more likely for the first variant
    start_col = np.floor(rng.power(0.5, n_products) * 6).astype(np.int64)  # skewed to 0
    for s, st in enumerate(STYLES):
        m = a_style == s
        palette_pos[m] = (start_col[product_of[m]] + variant_rank[m]) % len(st.colours)
        k = len(st.appearances)
        w = 1.0 / np.arange(1, k + 1) ** 1.2
        appear_pos[m] = rng.choice(k, size=int(m.sum()), p=w / w.sum())
    suffix_steps = rng.integers(1, 16, size=n_articles)
    suffix = np.cumsum(suffix_steps)
    suffix = suffix - (suffix[first_of_product] - suffix_steps[first_of_product])[product_of]
    article_num = p_code[product_of] * 1000 + suffix
    article_id = np.char.zfill(article_num.astype(str), 10).astype(object)

    # popularity over time: base (Zipf x variant share) x log-linear drift x launch boost ---------
    variant_share = rng.dirichlet(np.ones(6) * 0.8, size=n_products)
    v_raw = variant_share[product_of, variant_rank] + 0.05
    v_norm = np.bincount(product_of, weights=v_raw, minlength=n_products)
    a_base = p_base[product_of] * v_raw / v_norm[product_of]
    a_drift = rng.normal(0.0, trend_strength, n_articles) if trend_strength > 0 else np.zeros(n_articles)
    a_launch = launch[product_of]

    rows = []
    a_dept = p_dept[product_of]
    a_type = p_type[product_of]
    for i in range(n_articles):  # per article (table rows); cheap at catalogue sizes
        st = STYLES[a_style[i]]
        dept = st.depts[a_dept[i]]
        tname, group, *_ = PRODUCT_TYPES[a_type[i]]
        col = COLOURS[st.colours[palette_pos[i]]]
        appearance = st.appearances[appear_pos[i]]
        idx_name, idx_group_no, idx_group_name = INDEXES[dept.index_code]
        p = product_of[i]
        name = f"{p_adj[p]} {p_mat[p]} {p_noun[p]}"
        rows.append(
            (
                article_id[i],
                int(p_code[p]),
                name,
                int(a_type[i]),
                tname,
                group,
                APPEARANCES[appearance],
                appearance,
                col[0],
                col[1],
                col[2],
                col[3],
                col[4],
                col[5],
                dept.no,
                dept.name,
                dept.index_code,
                idx_name,
                idx_group_no,
                idx_group_name,
                dept.section_no,
                dept.section_name,
                dept.garment_group_no,
                dept.garment_group_name,
                p_desc[p],
            )
        )
    frame = pl.DataFrame(rows, schema=ARTICLE_COLUMNS, orient="row")
    return {
        "frame": frame,
        "article_id": article_id,
        "style": a_style,
        "product": product_of,
        "first_of_product": first_of_product,
        "n_var": n_var,
        "base": a_base,
        "drift": a_drift,
        "launch": a_launch,
        "price": p_price[product_of] / 5900.0,  # SEK price scaled like the Kaggle prices (0.0x)
    }
