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
``events``. Standard library and numpy (the ICBHI loader's folder names).
"""

import pathlib
import re

from audio_models.datasets.generic import LabelledRecording, is_generic_folder, load_folder
from audio_models.datasets.icbhi import ICBHI_FOLDERS
from audio_models.datasets.kauh import is_kauh_folder, load_kauh
from audio_models.datasets.splits import patient_key
from audio_models.datasets.sprsound import load_sprsound
from audio_models.errors import DatasetError

POPULATIONS = ("children", "adults")
#: Sub-folders of the shared data folder, by population.
#: ``kauh2021/`` is the folder ``ildscreen audio download kauh2021 --dest DATA`` writes (the same adults as ``kauh/``).
KNOWN_FOLDERS = {"sprsound2022": "children", "sprsound2022_test": "children", "kauh": "adults", "kauh2021": "adults"}
#: Folders that hold the same patients: a data folder may hold one of each group, or it would read them twice.
SAME_PATIENTS = (("kauh", "kauh2021"),)
#: The public sets' folder names, which a labelled folder may not take: the shared data folder's sets and
#: the ICBHI folders that training, the seed-spread study and ``ildscreen audio evaluate`` read for the
#: adult cross-device check (:data:`audio_models.datasets.icbhi.ICBHI_FOLDERS`).
PUBLIC_FOLDER_NAMES = (*KNOWN_FOLDERS, *ICBHI_FOLDERS)
#: The public sets' own names, which start each of their folders' names: a labelled folder whose name starts
#: with one would read as that set's too (``sprsound`` or ``SPRSound2024`` as SPRSound's children,
#: ``kauh_north`` as KAUH's adults, ``icbhi`` as ICBHI's), so it is refused like the folder names themselves.
PUBLIC_SET_NAMES = ("sprsound", "kauh", "icbhi")


#: What a labelled folder's name may be: letters or digits, then also ``.``, ``-`` and ``_`` (it names a
#: population key, ``adults_<folder>``, in the manifest, the evaluate command and the clinic's pages).
_FOLDER_NAME = re.compile(r"[^\W_][\w.-]*")


def check_labelled_folder_name(folder):
    """Refuse a labelled folder whose name would make a confusing or colliding population key
    (:func:`audio_models.validation.population_key`: ``adults_<folder>``, ``children_<folder>``).

    Raises
    ------
    DatasetError
        Naming the folder: a name that is a cohort or starts like one (``adults`` would report
        ``adults_adults``), a public set's folder name (:data:`PUBLIC_FOLDER_NAMES`: ``sprsound2022`` would
        collide with SPRSound's ``children_sprsound2022``; ``kauh`` would read as KAUH's adults;
        ``icbhi_sample`` as ICBHI's, and evaluation would read the folder itself as the adult cross-device
        check's) or one that starts like a public set's (:data:`PUBLIC_SET_NAMES`: ``sprsound``,
        ``SPRSound2024``, ``icbhi``), or one with spaces or other characters (:data:`_FOLDER_NAME`).
    """
    name = pathlib.Path(folder).resolve().name
    folded = name.casefold()
    if folded in POPULATIONS or folded.startswith(tuple(f"{cohort}_" for cohort in POPULATIONS)):
        why = f"its populations would be named adults_{name} and children_{name}, which read as a cohort's own"
    elif folded in PUBLIC_FOLDER_NAMES or folded.startswith(PUBLIC_SET_NAMES):
        why = (f"it is a public set's folder name or starts like one ({', '.join(PUBLIC_FOLDER_NAMES)}; "
               f"{', '.join(f'{start}...' for start in PUBLIC_SET_NAMES)}): its population (adults_{name}, "
               f"children_{name}) would read as that set's")
        if folded in ICBHI_FOLDERS:
            # `ildscreen audio evaluate --data DIR` looks for the ICBHI folders in DIR and beside it.
            why += ", and 'ildscreen audio evaluate' would read the folder itself as ICBHI's adult cross-device check"
    elif not _FOLDER_NAME.fullmatch(name):
        why = "a population is named after its folder: use letters, digits, '.', '-' and '_' only, starting with a letter or digit"
    else:
        return
    raise DatasetError(f"{folder}: labelled folder name {name!r} refused: {why}; rename the folder (keep the new "
                       "name for training and evaluation)")


def _load_folder(folder, population):
    # A KAUH folder without its table is refused by the KAUH loader, which names the table, not SPRSound's.
    if is_kauh_folder(folder) or population == "adults":
        return load_kauh(folder)
    if is_generic_folder(folder):
        check_labelled_folder_name(folder)
        return load_folder(folder)
    return load_sprsound(folder)


def dataset_folders(data):
    """``{folder: population}`` of the datasets under ``data`` (or ``data`` itself); a generic folder's
    population is ``None``: each of its rows has its own (by age)."""
    data = pathlib.Path(data)
    if not data.is_dir():
        raise DatasetError(f"data folder not found: {data}")
    found = {data / name: population for name, population in KNOWN_FOLDERS.items() if (data / name).is_dir()}
    for group in SAME_PATIENTS:
        twice = [name for name in group if data / name in found]
        if len(twice) > 1:
            raise DatasetError(f"{data} holds {' and '.join(f'{name}/' for name in twice)}: the same patients, which "
                               "would be read twice; keep one")
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
    recordings = [recording for folder in sorted(folders) for recording in _load_folder(folder, folders[folder])
                  if population in ("all", recording.population)]
    if not recordings:
        raise DatasetError(f"no {population} dataset under {data} (looked for {sorted(KNOWN_FOLDERS)} "
                           "or a generic labels.csv)")
    return recordings


def _where(recording):
    row = getattr(recording, "row", None)
    return f"{recording.path.parent / 'labels.csv'}:{row}" if row else str(recording.path)


def load_corpora(data_folders):
    """``(recordings, {family: folder})``: :func:`load_corpus` of each of ``data_folders`` (the shared data
    folder, a dataset folder, a clinic's generic folder), in order, and the generic folders by their split
    family (:func:`audio_models.datasets.generic.family_of`).

    Raises
    ------
    DatasetError
        A folder's own error; two generic folders of one name (one family); or a patient in two folders
        (a generic folder's ``patient_id`` in another generic folder, or a public set's patient in two of
        ``data_folders``): their parts could differ, so the patient could train and test the model.
    """
    recordings, owner, generic_folders = [], {}, {}
    for folder in data_folders:
        loaded = load_corpus(folder)
        for family in sorted({r.dataset_family for r in loaded if isinstance(r, LabelledRecording)}):
            if family in generic_folders:
                raise DatasetError(f"{folder}: a labelled folder of the same name ({family}) is already read from "
                                   f"{generic_folders[family]}: each folder's name is its family in the split; rename one")
            generic_folders[family] = folder
        for recording in loaded:
            identity = (("local", recording.patient_id) if isinstance(recording, LabelledRecording)
                        else patient_key(recording.dataset_family, recording.patient_id))
            first = owner.setdefault(identity, (folder, recording))
            if first[0] != folder:
                raise DatasetError(f"{_where(recording)}: its patient_id is also a patient of {first[0]} "
                                   f"({_where(first[1])}): a patient may be in one folder only, or it could train "
                                   "and test the model")
        recordings += loaded
    return recordings, generic_folders
