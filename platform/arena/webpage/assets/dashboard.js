// arena leaderboard dashboard: re-query on a filter change. Every chart is inline SVG, drawn on the server.
"use strict";
(function () {
  const form = document.getElementById("filters");
  if (!form) {
    return; // the self-contained export has no filters to change
  }
  for (const select of form.querySelectorAll("select")) {
    select.addEventListener("change", function () {
      const params = new URLSearchParams();
      for (const field of form.querySelectorAll("select")) {
        if (field.value) {
          params.set(field.name, field.value);
        }
      }
      window.location.search = params.toString();
    });
  }
})();
