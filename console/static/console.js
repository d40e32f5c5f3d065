// ohi console: refreshes the progress of running import jobs (elements
// with data-progress and without data-terminal) from the job's progress
// endpoint, once a second, until the job ends.
"use strict";
(function () {
  function watch(el) {
    var url = el.getAttribute("data-progress");
    function field(name) { return el.querySelector('[data-field="' + name + '"]'); }
    function tick() {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error(r.status); return r.json(); })
        .then(function (p) {
          var s = field("status"), bar = field("bar"), count = field("count"), failed = field("failed"),
              imported = field("imported"), ended = field("ended");
          if (s) { s.textContent = p.status; s.className = "status status-" + p.status; }
          if (bar) { bar.max = p.files; bar.value = p.done; }
          if (count) count.textContent = p.done + " / " + p.files;
          if (failed) failed.textContent = p.failed;
          if (imported) imported.textContent = p.imported;
          if (ended && p.endedAt) ended.textContent = p.endedAt;
          if (p.terminal) {
            el.setAttribute("data-terminal", "");
            if (el.id === "job") location.reload(); // show the failures and the link to the image sets
            return;
          }
          setTimeout(tick, 1000);
        })
        .catch(function () { setTimeout(tick, 5000); });
    }
    setTimeout(tick, 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress]:not([data-terminal])").forEach(watch);
  });
})();
