// The queue's bulk selection: "select all" and the count of selected rows, and the filter form
// kept in step with the address. Delegated from the document, so it keeps working after htmx
// swaps the results.
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

  // A column header or pager link swaps the results only: the filter form then follows the new
  // address (the sort above all), so that the next filter change keeps the order chosen.
  document.addEventListener("htmx:pushedIntoHistory", function () {
    var form = document.getElementById("queue-filters");
    if (!form) {
      return;
    }
    new URLSearchParams(window.location.search).forEach(function (value, name) {
      var field = form.elements.namedItem(name);
      if (field && !(field instanceof RadioNodeList) && field.value !== value) {
        field.value = value;
      }
    });
  });
})();
