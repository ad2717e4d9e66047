"""MovieLens readers on small files: exact canonical tables and every kind of bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from recsmith.data.sources import get_source
from recsmith.data.sources.movielens import GENRES_100K
from recsmith.errors import ConfigError, DataError


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def flags(*on: str) -> str:
    return "|".join("1" if g in on else "0" for g in GENRES_100K)


@pytest.fixture
def ml100k(tmp_path: Path) -> Path:
    write(tmp_path / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t242\t1\t878887116\n\n\n")
    write(
        tmp_path / "u.item",
        f"242|Kolya (1996)|24-Jan-1997||http://imdb/kolya|{flags('Comedy')}\n"
        f"302|Café au Lait (1993)|01-Jan-1993||http://imdb/cafe|{flags('Comedy', 'Drama')}\n"
        f"267|unknown||||{flags('unknown')}\n",
        encoding="latin-1",
    )
    write(tmp_path / "u.user", "196|49|M|writer|55105\n186|39|F|executive|00000\n22|25|M|writer|40206\n")
    return tmp_path


def test_ml100k_tables(ml100k: Path) -> None:
    raw = get_source("movielens-100k")(ml100k)
    expected = pl.DataFrame(
        {
            "user_id": ["196", "186", "22"],
            "item_id": ["242", "302", "242"],
            "timestamp": [881250949, 891717742, 878887116],
            "weight": [3.0, 3.0, 1.0],
        },
        schema={"user_id": pl.Utf8, "item_id": pl.Utf8, "timestamp": pl.Int64, "weight": pl.Float32},
    )
    assert_frame_equal(raw.interactions, expected)
    assert raw.explicit is True
    assert raw.bad_rows == {}
    items = raw.items
    assert items is not None
    assert items.columns == ["item_id", "name", "release_date", "imdb_url", "genres"]
    assert items["name"].to_list() == ["Kolya (1996)", "Café au Lait (1993)", "unknown"]
    assert items["release_date"].to_list() == [dt.date(1997, 1, 24), dt.date(1993, 1, 1), None]
    assert items["imdb_url"].to_list() == ["http://imdb/kolya", "http://imdb/cafe", None]
    assert items["genres"].to_list() == [["Comedy"], ["Comedy", "Drama"], ["unknown"]]
    users = raw.users
    assert users is not None
    assert users.schema == pl.Schema(
        {"user_id": pl.Utf8, "age": pl.Int32, "gender": pl.Utf8, "occupation": pl.Utf8, "zip_code": pl.Utf8}
    )
    assert users.row(1) == ("186", 39, "F", "executive", "00000")
    assert raw.source["name"] == "movielens-100k"
    sizes = {Path(f["path"]).name: f["bytes"] for f in raw.source["files"]}
    assert sizes == {n: (ml100k / n).stat().st_size for n in ("u.data", "u.item", "u.user")}


def test_ml100k_genre_names_from_u_genre(ml100k: Path) -> None:
    names = [f"g{i}" for i in range(19)]
    write(ml100k / "u.genre", "".join(f"{n}|{i}\n" for i, n in reversed(list(enumerate(names)))) + "\n")
    raw = get_source("movielens-100k")(ml100k)
    assert raw.items is not None
    assert raw.items["genres"].to_list()[1] == ["g5", "g8"]  # Comedy, Drama positions


def test_ml100k_side_files_are_optional_and_a_file_path_means_its_directory(ml100k: Path) -> None:
    (ml100k / "u.item").unlink()
    (ml100k / "u.user").unlink()
    raw = get_source("movielens-100k")(ml100k / "u.data")
    assert raw.items is None and raw.users is None
    assert raw.interactions.height == 3


@pytest.mark.parametrize(
    ("line", "column", "reason"),
    [
        ("5\t6\t3", "timestamp", "expected 4 fields"),  # too few: names the first missing field
        ("5\t6\t3\t881250949\t9", "timestamp", "found 5"),  # too many: names the last expected field
        ("5\tsix\t3\t881250949", "item_id", "expected an integer, got 'six'"),
        ("x5\t6\t3\t881250949", "user_id", "expected an integer"),
        ("5\t6\tgood\t881250949", "rating", "expected a number, got 'good'"),
        ("5\t6\tnan\t881250949", "rating", "expected a number"),
        ("5\t6\t3\t2020-01-01", "timestamp", "expected an integer"),
        ("5\t6\t\t881250949", "rating", "empty rating"),
    ],
)
def test_ml100k_bad_rating_row(ml100k: Path, line: str, column: str, reason: str) -> None:
    write(ml100k / "u.data", f"1\t2\t3\t4\n1\t3\t4\t5\n{line}\n7\t8\t1\t9\n")
    with pytest.raises(DataError) as err:
        get_source("movielens-100k")(ml100k)
    e = err.value
    assert Path(e.path or "") == ml100k / "u.data"
    assert (e.line, e.column) == (3, column)
    assert reason in e.reason
    assert e.hint and "--on-bad-rows skip" in e.hint


def test_ml100k_reports_the_earliest_bad_line(ml100k: Path) -> None:
    # line 4 fails a late check (rating), line 6 an early one (field count): line 4 is reported
    write(ml100k / "u.data", "1\t2\t3\t4\n\n1\t3\t4\t5\n1\t4\tx\t5\n1\t5\t3\t4\n1\t6\n")
    with pytest.raises(DataError) as err:
        get_source("movielens-100k")(ml100k)
    assert (err.value.line, err.value.column) == (4, "rating")


def test_ml100k_skip_drops_and_counts(ml100k: Path) -> None:
    write(ml100k / "u.data", "1\t2\t3\t4\n1\t3\n1\tx\t3\t4\n2\t2\t5\t6\n")
    write(ml100k / "u.user", "1|20|M|writer|1\n1|30|F|other|2\n2|x|F|other|3\n")
    raw = get_source("movielens-100k")(ml100k, on_bad_rows="skip")
    assert raw.interactions["user_id"].to_list() == ["1", "2"]
    assert raw.interactions["weight"].to_list() == [3.0, 5.0]
    assert raw.bad_rows == {"u.data": 2, "u.user": 2}
    assert raw.users is not None and raw.users["age"].to_list() == [20]  # the first of the duplicates


def test_ml100k_duplicate_item_id_names_both_lines(ml100k: Path) -> None:
    item = ml100k / "u.item"
    write(item, item.read_bytes().decode("latin-1") + f"242|Kolya again|||x|{flags()}\n", "latin-1")
    with pytest.raises(DataError) as err:
        get_source("movielens-100k")(ml100k)
    e = err.value
    assert (Path(e.path or "").name, e.line, e.column) == ("u.item", 4, "item_id")
    assert "'242'" in e.reason and "lines 1 and 4" in e.reason
    raw = get_source("movielens-100k")(ml100k, on_bad_rows="skip")
    assert raw.items is not None
    assert raw.items.filter(pl.col("item_id") == "242")["name"].to_list() == ["Kolya (1996)"]
    assert raw.bad_rows == {"u.item": 1}


def test_ml100k_bad_genre_flag_and_bad_date(ml100k: Path) -> None:
    item = ml100k / "u.item"
    lines = item.read_bytes().decode("latin-1").splitlines()
    lines[1] = lines[1][:-1] + "2"  # last genre flag
    write(item, "\n".join(lines) + "\n", "latin-1")
    with pytest.raises(DataError) as err:
        get_source("movielens-100k")(ml100k)
    assert (err.value.line, err.value.column) == (2, "Western")
    lines[1] = lines[1][:-1] + "0"
    lines[2] = lines[2].replace("unknown||", "unknown|1995-13-45|")
    write(item, "\n".join(lines) + "\n", "latin-1")
    with pytest.raises(DataError) as err:
        get_source("movielens-100k")(ml100k)
    assert (err.value.line, err.value.column) == (3, "release_date")


def test_ml100k_empty_and_blank_files(ml100k: Path) -> None:
    write(ml100k / "u.data", "")
    with pytest.raises(DataError, match="empty") as err:
        get_source("movielens-100k")(ml100k)
    assert Path(err.value.path or "").name == "u.data"
    write(ml100k / "u.data", "\n\n  \n")
    with pytest.raises(DataError, match="no interactions in file"):
        get_source("movielens-100k")(ml100k)


def test_ml100k_all_rows_bad_in_skip_mode_is_an_error(ml100k: Path) -> None:
    write(ml100k / "u.data", "a\tb\tc\td\n")
    with pytest.raises(DataError, match="no interactions in file .1 malformed rows skipped"):
        get_source("movielens-100k")(ml100k, on_bad_rows="skip")


def test_ml100k_undecodable_bytes_in_utf8_ratings(ml100k: Path) -> None:
    (ml100k / "u.data").write_bytes(b"1\t2\t3\t4\n1\t3\xff\t4\t5\n")
    with pytest.raises(DataError, match="not valid utf-8") as err:
        get_source("movielens-100k")(ml100k)
    assert (err.value.line, err.value.column) == (2, "item_id")
    raw = get_source("movielens-100k")(ml100k, on_bad_rows="skip")
    assert raw.bad_rows == {"u.data": 1} and raw.interactions.height == 1


def test_ml100k_missing_directory_and_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        get_source("movielens-100k")(tmp_path / "nowhere")
    with pytest.raises(DataError, match="u.data"):
        get_source("movielens-100k")(tmp_path)


def test_options_and_policy_are_checked(ml100k: Path) -> None:
    with pytest.raises(ConfigError, match="valid options: none"):
        get_source("movielens-100k")(ml100k, sep=",")
    with pytest.raises(ConfigError, match="on_bad_rows"):
        get_source("movielens-100k")(ml100k, on_bad_rows="ignore")


# --- MovieLens 1M ---------------------------------------------------------------------------


@pytest.fixture
def ml1m(tmp_path: Path) -> Path:
    write(tmp_path / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(
        tmp_path / "movies.dat",
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n661::Café (1996)::Animation|Children's|Musical\n"
        "5::Nothing (2000)::(no genres listed)\n",
        encoding="latin-1",
    )
    write(tmp_path / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    return tmp_path


def test_ml1m_tables(ml1m: Path) -> None:
    raw = get_source("movielens-1m")(ml1m)
    assert raw.interactions.rows() == [
        ("1", "1193", 978300760, 5.0),
        ("1", "661", 978302109, 3.0),
        ("2", "1193", 978298413, 4.0),
    ]
    assert raw.explicit
    assert raw.items is not None
    genres = ["Animation", "Children's", "Musical"]
    assert raw.items.to_dicts()[1] == {"item_id": "661", "name": "Café (1996)", "genres": genres}
    assert raw.items["genres"].to_list()[2] == []
    assert raw.users is not None
    assert raw.users.rows() == [("1", "F", 1, 10, "48067"), ("2", "M", 56, 16, "70072")]


def test_ml1m_wrong_separator_count(ml1m: Path) -> None:
    write(ml1m / "ratings.dat", "1::1193::5::978300760\n1::661:3::978302109\n")
    with pytest.raises(DataError) as err:
        get_source("movielens-1m")(ml1m)
    assert (err.value.line, err.value.column) == (2, "timestamp")
    assert "found 3" in err.value.reason


def test_ml1m_duplicate_movie(ml1m: Path) -> None:
    write(ml1m / "movies.dat", "1::A (1990)::Drama\n2::B (1991)::Drama\n1::C (1992)::Drama\n", "latin-1")
    with pytest.raises(DataError, match="lines 1 and 3") as err:
        get_source("movielens-1m")(ml1m)
    assert (Path(err.value.path or "").name, err.value.line) == ("movies.dat", 3)


# --- MovieLens 20M / 25M / latest -----------------------------------------------------------


@pytest.fixture
def mlcsv(tmp_path: Path) -> Path:
    write(
        tmp_path / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,4.0,1112484676\n7,2,0.5,1094785740\n",
    )
    write(
        tmp_path / "movies.csv",
        "movieId,title,genres\n2,Jumanji (1995),Adventure|Children|Fantasy\n"
        '29,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Adventure|Drama\n'
        '11,"The ""Quoted"" Movie (2001)",(no genres listed)\n',
    )
    return tmp_path


def test_mlcsv_tables(mlcsv: Path) -> None:
    raw = get_source("movielens")(mlcsv)
    assert raw.interactions.rows() == [
        ("1", "2", 1112486027, 3.5),
        ("1", "29", 1112484676, 4.0),
        ("7", "2", 1094785740, 0.5),
    ]
    assert raw.explicit
    assert raw.items is not None
    assert raw.items["name"].to_list() == [
        "Jumanji (1995)",
        "City of Lost Children, The (Cité des enfants perdus, La) (1995)",
        'The "Quoted" Movie (2001)',
    ]
    assert raw.items["genres"].to_list() == [["Adventure", "Children", "Fantasy"], ["Adventure", "Drama"], []]
    assert raw.users is None


def test_mlcsv_header_only_is_an_error(mlcsv: Path) -> None:
    write(mlcsv / "ratings.csv", "userId,movieId,rating,timestamp\n\n")
    with pytest.raises(DataError, match="no interactions in file"):
        get_source("movielens")(mlcsv)


def test_mlcsv_missing_column(mlcsv: Path) -> None:
    write(mlcsv / "ratings.csv", "userId,itemId,rating,timestamp\n1,2,3,4\n")
    with pytest.raises(DataError, match="missing column 'movieId'") as err:
        get_source("movielens")(mlcsv)
    assert (err.value.line, err.value.column) == (1, "movieId")


def test_mlcsv_bad_rows(mlcsv: Path) -> None:
    write(mlcsv / "ratings.csv", "userId,movieId,rating,timestamp\n1,2,3.5,1\n1,abc,4,2\n1,3,4\n2,2,1,3\n")
    with pytest.raises(DataError) as err:
        get_source("movielens")(mlcsv)
    assert (err.value.line, err.value.column) == (3, "movieId")
    raw = get_source("movielens")(mlcsv, on_bad_rows="skip")
    assert raw.bad_rows == {"ratings.csv": 2}
    assert raw.interactions["timestamp"].to_list() == [1, 3]


def test_mlcsv_undecodable_title(mlcsv: Path) -> None:
    (mlcsv / "movies.csv").write_bytes(b'movieId,title,genres\n2,Jumanji (1995),Adventure\n29,"Caf\xe9, The",Drama\n')
    with pytest.raises(DataError, match="utf-8") as err:
        get_source("movielens")(mlcsv)
    assert (Path(err.value.path or "").name, err.value.line, err.value.column) == ("movies.csv", 3, "title")


def test_mlcsv_unterminated_quote(mlcsv: Path) -> None:
    write(mlcsv / "movies.csv", 'movieId,title,genres\n2,"Jumanji (1995),Adventure\n3,B,Drama\n')
    with pytest.raises(DataError, match="unterminated") as err:
        get_source("movielens")(mlcsv)
    assert err.value.line == 2


@pytest.mark.parametrize("rating", ["nan", "inf"])
def test_mlcsv_non_finite_rating(mlcsv: Path, rating: str) -> None:
    write(mlcsv / "ratings.csv", f"userId,movieId,rating,timestamp\n1,2,3.5,1\n1,3,{rating},2\n")
    with pytest.raises(DataError, match="expected a number") as err:
        get_source("movielens")(mlcsv)
    assert (err.value.line, err.value.column) == (3, "rating")
