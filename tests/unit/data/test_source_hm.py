"""H&M reader: both file layouts, the 10-character article ids, bad rows."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from recsmith.data.sources import get_source
from recsmith.errors import DataError

ARTICLE_HEADER = "article_id,product_code,prod_name,product_type_no,product_type_name,colour_group_name,detail_desc"


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def competition_layout(root: Path) -> Path:
    """As in the Kaggle files: article ids with the leading zero, no index column."""
    write(
        root / "transactions_train.csv",
        "t_dat,customer_id,article_id,price,sales_channel_id\n"
        "2018-09-20,c1,0663713001,0.0508,2\n2018-09-21,c2,0108775015,0.03,1\n2018-09-21,c1,0108775015,0.03,1\n",
    )
    write(
        root / "articles.csv",
        f'{ARTICLE_HEADER}\n0108775015,108775,Strap top,253,Vest top,Black,"Jersey top, narrow straps."\n'
        "0663713001,663713,Atlanta Push Body Harlow,283,Underwear body,Black,\n",
    )
    write(
        root / "customers.csv",
        "customer_id,FN,Active,club_member_status,fashion_news_frequency,age,postal_code\n"
        "c1,1.0,1.0,ACTIVE,Regularly,49.0,p1\nc2,,,PRE-CREATE,NONE,,p2\n",
    )
    return root


def sample_layout(root: Path) -> Path:
    """As in ../shared/data/hm-sample: a pandas index column and ids without the leading zero."""
    write(
        root / "transactions_train.csv",
        ",t_dat,customer_id,article_id,price,sales_channel_id\n"
        "0,2018-09-20,c1,663713001,0.0508,2\n1,2018-09-21,c2,108775015,0.03,1\n2,2018-09-21,c1,108775015,0.03,1\n",
    )
    write(
        root / "articles.csv",
        f',{ARTICLE_HEADER}\n0,108775015,108775,Strap top,253,Vest top,Black,"Jersey top, narrow straps."\n'
        "5,663713001,663713,Atlanta Push Body Harlow,283,Underwear body,Black,\n",
    )
    write(
        root / "customers.csv",
        "Unnamed: 0,customer_id,FN,Active,club_member_status,fashion_news_frequency,age,postal_code\n"
        "0,c1,1.0,1.0,ACTIVE,Regularly,49.0,p1\n1,c2,,,PRE-CREATE,NONE,,p2\n",
    )
    return root


@pytest.mark.parametrize("layout", [competition_layout, sample_layout])
def test_hm_tables(tmp_path: Path, layout) -> None:
    raw = get_source("hm")(layout(tmp_path))
    midnight_0920 = 1537401600  # 2018-09-20T00:00:00Z
    assert raw.interactions.rows() == [
        ("c1", "0663713001", midnight_0920, 1.0),
        ("c2", "0108775015", midnight_0920 + 86400, 1.0),
        ("c1", "0108775015", midnight_0920 + 86400, 1.0),
    ]
    assert raw.explicit is False
    items = raw.items
    assert items is not None
    assert items.columns == [
        "item_id",
        "name",
        "product_code",
        "product_type_no",
        "product_type_name",
        "colour_group_name",
        "detail_desc",
    ]
    assert items["item_id"].to_list() == ["0108775015", "0663713001"]
    assert items["name"].to_list() == ["Strap top", "Atlanta Push Body Harlow"]
    assert items["product_code"].dtype == pl.Int64 and items["product_code"].to_list() == [108775, 663713]
    assert items["detail_desc"].to_list() == ["Jersey top, narrow straps.", None]
    users = raw.users
    assert users is not None
    assert users.columns == [
        "user_id",
        "FN",
        "Active",
        "club_member_status",
        "fashion_news_frequency",
        "age",
        "postal_code",
    ]
    assert users.rows() == [
        ("c1", 1.0, 1.0, "ACTIVE", "Regularly", 49.0, "p1"),
        ("c2", None, None, "PRE-CREATE", "NONE", None, "p2"),
    ]
    assert users["age"].dtype == pl.Float32


def test_hm_only_transactions_required(tmp_path: Path) -> None:
    competition_layout(tmp_path)
    (tmp_path / "articles.csv").unlink()
    (tmp_path / "customers.csv").unlink()
    raw = get_source("hm")(tmp_path)
    assert raw.items is None and raw.users is None and raw.interactions.height == 3


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("2018-09-20,c3,12a4,0.1,1", "article_id", "at most 10 digits"),
        ("2018-09-20,c3,12345678901,0.1,1", "article_id", "at most 10 digits"),
        ("2018/09/20,c3,0108775015,0.1,1", "t_dat", "expected a date"),
        ("2018-09-20,,0108775015,0.1,1", "customer_id", "empty customer_id"),
        ("2018-09-20,c3,0108775015,cheap,1", "price", "expected a number"),
        ("2018-09-20,c3,0108775015,0.1", "sales_channel_id", "expected 5 fields"),
    ],
)
def test_hm_bad_transaction(tmp_path: Path, row: str, column: str, reason: str) -> None:
    competition_layout(tmp_path)
    f = tmp_path / "transactions_train.csv"
    write(f, f.read_text() + row + "\n")
    with pytest.raises(DataError) as err:
        get_source("hm")(tmp_path)
    assert (err.value.path, err.value.line, err.value.column) == (str(f), 5, column)
    assert reason in err.value.reason
    raw = get_source("hm")(tmp_path, on_bad_rows="skip")
    assert raw.bad_rows == {"transactions_train.csv": 1} and raw.interactions.height == 3


def test_hm_duplicate_article_after_padding(tmp_path: Path) -> None:
    sample_layout(tmp_path)
    f = tmp_path / "articles.csv"
    write(f, f.read_text() + "9,0108775015,108775,Strap top again,253,Vest top,White,\n")
    with pytest.raises(DataError) as err:
        get_source("hm")(tmp_path)
    assert (err.value.line, err.value.column) == (4, "article_id")
    assert "'0108775015' on lines 2 and 4" in err.value.reason
    raw = get_source("hm")(tmp_path, on_bad_rows="skip")
    assert raw.items is not None and raw.items["name"].to_list() == ["Strap top", "Atlanta Push Body Harlow"]
    assert raw.bad_rows == {"articles.csv": 1}


def test_hm_duplicate_customer(tmp_path: Path) -> None:
    competition_layout(tmp_path)
    f = tmp_path / "customers.csv"
    write(f, f.read_text() + "c1,,,ACTIVE,NONE,30.0,p3\n")
    with pytest.raises(DataError, match="duplicate customer id 'c1' on lines 2 and 4"):
        get_source("hm")(tmp_path)


def test_hm_multiline_description_keeps_physical_line_numbers(tmp_path: Path) -> None:
    competition_layout(tmp_path)
    write(
        tmp_path / "articles.csv",
        f'{ARTICLE_HEADER}\n1,1,A,1,t,c,"two\nlines"\n2,2,B,1,t,c,x\nabc,3,C,1,t,c,x\n',
    )
    with pytest.raises(DataError) as err:
        get_source("hm")(tmp_path)
    assert (err.value.line, err.value.column) == (5, "article_id")  # line 5 counts the embedded newline
    raw = get_source("hm")(tmp_path, on_bad_rows="skip")
    assert raw.items is not None and raw.items["detail_desc"].to_list() == ["two\nlines", "x"]


def test_hm_missing_column(tmp_path: Path) -> None:
    competition_layout(tmp_path)
    write(tmp_path / "transactions_train.csv", "date,customer_id,article_id\n2018-09-20,c1,1\n")
    with pytest.raises(DataError, match="missing column 't_dat'") as err:
        get_source("hm")(tmp_path)
    assert (err.value.line, err.value.column) == (1, "t_dat")
