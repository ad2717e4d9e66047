"""The pip extras: the one-line error for a missing one, and agreement with pyproject.toml and the locks."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest

from recsmith.errors import MissingExtraError, RecsmithError
from recsmith.utils.extras import (
    EXTRAS,
    TORCHREC_STEP,
    as_missing_extra,
    extra_providing,
    install_command,
    is_installed,
    require_extras,
)

ROOT = Path(__file__).resolve().parents[3]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
OPTIONAL = PYPROJECT["project"]["optional-dependencies"]


def _name(requirement: str) -> str:
    """The normalised distribution name of a requirement string (PEP 503)."""
    return re.sub(r"[-_.]+", "-", re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0]).lower()


def _pins(lines: list[str]) -> dict[str, str]:
    return {_name(line): line.split("==")[1].strip() for line in lines if "==" in line and not line.startswith("#")}


def _extra_distributions(extra: str) -> set[str]:
    """Distributions an extra installs directly, through the extras it includes too."""
    names: set[str] = set()
    for req in OPTIONAL[extra]:
        included = re.fullmatch(r"recsmith\[(.+)\]", req)
        if included:
            for inner in included.group(1).split(","):
                names |= _extra_distributions(inner.strip())
        else:
            names.add(_name(req))
    return names


def test_missing_extra_is_one_line_naming_it_and_the_command(block_modules):
    block_modules("torch")
    with pytest.raises(MissingExtraError) as info:
        require_extras(["torch"], "model 'mf'")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("model 'mf' needs recsmith's torch extra (not installed: torch)")
    assert message.endswith('pip install "recsmith[torch]"')
    # the CLI's exit status, and still an ImportError for code that falls back on one
    assert info.value.exit_code == 5
    assert isinstance(info.value, RecsmithError) and isinstance(info.value, ImportError)


def test_installed_extras_pass():
    require_extras(["torch", "torchrec", "text", "serve"], "the test suite")  # the dev install has them all
    assert all(is_installed(name) for name in EXTRAS)


def test_torchrec_message_carries_the_step_pip_cannot_express(block_modules):
    block_modules("fbgemm_gpu")
    with pytest.raises(MissingExtraError, match=re.escape(f'pip install "recsmith[torchrec]" && {TORCHREC_STEP}')):
        require_extras(["torch", "torchrec"], "model 'two_tower'")
    assert not is_installed("torchrec") and is_installed("torch")


def test_install_command_drops_extras_another_one_includes():
    assert install_command(["torch", "text"]) == 'pip install "recsmith[text]"'
    assert install_command(["text", "serve"]) == 'pip install "recsmith[text,serve]"'
    assert install_command(["torch", "torchrec", "text"]) == f'pip install "recsmith[torchrec,text]" && {TORCHREC_STEP}'


def test_unknown_extra_is_a_declaration_bug():
    with pytest.raises(ValueError, match="unknown extras"):
        require_extras(["gpu"], "model 'x'")


def test_module_not_found_becomes_the_extra_error_only_for_a_missing_extra_module(block_modules):
    block_modules("faiss")
    missing = as_missing_extra(ModuleNotFoundError("No module named 'faiss'", name="faiss"), "this command")
    assert isinstance(missing, MissingExtraError)
    assert str(missing).startswith("this command needs recsmith's serve extra")
    # no extra provides it: a bug in recsmith or the environment, not an extra to install
    assert as_missing_extra(ModuleNotFoundError("x", name="leftpad"), "this command") is None
    # torch is installed, so a missing submodule is a broken install whose traceback helps more
    assert as_missing_extra(ModuleNotFoundError("x", name="torch._C_missing"), "this command") is None


def test_extra_providing_picks_the_smallest_extra():
    assert extra_providing("mlflow.tracking") == "torch"
    assert extra_providing("torchrec.modules") == "torchrec"
    assert extra_providing("transformers") == "text"
    assert extra_providing("onnxruntime.quantization") == "serve"
    assert extra_providing("numpy") is None


def test_extras_agree_with_pyproject():
    assert set(EXTRAS) <= set(OPTIONAL)
    assert OPTIONAL["all"] == [f"recsmith[{','.join(EXTRAS)}]"]
    provided = importlib.metadata.packages_distributions()
    step = {_name(pin) for pin in TORCHREC_STEP.split() if "==" in pin}
    for extra in EXTRAS.values():
        listed = _extra_distributions(extra.name) | (step if extra.step else set())
        for module in extra.modules:
            owners = {_name(d) for d in provided.get(module, [])}
            assert owners & listed, f"[{extra.name}]: module {module} comes from {owners}, not from {sorted(listed)}"
        for inc in extra.includes:
            assert f"recsmith[{inc}]" in OPTIONAL[extra.name]
            assert set(EXTRAS[inc].modules) <= set(extra.modules)


def test_core_dependencies_have_no_extra_module():
    core = {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    provided = importlib.metadata.packages_distributions()
    for extra in EXTRAS.values():
        for module in extra.modules:
            owners = {_name(d) for d in provided.get(module, [])}
            assert not owners & core, f"{module} is in the core dependencies and in [{extra.name}]"


def test_pins_agree_with_the_locks():
    lock = _pins((ROOT / "requirements.lock").read_text().splitlines())
    nodeps = _pins((ROOT / "requirements-nodeps.lock").read_text().splitlines())
    assert _pins(TORCHREC_STEP.split()) == nodeps
    # what pyproject pins exactly (torch, the dev tools) is what `make install` installs
    pinned = _pins([r for extra in OPTIONAL.values() for r in extra if "==" in r])
    assert pinned and {name: lock.get(name) for name in pinned} == pinned
