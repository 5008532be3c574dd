// The distributors' pages: "copy" buttons put a link on the clipboard (WeChat's browser
// has navigator.clipboard only on secure pages; elsewhere the old select-and-copy works).
// No inline script: the CSP forbids it.
(function () {
  "use strict";

  function fallbackCopy(input) {
    input.focus();
    input.select();
    input.setSelectionRange(0, input.value.length);
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  function setUpCopy(button) {
    var id = button.getAttribute("data-copy");
    var input = document.getElementById(id);
    var status = document.querySelector('[data-copy-status="' + id + '"]');
    if (!input) return;
    function say(ok) {
      if (status) status.textContent = button.getAttribute(ok ? "data-copied" : "data-copy-failed");
    }
    button.addEventListener("click", function () {
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(
          function () { say(true); },
          function () { say(fallbackCopy(input)); }
        );
      } else {
        say(fallbackCopy(input));
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-copy]").forEach(setUpCopy);
  });
})();
