// No inline script anywhere (the Content-Security-Policy forbids it): behaviour hangs on data-* attributes.
document.addEventListener("DOMContentLoaded", () => {
  // Pages meant for scanning put the cursor in the scan box, so a keyboard-wedge reader just works.
  const scan = document.querySelector("[data-scan-box]");
  if (scan && document.body.querySelector("[data-focus-scan]")) scan.focus();

  // A label scanned as a full URL opens it directly; anything else goes to the scan resolver.
  if (scan) {
    scan.form.addEventListener("submit", (event) => {
      const value = scan.value.trim();
      const match = value.match(/\/s\/([^/?#\s]+)$/);
      if (match) { event.preventDefault(); window.location.href = "/s/" + encodeURIComponent(match[1]); }
    });
  }

  // Destructive buttons ask once more.
  document.querySelectorAll("[data-confirm]").forEach((el) => {
    el.addEventListener("click", (event) => { if (!window.confirm(el.dataset.confirm)) event.preventDefault(); });
  });

  // "Select all" boxes in ledgers.
  document.querySelectorAll("[data-check-all]").forEach((box) => {
    box.addEventListener("change", () => {
      document.querySelectorAll(box.dataset.checkAll).forEach((c) => { c.checked = box.checked; });
    });
  });
});
