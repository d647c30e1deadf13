"""Generic loader: a folder of recordings plus a CSV with one row per recording.

The format for anyone's own labelled lung sounds (a clinic's takes with a clinician's crackle
label, a research partner's adults through another stethoscope): ``ildscreen audio evaluate
--data FOLDER --part all`` scores it like the public sets, per population, per device and per
patient (:mod:`audio_models.datasets.corpus`).

CSV ``labels.csv`` (header required, extra columns ignored):

* required: ``file`` (path relative to the folder), ``patient_id``, ``chest_site``, ``device``
  (the stethoscope and its chest piece or filter mode, e.g. ``Eko Core 500 diaphragm``: reported
  apart), ``label`` (crackles heard: 1/0, yes/no, true/false, crackles/normal);
* optional: ``age_y`` (years; under 18 is a child, reported apart from adults; without it the
  recording is an adult's, the programme's intended use, and its age band is ``unknown``), ``sex``
  and ``other_sounds`` (what else a recording holds: ``none``, ``wheeze`` or ``other``; reported
  as ``unknown`` without it).

Labels are per recording (no event times). Each folder is a dataset family of its own, named by the
folder (``local:<folder name>``, :func:`family_of`): its patients are split by (seed, that family, their
``patient_id``) and reported as a population of their own (``adults_<folder name>``, ``children_<folder
name>``), so keep the folder's name between training and ``ildscreen audio evaluate``. numpy-free.
"""

import csv
import dataclasses
import pathlib
from typing import Optional

from audio_models.errors import DatasetError

TABLE = "labels.csv"
REQUIRED_COLUMNS = ("file", "patient_id", "chest_site", "device", "label")
OTHER_SOUNDS = ("none", "wheeze", "other")
#: Under this age (years) a recording is a child's (the children's operating point; reported apart).
ADULT_FROM_AGE_Y = 18
_LABELS = {"1": 1, "yes": 1, "true": 1, "crackles": 1, "0": 0, "no": 0, "false": 0, "normal": 0}


class RecordingLevelLabel:
    """What a dataset labelled per recording (no event times, no quality grade) tells the corpus
    beside its label: no events, not graded poor, named by its file (KAUH and generic folders)."""

    events = ()
    fine_crackle_events = ()
    poor_quality = False

    @property
    def name(self):
        return self.path.stem


@dataclasses.dataclass(frozen=True)
class LabelledRecording(RecordingLevelLabel):
    """One recording of a generic folder, with what the corpus asks of every recording."""

    path: pathlib.Path
    patient_id: str
    chest_site: str
    device: str
    label: int
    dataset: str = "local"
    age_y: Optional[float] = None
    sex: str = ""
    other_sounds: str = "unknown"
    #: The row of ``labels.csv`` (header = 1) it was read from, for messages that name it.
    row: Optional[int] = dataclasses.field(default=None, compare=False)

    @property
    def dataset_family(self):
        """The folder's own family in the patient split (:func:`family_of`)."""
        return family_of(self.dataset)

    @property
    def population(self):
        """``children`` under :data:`ADULT_FROM_AGE_Y` years, else (or with no age) ``adults``."""
        return "children" if self.age_y is not None and self.age_y < ADULT_FROM_AGE_Y else "adults"

    @property
    def has_fine_crackles(self):
        """The recording-level crackle label (a generic folder does not tell fine from coarse)."""
        return bool(self.label)


def family_of(dataset):
    """The split family of a generic folder named ``dataset``: ``local:<name>``, apart from the public
    sets' families and from every other folder's.

    Examples
    --------
    >>> family_of("clinic-2026")
    'local:clinic-2026'
    """
    return f"local:{dataset}"


def read_table(table, required_columns, *, what):
    """The rows of a CSV table (header required) as dicts, after checking its required columns.

    Raises
    ------
    DatasetError
        The table is missing (named as ``what``) or lacks a required column.
    """
    if not table.is_file():
        raise DatasetError(f"{what} not found: {table}")
    with open(table, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required_columns if c not in (reader.fieldnames or [])]
        if missing:
            raise DatasetError(f"{table}: missing column(s) {missing}; need {list(required_columns)}")
        return list(reader)


def age_years(text, *, where, what="age_y", blank_allowed=True):
    """A recording's age in years from a table cell or a file name (``where`` names it in an error); a blank one
    is None when ``blank_allowed``. The one age rule of every loader.

    Examples
    --------
    >>> age_years("70", where="x"), age_years(" ", where="x")
    (70.0, None)
    """
    if not (text or "").strip():
        if blank_allowed:
            return None
        raise DatasetError(f"{where}: {what} must be a number of years, got {text!r}")
    try:
        age = float(text)
    except ValueError:
        raise DatasetError(f"{where}: {what} must be a number of years, got {text!r}") from None
    if not 0 <= age <= 120:
        raise DatasetError(f"{where}: {what} must lie between 0 and 120 years, got {text!r}")
    return age


def _other_sounds(table, number, text):
    text = (text or "").strip().lower()
    if not text:
        return "unknown"
    if text not in OTHER_SOUNDS:
        raise DatasetError(f"{table}:{number}: other_sounds must be one of {list(OTHER_SOUNDS)}, got {text!r}")
    return text


def load_folder(folder, *, csv_name=TABLE):
    """Read ``folder/csv_name`` and check that every listed recording exists.

    Raises
    ------
    DatasetError
        Missing CSV or column, unknown label, missing file, a malformed optional value, or an
        empty table; the message names the row.
    """
    folder = pathlib.Path(folder)
    dataset = folder.resolve().name or "local"
    table = folder / csv_name
    rows = read_table(table, REQUIRED_COLUMNS, what="label table")
    recordings = []
    for number, row in enumerate(rows, 2):
        label = _LABELS.get(row["label"].strip().lower())
        if label is None:
            raise DatasetError(f"{table}:{number}: label must be one of {sorted(_LABELS)}, got {row['label']!r}")
        path = folder / row["file"]
        if not path.is_file():
            raise DatasetError(f"{table}:{number}: recording not found: {path}")
        for column in ("patient_id", "device"):
            if not row[column].strip():
                raise DatasetError(f"{table}:{number}: empty {column}")
        recordings.append(LabelledRecording(
            path, row["patient_id"].strip(), row["chest_site"].strip(), row["device"].strip(), label,
            dataset=dataset, age_y=age_years(row.get("age_y"), where=f"{table}:{number}"),
            sex=(row.get("sex") or "").strip(), other_sounds=_other_sounds(table, number, row.get("other_sounds")),
            row=number))
    if not recordings:
        raise DatasetError(f"{table}: no rows")
    return recordings


def is_generic_folder(folder):
    """Whether ``folder`` holds a generic label table (:data:`TABLE`)."""
    return (pathlib.Path(folder) / TABLE).is_file()
