// The giveaway's countdown: [data-deadline] holds the seconds left when the page was drawn
// (the server's clock); it ticks down once a second. No inline script: the CSP forbids it.
(function () {
  "use strict";

  function words(seconds) {
    var d = Math.floor(seconds / 86400);
    var h = Math.floor((seconds % 86400) / 3600);
    var m = Math.floor((seconds % 3600) / 60);
    var s = seconds % 60;
    function two(n) { return (n < 10 ? "0" : "") + n; }
    return (d ? d + " 天 " : "") + two(h) + ":" + two(m) + ":" + two(s);
  }

  function start(el) {
    var ends = Date.now() + (parseInt(el.getAttribute("data-deadline"), 10) || 0) * 1000;
    function tick() {
      var left = Math.max(0, Math.round((ends - Date.now()) / 1000));
      el.textContent = left ? words(left) : el.getAttribute("data-ended");
      if (left) window.setTimeout(tick, 1000);
    }
    tick();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-deadline]").forEach(start);
  });
})();
