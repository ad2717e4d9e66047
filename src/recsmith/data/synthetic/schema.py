"""The schema of the Kaggle H&M files that the synthetic generator writes (column order as in the
competition's CSVs), and their file names."""

from __future__ import annotations

import polars as pl

ARTICLE_COLUMNS: dict[str, pl.DataType] = {
    "article_id": pl.Utf8(),
    "product_code": pl.Int64(),
    "prod_name": pl.Utf8(),
    "product_type_no": pl.Int64(),
    "product_type_name": pl.Utf8(),
    "product_group_name": pl.Utf8(),
    "graphical_appearance_no": pl.Int64(),
    "graphical_appearance_name": pl.Utf8(),
    "colour_group_code": pl.Int64(),
    "colour_group_name": pl.Utf8(),
    "perceived_colour_value_id": pl.Int64(),
    "perceived_colour_value_name": pl.Utf8(),
    "perceived_colour_master_id": pl.Int64(),
    "perceived_colour_master_name": pl.Utf8(),
    "department_no": pl.Int64(),
    "department_name": pl.Utf8(),
    "index_code": pl.Utf8(),
    "index_name": pl.Utf8(),
    "index_group_no": pl.Int64(),
    "index_group_name": pl.Utf8(),
    "section_no": pl.Int64(),
    "section_name": pl.Utf8(),
    "garment_group_no": pl.Int64(),
    "garment_group_name": pl.Utf8(),
    "detail_desc": pl.Utf8(),
}

CUSTOMER_COLUMNS: dict[str, pl.DataType] = {
    "customer_id": pl.Utf8(),
    "FN": pl.Float64(),
    "Active": pl.Float64(),
    "club_member_status": pl.Utf8(),
    "fashion_news_frequency": pl.Utf8(),
    "age": pl.Float64(),
    "postal_code": pl.Utf8(),
}

TRANSACTION_COLUMNS: dict[str, pl.DataType] = {
    "t_dat": pl.Utf8(),
    "customer_id": pl.Utf8(),
    "article_id": pl.Utf8(),
    "price": pl.Float64(),
    "sales_channel_id": pl.Int64(),
}

HM_FILES = {
    "articles": "articles.csv",
    "customers": "customers.csv",
    "transactions": "transactions_train.csv",
}
