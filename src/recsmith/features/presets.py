"""Named feature presets (raw config dicts, merged under what the user sets: ``features.preset``).

``hm``: the H&M Personalized Fashion Recommendations features, as ``recsmith data prepare hm``
writes them. The split is the competition's: the last 7 days are test, the 7 before validation,
and the encoders are fitted on the rest. ``t_dat`` is a date, so there is no hour of day.
"""

from __future__ import annotations

from typing import Any

_HM_ARTICLE_CATEGORIES = {
    "product_type": "product_type_name",
    "product_group": "product_group_name",
    "graphical_appearance": "graphical_appearance_name",
    "colour_group": "colour_group_name",
    "perceived_colour_value": "perceived_colour_value_name",
    "perceived_colour_master": "perceived_colour_master_name",
    "department": "department_name",
    "index": "index_name",
    "index_group": "index_group_name",
    "section": "section_name",
    "garment_group": "garment_group_name",
}

HM: dict[str, Any] = {
    "enabled": True,
    "split": {"test_days": 7, "valid_days": 7},
    "interactions": {
        "price": {"kind": "numeric", "column": "price", "transform": "log1p"},
        "price_bucket": {"kind": "numeric", "column": "price", "transform": "quantile", "buckets": 20},
        "sales_channel": {"kind": "categorical", "column": "sales_channel_id"},
    },
    "users": {
        "fn": {"kind": "categorical", "column": "FN"},
        "active": {"kind": "categorical", "column": "Active"},
        "club_member_status": {"kind": "categorical"},
        "fashion_news_frequency": {"kind": "categorical"},
        "age": {"kind": "numeric", "transform": "standardize"},
        "age_bucket": {"kind": "numeric", "column": "age", "transform": "quantile", "buckets": 10},
        "postal_code": {"kind": "categorical", "min_count": 5, "oov_buckets": 1000},
    },
    "items": {
        "product_code": {"kind": "categorical", "oov_buckets": 100},
        **{name: {"kind": "categorical", "column": column} for name, column in _HM_ARTICLE_CATEGORIES.items()},
        "attributes": {
            "kind": "multi",
            "columns": ["graphical_appearance_name", "perceived_colour_master_name", "perceived_colour_value_name"],
        },
        "name": {"kind": "text", "column": "name"},
        "description": {"kind": "text", "column": "detail_desc"},
        "text": {"kind": "text", "columns": ["name", *_HM_ARTICLE_CATEGORIES.values(), "detail_desc"]},
        "image": {"kind": "image", "template": "images/{item_id:3}/{item_id}.jpg"},
    },
    "time": {"cyclic": ["dow", "month", "season"], "history": ["days_since_first", "days_since_prev", "velocity"]},
}

PRESETS: dict[str, dict[str, Any]] = {"hm": HM}
