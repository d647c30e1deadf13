"""Fetching the public lung-sound datasets, from the web or from a local mirror folder.

Every fetched file is checked against ``checksums.json`` in the dataset's folder. The
first import records that manifest (sha256 per file); later imports, from the web or
a mirror, must match it, so a changed or corrupted copy is refused. numpy-free.

A mirror holds either the release's archive (as the web serves it) or, for KAUH and
SPRSound, an unpacked copy in a layout their loaders read (:mod:`~audio_models.datasets.kauh`:
the project's copy or the published wav files; :mod:`~audio_models.datasets.sprsound`): the loader
reads it before anything is written, and its files are copied one by one, each under a temporary
name renamed into place. SPRSound's later (test) release is refused as ``sprsound2022``, the
training release (:func:`~audio_models.datasets.sprsound.later_release_sign`). After an archive is
extracted, the loader says how many recordings it reads there, or the report says what to do next.
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

from audio_models.datasets.kauh import TABLE as KAUH_TABLE
from audio_models.datasets.kauh import load_kauh
from audio_models.datasets.sprsound import later_release_sign, load_sprsound
from audio_models.errors import DatasetError
from common.hashing import sha256_file

logger = logging.getLogger(__name__)


def _kauh_files(folder):
    """The recordings :func:`load_kauh` read (every row of the copy's ``recordings.csv``, and the table
    itself; or every published file)."""
    listed = [KAUH_TABLE] if (folder / KAUH_TABLE).is_file() else []
    for recording in load_kauh(folder):
        try:
            listed.append(recording.path.relative_to(folder).as_posix())
        except ValueError:
            raise DatasetError(f"{folder / KAUH_TABLE}: recording outside the folder: {recording.path}") from None
    return list(dict.fromkeys(listed))


#: What of an unpacked SPRSound release is copied: audio, annotations and tables, sub-folders kept.
SPRSOUND_SUFFIXES = (".wav", ".flac", ".json", ".csv")


def _sprsound_files(folder):
    """The release's data files (:data:`SPRSOUND_SUFFIXES`, outside hidden top-level folders), after
    :func:`load_sprsound` found its annotated recordings."""
    load_sprsound(folder)
    return sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*")
                  if path.is_file() and path.suffix.lower() in SPRSOUND_SUFFIXES
                  and not path.relative_to(folder).parts[0].startswith(".") and path.name != CHECKSUMS)


def _training_release_only(folder):
    """Refuse a folder holding only a later (test) release (:func:`later_release_sign`): imported as
    ``sprsound2022`` it would be read as the training release.

    Raises
    ------
    DatasetError
        Naming the folder, what marks it, and what the user probably meant.
    """
    sign = later_release_sign(folder)
    if sign is not None:
        training = folder.parent / "sprsound2022"
        meant = (f"did you mean {training}?" if training.is_dir() and training != folder else
                 "point --mirror at the training release (train2022_json / train_classification_json, or the "
                 "shared data folder's sprsound2022/).")
        raise DatasetError(f"{folder} holds SPRSound's later test release, not the 2022 training release that "
                           f"sprsound2022 names ({sign}): {meant} The test release needs no import: "
                           "'ildscreen audio evaluate --data' reads it where it is")


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
        # From a mirror, also the unpacked copy the loader reads (as in the shared data folder's kauh/).
        "unpacked": {"what": ("KAUH copy (recordings.csv and the recordings it lists, or the published "
                              "<B|D|E>P<patient>_<diagnosis>,<sound code>,<location>,<age>,<sex>.wav files)"),
                     "folder": "kauh", "files": _kauh_files},
        # The Mendeley archive holds the recordings as another archive: unpacked too, for the loader.
        "inner_archives": ("Audio Files.zip",), "load": load_kauh,
    },
    "sprsound2022": {
        "title": ("SPRSound 2022 training release, SJTU Paediatric Respiratory Sound Database (Zhang et al., "
                  "IEEE Trans Biomed Circuits Syst 2022;16:867-881; CC BY 4.0)"),
        # The release is a repository of thousands of small files: from the web, the archive; from a
        # mirror, the archive or the unpacked folder, copied file by file.
        "files": {"SPRSound-main.zip": "https://github.com/SJTU-YONGFU-RESEARCH-GRP/SPRSound/archive/refs/heads/main.zip"},
        "unpacked": {"what": ("SPRSound release (the 2022 training release: <name>.wav|.flac beside or apart from "
                              "<name>.json)"),
                     "folder": "sprsound2022", "files": _sprsound_files, "check": _training_release_only},
        "load": load_sprsound,
    },
}
CHECKSUMS = "checksums.json"


def _copy_atomically(fetch, target, *, expected=None, label=None, against="the recorded"):
    """Write ``target`` through ``fetch(out)`` under a temporary name, then rename it into place; its sha256.

    With ``expected``, a copy of another sha256 is refused (named by ``label``) and ``target`` is left as it was.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            fetch(out)
        digest = sha256_file(tmp)
        if expected is not None and digest != expected:
            raise DatasetError(f"{label or target.name}: sha256 {digest} does not match {against} {expected}")
        os.replace(tmp, target)
        return digest
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _archive_source(mirror, folder_name, name):
    """Where the mirror holds archive ``name``: flat, or under the dataset's folder name; else ``None``."""
    for source in (pathlib.Path(mirror) / name, pathlib.Path(mirror) / folder_name / name):
        if source.is_file():
            return source
    return None


def _fetch_one(name, url, target, mirror, expected):
    if mirror is not None:
        source = _archive_source(mirror, target.parent.name, name)
        if source is None:
            raise DatasetError(f"mirror has no {name} (looked in {mirror} and {pathlib.Path(mirror) / target.parent.name})")
        with open(source, "rb") as handle:
            return _copy_atomically(lambda out: shutil.copyfileobj(handle, out), target, expected=expected)
    try:
        with urllib.request.urlopen(url, timeout=60) as response:  # noqa: S310 - fixed https URLs above
            return _copy_atomically(lambda out: shutil.copyfileobj(response, out), target, expected=expected)
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
        Folder holding the same file names (flat or under ``name/``); no network used. For a dataset
        with an ``unpacked`` layout (KAUH, SPRSound), a mirror without the archive is read as the
        unpacked copy: ``mirror/name/``, ``mirror/<its shared folder name>/`` (``kauh/``, as in the
        shared data folder) or the mirror itself.
    extract : bool, keyword-only
        Unzip ``.zip`` files after they pass the check.

    Returns
    -------
    dict
        ``{"dataset", "folder", "files", "checksums": "recorded" | "verified"}``; ``files`` is
        ``{file: sha256}``, or for an unpacked copy imported from a mirror the number of files
        (their sha256 are in ``checksums.json``). An extracted archive of KAUH or SPRSound (its inner
        archives unpacked too: KAUH's ``Audio Files.zip``) adds ``recordings``, how many its loader
        reads, or ``next``, what to do when it reads none.

    Raises
    ------
    DatasetError
        Unknown dataset; a mirror holding neither the archive nor an unpacked copy its loader reads
        (naming what is missing; nothing is written); a file differing from the recorded manifest
        (naming the file); a first import that would overwrite a differing file already there.
    """
    if name not in DATASETS:
        raise DatasetError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    folder = pathlib.Path(dest) / name
    manifest_path = folder / CHECKSUMS
    recorded = json.loads(manifest_path.read_text()) if manifest_path.is_file() else None
    unpacked = _unpacked_source(name, mirror)
    if unpacked is not None:
        digests = _import_files(*unpacked, folder, recorded)
    else:
        digests = _fetch_files(name, folder, mirror, recorded, extract=extract)
    if recorded is None:
        text = json.dumps(digests, indent=2, sort_keys=True) + "\n"
        _copy_atomically(lambda out: out.write(text.encode("utf-8")), manifest_path)
        logger.info("recorded checksums of %s files for %s", len(digests), name)
    report = {"dataset": name, "folder": str(folder), "files": len(digests) if unpacked is not None else digests,
              "checksums": "recorded" if recorded is None else "verified"}
    if unpacked is None and extract and "load" in DATASETS[name]:
        report.update(_readable(name, folder))
    return report


def _unpacked_source(name, mirror):
    """``(folder, [relative file])`` of the unpacked copy in ``mirror``, read by the dataset's loader; ``None``
    for the archive route (no mirror, no unpacked layout, or the mirror holds the archive).

    Raises
    ------
    DatasetError
        The mirror holds neither the archive nor a copy the loader reads: the loader's words say what is missing.
    """
    layout = DATASETS[name].get("unpacked")
    if mirror is None or layout is None:
        return None
    mirror = pathlib.Path(mirror)
    archives = DATASETS[name]["files"]
    if any(_archive_source(mirror, name, archive) for archive in archives):
        return None
    source = next((mirror / sub for sub in (name, layout["folder"]) if (mirror / sub).is_dir()), mirror)
    try:
        files = layout["files"](source)
    except DatasetError as exc:
        raise DatasetError(f"mirror has no {' or '.join(archives)} (looked in {mirror} and {mirror / name}) and "
                           f"{source} is not an unpacked {layout['what']}: {exc}") from exc
    if "check" in layout:
        layout["check"](source)
    return source, files


def _import_files(source, relatives, folder, recorded):
    """Copy ``relatives`` from ``source`` into ``folder`` and check each one; ``{relative: sha256}``.

    Everything is checked before anything is written: a recorded manifest must match file for file (a
    changed file is named); a first import does not overwrite a differing file already in ``folder``. A
    file already there with the right digest is left as it is, so an unchanged re-import writes nothing.
    """
    digests = {relative: sha256_file(source / relative) for relative in relatives}
    if recorded is not None:
        for relative, digest in digests.items():
            if relative in recorded and recorded[relative] != digest:
                raise DatasetError(f"{relative}: sha256 {digest} does not match the recorded {recorded[relative]}")
        missing, extra = sorted(set(recorded) - set(digests)), sorted(set(digests) - set(recorded))
        if missing or extra:
            raise DatasetError(f"mirror differs from the file list recorded in {folder / CHECKSUMS} "
                               f"(missing {missing[:3]}, not recorded {extra[:3]})")
    present = {relative for relative in digests if (folder / relative).is_file()
               and sha256_file(folder / relative) == digests[relative]}
    if recorded is None:
        clashes = sorted(relative for relative in digests if (folder / relative).exists() and relative not in present)
        if clashes:
            raise DatasetError(f"{folder} has no {CHECKSUMS} but already holds {clashes[:3]}, different from the "
                               "mirror's: not overwritten; move them away or import into another --dest")
    for relative, digest in digests.items():
        if relative not in present:
            with open(source / relative, "rb") as handle:
                _copy_atomically(lambda out, handle=handle: shutil.copyfileobj(handle, out), folder / relative,
                                 expected=digest, label=relative, against="the one it had when checked (changed meanwhile?)")
    return digests


def _fetch_files(name, folder, mirror, recorded, *, extract):
    digests = {}
    for file_name, url in DATASETS[name]["files"].items():
        target = folder / file_name
        if recorded is not None and file_name not in recorded:
            raise DatasetError(f"{file_name} is not in the file list recorded in {folder / CHECKSUMS} (recorded from "
                               "an unpacked copy?): import from the same kind of source")
        # A changed file is refused before it replaces the one recorded (which stays).
        digests[file_name] = _fetch_one(file_name, url, target, mirror, None if recorded is None else recorded[file_name])
        if extract and zipfile.is_zipfile(target):
            _extract(target, folder)
            inner = {name.casefold() for name in DATASETS[name].get("inner_archives", ())}
            for nested in sorted(folder.rglob("*.zip")):
                if nested.name.casefold() in inner:
                    _extract(nested, nested.parent / nested.stem)
    return digests


def _extract(archive_path, into):
    try:
        with zipfile.ZipFile(archive_path) as archive:
            archive.extractall(into)
    except (zipfile.BadZipFile, OSError) as exc:
        raise DatasetError(f"cannot extract {archive_path}: {exc}") from exc


def _readable(name, folder):
    """What the dataset's loader makes of an extracted archive: ``{"recordings": n}``, or ``{"next": ...}``
    saying what to do when it reads nothing (the archive's layout changed, or it was not extracted)."""
    try:
        return {"recordings": len(DATASETS[name]["load"](folder))}
    except DatasetError as exc:
        return {"next": (f"the archive is in {folder} but the loader reads no recordings there ({exc}); unpack its "
                         f"recordings under {folder} (for KAUH the wav files of 'Audio Files.zip', named as published) "
                         "and run the same command with --mirror pointing at them")}
