"""Atomic writes: write into a temporary sibling, then rename, so a failure leaves nothing half-written.

The temporary files and directories come from :mod:`tempfile`, which creates them private (0600 /
0700) whatever the umask: right for a temporary, wrong for what it becomes. Before the rename they
get the modes any Unix tool would have given them (``0666`` / ``0777`` less the process umask), so
a dataset, run or bundle written by one user is readable by another (a service account) exactly
when the umask says so.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_UMASK_LOCK = threading.Lock()


class OutputExistsError(FileExistsError):
    """An output path exists and replacing it was not asked for.

    Python callers read what to pass (``overwrite=True``); the command line shows only its flag
    (:meth:`cli_message`).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        argument: str = "pass overwrite=True to replace it",
        flag: str = "pass --overwrite to replace it",
    ) -> None:
        self.path = str(path)
        self.flag_hint = flag
        super().__init__(f"{path} already exists ({argument})")

    def cli_message(self) -> str:
        return f"{self.path} already exists ({self.flag_hint})"


def current_umask() -> int:
    """The process umask, read without changing it.

    Linux reports it in ``/proc/self/status`` (``Umask:`` since 4.7). Elsewhere the only way is to
    set a umask and put the old one back; between the two calls another thread creating a file
    would use the temporary value, so that fallback sets the most restrictive umask (077) for the
    instant: the worst a racing thread gets is a private file, never a readable one.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    with _UMASK_LOCK:
        old = os.umask(0o077)
        os.umask(old)
    return old


def file_mode() -> int:
    """Mode of a new regular file: ``0666`` less the umask (0644 under the usual 022)."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """Mode of a new directory: ``0777`` less the umask (0755 under the usual 022)."""
    return 0o777 & ~current_umask()


def check_output(path: str | Path, *, overwrite: bool = False) -> None:
    """Refuse an existing ``path`` unless ``overwrite``: call it before the work, not after it."""
    if Path(path).exists() and not overwrite:
        raise OutputExistsError(path)


@contextmanager
def atomic_dir(path: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary directory that becomes ``path`` when the block succeeds.

    On any exception the temporary directory is removed and ``path`` is left as it was. The
    directory gets the umask's mode (:func:`dir_mode`); what the block writes inside it is created
    with the umask anyway.
    """
    path = Path(path)
    check_output(path, overwrite=overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        os.chmod(tmp, dir_mode())
        yield tmp
        if path.exists():
            backup = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, backup)
            os.replace(tmp, path)
            shutil.rmtree(backup, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write a text file atomically (temp file in the same directory + rename)."""
    atomic_write_bytes(path, text.encode())


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write a file atomically (temp file in the same directory + rename): a killed writer never
    leaves a half-written file for a later reader. The file gets the umask's mode (:func:`file_mode`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())  # the rename must not land before the bytes do
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
