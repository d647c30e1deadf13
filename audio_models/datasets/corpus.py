"""The lung-sound corpus the crackle model is trained and validated on, by population.

One entry point, :func:`load_corpus`, for training and ``ildscreen audio evaluate``: given the
shared data folder (``../shared/data``, with ``sprsound2022/``, ``sprsound2022_test/`` and
``kauh/``) or one dataset folder, it returns every labelled recording of the asked population:

* ``children``: SPRSound releases (expert event labels; Yunting II stethoscope);
* ``adults``: KAUH (recording labels; Littmann 3200 through three filter modes).

``data`` may also be one folder in the generic format (:mod:`audio_models.datasets.generic`: a
``labels.csv`` beside the recordings): anyone's own labelled recordings, each row an adult's or a
child's by its age. It is read only when named itself (never found inside the shared folder).

Every recording carries ``dataset_family``, ``dataset``, ``population``, ``device``,
``patient_id``, ``chest_site``, ``age_y``, ``sex``, ``has_fine_crackles``, ``poor_quality`` and
``events``. Standard library only.
"""

import pathlib

from audio_models.datasets.generic import is_generic_folder, load_folder
from audio_models.datasets.kauh import is_kauh_folder, load_kauh
from audio_models.datasets.sprsound import load_sprsound
from audio_models.errors import DatasetError

POPULATIONS = ("children", "adults")
#: Sub-folders of the shared data folder, by population.
KNOWN_FOLDERS = {"sprsound2022": "children", "sprsound2022_test": "children", "kauh": "adults"}


def _load_folder(folder):
    if is_kauh_folder(folder):
        return load_kauh(folder)
    if is_generic_folder(folder):
        return load_folder(folder)
    return load_sprsound(folder)


def dataset_folders(data):
    """``{folder: population}`` of the datasets under ``data`` (or ``data`` itself); a generic folder's
    population is ``None``: each of its rows has its own (by age)."""
    data = pathlib.Path(data)
    if not data.is_dir():
        raise DatasetError(f"data folder not found: {data}")
    found = {data / name: population for name, population in KNOWN_FOLDERS.items() if (data / name).is_dir()}
    if found:
        return found
    if is_kauh_folder(data):
        return {data: "adults"}
    return {data: None if is_generic_folder(data) else "children"}


def load_corpus(data, *, population="all"):
    """Every labelled recording of ``population`` (``children``, ``adults`` or ``all``) under ``data``.

    Raises
    ------
    DatasetError
        The folder is missing, holds no dataset of that population, or a dataset is malformed.
    """
    if population not in (*POPULATIONS, "all"):
        raise DatasetError(f"population must be one of {list(POPULATIONS) + ['all']}, got {population!r}")
    folders = {folder: pop for folder, pop in dataset_folders(data).items() if population in ("all", pop) or pop is None}
    recordings = [recording for folder in sorted(folders) for recording in _load_folder(folder)
                  if population in ("all", recording.population)]
    if not recordings:
        raise DatasetError(f"no {population} dataset under {data} (looked for {sorted(KNOWN_FOLDERS)} "
                           "or a generic labels.csv)")
    return recordings
