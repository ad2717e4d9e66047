"""``recsmith export``: a model bundle from any run directory (``recsmith benchmark`` or ``recsmith
train``, resumed or DDP runs included), through the one bundle writer of the service
(:func:`recsmith.serving.bundle.write_bundle`). The service itself reads only bundles.

The bundle keeps the run's record in its manifest: the model's validation / test metrics and
parameters, the run and its dataset, the split.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from recsmith.runs.layout import Run, model_dir
from recsmith.serving.bundle import write_bundle
from recsmith.utils.atomic import check_output


def export_bundle(
    run: str | Path,
    model_name: str | None,
    out: str | Path,
    *,
    index_factory: str | None = "auto",
    search_params: dict[str, int] | None = None,
    version: str | None = None,
    features: str | Path | None = None,
    onnx: bool = False,
    quantize: bool = False,
    text_columns: list[str] | None = None,
    text_model: str | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a bundle of model ``model_name`` (None: the run's only model) of ``run`` into ``out``.

    ``version`` defaults to ``<model>-<UTC timestamp>``; ``features`` to the run's feature store
    (``RUN/features``, else its dataset's); text vectors are cached in the run's ``cache/``. The other
    arguments are :func:`~recsmith.serving.bundle.write_bundle`'s.
    """
    check_output(out, overwrite=overwrite)  # before loading the model and encoding item text
    opened = Run.open(run)
    name = opened.model_name(model_name)
    model = opened.load_model(name)
    entry = opened.board().get(name, {})
    created = datetime.now(UTC)
    return write_bundle(
        out,
        model,
        opened.user_map,
        opened.item_map,
        items=opened.items,
        version=version or f"{name}-{created.strftime('%Y%m%dT%H%M%SZ')}",
        index_factory=index_factory,
        search_params=search_params,
        metrics={
            "valid": entry.get("valid") or {},
            "test": entry.get("test") or {},
            "fit_seconds": entry.get("fit_seconds"),
            "params": entry.get("params") or {},
        },
        source={
            "run": str(opened.path.resolve()),
            "run_kind": opened.kind,
            "model_entry": name,
            "run_created": opened.info.get("created"),
            "dataset": (opened.info.get("dataset") or {}).get("name"),
            "split": opened.info.get("split"),
        },
        model_files=model_dir(opened.path, name),
        features=Path(features) if features else opened.features_dir,
        onnx=onnx,
        quantize=quantize,
        text_columns=text_columns,
        text_model=text_model,
        text_cache=opened.cache_dir,
        overwrite=overwrite,
    )
