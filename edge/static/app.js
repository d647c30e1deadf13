// Progressive enhancement of the server-rendered pages. Everything works without this file
// except microphone recording; nothing here talks to any host but this server, and nothing
// here calls the JSON API: the pages' own routes serve drafts, takes and audio.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";
const body = () => document.body;

// Offline: a visible banner, and the reason in words when a step cannot reach the server.
function showOffline(message) {
  const banner = document.getElementById("offline-banner");
  if (!banner) return;
  banner.textContent = message || body().dataset.offlineText;
  banner.hidden = false;
  body().dataset.offline = "yes";
}
function hideOffline() {
  const banner = document.getElementById("offline-banner");
  if (banner) banner.hidden = true;
  body().dataset.offline = "no";
}
window.addEventListener("offline", () => showOffline());
window.addEventListener("online", () => { hideOffline(); flushDrafts(); });

// The pinned box (the offline banner, the visit's patient) is as tall as its text wraps in this
// orientation and language: anchors and scrolling land below it (app.css reads --pinned-height).
const pinnedBox = document.getElementById("pinned");
if (pinnedBox && window.ResizeObserver) {
  new ResizeObserver(() => document.documentElement.style.setProperty("--pinned-height", `${pinnedBox.offsetHeight}px`))
    .observe(pinnedBox);
}

// The server answers /healthz in milliseconds; a submit only leaves the page when it does, so a
// dropped network never lands on the browser's error page with the form's values gone.
const serverReachable = () => fetch("/healthz", {cache: "no-store"}).then((r) => r.ok, () => false);

// One submission per form until the page is left: a second tap (a double tap, an impatient
// tap) while the first is on its way is dropped, so a form never posts twice.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = event.submitter || form.querySelector("button[type=submit]");
  if (form.dataset.sending === "yes") { event.preventDefault(); return; }
  if (form.dataset.reachable !== "yes") {
    event.preventDefault();
    form.dataset.sending = "yes";
    serverReachable().then((ok) => {
      delete form.dataset.sending;
      if (!ok) { showOffline(body().dataset.networkError); return; }
      hideOffline();
      form.dataset.reachable = "yes";
      form.requestSubmit(event.submitter || undefined);
    });
    return;
  }
  delete form.dataset.reachable;
  if (form.dataset.endsSession === "yes") forgetDrafts({others: false});  // logout, "Switch user"
  if (form.classList.contains("capture")) {
    event.preventDefault();
    runCapture(form, button);
    return;
  }
  form.dataset.sending = "yes";
  if (button && button.dataset.working) {
    setTimeout(() => { button.disabled = true; button.textContent = button.dataset.working; }, 0);
  }
});

// A page shown again from the history (Back) may be sent again: it is a new submission.
window.addEventListener("pageshow", () => {
  document.querySelectorAll("form[data-sending]").forEach((form) => { delete form.dataset.sending; });
});

// Drafts: fields marked data-draft are saved as they are typed; without a connection they wait
// in this tablet's storage and are sent when it is back. A waiting draft belongs to the browser
// session that typed it (the page's data-draft-owner, an opaque value per session, the same
// across a PIN unlock): it is only ever sent under that session, never in another nurse's name,
// and it is removed at logout and on the first page of any other session, or of none (the login
// page after "Switch user" or an expired session). A lock without a PIN ends the session but is
// still the same nurse's pause: its login page says nothing (the queue waits), and her next login's
// pages name that session among data-draft-adopt, so the queue becomes hers again; anyone else's
// first page drops it.
const DRAFT_PREFIX = "ildscreen-draft-";
function draftKey() {
  const section = document.querySelector("[data-visit]");
  return section ? `${DRAFT_PREFIX}${section.dataset.visit}` : null;
}
// A visit's entry in this tablet's storage: {owner, fields, refused, refusal}. `fields` wait to be
// sent. `refused` are the values the server refused as sent (a text over its limit, the visit closed
// meanwhile), with the status it answered (`refusal`): they leave the queue, so no autosave sends them
// again as they are, but stay here and in their fields (put back there when the page is shown again),
// so nothing typed is lost; a refused value the nurse changes is queued again.
function ownDraft(key) {
  try {
    const entry = JSON.parse(localStorage.getItem(key) || "null");
    return entry && entry.owner === body().dataset.draftOwner && entry.fields ? {refused: {}, ...entry} : null;
  } catch (_) { return null; }
}
function storeDraft(key, entry) {
  if (Object.keys(entry.fields).length || Object.keys(entry.refused).length) localStorage.setItem(key, JSON.stringify(entry));
  else localStorage.removeItem(key);
}
// The answers of the draft route that refuse what was sent, or where: 422 a text over the draft's limit
// (edge.patients.merge_draft, naming the field), 413 a body over the upload limit, 409 the visit closed.
// Any other answer (a locked or ended session's 401 or redirect, a 403, a 5xx) keeps the draft waiting.
const DRAFT_REFUSALS = [409, 413, 422];
function showRefusal(status) {
  const section = document.querySelector("[data-visit]");
  showOffline(status === 409 ? section.dataset.draftClosed : section.dataset.draftRefused);
}
// Pages without data-draft-owner (the printable letter, an error page outside the tablet's routes)
// say nothing about whose session this is: they leave the drafts alone.
function forgetDrafts({others}) {
  if (!("draftOwner" in body().dataset)) return;
  const keys = [];
  for (let i = 0; i < localStorage.length; i++) if (localStorage.key(i).startsWith(DRAFT_PREFIX)) keys.push(localStorage.key(i));
  if (others && body().dataset.draftOwner) keys.forEach(adoptDraft);
  keys.forEach((key) => { if (!others || !body().dataset.draftOwner || !ownDraft(key)) localStorage.removeItem(key); });
}
// A draft queued by a session the page names in data-draft-adopt (the same nurse's, ended by her
// idle lock) is re-tagged as this session's.
function adoptDraft(key) {
  const adoptable = (body().dataset.draftAdopt || "").split(" ").filter(Boolean);
  try {
    const queued = JSON.parse(localStorage.getItem(key) || "null");
    if (queued && adoptable.includes(queued.owner)) {
      localStorage.setItem(key, JSON.stringify({...queued, owner: body().dataset.draftOwner}));
    }
  } catch (_) { /* unreadable: removed below as anyone else's */ }
}
// The server answered `sent`: each value still queued as sent leaves the queue, into `refused` when it
// was refused (a value typed since stays queued: it goes next).
function settleDraft(key, sent, refusal) {
  const entry = ownDraft(key);
  if (!entry) return null;
  Object.entries(sent).forEach(([name, value]) => {
    if (entry.fields[name] !== value) return;
    delete entry.fields[name];
    if (refusal && refusal.names.includes(name)) { entry.refused[name] = value; entry.refusal = refusal.status; }
  });
  storeDraft(key, entry);
  return entry;
}
function flushDrafts() {
  const key = draftKey();
  const entry = key && ownDraft(key);
  if (!entry) return;
  if (!Object.keys(entry.fields).length) {  // nothing to send: a refusal still standing is still said
    if (Object.keys(entry.refused).length) { body().dataset.draftSaved = "refused"; showRefusal(entry.refusal); }
    return;
  }
  const sent = {...entry.fields};
  const visit = document.querySelector("[data-visit]").dataset.visit;
  // No redirect followed: a session that ended or locked meanwhile must not read as "saved".
  fetch(`/visits/${visit}/draft`, {
    method: "POST", credentials: "same-origin", redirect: "manual",
    headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken(), "X-Requested-With": "fetch"},
    body: JSON.stringify({draft: sent}),
  }).then((response) => {
    if (response.ok) {
      const left = settleDraft(key, sent, null);
      if (left && Object.keys(left.refused).length) {  // the rest saved; a refusal still standing is still said
        body().dataset.draftSaved = "refused"; showRefusal(left.refusal); return;
      }
      body().dataset.draftSaved = "yes"; hideOffline(); return;
    }
    if (!DRAFT_REFUSALS.includes(response.status)) { body().dataset.draftSaved = "no"; return; }
    // Refused: said, not silent. The field the server names (merge_draft names the first over the
    // limit), else every value sent; the others were not saved either, and go again without it.
    return response.json().catch(() => ({})).then((answer) => {
      const named = (answer.error?.fields || []).map((item) => item.field).filter((name) => name in sent);
      const left = settleDraft(key, sent, {names: named.length ? named : Object.keys(sent), status: response.status});
      body().dataset.draftSaved = "refused";
      showRefusal(response.status);
      if (left && Object.keys(left.fields).length) flushDrafts();
    });
  }, () => { body().dataset.draftSaved = "queued"; showOffline(); });
}
function setupDrafts() {
  forgetDrafts({others: true});
  const fields = document.querySelectorAll("[data-draft]");
  const key = draftKey();
  const owner = body().dataset.draftOwner;
  if (!key || !fields.length || !owner) return;
  // What this tablet still holds is shown again where it was typed: a value waiting to be sent (typed
  // offline, or before a page load the save did not reach) is newer than the server's value the page
  // was drawn with, and goes below; a refused one stays as it was (flushDrafts below says the refusal).
  const kept = ownDraft(key);
  if (kept) {
    fields.forEach((field) => {
      const name = field.dataset.draft;
      if (name in kept.fields) field.value = kept.fields[name];
      else if (name in kept.refused) field.value = kept.refused[name];
    });
  }
  let timer = null;
  const queue = () => {
    const entry = ownDraft(key) || {owner, fields: {}, refused: {}};
    fields.forEach((field) => {
      const name = field.dataset.draft;
      if (entry.refused[name] === field.value) return;  // refused as it stands: not sent again until changed
      delete entry.refused[name];
      entry.fields[name] = field.value;
    });
    storeDraft(key, entry);
    flushDrafts();
  };
  fields.forEach((field) => field.addEventListener("input", () => {
    body().dataset.draftSaved = "pending";
    clearTimeout(timer); timer = setTimeout(queue, 600);
  }));
  flushDrafts();
}

// Chest map: tapping a site selects it; while a take runs the site cannot change.
function setupChest() {
  const select = document.getElementById("chest-site");
  if (!select) return;
  const sites = document.querySelectorAll(".chest .site");
  const sync = () => {
    sites.forEach((g) => {
      const chosen = g.dataset.site === select.value;
      g.classList.toggle("selected", chosen); g.setAttribute("aria-pressed", String(chosen));
    });
    document.querySelectorAll("[data-follows=chest-site]").forEach((input) => { input.value = select.value; });
  };
  sites.forEach((g) => {
    const choose = () => {
      if (body().dataset.recording === "yes") return;
      select.value = g.dataset.site; sync();
    };
    g.addEventListener("click", choose);
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(); } });
  });
  select.addEventListener("change", sync);
  sync();
}

function sendTake(blob) {
  const section = document.querySelector("[data-visit]");
  const progress = document.getElementById("upload-progress");
  const site = document.getElementById("chest-site").value;
  const form = new FormData();
  form.append("chest_site", site);
  form.append("chest_piece", document.getElementById("chest-piece").value);  // the form's choice, as for a file
  const stethoscope = document.getElementById("stethoscope");  // shown when the clinic names its stethoscopes
  if (stethoscope) form.append("stethoscope", stethoscope.value);
  form.append("source", "microphone");
  form.append("file", blob, "microphone.wav");
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/visits/${section.dataset.visit}/recordings`);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    xhr.setRequestHeader("X-Requested-With", "fetch");
    progress.hidden = false;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = 100 * e.loaded / e.total; };
    xhr.onload = () => {
      if (xhr.status === 201 || xhr.status === 200) resolve(JSON.parse(xhr.responseText).id);  // 200: already stored
      else { try { reject(JSON.parse(xhr.responseText).error.message); } catch (_) { reject(body().dataset.networkError); } }
    };
    xhr.onerror = () => reject(body().dataset.networkError);
    xhr.send(form);
  }).then((id) => {
    window.location.assign(`/visits/${section.dataset.visit}?take=${id}#take-${id}`);
  }, (message) => {
    progress.hidden = true;
    const error = document.getElementById("mic-error");
    error.textContent = message; error.hidden = false;
  });
}

// 16-bit PCM WAV from Float32 samples.
function encodeWav(samples, rate) {
  const buffer = new ArrayBuffer(44 + samples.length * 2);
  const view = new DataView(buffer);
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF"); view.setUint32(4, 36 + samples.length * 2, true); text(8, "WAVE"); text(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); text(36, "data"); view.setUint32(40, samples.length * 2, true);
  samples.forEach((s, i) => view.setInt16(44 + i * 2, Math.max(-1, Math.min(1, s)) * 0x7fff, true));
  return new Blob([view], {type: "audio/wav"});
}

// Microphone or line-in take through Web Audio: a countdown, a level meter, the site locked,
// then the take is sent and its quality verdict shown at once (the page reloads on it).
function setupRecorder() {
  const recorder = document.getElementById("recorder");
  if (!recorder) return;
  recorder.hidden = false;
  const button = document.getElementById("record-button");
  const status = document.getElementById("record-status");
  const meter = document.getElementById("level-meter");
  const error = document.getElementById("mic-error");
  const select = document.getElementById("chest-site");
  const label = button.textContent;
  const total = Number(recorder.dataset.seconds);
  let stopRecording = null;
  button.addEventListener("click", async () => {
    if (stopRecording) { stopRecording(); return; }
    error.hidden = true;
    if (!navigator.mediaDevices?.getUserMedia) { error.textContent = recorder.dataset.micMissing; error.hidden = false; return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
    } catch (exc) {
      error.textContent = exc && exc.name === "NotFoundError" ? recorder.dataset.micMissing : recorder.dataset.micDenied;
      error.hidden = false; body().dataset.micError = exc ? exc.name : "error";
      return;
    }
    const context = new AudioContext();
    const source = context.createMediaStreamSource(stream);
    const processor = context.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    processor.onaudioprocess = (e) => {
      const data = e.inputBuffer.getChannelData(0);
      chunks.push(new Float32Array(data));
      let peak = 0; for (let i = 0; i < data.length; i++) peak = Math.max(peak, Math.abs(data[i]));
      meter.value = Math.min(1, peak * 2);
    };
    source.connect(processor); processor.connect(context.destination);
    button.textContent = recorder.dataset.stop;
    select.disabled = true;
    body().dataset.recording = "yes";
    const started = Date.now();
    const tick = () => {
      const left = Math.max(0, Math.ceil(total - (Date.now() - started) / 1000));
      status.textContent = `${recorder.dataset.recording} ${left} ${recorder.dataset.secondsLeft}`;
    };
    tick();
    const ticker = setInterval(tick, 250);
    const timer = setTimeout(() => stopRecording(), total * 1000);
    stopRecording = () => {
      clearTimeout(timer); clearInterval(ticker); stopRecording = null;
      processor.disconnect(); source.disconnect(); stream.getTracks().forEach((t) => t.stop());
      const length = chunks.reduce((n, c) => n + c.length, 0);
      const samples = new Float32Array(length);
      let offset = 0; chunks.forEach((c) => { samples.set(c, offset); offset += c.length; });
      const rate = context.sampleRate; context.close();
      button.textContent = label; button.disabled = true; meter.value = 0;
      status.textContent = recorder.dataset.uploading;
      select.disabled = false;  // a disabled select is not sent; the site was fixed when the take began
      body().dataset.recording = "no";
      sendTake(encodeWav(samples, rate)).finally(() => { button.disabled = false; });
    };
  });
}

// Board captures run as jobs on the server: the patient prompt, the job's progress, and Cancel
// (the board stops, nothing is kept). Leaving the page cancels the capture too; if even that
// message is lost, the server cancels a job nobody polls (capture_orphan_seconds).
function runCapture(form, button) {
  const panel = form.querySelector(".capture-progress");
  const bar = panel.querySelector("progress");
  const cancel = panel.querySelector(".capture-cancel");
  const message = form.querySelector(".capture-message");
  const headers = {"X-Requested-With": "fetch", "X-CSRF-Token": csrfToken()};
  let timer = null, job = null;
  const leave = () => { if (job) navigator.sendBeacon(job.cancel, new URLSearchParams({csrf_token: csrfToken()})); };
  const finish = (text) => {
    clearInterval(timer); job = null;
    window.removeEventListener("pagehide", leave);
    panel.hidden = true; cancel.hidden = true; cancel.disabled = false;
    body().dataset.recording = "no";
    button.disabled = false; button.textContent = button.dataset.label;
    if (text) { message.textContent = text; message.hidden = false; }
  };
  const show = (state) => {
    bar.value = Number(bar.max) * (state.progress || 0);
    if (state.state === "completed") {
      const done = job && job.done;
      job = null;
      if (done) window.location.assign(done);  // the stored take, with its quality verdict
    }
    else if (state.state !== "running") finish(state.message);
  };
  message.hidden = true;
  panel.hidden = false; bar.value = 0;
  body().dataset.recording = "yes";  // no idle lock during a capture
  button.disabled = true; button.textContent = button.dataset.working;
  fetch(form.action, {method: "POST", body: new FormData(form), headers, credentials: "same-origin"})
    .then((response) => response.json().then((answer) => {
      if (response.status !== 202) { finish(answer.error?.message || body().dataset.networkError); return; }
      job = answer;
      window.addEventListener("pagehide", leave);
      cancel.hidden = false;
      cancel.onclick = () => {
        cancel.disabled = true;
        fetch(answer.cancel, {method: "POST", headers, credentials: "same-origin"})
          .then((reply) => reply.json()).then(show).catch(() => finish(body().dataset.networkError));
      };
      timer = setInterval(() => {
        fetch(answer.job, {headers, credentials: "same-origin", cache: "no-store"}).then((reply) => {
          if (reply.status === 404) { finish(form.dataset.lost); return; }  // e.g. the server restarted
          return reply.json().then((state) => { if (job) show(state); });
        }, () => {});  // a dropped poll: the next one tries again
      }, 1000);
    })).catch(() => finish(body().dataset.networkError));  // no answer, or not the JSON this route sends
}

// What is typed and not saved goes with the lock itself (one request: the lock never waits for
// a save, and no save can arrive after the session is locked). Visit forms go to the visit's
// draft: the [data-draft] fields by their key, a form[data-lock-draft] by that prefix and the
// field's name; the patient form (form[data-lock-keep]) is kept with the session. Only changed
// forms are sent, and a patient form still showing values kept at the last lock.
function changedField(field) {
  if (field.type === "checkbox" || field.type === "radio") return field.checked !== field.defaultChecked;
  if (field.tagName === "SELECT") return [...field.options].some((o) => o.selected !== o.defaultSelected);
  return field.value !== field.defaultValue;
}
const typedFields = (form) => [...form.elements].filter((field) =>
  field.name && field.name !== "csrf_token" && !["file", "submit", "button"].includes(field.type));
const changedForm = (form) => typedFields(form).some((field) => field.type !== "hidden" && changedField(field));
function typedBeforeLock() {
  const typed = {};
  const section = document.querySelector("[data-visit]");
  if (section) {
    const fields = {};
    // A value the server refused as it stands is not sent with the lock (it would lose the lock's other
    // values with it): the tablet keeps it and puts it back in its field (setupDrafts).
    const refused = ownDraft(draftKey())?.refused || {};
    document.querySelectorAll("[data-draft]").forEach((field) => {
      if (changedField(field) && refused[field.dataset.draft] !== field.value) fields[field.dataset.draft] = field.value;
    });
    document.querySelectorAll("form[data-lock-draft]").forEach((form) => {
      if (!changedForm(form)) return;
      typedFields(form).forEach((field) => {  // an unticked box is sent as "": the draft forgets a tick
        if (field.type !== "radio" || field.checked) fields[form.dataset.lockDraft + field.name] = field.type === "checkbox" && !field.checked ? "" : field.value;
      });
    });
    if (Object.keys(fields).length) typed.visit = {id: section.dataset.visit, fields};
  }
  const patientForm = document.querySelector("form[data-lock-keep=patient]");
  if (patientForm && (patientForm.dataset.unsaved === "yes" || changedForm(patientForm))) {
    const fields = {};
    new FormData(patientForm).forEach((value, name) => { if (name !== "csrf_token") (fields[name] ||= []).push(value); });
    typed.patient_form = {path: window.location.pathname, fields};
  }
  return Object.keys(typed).length ? JSON.stringify(typed) : "";
}
// Never a body the server would refuse (the lock must go through): over its limit, nothing is sent.
function fillTyped(form) {
  const field = form.elements.typed;
  try {
    const typed = typedBeforeLock();
    field.value = typed.length <= Number(field.dataset.max || 0) ? typed : "";
  } catch (_) { field.value = ""; }  // the lock matters more than the typed values
}

// Shared tablet: after the idle time the page locks. The server locks the session and shows
// the lock screen (the nurse's PIN reopens this page), or, for a nurse without a PIN, ends it
// (logging in again returns here); either way what was typed and not saved comes back with the
// page. Never during a take or a board capture.
function setupIdleLock() {
  const seconds = Number(body().dataset.idleSeconds || 0);
  const form = document.getElementById("lock-form");
  if (form) form.addEventListener("submit", () => fillTyped(form));  // "Lock now"
  if (!seconds || !form) return;
  let last = Date.now();
  ["pointerdown", "keydown", "input", "scroll"].forEach((name) =>
    document.addEventListener(name, () => { last = Date.now(); }, {passive: true}));
  // Once: the lock's navigation may take a while, and a second submit would cancel the first.
  const timer = setInterval(() => {
    if (body().dataset.recording === "yes") { last = Date.now(); return; }
    if (Date.now() - last >= seconds * 1000) {
      clearInterval(timer);
      fillTyped(form); form.dataset.reachable = "yes"; form.submit();
    }
  }, 1000);
}

// Errors: the summary (or first invalid field) gets the focus, so it is never out of view
// (after load: scrolling to the URL's #fragment would otherwise take the focus away again).
window.addEventListener("load", () => setTimeout(focusFirstError, 0));
function focusFirstError() {
  const target = document.querySelector("#lab-error-summary, #error-summary, #pin-error-summary, [aria-invalid=true]");
  if (!target) return;
  target.scrollIntoView({block: "center"});
  target.focus({preventScroll: true});
}

function setupPrint() {
  document.querySelectorAll("[data-print]").forEach((button) => button.addEventListener("click", () => window.print()));
}

// Radix-2 FFT magnitude of one frame (for the spectrogram).
function fftMagnitude(frame) {
  const n = frame.length, re = Float64Array.from(frame), im = new Float64Array(n);
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1; for (; j & bit; bit >>= 1) j ^= bit; j ^= bit;
    if (i < j) { [re[i], re[j]] = [re[j], re[i]]; }
  }
  for (let len = 2; len <= n; len <<= 1) {
    const angle = -2 * Math.PI / len;
    for (let i = 0; i < n; i += len) for (let k = 0; k < len / 2; k++) {
      const wr = Math.cos(angle * k), wi = Math.sin(angle * k);
      const xr = re[i + k + len / 2] * wr - im[i + k + len / 2] * wi, xi = re[i + k + len / 2] * wi + im[i + k + len / 2] * wr;
      re[i + k + len / 2] = re[i + k] - xr; im[i + k + len / 2] = im[i + k] - xi; re[i + k] += xr; im[i + k] += xi;
    }
  }
  return Array.from({length: n / 2}, (_, k) => Math.hypot(re[k], im[k]));
}

// Waveform and spectrogram of each stored recording, crackle windows shaded.
async function drawRecording(item) {
  const response = await fetch(`/recordings/${item.dataset.recordingId}/audio`, {credentials: "same-origin"});
  if (!response.ok) return;
  const context = new OfflineAudioContext(1, 1, 8000);
  const audio = await context.decodeAudioData(await response.arrayBuffer());
  const samples = audio.getChannelData(0), duration = audio.duration;
  const windows = JSON.parse(item.dataset.windows || "[]");
  const wave = item.querySelector("canvas.waveform"), spec = item.querySelector("canvas.spectrogram");
  // The server says which windows to shade (edge.auscultation.windows_with_crackles): a window's
  // crackle_probability is the network's raw score, while the take is judged on the calibrated scale
  // against its own model's threshold, so no fixed number here could agree with the take's verdict.
  const shaded = windows.filter((w) => w.crackles === true);
  const shade = (ctx, canvas) => shaded.forEach((w) => {
    ctx.fillStyle = "rgba(255, 80, 60, 0.35)";
    ctx.fillRect(canvas.width * w.start_s / duration, 0, canvas.width * (w.end_s - w.start_s) / duration, canvas.height);
  });
  let ctx = wave.getContext("2d");
  ctx.strokeStyle = "#8fd3ff"; ctx.beginPath();
  const step = Math.max(1, Math.floor(samples.length / wave.width));
  for (let x = 0; x < wave.width; x++) {
    let peak = 0; for (let i = x * step; i < (x + 1) * step && i < samples.length; i++) peak = Math.max(peak, Math.abs(samples[i]));
    ctx.moveTo(x, wave.height / 2 - peak * wave.height / 2); ctx.lineTo(x, wave.height / 2 + peak * wave.height / 2);
  }
  ctx.stroke(); shade(ctx, wave);
  ctx = spec.getContext("2d");
  const size = 256, hop = Math.max(1, Math.floor((samples.length - size) / spec.width));
  for (let x = 0; x < spec.width; x++) {
    const start = x * hop; if (start + size > samples.length) break;
    const magnitude = fftMagnitude(samples.subarray(start, start + size).map((s, i) => s * (0.5 - 0.5 * Math.cos(2 * Math.PI * i / size))));
    for (let y = 0; y < spec.height; y++) {
      const level = Math.log10(1e-6 + magnitude[Math.floor((spec.height - 1 - y) * magnitude.length / spec.height)]);
      const v = Math.max(0, Math.min(255, 255 + 60 * level));
      ctx.fillStyle = `rgb(${v},${v * 0.7},${255 - v})`; ctx.fillRect(x, y, 1, 1);
    }
  }
  shade(ctx, spec);
  item.dataset.shadedWindows = String(shaded.length);  // what the map shows, for a check that reads no pixels
  item.dataset.drawn = "yes";
}

document.addEventListener("DOMContentLoaded", () => {
  setupDrafts(); setupChest(); setupRecorder(); setupIdleLock(); setupPrint();
  if (!navigator.onLine) showOffline();
  document.querySelectorAll(".recording[data-recording-id]").forEach((item) => drawRecording(item).catch(() => {}));
});
