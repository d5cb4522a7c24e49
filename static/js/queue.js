// The queue's bulk selection: "select all" and the count of selected rows. Delegated from the
// document, so it keeps working after htmx swaps the results.
(function () {
  "use strict";

  function rows() {
    return Array.prototype.slice.call(
      document.querySelectorAll('input[name="candidate"][form="bulk-dismiss"]')
    );
  }

  function update() {
    var selected = rows().filter(function (box) { return box.checked; }).length;
    var count = document.getElementById("bulk-count");
    var button = document.getElementById("bulk-dismiss-button");
    if (count) {
      count.textContent = selected ? selected + " selected" : "";
    }
    if (button) {
      button.disabled = selected === 0;
    }
  }

  document.addEventListener("change", function (event) {
    if (event.target.id === "select-all") {
      rows().forEach(function (box) { box.checked = event.target.checked; });
    }
    if (event.target.id === "select-all" || event.target.name === "candidate") {
      update();
    }
  });
  document.addEventListener("DOMContentLoaded", update);
  document.addEventListener("htmx:afterSettle", update);
})();
