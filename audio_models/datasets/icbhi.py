"""ICBHI 2017 Respiratory Sound Database loader (Rocha et al., Physiol Meas 2019;40:035001).

File names are ``{patient}_{index}_{location}_{mode}_{device}.wav`` with a sibling
``.txt`` of breath cycles ``start end crackles wheezes``. The official 60/40 split file
(``ICBHI_challenge_train_test.txt``: ``{stem}\\t{train|test}``) is used when present;
the split is by patient in the challenge, and :func:`patient_split` gives a
patient-level split when it is absent. numpy only.
"""

import dataclasses
import pathlib
import re

import numpy as np

from audio_models.errors import DatasetError

#: The ICBHI folders of a data folder (``../shared/data``) that training, the seed-spread study and
#: ``ildscreen audio evaluate`` read by default.
ICBHI_FOLDERS = ("icbhi_sample", "icbhi_extra")
SPLIT_FILE = "ICBHI_challenge_train_test.txt"
DIAGNOSIS_FILE = "patient_diagnosis.csv"
_STEM = re.compile(r"^(?P<patient>\d{3})_(?P<index>\d+[a-z]\d+)_(?P<location>Tc|Al|Ar|Pl|Pr|Ll|Lr)_(?P<mode>sc|mc)_(?P<device>[A-Za-z0-9]+)$")
LOCATIONS = {
    "Tc": "trachea", "Al": "anterior_left", "Ar": "anterior_right", "Pl": "posterior_left",
    "Pr": "posterior_right", "Ll": "lateral_left", "Lr": "lateral_right",
}


@dataclasses.dataclass(frozen=True)
class Cycle:
    """One annotated breath cycle."""

    start_s: float
    end_s: float
    crackles: bool
    wheezes: bool


@dataclasses.dataclass(frozen=True)
class IcbhiRecording:
    """One ICBHI recording with its metadata and breath-cycle annotations."""

    path: pathlib.Path
    patient_id: str
    recording_index: str
    chest_location: str
    acquisition_mode: str
    device: str
    cycles: tuple
    split: str = None
    diagnosis: str = None

    @property
    def chest_site(self):
        """The chest location in this project's words (e.g. ``lateral_left``)."""
        return LOCATIONS[self.chest_location]


def parse_stem(stem):
    """Split an ICBHI file stem into its fields.

    Examples
    --------
    >>> parse_stem("104_1b1_Ll_sc_Litt3200")["chest_location"]
    'Ll'
    """
    match = _STEM.match(stem)
    if not match:
        raise DatasetError(f"not an ICBHI 2017 file name: {stem!r}")
    return {
        "patient_id": match["patient"], "recording_index": match["index"],
        "chest_location": match["location"], "acquisition_mode": match["mode"], "device": match["device"],
    }


def read_cycles(path):
    """Read a cycle annotation file: one ``start end crackles wheezes`` line per cycle."""
    cycles = []
    for number, line in enumerate(pathlib.Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            start, end, crackles, wheezes = float(fields[0]), float(fields[1]), int(fields[2]), int(fields[3])
        except (IndexError, ValueError) as exc:
            raise DatasetError(f"{path}:{number}: expected 'start end crackles wheezes', got {line!r}") from exc
        if end <= start or crackles not in (0, 1) or wheezes not in (0, 1):
            raise DatasetError(f"{path}:{number}: invalid cycle {line!r}")
        cycles.append(Cycle(start, end, bool(crackles), bool(wheezes)))
    return tuple(cycles)


def _read_table(path, n_fields):
    table = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            fields = re.split(r"[,\t ]+", line.strip())
            if len(fields) >= n_fields:
                table[fields[0]] = fields[1]
    return table


def load_icbhi(root):
    """Every annotated recording under ``root`` (searched recursively), sorted by name.

    Parameters
    ----------
    root : str or os.PathLike
        The database folder (``ICBHI_final_database`` or a sample of it).

    Returns
    -------
    list of IcbhiRecording

    Raises
    ------
    DatasetError
        The folder is missing or holds no annotated recording.
    """
    root = pathlib.Path(root)
    if not root.is_dir():
        raise DatasetError(f"ICBHI folder not found: {root}")
    splits = {}
    for split_path in root.rglob(SPLIT_FILE):
        splits.update(_read_table(split_path, 2))
    diagnoses = {}
    for diag_path in root.rglob(DIAGNOSIS_FILE):
        diagnoses.update(_read_table(diag_path, 2))
    recordings = []
    for wav in sorted(root.rglob("*.wav")):
        annotation = wav.with_suffix(".txt")
        if not annotation.is_file() or not _STEM.match(wav.stem):
            continue
        fields = parse_stem(wav.stem)
        recordings.append(IcbhiRecording(
            path=wav, cycles=read_cycles(annotation), split=splits.get(wav.stem),
            diagnosis=diagnoses.get(fields["patient_id"]), **fields,
        ))
    if not recordings:
        raise DatasetError(f"no annotated ICBHI recordings (NNN_xxx_Loc_mode_device.wav + .txt) in {root}")
    return recordings


def patient_split(recordings, *, test_fraction=0.4, seed=0):
    """Assign each patient (never a single recording) to ``train`` or ``test``.

    Uses the official split where every recording has one, else a seeded shuffle of
    patient ids. Returns ``{stem: "train" | "test"}``.
    """
    if all(r.split for r in recordings):
        return {r.path.stem: r.split for r in recordings}
    patients = sorted({r.patient_id for r in recordings})
    order = np.random.default_rng(seed).permutation(len(patients))
    n_test = max(1, int(round(test_fraction * len(patients))))
    test = {patients[i] for i in order[:n_test]}
    return {r.path.stem: "test" if r.patient_id in test else "train" for r in recordings}
