// Progressive enhancement of the server-rendered pages. Everything works without this file
// except microphone recording; nothing here talks to any host but this server.
"use strict";

const csrfToken = () => document.querySelector('meta[name="csrf-token"]')?.content || "";

// Busy state on every submit: the nurse sees that something is happening.
document.addEventListener("submit", (event) => {
  const button = event.target.querySelector("button[data-working]");
  if (button) { button.disabled = true; button.textContent = button.dataset.working; }
});

// Drafts: visit fields marked data-draft are saved server-side as they are typed, so a
// reload or a dropped network loses nothing.
function setupDrafts() {
  const section = document.querySelector("[data-visit]");
  const fields = document.querySelectorAll("[data-draft]");
  if (!section || !fields.length) return;
  let timer = null;
  const save = () => {
    const draft = {};
    fields.forEach((field) => { draft[field.dataset.draft] = field.value; });
    fetch(`/api/v1/visits/${section.dataset.visit}`, {
      method: "PATCH", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": csrfToken()},
      body: JSON.stringify({draft}),
    }).then((response) => { document.body.dataset.draftSaved = response.ok ? "yes" : "no"; });
  };
  fields.forEach((field) => field.addEventListener("input", () => {
    document.body.dataset.draftSaved = "pending";
    clearTimeout(timer); timer = setTimeout(save, 600);
  }));
}

// Chest diagram: tapping a site selects it in the form.
function setupChest() {
  const select = document.getElementById("chest-site");
  if (!select) return;
  const mark = () => document.querySelectorAll(".chest .site").forEach((g) =>
    g.classList.toggle("selected", g.dataset.site === select.value));
  document.querySelectorAll(".chest .site").forEach((g) => {
    const choose = () => { select.value = g.dataset.site; mark(); };
    g.addEventListener("click", choose);
    g.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") choose(); });
  });
  const followers = document.querySelectorAll("[data-follows=chest-site]");
  const sync = () => { mark(); followers.forEach((input) => { input.value = select.value; }); };
  select.addEventListener("change", sync);
  document.querySelectorAll(".chest .site").forEach((g) => g.addEventListener("click", sync));
  sync();
}

// Upload with a progress bar (XHR reports upload progress; fetch does not).
function uploadRecording(blob, name) {
  const section = document.querySelector("[data-visit]");
  const progress = document.getElementById("upload-progress");
  const form = new FormData();
  form.append("chest_site", document.getElementById("chest-site").value);
  form.append("file", blob, name);
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", `/api/v1/visits/${section.dataset.visit}/recordings`);
    xhr.setRequestHeader("X-CSRF-Token", csrfToken());
    progress.hidden = false;
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) progress.value = 100 * e.loaded / e.total; };
    xhr.onload = () => (xhr.status === 201 ? resolve() : reject(JSON.parse(xhr.responseText).error.message));
    xhr.onerror = () => reject("network error");
    xhr.send(form);
  }).then(() => window.location.reload(), (message) => {
    progress.hidden = true;
    const error = document.createElement("p");
    error.className = "field-error"; error.setAttribute("role", "alert"); error.textContent = message;
    document.getElementById("recording-form").append(error);
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

// Microphone or line-in capture through Web Audio: 20 s (or until Stop) at the device rate.
function setupRecorder() {
  const button = document.getElementById("record-button");
  if (!button || !navigator.mediaDevices?.getUserMedia) return;
  button.hidden = false;
  const label = button.textContent;
  let stopRecording = null;
  button.addEventListener("click", async () => {
    if (stopRecording) { stopRecording(); return; }
    const stream = await navigator.mediaDevices.getUserMedia({audio: {echoCancellation: false, noiseSuppression: false, autoGainControl: false}});
    const context = new AudioContext();
    const source = context.createMediaStreamSource(stream);
    const processor = context.createScriptProcessor(4096, 1, 1);
    const chunks = [];
    processor.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
    source.connect(processor); processor.connect(context.destination);
    button.textContent = button.dataset.stop;
    document.body.dataset.recording = "yes";
    const timer = setTimeout(() => stopRecording(), 20000);
    stopRecording = () => {
      clearTimeout(timer); stopRecording = null;
      processor.disconnect(); source.disconnect(); stream.getTracks().forEach((t) => t.stop());
      const length = chunks.reduce((n, c) => n + c.length, 0);
      const samples = new Float32Array(length);
      let offset = 0; chunks.forEach((c) => { samples.set(c, offset); offset += c.length; });
      const rate = context.sampleRate; context.close();
      button.textContent = label; document.body.dataset.recording = "no";
      uploadRecording(encodeWav(samples, rate), "microphone.wav");
    };
  });
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
  const response = await fetch(`/api/v1/recordings/${item.dataset.recordingId}/audio`, {credentials: "same-origin"});
  if (!response.ok) return;
  const context = new OfflineAudioContext(1, 1, 8000);
  const audio = await context.decodeAudioData(await response.arrayBuffer());
  const samples = audio.getChannelData(0), duration = audio.duration;
  const windows = JSON.parse(item.dataset.windows || "[]");
  const wave = item.querySelector("canvas.waveform"), spec = item.querySelector("canvas.spectrogram");
  const shade = (ctx, canvas) => windows.filter((w) => w.crackle_probability >= 0.5).forEach((w) => {
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
  item.dataset.drawn = "yes";
}

document.addEventListener("DOMContentLoaded", () => {
  setupDrafts(); setupChest(); setupRecorder();
  document.querySelectorAll(".recording[data-recording-id]").forEach((item) => drawRecording(item).catch(() => {}));
});
