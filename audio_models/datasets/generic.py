"""Generic loader: a folder of recordings plus a CSV with one row per recording.

CSV columns (header required, extra columns ignored): ``file`` (path relative to the
folder), ``patient_id``, ``chest_site``, ``device``, ``label`` (1/0, yes/no, true/false,
crackles/normal). numpy-free.
"""

import csv
import dataclasses
import pathlib

from audio_models.errors import DatasetError

REQUIRED_COLUMNS = ("file", "patient_id", "chest_site", "device", "label")
_LABELS = {"1": 1, "yes": 1, "true": 1, "crackles": 1, "0": 0, "no": 0, "false": 0, "normal": 0}


@dataclasses.dataclass(frozen=True)
class LabelledRecording:
    """One recording of the generic dataset."""

    path: pathlib.Path
    patient_id: str
    chest_site: str
    device: str
    label: int


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


def load_folder(folder, *, csv_name="labels.csv"):
    """Read ``folder/csv_name`` and check that every listed recording exists.

    Raises
    ------
    DatasetError
        Missing CSV or column, unknown label, missing file, or an empty table; the
        message names the row.
    """
    folder = pathlib.Path(folder)
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
        if not row["patient_id"].strip():
            raise DatasetError(f"{table}:{number}: empty patient_id")
        recordings.append(LabelledRecording(path, row["patient_id"].strip(), row["chest_site"].strip(), row["device"].strip(), label))
    if not recordings:
        raise DatasetError(f"{table}: no rows")
    return recordings
