"""Model folders built once per machine in the model cache: under a file lock, in a temporary sibling
folder renamed into place, so concurrent callers wait for one build and an interrupted build never
leaves a half-written model behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Iterator


@contextlib.contextmanager
def locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # blocks while another process builds
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def build_once(out_dir: Path, write: Callable[[Path], None], is_complete: Callable[[Path], bool]) -> Path:
    """Return ``out_dir``, first calling ``write(tmp)`` to fill it unless ``is_complete(out_dir)``."""
    out_dir = Path(out_dir).expanduser().absolute()
    parent = out_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    with locked(parent / f".{out_dir.name}.lock"):
        if is_complete(out_dir):
            return out_dir
        if out_dir.exists():
            if out_dir.is_dir() and not any(out_dir.iterdir()):
                out_dir.rmdir()
            else:
                raise FileExistsError(f"{out_dir} exists and is not a finished model folder; remove it first")
        for stale in parent.glob(f".{out_dir.name}.tmp-*"):  # interrupted builds (we hold the lock)
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.tmp-", dir=parent))
        try:
            write(tmp)
            for p in [tmp, *tmp.rglob("*")]:
                if p.is_file():
                    with open(p, "rb") as fh:
                        os.fsync(fh.fileno())
            os.chmod(tmp, 0o755)
            os.rename(tmp, out_dir)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return out_dir
