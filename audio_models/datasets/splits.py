"""Patient-level splits of the lung-sound datasets: a pure function of (seed, patient).

A patient's part (``train`` / ``validation`` / ``test``) is read from a hash of the seed and the
patient's key, never from a rank among the patients present, so adding or withholding other
patients never moves anyone, and a child recorded in both SPRSound releases lands in the same
part in both. Each part's patient list is summarised by a sha256 (:func:`part_digest`) that the
manifest stores, so ``ildscreen audio evaluate`` can refuse to report on a folder whose test
patients differ from the ones the shipped figures came from. Standard library only.
"""

import hashlib

from audio_models.errors import DatasetError

PARTS = ("train", "validation", "test")
#: Fractions of patients per part, per dataset family. KAUH (37 adults here, 9 with crackles) trains
#: no weights: its labels are per recording, and a network trained on the few adults with crackles
#: learned those patients, not their crackles (model 0.4.0: adult recording AUC 1.00 on its 17
#: training adults, 0.62 on the 15 test adults). Its adults choose the adult operating point
#: (validation) or give the adult figures (test); the test part (hash >= 0.7) is the one models
#: 0.3.0 and 0.4.0 were tested on.
FRACTIONS = {"sprsound": (0.6, 0.2, 0.2), "kauh": (0.0, 0.7, 0.3)}
#: Fractions of a generic labelled folder's patients (a clinic's own takes, ``local:<folder>``) unless
#: training's ``--labelled-fractions`` says otherwise: SPRSound's, a programme assumption (enough patients
#: left out to choose the operating point and to report the folder's own figures).
LABELLED_FRACTIONS = (0.6, 0.2, 0.2)
#: Fewest patients with crackles, and fewest without, that each part of a labelled folder with a share of
#: its patients must hold. Below one of a class a part gives nothing: the train part no positive or negative
#: recording for the recording loss, the validation part no Youden point, the test part no AUC (the folder
#: would be missing from the manifest's figures). With one of a class, the validation threshold is that one
#: patient's own score and each test figure is 0 or 1 of 1, so the smallest count that is a comparison at all
#: is two (programme assumption; the evidence model needs far more, 20 patients and 5 with crackles, before
#: it counts a validation, ``docs/evidence.md``).
MIN_PART_PATIENTS = 2


def patient_key(dataset_family, patient_id):
    """The key a patient is split by: ``"<family>:<id>"`` (ids of different datasets may clash).

    Examples
    --------
    >>> patient_key("kauh", "11")
    'kauh:11'
    """
    return f"{dataset_family}:{patient_id}"


def unit_interval(seed, key):
    """A number in [0, 1) fixed by ``seed`` and ``key`` (the first 64 bits of a sha256).

    Examples
    --------
    >>> 0 <= unit_interval(0, "kauh:11") < 1, unit_interval(0, "kauh:11") == unit_interval(0, "kauh:11")
    (True, True)
    """
    return int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:16], 16) / 16**16


def check_fractions(fractions):
    """Three non-negative numbers summing to 1, as a tuple."""
    fractions = tuple(float(f) for f in fractions)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-9:
        raise DatasetError(f"fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    return fractions


def part_of(key, *, seed, fractions):
    """The part of one patient key.

    Examples
    --------
    >>> part_of("sprsound:40069321", seed=0, fractions=(1.0, 0.0, 0.0))
    'train'
    """
    train, validation, _ = check_fractions(fractions)
    x = unit_interval(seed, key)
    return PARTS[0] if x < train else PARTS[1] if x < train + validation else PARTS[2]


def patient_split(recordings, *, seed=0, fractions=None):
    """``{patient_key: part}`` for every patient of ``recordings``.

    Each recording names its ``dataset_family`` (``sprsound``, ``kauh``) and ``patient_id``;
    ``fractions`` overrides :data:`FRACTIONS` for every family (as a ``{family: fractions}`` dict
    or one triple for all).
    """
    split = {}
    for recording in recordings:
        family = recording.dataset_family
        chosen = fractions.get(family, FRACTIONS.get(family)) if isinstance(fractions, dict) else fractions
        if chosen is None:
            chosen = FRACTIONS.get(family)
        if chosen is None:
            raise DatasetError(f"no split fractions for dataset family {family!r}; known: {sorted(FRACTIONS)}")
        key = patient_key(family, recording.patient_id)
        split[key] = part_of(key, seed=seed, fractions=chosen)
    return split


def select(recordings, part, *, seed=0, fractions=None):
    """The recordings whose patient falls in ``part`` (``"all"`` keeps every recording)."""
    if part == "all":
        return list(recordings)
    if part not in PARTS:
        raise DatasetError(f"part must be one of {list(PARTS) + ['all']}, got {part!r}")
    split = patient_split(recordings, seed=seed, fractions=fractions)
    return [r for r in recordings if split[patient_key(r.dataset_family, r.patient_id)] == part]


def part_digest(recordings):
    """sha256 of the sorted patient keys of ``recordings``: equal digests, equal patients.

    Examples
    --------
    >>> class R:
    ...     dataset_family, patient_id = "kauh", "11"
    >>> part_digest([R()]) == part_digest([R(), R()])
    True
    """
    return keys_digest({patient_key(r.dataset_family, r.patient_id) for r in recordings})


def keys_digest(keys):
    """sha256 of sorted patient keys (:func:`patient_key`), as :func:`part_digest` hashes a part.

    Examples
    --------
    >>> keys_digest(["kauh:2", "kauh:11"]) == keys_digest({"kauh:11", "kauh:2"})
    True
    """
    return hashlib.sha256("\n".join(sorted(keys)).encode()).hexdigest()


def unseen(recordings, listed):
    """The recordings of patients in none of ``listed``'s parts: a manifest's ``split.patients``,
    ``{part: {population: [patient key, ...]}}``. These are the patients the model, its choices and
    its reported figures never saw, whatever part their hash would put them in (a folder that adds
    withheld patients to the released ones puts some of them in every part).

    Examples
    --------
    >>> class R:
    ...     def __init__(self, pid): self.dataset_family, self.patient_id = "kauh", pid
    >>> [r.patient_id for r in unseen([R("1"), R("2")], {"test": {"adults": ["kauh:1"]}})]
    ['2']
    """
    seen = {key for populations in listed.values() for keys in populations.values() for key in keys}
    return [r for r in recordings if patient_key(r.dataset_family, r.patient_id) not in seen]


def family_fractions(recordings, *, labelled_fractions=LABELLED_FRACTIONS):
    """``{family: fractions}`` for every family of ``recordings``: :data:`FRACTIONS` for the public sets,
    ``labelled_fractions`` for each other family (a generic folder's, ``local:<folder>``). Without such a
    folder it is :data:`FRACTIONS` itself, so the public sets' split is unchanged.

    Examples
    --------
    >>> class R:
    ...     dataset_family, patient_id = "local:clinic", "p1"
    >>> family_fractions([R()], labelled_fractions=(0.5, 0.25, 0.25))["local:clinic"]
    (0.5, 0.25, 0.25)
    """
    labelled = check_fractions(labelled_fractions)
    families = sorted({recording.dataset_family for recording in recordings} - set(FRACTIONS))
    return {**FRACTIONS, **{family: labelled for family in families}}


def check_labelled_parts(recordings, *, seed, fractions, folders, minimum=MIN_PART_PATIENTS):
    """Refuse a labelled folder whose parts are too small to train, choose or report anything.

    ``folders`` is ``{family: folder}`` of the generic folders; each part with a share of that family's
    patients (``fractions``) must hold ``minimum`` patients with crackles and as many without
    (:data:`MIN_PART_PATIENTS`; a patient has crackles when any of its recordings has).

    Raises
    ------
    DatasetError
        Naming the folder, the part and its counts.
    """
    split = patient_split(recordings, seed=seed, fractions=fractions)
    for family, folder in sorted(folders.items()):
        labels = {}
        for recording in recordings:
            if recording.dataset_family == family:
                key = patient_key(family, recording.patient_id)
                labels[key] = max(labels.get(key, 0), int(recording.has_fine_crackles))
        for part, share in zip(PARTS, fractions[family]):
            if share == 0:
                continue
            counts = [sum(1 for key, label in labels.items() if split[key] == part and label == wanted)
                      for wanted in (1, 0)]
            if min(counts) < minimum:
                raise DatasetError(
                    f"{folder}: its {part} part ({share:g} of its patients, by the hash of each pseudonym) holds "
                    f"{counts[0]} patient(s) with crackles and {counts[1]} without; each part needs at least {minimum} "
                    f"of each (fewer give no threshold to choose and no figure to report). Add labelled patients or "
                    "change --labelled-fractions")
