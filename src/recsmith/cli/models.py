"""``recsmith models [NAME]``: what each registered model is, what it can do and every option it takes.

Everything printed is read from the models themselves (their ``summary``, their ``Config`` fields
with types, defaults and descriptions, their declared abilities, their extras), so it cannot drift
from what a config accepts.
"""

from __future__ import annotations

from typing import Annotated

import typer

from recsmith.models.abilities import all_abilities
from recsmith.models.registry import ModelInfo, describe_models, get_model_class
from recsmith.utils.config_doc import describe_options, options_text
from recsmith.utils.extras import install_command


def models(
    name: Annotated[str | None, typer.Argument(help="A model: show its options, abilities and extras.")] = None,
    train: Annotated[
        bool, typer.Option("--train", help="With NAME, a torch model: list the training options too.")
    ] = False,
) -> None:
    """List the registered models with a one-line description and whether this install can train
    them; with NAME, every option of that model (type, default, meaning) and what it can do."""
    if name is None:
        _list(describe_models())
    else:
        _describe(name, train=train)


def _status(info: ModelInfo) -> str:
    return "yes" if info.available else f"no: {install_command(info.missing)}"


def _list(infos: list[ModelInfo]) -> None:
    rows = [(info.name, info.summary, ", ".join(info.extras) or "-", _status(info)) for info in infos]
    header = ("model", "description", "extras", "available")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        typer.echo(f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}")
    n_available = sum(info.available for info in infos)
    typer.echo(f"{n_available} of {len(infos)} models available in this install")
    typer.echo("recsmith models NAME shows a model's options, defaults and abilities")


def _describe(name: str, *, train: bool) -> None:
    from recsmith.models.torch_base import TorchRecommender

    cls = get_model_class(name)  # an unknown name is a ConfigError listing the models
    (info,) = [i for i in describe_models() if i.name == name]
    abilities = all_abilities()
    lines = [f"{name}: {info.summary}", f"extras: {', '.join(info.extras) or 'none'} (available: {_status(info)})"]
    lines.append("reads item / user attributes: " + ("yes" if cls.uses_side_data else "no"))
    lines.append("abilities:" if cls.abilities() else "abilities: none (it ranks items for known users)")
    width = max((len(a) for a in cls.abilities()), default=0)
    lines += [f"  {a:<{width}}  {abilities[a].purpose}" for a in cls.abilities()]
    options = describe_options(cls.Config)
    where = f"--set models.{name}.KEY=VALUE, or under models: {name}: in a config"
    lines.append(f"options ({where}):" if options else "options: none")
    lines += options_text(options)
    if issubclass(cls, TorchRecommender):
        lines.append(
            f"trained by the Trainer: training options go under train: (every torch model) or models: {name}: train:"
        )
        if train:
            from recsmith.training.config import TrainConfig

            lines += options_text(describe_options(TrainConfig))
        else:
            lines.append(f"  (recsmith models {name} --train lists them)")
    typer.echo("\n".join(lines))
