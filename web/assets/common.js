// Shared by the console and the dashboards (served concatenated before each page's script).
"use strict";

const $ = (id) => document.getElementById(id);

/** Shows an EventSource's state in the header's status badge. */
function showLiveStatus(es, status) {
  es.addEventListener("open", () => {
    status.dataset.state = "live";
    status.textContent = "live";
  });
  es.addEventListener("error", () => {
    status.dataset.state = "down";
    status.textContent = "reconnecting…";
  });
}
