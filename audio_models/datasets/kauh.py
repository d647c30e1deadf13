"""KAUH lung-sound dataset loader: real recordings of adults through three stethoscope filters.

Fraiwan M, Fraiwan L, Khassawneh B, Ibnian A. "A dataset of lung sounds recorded from the chest
wall using an electronic stethoscope", Data in Brief 2021;35:106913,
doi:10.1016/j.dib.2021.106913 (Mendeley Data jwyy9np4gv; CC BY 4.0). King Abdullah University
Hospital, Jordan; adults; a 3M Littmann Electronic Stethoscope 3200 whose three filter modes
(bell, diaphragm, extended) each saved the same sound, so one sound is three "devices".

Two layouts are read:

* the project's converted copy (``../shared/data/kauh``, the middle 10 s of each recording):
  ``recordings.csv`` with columns ``recording, patient, filter_mode, diagnosis, sound_label,
  crackles, location, age_y, sex, sr, dur_s`` and the audio files under ``audio/``;
* the dataset as published (``Audio Files.zip`` unpacked, full length, 5-30 s): a folder (searched
  recursively) of ``.wav`` files each named ``<F>P<n>_<diagnosis>,<sound code>,<location>,<age>,<sex>``,
  e.g. ``BP1_Asthma,I E W,P L L,70,M.wav``: ``F`` the filter mode (B bell, D diaphragm, E extended),
  ``n`` the patient number, which is the copy's ``patient`` (the same patient key in the split).
  Case and spacing of a name may vary (``bp10_asthma,e w,P R U ,59,m``): fields are trimmed, runs of
  spaces read as one, letters compared without case. Every audio file must be such a name.

Labels are per recording (no event times). In a published name the positive class is a sound code with
crackles (:data:`SOUND_CODES`, the one place that maps a code to the label); a code not listed there is
an error naming the file, never a negative. The copy's label is its curated ``crackles`` column, taken
as it is (a known code that disagrees is logged). Standard library only.
"""

import csv
import logging
import dataclasses
import pathlib
import re

from audio_models.datasets.generic import TABLE as GENERIC_TABLE
from audio_models.datasets.generic import RecordingLevelLabel, age_years, read_table
from audio_models.errors import DatasetError

logger = logging.getLogger(__name__)

TABLE = "recordings.csv"
REQUIRED_COLUMNS = ("recording", "patient", "filter_mode", "sound_label", "crackles", "location", "age_y", "sex")
FILTER_MODES = ("bell", "diaphragm", "extended")
#: The first letter of a published file name: the filter mode it was saved through.
FILTER_LETTERS = {"B": "bell", "D": "diaphragm", "E": "extended"}
#: The dataset's sound codes, as its file names and annotation sheet write them, and whether the sound
#: holds crackles (the positive class). Source: Fraiwan et al. 2021 (above), whose sound types are normal,
#: wheezes, crepitations, crackles, wheezes and crackles, bronchial, bronchial and crackles; I inspiratory,
#: E expiratory. The published names seen: N, C, Crep, E W, I E W, I C E W, I C B, Bronchial.
SOUND_CODES = {
    "N": False,  # normal
    "C": True,  # crackles
    "Crep": True,  # crepitations (crackles)
    "E W": False,  # expiratory wheeze
    "I E W": False,  # inspiratory and expiratory wheeze
    "I C E W": True,  # inspiratory crackles, expiratory wheeze (wheezes and crackles)
    "I C B": True,  # inspiratory crackles, bronchial breathing (bronchial and crackles)
    "Bronchial": False,  # bronchial breathing
}
AUDIO_SUFFIXES = (".wav", ".flac")
DEVICE = "Littmann 3200"
_SIDES = {"L": "left", "R": "right"}
_ZONES = {"U": "upper", "M": "middle", "L": "lower"}
_FACES = {"A": "anterior", "P": "posterior"}
_NAME = re.compile(r"(?P<filter>[BDE])\s*P\s*(?P<patient>\d+)\s*_(?P<rest>.*)", re.IGNORECASE)


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


def _words(text):
    return " ".join(text.split())


def sound_code(text, *, where):
    """``(code, crackles)``: the :data:`SOUND_CODES` entry ``text`` names, whatever its case and spacing.

    Examples
    --------
    >>> sound_code("crep", where="x"), sound_code(" I  C E W", where="x"), sound_code("E W", where="x")
    (('Crep', True), ('I C E W', True), ('E W', False))

    Raises
    ------
    DatasetError
        A code not in the table, naming ``where`` (the file or table row) and the code.
    """
    wanted = _words(text).casefold()
    for code, crackles in SOUND_CODES.items():
        if code.casefold() == wanted:
            return code, crackles
    raise DatasetError(f"{where}: unknown KAUH sound code {text!r}; known: {list(SOUND_CODES)} (a new code needs a "
                       "row in audio_models.datasets.kauh.SOUND_CODES saying whether it holds crackles)")


def chest_site(location):
    """Chest-site name for a KAUH location code: face, then side and zone in either order (extra letters
    ignored), or the face alone; case and spacing as in the published names.

    Examples
    --------
    >>> chest_site("P R L"), chest_site("A R M"), chest_site("P L R"), chest_site("A U R "), chest_site("P")
    ('posterior_lower_right', 'anterior_middle_right', 'posterior_left', 'anterior_upper_right', 'posterior')
    """
    tokens = location.upper().split()
    face = _FACES.get(tokens[0]) if tokens else None
    rest = tokens[1:3]
    if face and not rest:
        return face
    if face and rest[0] in _SIDES:  # side, then zone: "P L L" is posterior lower left
        side, zone = rest[0], rest[1] if len(rest) > 1 else None
    elif face and len(rest) == 2 and rest[0] in ("U", "M") and rest[1] in _SIDES:  # zone, then side: "A U R"
        zone, side = rest
    else:
        raise DatasetError(f"KAUH location must be A/P, then L/R and a zone U/M/L in either order, got {location!r}")
    return "_".join(part for part in (face, _ZONES.get(zone), _SIDES[side]) if part)


def _row(table, number, row, root):
    where = f"{table}:{number}"
    if row["filter_mode"] not in FILTER_MODES:
        raise DatasetError(f"{where}: filter_mode must be one of {FILTER_MODES}, got {row['filter_mode']!r}")
    if row["crackles"] not in ("0", "1"):
        raise DatasetError(f"{where}: crackles must be 0 or 1, got {row['crackles']!r}")
    # The copy's own label is its ``crackles`` column (its curators read the codes, and a withheld folder of the
    # same copy may hold a code SOUND_CODES lacks): the column is taken, never refused. A known code that
    # disagrees with it is logged, so a curation slip shows without stopping an evaluation.
    crackles = row["crackles"] == "1"
    try:
        code, by_code = sound_code(row["sound_label"], where=where)
    except DatasetError:
        code, by_code = _words(row["sound_label"]), None
    if by_code is not None and by_code != crackles:
        logger.warning("%s: crackles %s disagrees with sound_label %r (%s by the dataset's code); the column is used",
                       where, row["crackles"], code, "crackles" if by_code else "no crackles")
    age = age_years(row["age_y"], where=where, blank_allowed=False)
    path = root / "audio" / row["recording"]
    if not path.is_file():
        path = root / row["recording"]
    if not path.is_file():
        raise DatasetError(f"{where}: recording not found: {row['recording']}")
    chest_site(row["location"])  # validated here, read as a property later
    return KauhRecording(path=path, patient_id=row["patient"].strip(), filter_mode=row["filter_mode"],
                         sound_label=code, crackles=crackles, location=row["location"],
                         age_y=age, sex=row["sex"], diagnosis=row.get("diagnosis", ""))


def parse_name(path):
    """A :class:`KauhRecording` from a published file name ``<F>P<n>_<diagnosis>,<sound>,<location>,<age>,<sex>``.

    The diagnosis is kept in lower case (as the copy's ``diagnosis``) and may hold commas; the patient id
    is the number without leading zeros (the copy's ``patient``).

    Examples
    --------
    >>> r = parse_name(pathlib.Path("BP2_Asthma,E W,P L L R,52,F.wav"))
    >>> r.patient_id, r.filter_mode, r.diagnosis, r.sound_label, r.crackles, r.chest_site, r.age_y, r.sex
    ('2', 'bell', 'asthma', 'E W', False, 'posterior_lower_left', 52.0, 'F')

    Raises
    ------
    DatasetError
        The name does not parse, or a field is malformed (naming the file and the field).
    """
    path = pathlib.Path(path)
    match = _NAME.fullmatch(path.stem.strip())
    fields = match["rest"].split(",") if match else []
    if len(fields) < 5:
        raise DatasetError(f"{path}: not a KAUH file name (<B|D|E>P<patient>_<diagnosis>,<sound code>,<location>,"
                           "<age>,<sex>, e.g. BP1_Asthma,I E W,P L L,70,M.wav)")
    diagnosis, code, location, age, sex = (",".join(fields[:-4]), *fields[-4:])
    code, crackles = sound_code(code, where=path)
    location, sex = _words(location).upper(), sex.strip().upper()
    try:
        chest_site(location)
    except DatasetError as exc:
        raise DatasetError(f"{path}: {exc}") from None
    if sex not in ("M", "F"):
        raise DatasetError(f"{path}: sex must be M or F, got {sex!r}")
    return KauhRecording(path=path, patient_id=str(int(match["patient"])), filter_mode=FILTER_LETTERS[match["filter"].upper()],
                         sound_label=code, crackles=crackles, location=location, age_y=age_years(age.strip(), where=path, what="age", blank_allowed=False),
                         sex=sex, diagnosis=_words(diagnosis).lower())


def _audio_files(root):
    """The audio files under ``root`` (recursively), outside hidden files and folders (a download's temporaries)."""
    return sorted(path for path in root.rglob("*") if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(root).parts))


def _load_published(files):
    recordings, seen = [], {}
    for path in files:
        recording = parse_name(path)
        sound = (recording.patient_id, recording.filter_mode)
        if sound in seen:
            raise DatasetError(f"patient {recording.patient_id} through the {recording.filter_mode} filter appears twice: "
                               f"{seen[sound]} and {path}")
        seen[sound] = path
        recordings.append(recording)
    return recordings


def load_kauh(root):
    """Every recording of a KAUH folder, sorted by name: the copy's ``root/recordings.csv`` when present,
    else the published files under ``root``.

    Raises
    ------
    DatasetError
        The folder holds neither layout, a column or file is missing, a name does not parse, a value is
        malformed or a sound code unknown; the message names the row or file.
    """
    root = pathlib.Path(root)
    table = root / TABLE
    files = [] if table.is_file() or not root.is_dir() else _audio_files(root)
    if files:
        try:
            recordings = _load_published(files)
        except DatasetError as exc:
            raise DatasetError(f"KAUH table not found: {table}, so {root} was read as the published files: {exc}") from None
    else:
        if not table.is_file():
            raise DatasetError(f"KAUH table not found: {table}, and no published KAUH recordings (<B|D|E>P<patient>_"
                               f"<diagnosis>,<sound code>,<location>,<age>,<sex>.wav) under {root}")
        rows = read_table(table, REQUIRED_COLUMNS, what="KAUH table")
        recordings = [_row(table, number, row, root) for number, row in enumerate(rows, 2)]
        if not recordings:
            raise DatasetError(f"{table}: no recordings")
    return sorted(recordings, key=lambda recording: recording.name)


def is_kauh_folder(folder):
    """Whether ``folder`` looks like KAUH: the copy (a ``recordings.csv`` with a filter_mode column) or the
    published files (an audio file under it named like ``BP1_...``, and no generic ``labels.csv``, which
    says the folder is someone's own labelled takes)."""
    folder = pathlib.Path(folder)
    table = folder / TABLE
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        return "filter_mode" in header
    return (folder.is_dir() and not (folder / GENERIC_TABLE).is_file()
            and any(_NAME.match(path.stem.strip()) for path in _audio_files(folder)))
