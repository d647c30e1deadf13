"""Scoring one recording with the crackle model: windows, model outputs, the calibrated
recording probability, the crackle map and the quality verdict.

Serving module: numpy only. The model is any callable ``run({input: windows}) -> {output:
array}`` (ONNX Runtime in the service, in ``ildscreen audio evaluate`` and in training's final
evaluation), and its manifest entry says how to read it, so a metric measured in evaluation is
the number the clinic gets.

Manifest keys read here (``edge/bundled_models/manifest.json``, model ``auscultation``):
``inputs``/``outputs`` (names), ``window_s``, ``hop_s``, ``frame_s``, ``threshold`` (on the
calibrated probability: the operating point for adults, whom the programme screens),
``population_thresholds`` (optional ``{"adults": t, "children": t}``: each population's own
operating point, used where a population is reported apart, :func:`entry_for_population`),
``calibration`` (optional Platt scaling of the recording score) and
``quality_head`` (optional: the output holding the learned poor-quality probability, its
threshold and, optionally, each population's), ``input_noise`` (optional ``{"snr_db", "draws", "seed"}``
and optionally ``"shape"``: the network scores copies with noise this many dB below the recording's level
added, white or shaped like the recording's spectrum, and its outputs are averaged, :func:`noisy_copies`;
null or absent: the recording as it is) and
``population_input_noise`` (optional: each population's).
"""

import numpy as np

from audio_models import windows
from audio_models.errors import ModelError
from audio_models.limits import MODEL_SAMPLE_RATE
from audio_models.quality import QualityReport, assess_quality
from audio_models.resample import resample
from tabular_models.calibration import apply_calibration

POOR_SIGNAL = "poor_signal"
#: Seed of the first draw of the shipped input noise (:func:`noisy_copies`): the project's default
#: seed, not picked by its results. A recording always gets the same noise, so its score is
#: reproducible.
INPUT_NOISE_SEED = 0
#: Most noisy copies a manifest may ask for (each copy costs a full pass of the network).
MAX_INPUT_NOISE_DRAWS = 8
#: The spectra the input noise may have (:func:`noisy_copies`); absent means ``"white"``, the shipped one.
INPUT_NOISE_SHAPES = ("white", "recording")
#: The cohort the programme screens: KAUH's adults (``adults``) and a labelled folder's adults
#: (``adults_<folder>``, :func:`audio_models.validation.population_key`) belong to it.
ADULTS = "adults"


def cohort(population):
    """``adults`` or ``children`` of a reported population (:func:`audio_models.validation.population_key`):
    the group that has its own operating point (:func:`entry_for_population`). The one home of which
    validation populations are adults: training, the manifest and the clinic service read it here.

    Examples
    --------
    >>> cohort("children_sprsound2022_test"), cohort("adults"), cohort("adults_clinic-2026")
    ('children', 'adults', 'adults')
    """
    return ADULTS if population == ADULTS or population.startswith(f"{ADULTS}_") else "children"


def entry_for_population(entry, population):
    """``entry`` with ``population``'s own operating points (``"adults"`` or ``"children"``) in place
    of the screening ones: the crackle ``threshold`` from ``population_thresholds`` and the quality
    head's ``threshold`` from its ``population_thresholds``; unchanged where the manifest has none.

    Examples
    --------
    >>> entry = {"threshold": 0.3, "population_thresholds": {"adults": 0.3, "children": 0.6},
    ...          "quality_head": {"threshold": 0.9, "population_thresholds": {"children": 0.2}}}
    >>> child = entry_for_population(entry, "children")
    >>> child["threshold"], child["quality_head"]["threshold"], entry["threshold"]
    (0.6, 0.2, 0.3)
    """
    chosen = dict(entry)
    chosen["threshold"] = (entry.get("population_thresholds") or {}).get(population, entry["threshold"])
    noise = entry.get("population_input_noise") or {}
    if population in noise:
        chosen["input_noise"] = noise[population]
    head = entry.get("quality_head")
    if head and population in (head.get("population_thresholds") or {}):
        chosen["quality_head"] = {**head, "threshold": head["population_thresholds"][population]}
    return chosen


def noisy_copies(samples, input_noise):
    """The copies of ``samples`` the network scores: ``[samples]`` when ``input_noise`` is None, else
    ``input_noise["draws"]`` copies, each with its own seeded noise ``input_noise["snr_db"]`` below the
    samples' RMS level added (draw ``k`` seeded ``input_noise["seed"] + k``).

    ``input_noise["shape"]`` (one of :data:`INPUT_NOISE_SHAPES`; absent: ``"white"``) is the noise's
    spectrum: ``"white"`` is flat; ``"recording"`` is a random-phase surrogate of the samples (their
    own magnitude spectrum with seeded random phases, :func:`_recording_shaped_noise`), so every band
    keeps the same signal-to-noise ratio and a recording whose energy sits low (a bell) keeps its high
    bands above the noise.

    The noise sets a floor under the spectrum: faint broadband transients below it no longer stand
    out after the network scales each window to unit level. Adults' normal chests (KAUH) carry such
    transients and the detector, trained on children, took them for crackles; the level each
    population gets is chosen on its validation patients (``audio_models.train``). One draw of noise
    moves a recording's score, so the network's outputs are averaged over several. The draws are
    seeded, so a recording always scores the same; the shipped seed is :data:`INPUT_NOISE_SEED`.

    Raises :class:`~audio_models.errors.ModelError` for a shape not in :data:`INPUT_NOISE_SHAPES`.

    Examples
    --------
    >>> x = np.sin(np.arange(4000) / 5.0)
    >>> noisy_copies(x, None)[0] is x
    True
    >>> copies = noisy_copies(x, {"snr_db": 20.0, "draws": 2, "seed": 0})
    >>> [round(float(np.sqrt(np.mean((y - x) ** 2)) / np.sqrt(np.mean(x ** 2))), 1) for y in copies]
    [0.1, 0.1]
    >>> bool(np.array_equal(copies[1], noisy_copies(x, {"snr_db": 20.0, "draws": 2, "seed": 0})[1]))
    True
    >>> shaped = noisy_copies(x, {"snr_db": 20.0, "draws": 1, "seed": 0, "shape": "recording"})[0]
    >>> round(float(np.sqrt(np.mean((shaped - x) ** 2)) / np.sqrt(np.mean(x ** 2))), 3)
    0.1
    """
    if input_noise is None or len(samples) == 0:
        return [samples]
    shape = input_noise.get("shape", "white")
    if shape not in INPUT_NOISE_SHAPES:
        raise ModelError(f"unknown input-noise shape {shape!r}; expected one of {', '.join(INPUT_NOISE_SHAPES)}")
    signal = np.asarray(samples, dtype=np.float64)
    level = np.sqrt(np.mean(signal ** 2)) * 10 ** (-float(input_noise["snr_db"]) / 20)
    dtype = np.asarray(samples).dtype
    copies = []
    for draw in range(int(input_noise["draws"])):
        rng = np.random.default_rng(int(input_noise["seed"]) + draw)
        noise = rng.standard_normal(len(signal)) if shape == "white" else _recording_shaped_noise(signal, rng)
        copies.append((signal + level * noise).astype(dtype))
    return copies


def _recording_shaped_noise(signal, rng):
    """Unit-RMS noise with ``signal``'s magnitude spectrum and uniformly random phases (a random-phase
    surrogate): stationary noise shaped like the recording's long-term spectrum. The DC and Nyquist bins
    keep a real value; a silent signal gives silence."""
    spectrum = np.abs(np.fft.rfft(signal))
    phases = np.exp(2j * np.pi * rng.random(len(spectrum)))
    phases[0] = 1.0
    if len(signal) % 2 == 0:
        phases[-1] = 1.0
    noise = np.fft.irfft(spectrum * phases, n=len(signal))
    rms = np.sqrt(np.mean(noise ** 2))
    return noise / rms if rms > 0 else noise


def network_windows(samples, entry):
    """``(batch, starts)``: the 4 kHz ``samples`` as the network is fed them, every noisy copy the
    entry's ``input_noise`` asks for (:func:`noisy_copies`) split into windows, copy after copy in
    one batch, and the windows' start times (the same for every copy)."""
    split = [windows.split_windows(copy, sample_rate=MODEL_SAMPLE_RATE, window_s=entry["window_s"], hop_s=entry["hop_s"])
             for copy in noisy_copies(samples, entry.get("input_noise"))]
    return np.concatenate([wins for wins, _ in split]), split[0][1]


def calibrate_score(score, calibration):
    """The recording probability for a raw recording score (mean of the top window probabilities).

    ``calibration`` is the manifest's ``{"method": "platt_logit", "slope", "intercept"}``, or None
    for a model shipped without one (the raw score is then returned unchanged).

    Examples
    --------
    >>> round(calibrate_score(0.5, {"method": "platt_logit", "slope": 2.0, "intercept": -1.0}), 4)
    0.2689
    """
    if calibration is None:
        return float(score)
    if calibration.get("method") != "platt_logit":
        raise ModelError(f"unknown calibration method {calibration.get('method')!r}; expected 'platt_logit'")
    try:
        value = apply_calibration(np.asarray([score]), slope=calibration["slope"], intercept=calibration["intercept"])
    except (KeyError, ValueError) as exc:
        raise ModelError(f"unusable crackle-model calibration {calibration}: {exc}") from exc
    return float(value[0])


def quality_verdict(rules, poor_probability, quality_head):
    """The rule-based report plus the learned head's verdict, when the model has one."""
    if quality_head is None or poor_probability is None:
        return rules
    if poor_probability < quality_head["threshold"]:
        return rules
    issue = (f"{POOR_SIGNAL}: the model rates the signal not assessable (score {poor_probability:.2f}, "
             f"limit {quality_head['threshold']:.2f})")
    return QualityReport(ok=False, issues=(*rules.issues, issue))


def prepared_samples(raw, rate):
    """``(quality, samples)``: the rule-based quality report of decoded audio (judged at its own rate,
    where clipping shows) and the samples at the model's rate; the part of :func:`score_samples` that no
    model or input noise changes, so a recording scored many ways is prepared once."""
    return assess_quality(raw, sample_rate=rate), resample(raw, orig_sr=rate, target_sr=MODEL_SAMPLE_RATE)


def score_samples(raw, rate, *, run, entry):
    """Score decoded audio at any rate.

    Parameters
    ----------
    raw : numpy.ndarray
        Mono samples as decoded (before resampling: clipping is judged there).
    rate : int
        Their sample rate.
    run : callable, keyword-only
        ``run({input_name: windows}) -> {output_name: array}``.
    entry : dict, keyword-only
        The model's manifest entry.

    Returns
    -------
    dict
        ``crackle_probability`` (calibrated; None for silent/empty audio), ``recording_score``
        (before calibration), ``crackle_detected``, ``quality`` (a :class:`QualityReport`),
        ``poor_quality_probability``, ``window_probabilities``, ``window_starts_s``,
        ``frame_map`` (per ``frame_s``), ``duration_s``.
    """
    return score_prepared(*prepared_samples(raw, rate), run=run, entry=entry)


def feeds_network(rules, samples) -> bool:
    """Whether prepared audio (:func:`prepared_samples`: ``rules``, its quality report; ``samples``)
    goes through the network: an empty or silent recording never does."""
    return len(samples) > 0 and not any(issue.startswith("silent") for issue in rules.issues)


def score_prepared(rules, samples, *, run, entry):
    """:func:`score_samples` of audio already through :func:`prepared_samples` (``rules``: its quality
    report; ``samples``: at the model's rate)."""
    duration = len(samples) / MODEL_SAMPLE_RATE
    result = {"crackle_probability": None, "recording_score": None, "crackle_detected": None, "quality": rules,
              "poor_quality_probability": None, "window_probabilities": np.zeros(0), "window_starts_s": np.zeros(0),
              "frame_map": None, "duration_s": duration}
    if not feeds_network(rules, samples):
        return result
    batch, starts = network_windows(samples, entry)
    outputs = run({entry["inputs"][0]["name"]: batch})
    # Each window's outputs averaged over the copies.
    copies = len(batch) // len(starts)
    outputs = {name: np.mean(np.asarray(value).reshape(copies, len(starts), *np.shape(value)[1:]), axis=0)
               for name, value in outputs.items()}
    window_p = np.asarray(outputs[entry["outputs"][0]["name"]], dtype=np.float64)
    frame_p = outputs[entry["outputs"][1]["name"]]
    head = entry.get("quality_head")
    poor = float(np.mean(outputs[head["output"]])) if head else None
    score = windows.aggregate_windows(window_p)
    probability = calibrate_score(score, entry.get("calibration"))
    result.update(
        crackle_probability=round(probability, 6), recording_score=score,
        crackle_detected=bool(probability >= entry["threshold"]),
        quality=quality_verdict(rules, poor, head), poor_quality_probability=None if poor is None else round(poor, 4),
        window_probabilities=window_p, window_starts_s=starts,
        frame_map=windows.stitch_frame_map(frame_p, starts, frame_s=entry["frame_s"], duration_s=duration),
    )
    return result
