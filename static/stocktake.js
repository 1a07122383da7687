// The stocktake scan box: a keyboard-wedge reader types the label and Enter; each scan is posted
// in order and its outcome shown at once with colour, text (never colour alone) and a sound of its
// own pitch, made with the Web Audio API (no audio files).
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("[data-stocktake-scan]");
  if (!form) return;
  const input = form.querySelector("input[name=scan]");
  const where = form.querySelector("input[name=location]");
  const token = form.querySelector("input[name=csrf_token]").value;
  const box = document.getElementById("scan-outcome");
  const log = document.getElementById("scan-log");
  const soundOn = document.getElementById("stocktake-sound");

  // (frequency in Hz, length in seconds, repeats, wave) per outcome: rising for good news, low and
  // long for a forged label, so the scanner hears the outcome without looking.
  const TONES = {
    confirmed: [880, 0.12, 1, "sine"],
    found: [1175, 0.12, 2, "sine"],
    wrong_location: [660, 0.12, 2, "triangle"],
    duplicate: [520, 0.06, 1, "sine"],
    out_of_scope: [440, 0.25, 1, "triangle"],
    unknown: [330, 0.3, 2, "square"],
    forged: [200, 0.6, 1, "sawtooth"],
    error: [250, 0.3, 1, "square"],
  };
  let audio = null;

  function beep(outcome) {
    if (!soundOn || !soundOn.checked) return;
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return;
    audio = audio || new Context();
    const [frequency, length, repeats, wave] = TONES[outcome] || TONES.error;
    for (let i = 0; i < repeats; i += 1) {
      const start = audio.currentTime + i * (length + 0.06);
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = wave;
      osc.frequency.value = frequency;
      gain.gain.setValueAtTime(0.15, start);
      gain.gain.exponentialRampToValueAtTime(0.001, start + length);
      osc.connect(gain).connect(audio.destination);
      osc.start(start);
      osc.stop(start + length);
    }
  }

  function show(outcome, label, message, scanned) {
    box.hidden = false;
    box.className = "scan-outcome outcome-" + outcome;
    box.dataset.outcome = outcome;
    box.querySelector("[data-outcome-label]").textContent = label;
    box.querySelector("[data-outcome-message]").textContent = message;
    const entry = document.createElement("li");
    entry.className = "outcome-" + outcome;
    entry.textContent = label + "　" + scanned + "　" + message;
    log.prepend(entry);
    while (log.children.length > 50) log.lastChild.remove();
    beep(outcome);
  }

  function count(name, value) {
    const el = document.querySelector("[data-count=" + name + "]");
    if (el && value !== undefined) el.textContent = value;
  }

  // Scans go one after another: a reader is faster than the network, and order matters for
  // "already read".
  let queue = Promise.resolve();

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const scanned = input.value.trim();
    input.value = "";
    input.focus();
    if (!scanned) return;
    const body = new FormData();
    body.append("scan", scanned);
    body.append("csrf_token", token);
    if (where && where.value) body.append("location", where.value);
    queue = queue.then(() => fetch(form.action, {
      method: "POST", body, credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": token },
    }).then((response) => response.json().then((data) => {
      if (!response.ok) {
        const message = (data.error && data.error.message) || "読み取りを記録できませんでした。";
        show("error", "エラー", message, scanned);
        return;
      }
      show(data.outcome, data.outcome_label, data.message, data.code || data.scan);
      if (data.counts) {
        count("expected", data.counts.expected);
        count("confirmed", data.counts.confirmed);
        count("remaining", data.counts.remaining);
      }
    })).catch(() => show("error", "エラー", "通信できませんでした。もう一度読み取ってください。", scanned)));
  });
});
