"""Reading item images for the image encoders: local files and http(s) URLs, never crashing a run.

Item catalogues are messy: paths point at files that were never downloaded, downloads stop half-way,
and some ``.jpg`` files are HTML error pages. Every such item becomes an :class:`ImageLoadError`
(item index, path, reason) instead of an exception, and the caller decides what to do with it
(see ``fallback`` in :mod:`recsmith.encoders.image`).

URLs are fetched once, with a timeout, into a download folder (``RECSMITH_IMAGE_CACHE`` or
``~/.cache/recsmith/images``) named by the URL's hash, so later runs read the local copy.
"""

from __future__ import annotations

import io
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from PIL import Image, UnidentifiedImageError

from recsmith.encoders.cache import content_hash
from recsmith.utils.atomic import atomic_write_bytes

#: errors listed in a RecsmithError before "... and N more"
MAX_LISTED = 5


@dataclass(frozen=True)
class ImageLoadError:
    """One image that could not be used: ``index`` in the input list, its ``path`` and why.

    (A dataclass, not a NamedTuple: a field named ``index`` would hide ``tuple.index``.)"""

    index: int
    path: str
    reason: str


class LoadedImage(NamedTuple):
    image: Image.Image  # RGB, fully decoded
    hash: str  # content hash of the file bytes (the embedding cache key's content part)


def default_download_dir() -> Path:
    return Path(os.environ.get("RECSMITH_IMAGE_CACHE", Path.home() / ".cache" / "recsmith" / "images"))


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def _fetch(url: str, download_dir: Path, timeout_s: float) -> bytes:
    local = download_dir / content_hash(url)
    if local.is_file():
        return local.read_bytes()
    with urllib.request.urlopen(url, timeout=timeout_s) as response:
        data = response.read()
    atomic_write_bytes(local, data)  # a killed download never leaves a half file
    return data


def read_image(
    source: str | os.PathLike | None, index: int, *, download_dir: str | Path | None = None, timeout_s: float = 10.0
) -> LoadedImage | ImageLoadError:
    """Decode one image fully (truncated files fail here, not later in the model)."""
    if source is None or str(source).strip() == "":
        return ImageLoadError(index, "", "no image path given")
    path = str(source)
    try:
        if _is_url(path):
            data = _fetch(path, Path(download_dir) if download_dir else default_download_dir(), timeout_s)
        else:
            data = Path(path).expanduser().read_bytes()
    except FileNotFoundError:
        return ImageLoadError(index, path, "file not found")
    except IsADirectoryError:
        return ImageLoadError(index, path, "is a directory, not an image file")
    except OSError as exc:  # permissions, URLError / timeouts (subclasses of OSError)
        what = "download failed" if _is_url(path) else "cannot read file"
        return ImageLoadError(index, path, f"{what}: {exc}")
    if not data:
        return ImageLoadError(index, path, "empty file")
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.load()  # decode now: a truncated file raises here
            rgb = img.convert("RGB")
    except UnidentifiedImageError:
        return ImageLoadError(index, path, "not an image (format not recognised)")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        return ImageLoadError(index, path, f"corrupt or truncated image: {exc}")
    return LoadedImage(rgb, content_hash(data))


def describe_failures(errors: list[ImageLoadError], total: int) -> str:
    """A message listing the first failures: ``item 3 ('a.jpg'): file not found``."""
    lines = [f"  item {e.index} ({e.path!r}): {e.reason}" for e in errors[:MAX_LISTED]]
    if len(errors) > MAX_LISTED:
        lines.append(f"  ... and {len(errors) - MAX_LISTED} more")
    return f"{len(errors)} of {total} images could not be loaded:\n" + "\n".join(lines)
