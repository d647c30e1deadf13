"""SPRSound (SJTU Paediatric Respiratory Sound Database) loader.

Zhang Q et al., "SPRSound: Open-Source SJTU Paediatric Respiratory Sound Database",
IEEE Trans Biomed Circuits Syst 2022;16(5):867-881, doi:10.1109/TBCAS.2022.3204910 (CC BY 4.0);
the BioCAS 2022 Grand Challenge training release.

Two layouts are read, searched recursively under a root folder:

* the official release: ``<name>.wav`` beside or apart from ``<name>.json``;
* the lossless copy in ``../shared/data/sprsound2022``: ``audio/<name>.flac`` and
  ``annotations/<name>.json``.

A name is ``<patient>_<age>_<sex 0=M 1=F>_<location>_<recording no>``; locations p1 left
posterior, p2 left lateral, p3 right posterior, p4 right lateral. Each JSON holds
``record_annotation`` (Normal, CAS, DAS, CAS & DAS, Poor Quality) and ``event_annotation``,
a list of ``{start, end, type}`` in milliseconds (strings in some files).

Splits are by patient only (:mod:`audio_models.datasets.splits`). Standard library only.
"""

import csv
import dataclasses
import json
import pathlib
import re

from audio_models.errors import DatasetError

FINE_CRACKLE = "Fine Crackle"
EVENT_TYPES = ("Normal", "Fine Crackle", "Coarse Crackle", "Wheeze", "Rhonchi", "Wheeze+Crackle", "Stridor")
RECORD_LABELS = ("Normal", "CAS", "DAS", "CAS & DAS", "Poor Quality")
POOR_QUALITY = "Poor Quality"
#: SPRSound's four sites in this project's chest-site words (edge.vocabulary.CHEST_SITES).
LOCATIONS = {"p1": "posterior_left", "p2": "lateral_left", "p3": "posterior_right", "p4": "lateral_right"}
AUDIO_SUFFIXES = (".wav", ".flac")
_NAME = re.compile(r"^(?P<patient>\d+)_(?P<age>\d+(?:\.\d+)?)_(?P<sex>[01])_(?P<location>p[1-4])_(?P<number>\d+)$")


@dataclasses.dataclass(frozen=True)
class Event:
    """One annotated respiratory event, in seconds from the start of the recording."""

    start_s: float
    end_s: float
    type: str

    @property
    def onset_s(self):
        return self.start_s

    @property
    def duration_s(self):
        return self.end_s - self.start_s


@dataclasses.dataclass(frozen=True)
class SprsoundRecording:
    """One SPRSound recording with its metadata and expert annotations."""

    path: pathlib.Path
    patient_id: str
    age_y: float
    sex: str
    location: str
    recording_number: str
    record_label: str
    events: tuple
    #: Which release the file came from (its folder's name, e.g. ``sprsound2022_test``).
    release: str = "sprsound2022"

    dataset_family = "sprsound"
    population = "children"
    device = "Yunting II"

    @property
    def dataset(self):
        return self.release

    @property
    def name(self):
        return self.path.stem

    @property
    def chest_site(self):
        """Where it was recorded, in this project's words (e.g. ``posterior_left``)."""
        return LOCATIONS[self.location]

    @property
    def poor_quality(self):
        """The experts marked the whole recording as not assessable."""
        return self.record_label == POOR_QUALITY

    @property
    def fine_crackle_events(self):
        return tuple(event for event in self.events if event.type == FINE_CRACKLE)

    @property
    def has_fine_crackles(self):
        """At least one expert-annotated fine-crackle event: the positive class of the crackle model."""
        return bool(self.fine_crackle_events)

    @property
    def other_sounds(self):
        """What else the experts marked: ``coarse crackles`` (any coarse-crackle event), ``wheeze`` (a
        wheeze, rhonchi, stridor or wheeze+crackle event) or ``none``."""
        kinds = {event.type for event in self.events}
        if "Coarse Crackle" in kinds:
            return "coarse crackles"
        return "wheeze" if kinds & {"Wheeze", "Rhonchi", "Stridor", "Wheeze+Crackle"} else "none"


def parse_name(stem):
    """The fields of an SPRSound file name.

    Examples
    --------
    >>> parse_name("40069321_15.3_0_p1_981")["location"]
    'p1'
    """
    match = _NAME.match(stem)
    if not match:
        raise DatasetError(f"not an SPRSound file name (patient_age_sex_location_number): {stem!r}")
    return {"patient_id": match["patient"], "age_y": float(match["age"]), "sex": "M" if match["sex"] == "0" else "F",
            "location": match["location"], "recording_number": match["number"]}


def read_annotation(path):
    """``(record_label, events)`` of one annotation JSON, validated."""
    try:
        data = json.loads(pathlib.Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: unreadable annotation: {exc}") from exc
    label = data.get("record_annotation") if isinstance(data, dict) else None
    if label not in RECORD_LABELS:
        raise DatasetError(f"{path}: record_annotation must be one of {RECORD_LABELS}, got {label!r}")
    raw_events = data.get("event_annotation") or []
    if not isinstance(raw_events, list):
        raise DatasetError(f"{path}: event_annotation must be a list")
    events = []
    for number, item in enumerate(raw_events):
        try:
            start, end, kind = float(item["start"]) / 1000.0, float(item["end"]) / 1000.0, item["type"]
        except (KeyError, TypeError, ValueError) as exc:
            raise DatasetError(f"{path}: event {number}: needs numeric start/end (ms) and a type: {exc}") from exc
        if kind not in EVENT_TYPES:
            raise DatasetError(f"{path}: event {number}: unknown type {kind!r}; known: {EVENT_TYPES}")
        if not 0 <= start < end:
            raise DatasetError(f"{path}: event {number}: need 0 <= start < end, got {start * 1000:g}-{end * 1000:g} ms")
        events.append(Event(start, end, kind))
    return label, tuple(sorted(events, key=lambda event: event.start_s))


#: Column of the later (test) release's converted table (``recordings.csv``): ``inter`` or ``intra``.
TEST_PART_COLUMN = "test_part"
#: Folder names of the official repository that hold the later releases' annotations (``test2022_json``,
#: ``inter_test_json``, ``intra_test_json``; earlier, ``valid_classification_json``).
_LATER_RELEASE_FOLDER = re.compile(r"test|valid", re.IGNORECASE)


def later_release_sign(root):
    """What says that ``root`` holds only a later (test) release, not the 2022 training release; ``None`` when
    nothing does. The signs: a ``recordings.csv`` with a :data:`TEST_PART_COLUMN` column (the converted copy,
    as ``../shared/data/sprsound2022_test``), or every annotation under a folder named for a test or
    validation release (the official layout). A folder holding both releases has no such sign.

    Examples
    --------
    >>> later_release_sign(pathlib.Path("absent")) is None
    True
    """
    root = pathlib.Path(root)
    table = root / "recordings.csv"
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as handle:
            if TEST_PART_COLUMN in next(csv.reader(handle), []):
                return f"its recordings.csv has a {TEST_PART_COLUMN} column, inter or intra"
    folders = {annotation.parent.relative_to(root) for annotation in root.rglob("*.json") if _NAME.match(annotation.stem)}
    if folders and all(any(_LATER_RELEASE_FOLDER.search(part) for part in folder.parts) for folder in folders):
        return f"its annotations lie under {', '.join(sorted(map(str, folders))[:3])}, a test or validation release's folders"
    return None


def load_sprsound(root, *, release=None):
    """Every annotated recording under ``root`` (either layout), sorted by name.

    Parameters
    ----------
    root : str or os.PathLike
        The database folder.
    release : str, optional, keyword-only
        Name of the release the folder holds (default: the folder's name, e.g. ``sprsound2022_test``).

    Returns
    -------
    list of SprsoundRecording

    Raises
    ------
    DatasetError
        The folder is missing, holds no annotated recording, an annotation is malformed, or one
        recording appears twice.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetError(f"SPRSound folder not found: {root}")
    audio = {}
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES and _NAME.match(path.stem):
            if path.stem in audio:
                raise DatasetError(f"recording {path.stem} appears twice: {audio[path.stem]} and {path}")
            audio[path.stem] = path
    recordings = []
    for annotation in sorted(root.rglob("*.json")):
        if not _NAME.match(annotation.stem) or annotation.stem not in audio:
            continue
        label, events = read_annotation(annotation)
        recordings.append(SprsoundRecording(path=audio[annotation.stem], record_label=label, events=events,
                                            release=release or root.name, **parse_name(annotation.stem)))
    if not recordings:
        raise DatasetError(f"no annotated SPRSound recordings (<name>.wav|.flac + <name>.json) under {root}")
    return sorted(recordings, key=lambda recording: recording.name)
