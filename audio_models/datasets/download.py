"""Fetching the public lung-sound datasets, from the web or from a local mirror folder.

Every fetched file is checked against ``checksums.json`` in the dataset's folder. The
first import records that manifest (sha256 per file); later imports, from the web or
a mirror, must match it, so a changed or corrupted copy is refused. numpy-free.
"""

import json
import logging
import os
import pathlib
import shutil
import tempfile
import urllib.error
import urllib.request
import zipfile

from audio_models.errors import DatasetError
from common.hashing import sha256_file

logger = logging.getLogger(__name__)

DATASETS = {
    "icbhi2017": {
        "title": "ICBHI 2017 Respiratory Sound Database (Rocha et al., Physiol Meas 2019;40:035001)",
        "files": {
            "ICBHI_final_database.zip": "https://bhichallenge.med.auth.gr/sites/default/files/ICBHI_final_database/ICBHI_final_database.zip",
            "ICBHI_challenge_train_test.txt": "https://bhichallenge.med.auth.gr/sites/default/files/ICBHI_final_database/ICBHI_challenge_train_test.txt",
        },
    },
    "kauh2021": {
        "title": ("KAUH lung sounds, King Abdullah University Hospital, incl. lung fibrosis subjects "
                  "(Fraiwan et al., Data Brief 2021;35:106913; Mendeley Data doi:10.17632/jwyy9np4gv.3)"),
        "files": {"jwyy9np4gv-3.zip": "https://data.mendeley.com/public-files/datasets/jwyy9np4gv/files/jwyy9np4gv-3.zip"},
    },
    "sprsound2022": {
        "title": ("SPRSound 2022 training release, SJTU Paediatric Respiratory Sound Database (Zhang et al., "
                  "IEEE Trans Biomed Circuits Syst 2022;16:867-881; CC BY 4.0)"),
        # The release is a repository of thousands of small files: from a mirror the folder is
        # copied file by file (wav/flac audio, json annotations); from the web, the archive.
        "files": {"SPRSound-main.zip": "https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound/archive/refs/heads/main.zip"},
        "mirror_tree": (".wav", ".flac", ".json", ".csv"),
    },
}
CHECKSUMS = "checksums.json"


def _copy_atomically(fetch, target):
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            fetch(out)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _fetch_one(name, url, target, mirror):
    if mirror is not None:
        source = pathlib.Path(mirror) / name
        if not source.is_file():
            source = pathlib.Path(mirror) / target.parent.name / name
        if not source.is_file():
            raise DatasetError(f"mirror has no {name} (looked in {mirror} and {pathlib.Path(mirror) / target.parent.name})")
        with open(source, "rb") as handle:
            _copy_atomically(lambda out: shutil.copyfileobj(handle, out), target)
        return
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URLs above
            _copy_atomically(lambda out: shutil.copyfileobj(response, out), target)
    except (urllib.error.URLError, OSError) as exc:
        raise DatasetError(f"cannot download {url}: {exc}; pass a mirror folder instead") from exc


def fetch_dataset(name, *, dest, mirror=None, extract=True):
    """Fetch a public dataset into ``dest/name``, verify or record checksums, unzip archives.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    dest : str or os.PathLike, keyword-only
        Data folder; the dataset goes to ``dest/name``.
    mirror : str or os.PathLike or None, keyword-only
        Folder holding the same file names (flat or under ``name/``); no network used.
    extract : bool, keyword-only
        Unzip ``.zip`` files after they pass the check.

    Returns
    -------
    dict
        ``{"dataset", "folder", "files", "checksums": "recorded" | "verified"}``; ``files`` is
        ``{file: sha256}``, or for a folder imported from a mirror (SPRSound) the number of files
        (their sha256 are in ``checksums.json``).
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    folder = pathlib.Path(dest) / name
    manifest_path = folder / CHECKSUMS
    recorded = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    if mirror is not None and "mirror_tree" in DATASETS[name]:
        digests = _import_tree(pathlib.Path(mirror), folder, DATASETS[name]["mirror_tree"], recorded)
    else:
        digests = _fetch_files(name, folder, mirror, recorded, extract=extract)
    if recorded is None:
        manifest_path.write_text(json.dumps(digests, indent=2, sort_keys=True) + "\n")
        logger.info("recorded checksums of %s files for %s", len(digests), name)
    return {"dataset": name, "folder": str(folder), "files": len(digests) if "mirror_tree" in DATASETS[name] else digests,
            "checksums": "recorded" if recorded is None else "verified"}


def _import_tree(mirror, folder, suffixes, recorded):
    """Copy a mirror folder's data files (by suffix, keeping sub-folders) and check each one.

    A recorded manifest must match file for file: a changed, missing or extra file is refused
    before the copy is reported as verified.
    """
    sources = sorted(path for path in mirror.rglob("*") if path.is_file() and path.suffix.lower() in suffixes
                     and not path.relative_to(mirror).parts[0].startswith("."))
    if not sources:
        raise DatasetError(f"mirror {mirror} has no {'/'.join(suffixes)} files")
    digests = {}
    for source in sources:
        relative = source.relative_to(mirror).as_posix()
        if relative == CHECKSUMS:
            continue
        digest = sha256_file(source)
        if recorded is not None and recorded.get(relative) != digest:
            raise DatasetError(f"{relative}: sha256 {digest} does not match the recorded {recorded.get(relative)}")
        digests[relative] = digest
    if recorded is not None and set(recorded) != set(digests):
        missing = sorted(set(recorded) - set(digests))[:3]
        raise DatasetError(f"mirror differs from the recorded file list (e.g. missing {missing})")
    for relative in digests:
        with open(mirror / relative, "rb") as handle:
            _copy_atomically(lambda out, handle=handle: shutil.copyfileobj(handle, out), folder / relative)
    return digests


def _fetch_files(name, folder, mirror, recorded, *, extract):
    digests = {}
    for file_name, url in DATASETS[name]["files"].items():
        target = folder / file_name
        _fetch_one(file_name, url, target, mirror)
        digests[file_name] = sha256_file(target)
        if recorded is not None and recorded.get(file_name) != digests[file_name]:
            target.unlink()
            raise DatasetError(f"{file_name}: sha256 {digests[file_name]} does not match the recorded {recorded.get(file_name)}")
        if extract and zipfile.is_zipfile(target):
            try:
                with zipfile.ZipFile(target) as archive:
                    archive.extractall(folder)
            except (zipfile.BadZipFile, OSError) as exc:
                raise DatasetError(f"cannot extract {target}: {exc}") from exc
    return digests
