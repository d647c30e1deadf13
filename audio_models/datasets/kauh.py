"""KAUH lung-sound dataset loader: real recordings of adults through three stethoscope filters.

Fraiwan M, Fraiwan L, Khassawneh B, Ibnian A. "A dataset of lung sounds recorded from the chest
wall using an electronic stethoscope", Data in Brief 2021;35:106913,
doi:10.1016/j.dib.2021.106913 (Mendeley Data jwyy9np4gv; CC BY 4.0). King Abdullah University
Hospital, Jordan; adults; a 3M Littmann Electronic Stethoscope 3200 whose three filter modes
(bell, diaphragm, extended) each saved the same sound, so one sound is three "devices".

Layout read here (the copy in ``../shared/data/kauh``): ``recordings.csv`` with columns
``recording, patient, filter_mode, diagnosis, sound_label, crackles, location, age_y, sex, sr,
dur_s`` and the audio files under ``audio/``. Labels are per recording (no event times): the
positive class is the dataset's crackle codes (``C``, ``Crep``, ``I C E W``). Standard library only.
"""

import csv
import dataclasses
import pathlib

from audio_models.datasets.generic import RecordingLevelLabel, read_table
from audio_models.errors import DatasetError

TABLE = "recordings.csv"
REQUIRED_COLUMNS = ("recording", "patient", "filter_mode", "sound_label", "crackles", "location", "age_y", "sex")
FILTER_MODES = ("bell", "diaphragm", "extended")
DEVICE = "Littmann 3200"
_SIDES = {"L": "left", "R": "right"}
_ZONES = {"U": "upper", "M": "middle", "L": "lower"}
_FACES = {"A": "anterior", "P": "posterior"}


@dataclasses.dataclass(frozen=True)
class KauhRecording(RecordingLevelLabel):
    """One KAUH recording (one sound through one filter mode) with its recording-level label."""

    path: pathlib.Path
    patient_id: str
    filter_mode: str
    sound_label: str
    crackles: bool
    location: str
    age_y: float
    sex: str
    diagnosis: str = ""

    dataset_family = "kauh"
    dataset = "kauh"
    population = "adults"

    @property
    def device(self):
        """The stethoscope and its filter mode, e.g. ``Littmann 3200 bell``."""
        return f"{DEVICE} {self.filter_mode}"

    @property
    def has_fine_crackles(self):
        """The recording-level crackle label (KAUH does not tell fine from coarse crackles)."""
        return self.crackles

    @property
    def chest_site(self):
        """The location in this project's words, e.g. ``P R L`` -> ``posterior_lower_right``."""
        return chest_site(self.location)

    @property
    def other_sounds(self):
        """What else the recording holds, from the dataset's sound code: ``none`` (``N``), ``wheeze``
        (a code with ``W``) or ``other``."""
        codes = self.sound_label.split()
        return "none" if codes == ["N"] else "wheeze" if "W" in codes else "other"


def chest_site(location):
    """Chest-site name for a KAUH location code (face, side, zone; extra letters ignored).

    Examples
    --------
    >>> chest_site("P R L"), chest_site("A R M"), chest_site("P L R")
    ('posterior_lower_right', 'anterior_middle_right', 'posterior_left')
    """
    tokens = location.split()
    if len(tokens) < 2 or tokens[0] not in _FACES or tokens[1] not in _SIDES:
        raise DatasetError(f"KAUH location must start with A/P and L/R, got {location!r}")
    zone = _ZONES.get(tokens[2]) if len(tokens) > 2 else None
    return "_".join(part for part in (_FACES[tokens[0]], zone, _SIDES[tokens[1]]) if part)


def _row(table, number, row, root):
    if row["filter_mode"] not in FILTER_MODES:
        raise DatasetError(f"{table}:{number}: filter_mode must be one of {FILTER_MODES}, got {row['filter_mode']!r}")
    if row["crackles"] not in ("0", "1"):
        raise DatasetError(f"{table}:{number}: crackles must be 0 or 1, got {row['crackles']!r}")
    try:
        age = float(row["age_y"])
    except ValueError:
        raise DatasetError(f"{table}:{number}: age_y must be a number, got {row['age_y']!r}") from None
    path = root / "audio" / row["recording"]
    if not path.is_file():
        path = root / row["recording"]
    if not path.is_file():
        raise DatasetError(f"{table}:{number}: recording not found: {row['recording']}")
    chest_site(row["location"])  # validated here, read as a property later
    return KauhRecording(path=path, patient_id=row["patient"].strip(), filter_mode=row["filter_mode"],
                         sound_label=row["sound_label"], crackles=row["crackles"] == "1", location=row["location"],
                         age_y=age, sex=row["sex"], diagnosis=row.get("diagnosis", ""))


def load_kauh(root):
    """Every recording listed in ``root/recordings.csv``, sorted by name.

    Raises
    ------
    DatasetError
        The folder or table is missing, a column or file is missing, or a value is malformed;
        the message names the row.
    """
    root = pathlib.Path(root)
    table = root / TABLE
    rows = read_table(table, REQUIRED_COLUMNS, what="KAUH table")
    recordings = [_row(table, number, row, root) for number, row in enumerate(rows, 2)]
    if not recordings:
        raise DatasetError(f"{table}: no recordings")
    return sorted(recordings, key=lambda recording: recording.name)


def is_kauh_folder(folder):
    """Whether ``folder`` looks like the KAUH copy (a ``recordings.csv`` with a filter_mode column)."""
    table = pathlib.Path(folder) / TABLE
    if not table.is_file():
        return False
    with open(table, newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle), [])
    return "filter_mode" in header
