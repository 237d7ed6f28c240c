"""A .zip of source files as SRC (the way vendors ship archives): each member stands where a file's path stands,
read in memory and never unpacked to disk; names, findings and fingerprints say archive.zip/member."""

from __future__ import annotations

import functools
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from types import SimpleNamespace


@functools.lru_cache(maxsize=4)
def _open(archive: Path) -> zipfile.ZipFile:
    """One open archive for every member read (ZipFile reads of different members may run in parallel)."""
    return zipfile.ZipFile(archive)


@dataclass(frozen=True)
class Member:
    """A file inside a zip, with the part of Path's interface the source readers use."""

    archive: Path
    member: str
    size: int  # unpacked bytes, as the archive declares them

    name = property(lambda self: PurePosixPath(self.member).name)
    suffix = property(lambda self: PurePosixPath(self.member).suffix)
    stem = property(lambda self: PurePosixPath(self.member).stem)

    def is_file(self) -> bool:
        return True

    def is_dir(self) -> bool:
        return False

    def is_symlink(self) -> bool:
        return False

    def exists(self) -> bool:
        return True

    def stat(self) -> SimpleNamespace:
        return SimpleNamespace(st_size=self.size)

    def open(self, mode: str = "rb"):
        """The member as a stream, unpacked as it is read."""
        return _open(self.archive).open(self.member)

    def relative_to(self, root) -> PurePosixPath:
        return PurePosixPath(self.archive.name) / self.member

    def __str__(self) -> str:
        return f"{self.archive}/{self.member}"


def members(archive: Path) -> list[Member]:
    """The archive's files, sorted by name (folders and hidden files left out); a damaged zip is a ValueError."""
    try:
        infos = _open(archive).infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise ValueError(f"not a readable .zip archive ({exc})") from None
    return sorted((Member(archive, i.filename, i.file_size) for i in infos
                   if not i.is_dir() and not PurePosixPath(i.filename).name.startswith((".", "~$"))
                   and "__MACOSX" not in i.filename), key=lambda m: m.member)
