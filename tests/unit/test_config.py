import re

import pytest

from recsmith.config import RunConfig, apply_overrides, dump_config, load_config, parse_override
from recsmith.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


def test_defaults_load_without_file():
    cfg = load_config()
    assert cfg.split.method == "loo"
    assert cfg.evaluation.ks == [5, 10, 20]


def test_yaml_and_dotted_overrides(tmp_path):
    p = write(tmp_path, "data:\n  source: csv\n  path: x.csv\nsplit:\n  method: temporal\n  test_time: 2020-01-01\n")
    cfg = load_config(p, ["split.method=loo", "evaluation.ks=[10, 5]", "data.options.user_col=uid"])
    assert cfg.split.method == "loo"
    assert cfg.evaluation.ks == [5, 10]
    assert cfg.data.options == {"user_col": "uid"}
    assert cfg.data.path == "x.csv"


def test_override_values_are_typed():
    assert parse_override("a.b=200") == (["a", "b"], 200)
    assert parse_override("a=true") == (["a"], True)
    assert parse_override("a=0.5") == (["a"], 0.5)
    assert parse_override("a=hello") == (["a"], "hello")


def test_unknown_key_names_key_and_lists_valid_ones(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(None, ["split.metod=loo"])
    msg = str(err.value)
    assert "split.metod" in msg
    assert "method" in msg and "test_time" in msg  # the valid keys are listed


def test_unknown_top_level_section(tmp_path):
    with pytest.raises(ConfigError, match="unknown key 'evalution'.*evaluation"):
        load_config(write(tmp_path, "evalution: {}\n"))


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match=r"evaluation\.batch_size"):
        load_config(None, ["evaluation.batch_size=lots"])


def test_model_params_are_validated_by_the_model():
    with pytest.raises(ConfigError) as err:
        load_config(None, ["models.itemknn.kk=200"])
    assert "models.itemknn.kk" in str(err.value)
    assert "valid keys" in str(err.value)


def test_unknown_model_lists_available():
    with pytest.raises(ConfigError, match="unknown model 'itemnn'.*itemknn"):
        load_config(None, ["models.itemnn.k=1"])


def test_tune_grid_combinations():
    cfg = load_config(None, ["models.itemknn.shrink=5", "tune.itemknn.k=[10, 20]"])
    grid = cfg.model_grid("itemknn")
    assert grid == [{"shrink": 5, "k": 10}, {"shrink": 5, "k": 20}]


def test_override_into_a_value_is_an_error():
    with pytest.raises(ConfigError, match="is a value"):
        apply_overrides({"seed": 1}, ["seed.x=2"])


def test_malformed_override():
    with pytest.raises(ConfigError, match="key.subkey=value"):
        load_config(None, ["split.method"])


def test_bad_yaml_and_non_mapping(tmp_path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(write(tmp_path, "a: [1,\n"))
    with pytest.raises(ConfigError, match="mapping"):
        load_config(write(tmp_path, "- 1\n- 2\n"))
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_dump_round_trips(tmp_path):
    cfg = load_config(None, ["models.ease.l2=100", "split.method=random", "seed=7"])
    again = load_config(write(tmp_path, dump_config(cfg)))
    assert again == cfg
    assert isinstance(again, RunConfig)


@pytest.mark.parametrize(
    "override", ["evaluation.select_metric=ndcg@50", "evaluation.select_metric=auc@10", "evaluation.select_metric=ndcg"]
)
def test_select_metric_must_be_computed(override):
    # ks are 5, 10, 20 by default: a metric outside them would select nothing
    with pytest.raises(ConfigError, match="select_metric.*not computed"):
        load_config(None, [override])


def test_select_metric_follows_ks():
    cfg = load_config(None, ["evaluation.ks=[12]", "evaluation.select_metric=map@12"])
    assert cfg.evaluation.select_metric == "map@12"


def test_an_error_from_set_is_blamed_on_set_not_on_the_file(tmp_path) -> None:
    path = tmp_path / "run.yaml"
    path.write_text("models:\n  itemknn: {k: 50}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, ["train.epochs=2", "trian.epochs=1"])
    message = str(caught.value)
    assert message.startswith("--set trian.epochs=1:\nunknown key 'trian'"), message
    assert str(path) not in message and "train.epochs=2" not in message
    with pytest.raises(ConfigError, match=r"^--set models\.itemknn\.kk=5:\nunknown key 'models\.itemknn\.kk'"):
        load_config(path, ["models.itemknn.kk=5"])
    path.write_text("models:\n  itemknn: {kk: 50}\n")  # the file's own mistake stays the file's
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}:\nunknown key 'models\.itemknn\.kk'"):
        load_config(path, ["train.epochs=2"])
