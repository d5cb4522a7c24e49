// Keyboard shortcuts of the review page: j / ArrowRight next, k / ArrowLeft previous,
// d "not a duplicate". Elements opt in with data-shortcut; typing in a field is never caught.
(function () {
  "use strict";

  var KEYS = { j: "next", ArrowRight: "next", k: "previous", ArrowLeft: "previous", d: "dismiss" };

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.target.closest("input, textarea, select, [contenteditable]")) {
      return;
    }
    var action = KEYS[event.key];
    var element = action && document.querySelector('[data-shortcut="' + action + '"]');
    if (!element) {
      return;
    }
    event.preventDefault();
    if (element.matches("a")) {
      element.click();
      return;
    }
    var details = element.closest("details");
    if (details) {
      details.open = true;
    }
    element.focus();
  });
})();
