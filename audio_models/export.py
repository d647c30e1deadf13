"""Export the crackle model to ONNX (FP32 and static QDQ INT8), check both against
PyTorch, validate both on held-out patients, and write the model's entry in
``edge/bundled_models/manifest.json``. Run at the end of :mod:`audio_models.train`, which
chooses the calibration and thresholds. Training/export module: imports torch.

INT8: ONNX Runtime static quantisation in QDQ format, symmetric int8 activations and
weights (per-channel weights), calibrated on real 4 kHz windows of training patients. The log-mel front
end stays FP32 (the power spectrum spans > 80 dB before the log, which an 8-bit scale
cannot hold), and so do the first conv block (see :func:`fp32_nodes`) and the window pooling (see
:func:`pooling_nodes`); the other convolutions run in INT8. TensorRT runs QDQ graphs as explicit INT8.
"""

import json
import logging
import pathlib

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnxruntime import quantization

from audio_models import validation, windows
from common import model_dates
from common.hashing import json_digest, sha256_file
from common.model_entries import RESULTS_UNCHANGED_FROM, differences_beyond_words, write_entries
from audio_models.datasets import splits
from audio_models.datasets.generic import LabelledRecording
from audio_models.datasets.icbhi import load_icbhi
from audio_models.io import load_audio
from audio_models.model import FRAME_S, N_OUT_FRAMES, SAMPLE_RATE, WINDOW_SAMPLES, count_parameters

logger = logging.getLogger(__name__)

MODEL_NAME = "auscultation"
MODEL_VERSION = "0.6.0"
OPSET = 17
IR_VERSION = 8  # loadable by ONNX Runtime 1.22 (the Jetson's JetPack build) and later
INPUT_NAME = "pcm"
OUTPUT_NAMES = ("crackle_probability", "frame_probability", "quality_probability")


def export_fp32(model, path):
    """Export ``model`` with a dynamic batch axis; returns the path."""
    model.eval()
    torch.onnx.export(
        model, (torch.zeros(1, WINDOW_SAMPLES),), str(path), input_names=[INPUT_NAME], output_names=list(OUTPUT_NAMES),
        dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in OUTPUT_NAMES}},
        opset_version=OPSET, dynamo=False,
    )
    proto = onnx.load(str(path))
    proto.ir_version = IR_VERSION
    proto.doc_string = (f"{MODEL_NAME} {MODEL_VERSION}: fine-crackle probability per 4 s window of 4 kHz PCM. "
                        "Not for clinical use.")
    onnx.checker.check_model(proto)
    onnx.save(proto, str(path))
    return path


class _Calibration(quantization.CalibrationDataReader):
    def __init__(self, batches):
        self._batches = iter([{INPUT_NAME: b} for b in batches])

    def get_next(self):
        return next(self._batches, None)


def fp32_nodes(path):
    """Names of the nodes kept in FP32: everything before the second 2-D convolution.

    That is the log-mel front end and the first conv block, whose input (log-mel
    features) is heavy-tailed; quantising that block alone tripled the window-level
    difference to FP32 (0.23 vs 0.09 max abs on 64 windows) for 3 % of the compute.
    """
    proto = onnx.load(str(path))
    ranks = {t.name: len(t.dims) for t in proto.graph.initializer}
    names = []
    seen = 0
    for node in proto.graph.node:
        if node.op_type == "Conv" and ranks.get(node.input[1]) == 4:
            seen += 1
            if seen == 2:
                return names
        names.append(node.name)
    raise ValueError(f"fewer than two 2-D convolutions in {path}")


def pooling_nodes(path):
    """Names of the nodes downstream of the frame map (the linear-softmax pooling), kept in FP32.

    Quantised, a window whose every frame is confidently clear divides 0 by an epsilon that was
    itself quantised to 0: 0 / 0 = NaN (seen on a clipped adult recording). These few element-wise
    ops cost nothing in FP32.
    """
    proto = onnx.load(str(path))
    downstream, names = {OUTPUT_NAMES[1]}, []
    for node in proto.graph.node:
        if set(node.input) & downstream:
            names.append(node.name)
            downstream.update(node.output)
    return names


def export_int8(fp32_path, path, calibration):
    """Static QDQ INT8 (symmetric) copy of ``fp32_path``, calibrated on ``calibration`` batches."""
    prepared = path.with_suffix(".prep.onnx")
    quantization.quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
    quantization.quantize_static(
        str(prepared), str(path), _Calibration(calibration), quant_format=quantization.QuantFormat.QDQ,
        activation_type=quantization.QuantType.QInt8, weight_type=quantization.QuantType.QInt8, per_channel=True,
        nodes_to_exclude=fp32_nodes(prepared) + pooling_nodes(prepared),
        extra_options={"ActivationSymmetric": True, "WeightSymmetric": True},
    )
    prepared.unlink()
    proto = onnx.load(str(path))
    proto.ir_version = IR_VERSION
    onnx.save(proto, str(path))
    return path


def session(path):
    """Single-threaded ONNX Runtime CPU session."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_runner(path):
    """``run({"pcm": windows})`` for :mod:`audio_models.scoring`, from an ONNX file."""
    sess = session(path)

    def run(feed):
        return dict(zip(OUTPUT_NAMES, sess.run(list(OUTPUT_NAMES), feed)))

    return run


def real_windows(recordings, n, *, seed):
    """``n`` 4 s windows at random offsets of real recordings (INT8 calibration, parity checks)."""
    rng = np.random.default_rng(seed)
    out = np.zeros((n, WINDOW_SAMPLES), dtype=np.float32)
    for i in range(n):
        samples, _ = load_audio(recordings[rng.integers(len(recordings))].path)
        start = int(rng.integers(0, max(len(samples) - WINDOW_SAMPLES, 0) + 1))
        crop = samples[start : start + WINDOW_SAMPLES]
        out[i, : len(crop)] = crop
    return out


def parity(model, paths, x):
    """Max abs difference of each ONNX file's outputs against PyTorch on windows ``x``."""
    with torch.no_grad():
        ref = [t.numpy() for t in model(torch.from_numpy(x))]
    result = {}
    for name, path in paths.items():
        out = session(path).run(list(OUTPUT_NAMES), {INPUT_NAME: x})
        result[name] = {"window_max_abs_diff": float(np.abs(out[0] - ref[0]).max()),
                        "frame_max_abs_diff": float(np.abs(out[1] - ref[1]).max()),
                        "quality_max_abs_diff": float(np.abs(out[2] - ref[2]).max()), "n_windows": len(x)}
    return result


def _io_spec():
    return {
        "inputs": [{"name": INPUT_NAME, "shape": ["batch", WINDOW_SAMPLES], "dtype": "float32",
                    "description": "4 s windows of mono PCM at 4 kHz, any scale (normalised inside the model)"}],
        "outputs": [
            {"name": OUTPUT_NAMES[0], "shape": ["batch"], "dtype": "float32",
             "description": "fine-crackle score per window (uncalibrated; the recording probability is calibrated)"},
            {"name": OUTPUT_NAMES[1], "shape": ["batch", N_OUT_FRAMES], "dtype": "float32",
             "description": f"fine-crackle probability per {FRAME_S * 1000:.0f} ms frame of the window (crackle map)"},
            {"name": OUTPUT_NAMES[2], "shape": ["batch"], "dtype": "float32",
             "description": "probability that experts would call the recording not assessable (quality head)"},
        ],
    }


def entry_template(*, threshold=0.5, quality_threshold=1.0):
    """The manifest keys :mod:`audio_models.scoring` reads, before calibration is fitted."""
    return {**_io_spec(), "sample_rate": SAMPLE_RATE, "window_s": WINDOW_SAMPLES / SAMPLE_RATE, "hop_s": windows.HOP_S,
            "frame_s": FRAME_S, "threshold": threshold,
            "quality_head": {"output": OUTPUT_NAMES[2], "threshold": quality_threshold}}


def weights_created(out_dir, weights_sha256):
    """The manifest's ``created``: the date the weights were made, so a re-issue from the same weights
    (``--reuse-weights``) is byte-identical on any day (:func:`common.model_dates.weights_created`: the
    existing entry's ``created`` when its ``torch_weights.sha256`` is ``weights_sha256``, else the UTC date
    the weights file was last written; a run that trained them writes it now)."""
    return model_dates.weights_created(out_dir / "manifest.json", MODEL_NAME, weights=out_dir / f"{MODEL_NAME}.pt",
                                       digest=weights_sha256,
                                       recorded_digest=lambda entry: (entry.get("torch_weights") or {}).get("sha256"))


def _existing_entry(out_dir):
    """This model's entry in ``out_dir``'s ``manifest.json`` as it is before the export writes, or None."""
    path = out_dir / "manifest.json"
    models = json.loads(path.read_text()).get("models", {}) if path.is_file() else {}
    return models.get(MODEL_NAME)


def weights_record(out_dir, weights_sha256):
    """The ``training_data`` of the entry in ``out_dir``'s manifest that describes the weights ``weights_sha256``
    (its ``torch_weights.sha256``): who trained them, with which seed and steps. None when the entry describes
    other weights or there is none. A ``--reuse-weights`` re-issue records it, not the data it reads."""
    existing = _existing_entry(pathlib.Path(out_dir)) or {}
    if (existing.get("torch_weights") or {}).get("sha256") != weights_sha256:
        return None
    return existing.get("training_data")


def results_unchanged_from(existing, entry):
    """The new ``entry``'s ``results_unchanged_from``: the digests (:func:`common.hashing.json_digest`, as the
    clinic's ``entry_digest``) of the earlier entries whose results it gives unchanged, so that the clinic's
    stored results and takes scored with them stay current (``edge.freshness``). ``existing``: the entry it
    replaces (None: none). The same entry again: its list as it was; one that differs only in its words
    (:data:`common.model_entries.WORDING`): its list and its own digest; anything else (weights, files, a
    calibration, a threshold, a figure): none, so every result made with it is out of date.

    Examples
    --------
    >>> old = {"threshold": 0.2, "validation_status": {"statement": "old words"}}
    >>> new = {"threshold": 0.2, "validation_status": {"statement": "new words", "caveats": []}}
    >>> results_unchanged_from(old, new) == [json_digest(old)]
    True
    >>> results_unchanged_from(old, {**new, "threshold": 0.3})
    []
    """
    if existing is None:
        return []
    entry = json.loads(json.dumps(entry))  # as it will be read back (tuples are lists)
    earlier = list(existing.get(RESULTS_UNCHANGED_FROM) or [])
    ignore = lambda item: {key: value for key, value in item.items() if key != RESULTS_UNCHANGED_FROM}
    if ignore(existing) == ignore(entry):
        return earlier
    if not differences_beyond_words(existing, entry):
        return earlier + [digest for digest in [json_digest(existing)] if digest not in earlier]
    return []


def write_manifest(out_dir, entry):
    """Insert or replace this model's entry in ``manifest.json``, keeping other models (``common.model_entries``)."""
    return write_entries(out_dir / "manifest.json", {MODEL_NAME: entry})


SPRSOUND_CITATION = ("Zhang Q et al. SPRSound: Open-Source SJTU Paediatric Respiratory Sound Database. "
                     "IEEE Trans Biomed Circuits Syst 2022;16(5):867-881, doi:10.1109/TBCAS.2022.3204910 (CC BY 4.0)")
KAUH_CITATION = ("Fraiwan M, Fraiwan L, Khassawneh B, Ibnian A. A dataset of lung sounds recorded from the chest wall "
                 "using an electronic stethoscope. Data in Brief 2021;35:106913, doi:10.1016/j.dib.2021.106913 (CC BY 4.0)")
ICBHI_CITATION = ("Rocha BM et al. An open access database for the evaluation of respiratory sound classification "
                  "algorithms. Physiol Meas 2019;40(3):035001, doi:10.1088/1361-6579/ab03ea (freely available for research)")
#: What each population's figures rest on (the manifest's ``validation.populations``).
POPULATION_DATASETS = {
    "adults": {"dataset": "KAUH lung sounds (Fraiwan 2021), test patients of the hash split",
               "population": "adults (15-90 years here) at King Abdullah University Hospital, Jordan; crackles from heart "
                             "failure, COPD, bronchitis, asthma with lung fibrosis",
               "devices": ["Littmann 3200 bell", "Littmann 3200 diaphragm", "Littmann 3200 extended"],
               "positive": "recording labelled crackles (C, Crep, I C E W) by the dataset"},
    "children_sprsound2022": {"dataset": "SPRSound 2022 training release, test patients of the hash split",
                              "population": "children aged 0.2-16 years, Shanghai Children's Medical Center",
                              "devices": ["Yunting II"], "positive": "expert-annotated fine-crackle event"},
    "children_sprsound2022_test": {"dataset": "SPRSound 2022 test release (recorded later), test patients of the hash split",
                                   "population": "children, Shanghai Children's Medical Center",
                                   "devices": ["Yunting II"], "positive": "expert-annotated fine-crackle event"},
}


def dataset_citations(recordings):
    """The manifest's ``training_data.datasets``: each data set among ``recordings`` (the data read) with its
    citation, SPRSound and KAUH only when read, and each labelled folder.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> list(dataset_citations([R(dataset_family="sprsound", dataset="sprsound2022")]))
    ['SPRSound 2022 (release sprsound2022)']
    """
    releases = sprsound_releases(recordings)
    sprsound = ("SPRSound 2022 (training and test releases)" if releases == "both releases"
                else f"SPRSound 2022 ({releases})")
    return {**({sprsound: SPRSOUND_CITATION} if any(_is_sprsound(r) for r in recordings) else {}),
            **({"KAUH lung sounds": KAUH_CITATION} if any(_is_kauh(r) for r in recordings) else {}),
            **{f"labelled folder {name}": "a clinic's own labelled takes (labels.csv), kept on the clinic's box"
               for name in sorted(set(labelled_folders(recordings).values()))}}


def evaluation_data(icbhi_recordings):
    """The manifest's ``evaluation_data``: data sets the export read only to check the finished model, never to
    train it or choose anything (not part of the split, so not in ``training_data.datasets``): ICBHI 2017, the
    adult cross-device check (``metrics.test.icbhi_adults``), when its recordings were read. Empty without.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> evaluation_data([])
    {}
    >>> evaluation_data([R(device="Litt3200"), R(device="Meditron")])["ICBHI 2017 Respiratory Sound Database"]["recordings"]
    2
    """
    if not icbhi_recordings:
        return {}
    return {"ICBHI 2017 Respiratory Sound Database": {
        "citation": ICBHI_CITATION, "recordings": len(icbhi_recordings),
        "devices": sorted({r.device for r in icbhi_recordings}),
        "use": "adult cross-device check of the finished model only (metrics.test.icbhi_adults): never trained the "
               "weights nor chose the input noise, calibration or thresholds"}}


def _sets_read(recordings):
    """The calibration's words for the data sets among ``recordings``: SPRSound 2022 (its releases) and KAUH
    when read, then each labelled folder."""
    public = (([f"SPRSound 2022 ({sprsound_releases(recordings)})"] if any(_is_sprsound(r) for r in recordings) else [])
              + (["KAUH"] if any(_is_kauh(r) for r in recordings) else []))
    return ", ".join(([" and ".join(public)] if public else [])
                     + [f"labelled folder {name}" for name in sorted(set(labelled_folders(recordings).values()))])


def labelled_folders(recordings):
    """``{population: folder name}`` of the generic folders' recordings (a clinic's labelled takes), each
    reported as a population of its own (:func:`audio_models.validation.population_key`)."""
    return {validation.population_key(r): r.dataset for r in recordings if isinstance(r, LabelledRecording)}


def labelled_population_datasets(parts):
    """The manifest's ``validation.populations`` description of each labelled folder's population, as
    :data:`POPULATION_DATASETS` describes the public sets' (its devices: those of its test recordings)."""
    described = {}
    for population, name in sorted(labelled_folders([r for part in parts.values() for r in part]).items()):
        devices = sorted({r.device for r in parts["test"] if validation.population_key(r) == population})
        described[population] = {
            "dataset": f"labelled folder {name} (labels.csv: a clinician's crackle label per recording), test patients "
                       "of the hash split",
            "population": f"{validation.cohort(population)} of labelled folder {name}", "devices": devices,
            "positive": "recording labelled crackles heard by a clinician (fine and coarse not told apart)",
            "reproduce": f"ildscreen audio evaluate --data PATH/{name} --part test --json"}
    return described


#: The public sets' people, as the training records name them.
SPRSOUND_CHILDREN = "children aged 0.2-16 years"
KAUH_ADULTS = "adults (KAUH; Littmann 3200 bell, diaphragm and extended filter modes)"


def _is_kauh(recording):
    return recording.dataset_family == "kauh"


def _is_sprsound(recording):
    return recording.dataset_family == "sprsound"


def sprsound_releases(recordings):
    """The records' words for the SPRSound 2022 releases among ``recordings`` (each release is named by its
    folder): ``"both releases"`` for the training and test releases, else the folders read.

    Examples
    --------
    >>> from types import SimpleNamespace as R
    >>> sprsound_releases([R(dataset_family="sprsound", dataset=name) for name in ("sprsound2022_test", "sprsound2022")])
    'both releases'
    >>> sprsound_releases([R(dataset_family="sprsound", dataset="sprsound2022"),
    ...                    R(dataset_family="kauh", dataset="kauh")])
    'release sprsound2022'
    """
    releases = sorted({r.dataset for r in recordings if _is_sprsound(r)})
    if releases == ["sprsound2022", "sprsound2022_test"]:
        return "both releases"
    return f"release{'s' if len(releases) > 1 else ''} {', '.join(releases)}"


def training_population(parts):
    """Who the network's weights were fitted on, and whose adults chose its adult operating point
    (:func:`adult_threshold_sources`), naming only the data read: KAUH only when its adults were among
    ``parts``, each SPRSound release and labelled folder only when its patients trained the weights."""
    train = parts["train"]
    fitted = []
    if any(_is_sprsound(r) for r in train):
        fitted.append(f"{SPRSOUND_CHILDREN} (SPRSound 2022, {sprsound_releases(train)}; one stethoscope)")
    if any(_is_kauh(r) for r in train):
        fitted.append(KAUH_ADULTS)
    labelled = sorted(set(labelled_folders(train).values()))
    if labelled:
        fitted.append(f"the patients of labelled folder(s) {', '.join(labelled)} (a clinician's crackle label per "
                      "recording, trained as whole recordings)")
    read = [r for part in parts.values() for r in part]
    adults_read = any(r.population == "adults" for r in read)
    if adults_read and not any(r.population == "adults" for r in train):
        not_trained = "no adult trained the weights"
    elif any(_is_kauh(r) for r in read) and not any(_is_kauh(r) for r in train):
        not_trained = "no KAUH adult trained the weights"
    else:
        not_trained = ""
    chose = " and ".join(_adults_who_chose(adult_threshold_sources(parts["validation"]), kauh=KAUH_ADULTS))
    if chose:
        chose += " the network never saw chose the adult operating point"
    elif adults_read:
        chose = "no adult chose the adult operating point (the children's is used)"
    clause = ": ".join(part for part in (not_trained, chose) if part)
    return "; ".join(part for part in (" and ".join(fitted) or "no patient of the data read", clause) if part)


def _figure(block, name):
    value, (low, high) = block[name], block[f"{name}_ci95"]
    return f"{name} {value:.2f} ({low:.2f}-{high:.2f})"


#: What had been seen of the test adults before a recipe was fixed (training's ``adult_test_seen``, a code), in
#: the statement's words; the code is also the caveat's (:func:`validation_caveats`), which the clinic's pages
#: word in each language.
TEST_SEEN_WORDS = {
    "test_seen_before_input_noise": ("these test adults had been scored with added noise before the adults' input "
                                     "noise was chosen, so their figures are not a clean test of it"),
}


def _by_device_text(population):
    """The statement's words for a population's figures through each device alone (its ``by_device``), when
    it has figures of two devices or more: how many of those with crackles each found, its AUC and
    specificity; "" otherwise. Found is sensitivity times the patients with crackles (the whole number it
    stands for), as the clinic's note counts it."""
    by_device = population.get("by_device") or {}
    if len(by_device) < 2:
        return ""
    each = [f"{device} {round(figures['sensitivity'] * figures['positive_patients'])} of "
            f"{figures['positive_patients']} (AUC {figures['auc']:.2f}, specificity {figures['specificity']:.2f})"
            for device, figures in by_device.items()]
    return f"; each device alone found, of those with crackles: {', '.join(each)}"


def validation_statement(block, *, adults_trained=False, against_crackle_free=None, adults_input_noise=None,
                         icbhi=None, adult_test_seen=None, labelled_trained=(), adults_chose=("KAUH",)):
    """The plain sentence every result and referral shows about what the detector was validated on.

    ``adults_trained``: whether adults were among the patients its weights were fitted on;
    ``against_crackle_free``: the test adults' crackle recordings against each kind of crackle-free
    recording (``validation.against_crackle_free``), when measured; ``adults_input_noise``: the
    adults' ``input_noise`` (:func:`audio_models.scoring.noisy_copies`), if any; ``icbhi``: the
    adult ICBHI check (:func:`audio_models.validation.icbhi_check`), if run; ``adult_test_seen``: what
    had been seen of the test adults before the recipe was fixed, if anything (said after their figures);
    ``labelled_trained``: the labelled folders (a clinic's takes) whose train patients fitted the weights;
    ``adults_chose``: whose validation adults chose the adult threshold (``"KAUH"`` and labelled folder names:
    :func:`adult_threshold_sources`), each named only when it was used.
    A labelled folder's adults (``adults_<folder>``) are named with their own figures.
    """
    adults = block["populations"].get("adults")
    children = [f"{pop.removeprefix('children_')}: AUC {b['auc']:.2f}" for pop, b in block["populations"].items()
                if pop.startswith("children")]
    folder_adults = [pop for pop in block["populations"] if pop.startswith("adults_")]
    # Without KAUH's adults the folders' own figures say what was validated in adults (named below).
    adult_text = ("" if adults is None and folder_adults else "not yet validated in adults" if adults is None else
                  f"validated per patient on {adults['patients']} held-out adults ({adults['positive_patients']} with "
                  f"crackles; Littmann 3200, three filter modes): AUC {adults['auc']:.2f} "
                  f"({adults['auc_ci95'][0]:.2f}-{adults['auc_ci95'][1]:.2f}), {_figure(adults, 'sensitivity')}, "
                  f"{_figure(adults, 'specificity')}")
    if adults is not None and adult_test_seen:
        adult_text += f" ({TEST_SEEN_WORDS[adult_test_seen]})"
    if adults is not None:
        adult_text += _by_device_text(adults)
    normal, wheeze = ((against_crackle_free or {}).get(kind) or {} for kind in ("none", "wheeze"))
    if adults is not None and normal.get("auc") is not None:
        low, high = normal["auc_ci95"]
        adult_text += (f"; against adult recordings with no other sound (no wheeze) AUC {normal['auc']:.2f} "
                       f"({low:.2f}-{high:.2f}, {normal['crackle_free_patients']} patients)")
        if wheeze.get("auc") is not None and normal["auc"] < wheeze["auc"]:
            adult_text += (f", below {wheeze['auc']:.2f} against wheezes: in adults it tells crackles from wheezes "
                           "better than from normal breathing")
    if adults_input_noise is not None:
        adult_text += (f"; adults' recordings are scored with white noise {adults_input_noise['snr_db']:g} dB below "
                       "their level added (chosen on other adults: it hides faint sounds of normal chests the "
                       "detector took for crackles, and may hide faint crackles too")
        if icbhi and icbhi.get("with_crackles"):
            adult_text += (f"; {icbhi['with_crackles_called_positive']} of {icbhi['with_crackles']} ICBHI adult "
                           "recording(s) with crackles found")
        adult_text += ")"
    for pop in folder_adults:
        own = block["populations"][pop]
        adult_text += (f"; on {own['patients']} held-out adults of labelled folder {pop.removeprefix('adults_')} "
                       f"({own['positive_patients']} with crackles; {', '.join(own.get('devices') or [])}): AUC "
                       f"{own['auc']:.2f} ({own['auc_ci95'][0]:.2f}-{own['auc_ci95'][1]:.2f}), "
                       f"{_figure(own, 'sensitivity')}, {_figure(own, 'specificity')}{_by_device_text(own)}")
    adult_text = adult_text.removeprefix("; ")
    folders = f" and on the labelled takes of folder(s) {', '.join(labelled_trained)}" if labelled_trained else ""
    trained = (f"trained on children (SPRSound) and adults (KAUH){folders}" if adults_trained else
               f"trained on children (SPRSound){folders}, {_adult_threshold_chosen(adults_chose)}")
    held_out_children = f"in held-out children ({'; '.join(children)})" if children else "no held-out children"
    # KAUH's crackles are of heart failure, COPD and other diseases; a folder's are whatever its clinician heard.
    causes = "Crackles here come from heart failure, COPD and other diseases, not ILD; the" if adults else "The"
    return (f"Crackle detector {trained}; {adult_text}; {held_out_children}. {causes} "
            "detector is not validated in people with ILD and is not for clinical use.")


#: The caveats' codes (:func:`validation_caveats`), each a key of the clinic's catalogue
#: (``edge/web/i18n.py``: ``crackle_caveat_<code>``); a reader that does not know a code shows the statement.
CAVEAT_CODES = (*TEST_SEEN_WORDS, "crackles_against_normal_breathing", "input_noise_may_hide_crackles")


def validation_caveats(block, *, against_crackle_free=None, adults_input_noise=None, icbhi=None,
                       adult_test_seen=None):
    """The manifest's ``validation_status.caveats``: what :func:`validation_statement` says of KAUH's adults
    that their figures alone do not, each as ``{"code", "population", ...numbers}`` so that the clinic words it
    in its own languages. Every number comes from what the export measured (``block``: the manifest's
    ``validation``; the other arguments as for :func:`validation_statement`), and ``devices`` says through
    which devices it was measured (all of the population's together). In the statement's order:

    * ``adult_test_seen`` (a code of :data:`TEST_SEEN_WORDS`, recorded by training): the test adults
      (``patients``, ``positive_patients``) had been seen before the recipe was fixed;
    * ``crackles_against_normal_breathing``: their crackle recordings against recordings with no other sound
      (``auc``, ``auc_ci95``, ``crackle_free_patients``) and, when measured, against wheezes
      (``against_wheeze_auc``);
    * ``input_noise_may_hide_crackles``: adults' recordings are scored with noise ``snr_db`` below their level,
      which may hide faint crackles; with the ICBHI check's adult recordings with crackles and how many were
      found (``icbhi_with_crackles``, ``icbhi_found``) when it had any.
    """
    adults = block["populations"].get("adults")
    caveats = []
    if adults is not None and adult_test_seen:
        caveats.append({"code": adult_test_seen, "population": "adults", "patients": adults["patients"],
                        "positive_patients": adults["positive_patients"], "devices": list(adults.get("devices") or [])})
    normal, wheeze = ((against_crackle_free or {}).get(kind) or {} for kind in ("none", "wheeze"))
    if adults is not None and normal.get("auc") is not None:
        caveats.append({"code": "crackles_against_normal_breathing", "population": "adults", "auc": normal["auc"],
                        "auc_ci95": list(normal["auc_ci95"]), "crackle_free_patients": normal["crackle_free_patients"],
                        "against_wheeze_auc": wheeze.get("auc"), "devices": list(adults.get("devices") or [])})
    if adults_input_noise is not None:
        noise = {"code": "input_noise_may_hide_crackles", "population": "adults", "snr_db": adults_input_noise["snr_db"]}
        if icbhi and icbhi.get("with_crackles"):
            noise.update(icbhi_with_crackles=icbhi["with_crackles"], icbhi_found=icbhi["with_crackles_called_positive"])
        caveats.append(noise)
    return caveats


def _labelled_folders_of(recordings, cohort):
    """The labelled folders with patients of ``cohort`` (``adults``, ``children``) among ``recordings``, sorted."""
    return sorted({name for population, name in labelled_folders(recordings).items()
                   if validation.cohort(population) == cohort})


def adult_threshold_sources(validation_part):
    """Whose validation adults chose the adult threshold (:func:`validation_statement`'s ``adults_chose``):
    ``"KAUH"`` when KAUH's adults are among ``validation_part``, then each labelled folder with adults there."""
    kauh = ["KAUH"] if any(_is_kauh(r) for r in validation_part) else []
    return kauh + _labelled_folders_of(validation_part, "adults")


def _thresholds_chosen_on(validation_part):
    """The manifest's ``threshold_chosen_on`` words for whose validation patients chose each cohort's
    threshold: KAUH, SPRSound and each labelled folder only when its patients are in ``validation_part``."""
    adults = " and ".join(_adults_who_chose(adult_threshold_sources(validation_part)))
    folders = _labelled_folders_of(validation_part, "children")
    children = " and ".join((["SPRSound"] if any(_is_sprsound(r) for r in validation_part) else [])
                            + ([f"the validation patients of labelled folder(s) {', '.join(folders)}"] if folders else []))
    adults, children = adults or "none (`threshold` is the children's)", children or "none"
    return f"adults: {adults}; children: {children}"


def _adults_who_chose(sources, *, kauh="KAUH"):
    """The groups of :func:`adult_threshold_sources` ``sources`` in words: ``kauh`` for KAUH's adults, then
    the labelled folders' validation patients."""
    folders = [name for name in sources if name != "KAUH"]
    return (([kauh] if "KAUH" in sources else [])
            + ([f"the validation patients of labelled folder(s) {', '.join(folders)}"] if folders else []))


def _adult_threshold_chosen(sources):
    """The statement's words for who chose the adult threshold (``sources``: :func:`adult_threshold_sources`)."""
    named = _adults_who_chose(sources)
    if not named:
        return "no adult chose its threshold (the children's is used)"
    return f"its adult threshold chosen on other adults ({' and '.join(named)})"


def held_out_metrics(paths, entry, parts, icbhi):
    """Test-patient figures of every variant per population, with the ICBHI check (as
    ``ildscreen audio evaluate`` computes them), and the validation patients' figures (FP32)."""
    runs = {name: onnx_runner(path) for name, path in paths.items()}
    test, _ = validation.evaluate_model(parts["test"], runs=runs, entry=entry, icbhi=icbhi)
    validation_report, _ = validation.evaluate_model(parts["validation"], runs={"fp32": runs["fp32"]}, entry=entry)
    return {"test": test, "validation": validation_report}


def _population_counts(recordings):
    counts = {}
    for recording in recordings:
        pop = validation.population_key(recording)
        entry = counts.setdefault(pop, {"patients": set(), "recordings": 0, "positive_recordings": 0})
        entry["patients"].add(recording.patient_id)
        entry["recordings"] += 1
        entry["positive_recordings"] += int(recording.has_fine_crackles)
    return {pop: {**c, "patients": len(c["patients"])} for pop, c in sorted(counts.items())}


def screening_threshold(thresholds):
    """The manifest's ``threshold`` from ``{cohort: threshold}``: the adults' operating point (the
    programme screens adults), or the children's where no adult chose one (a corpus without adults).

    Examples
    --------
    >>> screening_threshold({"adults": 0.2, "children": 0.6}), screening_threshold({"children": 0.6})
    (0.2, 0.6)
    """
    return thresholds.get("adults", thresholds.get("children"))


def export_all(out_dir, *, model, seed, calibration, thresholds, quality_thresholds, training, parts, icbhi=()):
    """Export FP32 + INT8, check parity, validate on held-out patients, write the manifest entry.

    ``thresholds`` and ``quality_thresholds`` are ``{cohort: threshold}`` (``adults``, ``children``),
    chosen on validation patients. ``parts["train"]``: the patients who trained the weights (for a
    ``--reuse-weights`` re-issue, those its manifest entry records: ``train.trained_part``). An entry that
    gives the results of the one it replaces unchanged names it (:func:`results_unchanged_from`)."""
    threshold = screening_threshold(thresholds)
    out_dir = pathlib.Path(out_dir)
    model.eval()
    fp32 = export_fp32(model, out_dir / f"{MODEL_NAME}_fp32.onnx")
    calibration_windows = real_windows(parts["train"], 128, seed=seed + 30)
    int8 = export_int8(fp32, out_dir / f"{MODEL_NAME}_int8.onnx", np.split(calibration_windows, 8))
    paths = {"fp32": fp32, "int8": int8}
    checks = parity(model, paths, real_windows(parts["test"], 64, seed=seed + 20))
    entry = entry_template(threshold=threshold, quality_threshold=screening_threshold(quality_thresholds))
    entry["population_thresholds"] = dict(thresholds)
    entry["quality_head"]["population_thresholds"] = dict(quality_thresholds)
    noise = training.get("input_noise") or {}
    entry["input_noise"] = noise.get("adults", noise.get("children"))
    entry["population_input_noise"] = dict(noise)
    val_rated = [r for r in parts["validation"] if not r.poor_quality]
    entry["calibration"] = {**calibration, "applies_to": f"recording score (mean of the top {windows.TOP_K} window scores)",
                            "fitted_on": (f"validation patients of {_sets_read(parts['validation'])} "
                                          f"({len({(r.dataset_family, r.patient_id) for r in val_rated})} patients, "
                                          f"{len(val_rated)} recordings), not used in training")}
    icbhi_recordings = [r for folder in icbhi for r in load_icbhi(folder)]
    metrics = held_out_metrics(paths, entry, parts, icbhi_recordings)
    block = validation.validation_block(metrics["test"], digests=validation.part_digests(parts["test"]),
                                        datasets={**POPULATION_DATASETS, **labelled_population_datasets(parts)})
    for pop, figures in block["populations"].items():
        logger.info("test %s: patient AUC %s sensitivity %s specificity %s", pop, figures["auc"],
                    figures["sensitivity"], figures["specificity"])
    weights_sha256 = sha256_file(out_dir / f"{MODEL_NAME}.pt")
    variants = {}
    for name, path in paths.items():
        variants[name] = {"file": path.name, "sha256": sha256_file(path), "precision": name, "bytes": path.stat().st_size,
                          "parity_vs_torch": checks[name]}
    variants["int8"]["quantization"] = ("static QDQ, symmetric int8 activations and per-channel weights, "
                                        "ONNX Runtime quantize_static (MinMax calibration on 128 real windows of training "
                                        "patients); log-mel front end, first conv block and the window pooling kept in "
                                        "FP32")
    train_rated = [r for r in parts["train"] if not r.poor_quality]
    positives = sum(r.has_fine_crackles for r in train_rated)
    adult_subgroups = (metrics["test"]["populations"].get("adults") or {}).get("subgroups") or {}
    measured = {"against_crackle_free": adult_subgroups.get("against_crackle_free"),
                "adults_input_noise": entry["population_input_noise"].get("adults"),
                "icbhi": metrics["test"].get("icbhi_adults"), "adult_test_seen": training.get("adult_test_seen")}
    statement = validation_statement(block, adults_trained=any(validation.population_key(r) == "adults"
                                                               for r in parts["train"]),
                                     labelled_trained=sorted(set(labelled_folders(parts["train"]).values())),
                                     adults_chose=adult_threshold_sources(parts["validation"]), **measured)
    entry.update({
        "name": MODEL_NAME, "version": MODEL_VERSION, "task": "crackle detection in lung sounds",
        "default_variant": "fp32", "variants": variants,
        "aggregation": f"recording score = mean of the top {windows.TOP_K} window scores, then calibration",
        "threshold": threshold,
        "threshold_chosen_on": ("each population's validation patients apart "
                                f"({_thresholds_chosen_on(parts['validation'])}): the threshold with the highest "
                                "patient-level Youden index under the screening's patient rule (programme operating "
                                "point). `threshold` is the adults' (the programme screens adults); "
                                "`population_thresholds.children` is used only to report children"),
        "input_noise_chosen_on": (
            "each population's validation patients apart, before calibration and thresholds: white noise "
            f"{', '.join(f'{v:g}' for v in training.get('input_noise_levels', ()))} dB below the recording's level (or "
            f"none), each level scored as shipped with {training.get('input_noise_choice_seeds', 1)} seeds; a population gets the level with the highest mean "
            f"patient AUC when it beats none by at least {training.get('input_noise_min_gain', 0):g} "
            f"(mean patient AUC by level: {json.dumps(training.get('input_noise_validation_auc', {}), sort_keys=True)}). "
            "Why: adults' normal chests carry faint broadband transients that the network, trained on children, "
            "scores like crackles; noise below the recording's level hides them"),
        "quality_head": {**entry["quality_head"], "chosen_on": (
            f"validation patients, adults and children apart: refuses at most {training['quality_false_refusal']:.0%} "
            "of the good recordings of each population; `threshold` is the adults' (the programme screens adults)")},
        "parameters": count_parameters(model), "opset": OPSET, "ir_version": IR_VERSION,
        "validation_status": {"synthetic": False, "clinically_validated": False,
                              "training_population": training_population(parts),
                              "statement": statement, "caveats": validation_caveats(block, **measured)},
        "training_data": {
            "synthetic": False,
            "datasets": dataset_citations(parts["train"] + parts["validation"] + parts["test"]),
            "population": training_population(parts),
            "split": {"method": "sha256 of (seed, dataset family, patient id): a patient's part never depends on other "
                                "patients; a child in both SPRSound releases is in the same part in both",
                      "seed": seed, "fractions": {family: list(f) for family, f in
                                                  training.get("split_fractions", splits.FRACTIONS).items()},
                      "test_patients_sha256": validation.part_digests(parts["test"]),
                      "validation_patients_sha256": validation.part_digests(parts["validation"]),
                      # Who was in each part (public datasets' own patient numbers), so that
                      # `ildscreen audio evaluate --part unseen` finds the patients it never saw in
                      # a folder that adds withheld patients to these.
                      "patients": {name: validation.part_patients(part) for name, part in parts.items()}},
            "parts": {name: _population_counts(part) for name, part in parts.items()},
            "positive": ("children: recording contains at least one expert-annotated fine-crackle event; adults: "
                         "recording labelled crackles by the dataset (fine and coarse not told apart)"),
            "train_positive_recordings": positives,
            "augmentation": ("band limits (incl. bell-like low-pass), tilt, resonances, coloured noise, crackle-free "
                             "synthetic sounds (no synthetic crackles)"),
            "population_share": training["population_share"],
            # The calibrated probability is calibrated where it was fitted: on validation patients.
            "prevalence": round(sum(r.has_fine_crackles for r in val_rated) / len(val_rated), 4),
            "prevalence_note": "share of validation recordings with crackles (children and adults), where the "
                               "recording probability was calibrated",
            "train_prevalence": round(positives / max(len(train_rated), 1), 4),
            # The weights' seed: a --reuse-weights re-issue keeps the one they were trained with (train.main).
            "seed": training.get("seed", seed), "steps": training["steps"],
        },
        **({"evaluation_data": evaluation_data(icbhi_recordings)} if icbhi_recordings else {}),
        "validation": block,
        "metrics": metrics,
        "torch_weights": {"file": f"{MODEL_NAME}.pt", "sha256": weights_sha256},
        "created": weights_created(out_dir, weights_sha256),
        "intended_use": "research screening aid; crackle detector only (not an ILD diagnosis); not for clinical use",
    })
    unchanged_from = results_unchanged_from(_existing_entry(out_dir), entry)
    if unchanged_from:
        entry[RESULTS_UNCHANGED_FROM] = unchanged_from
    (out_dir / f"{MODEL_NAME}_eval.json").write_text(json.dumps(metrics, indent=2) + "\n")
    return write_manifest(out_dir, entry)
