// Keyboard shortcuts of the review page: j / ArrowRight next, k / ArrowLeft previous, m merge,
// c claim, d "not a duplicate", ? the list of keys. Elements opt in with data-shortcut (a key
// whose element is missing does nothing: no merge button, no merge); typing in a field is never
// caught.
(function () {
  "use strict";

  var KEYS = {
    j: "next", ArrowRight: "next", k: "previous", ArrowLeft: "previous",
    m: "merge", c: "claim", d: "dismiss"
  };

  function toggleHelp() {
    var help = document.getElementById("shortcut-help");
    if (!help) {
      return;
    }
    if (help.open) {
      help.close();
    } else {
      help.showModal();
    }
  }

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) {
      return;
    }
    if (event.target.closest("input, textarea, select, [contenteditable]")) {
      return;
    }
    if (event.key === "?") {
      event.preventDefault();
      toggleHelp();
      return;
    }
    if (document.querySelector("dialog[open]")) {
      return;
    }
    var action = KEYS[event.key];
    var element = action && document.querySelector('[data-shortcut="' + action + '"]');
    if (!element || element.disabled) {
      return;
    }
    event.preventDefault();
    if (element.matches("a, button")) {
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
