// The SLA clocks of customer service's ticket dashboard (templates/staff/cs/_ticket_rows.html).
// The server gives each clock its service seconds left (data-seconds-left) when it drew the
// table (data-rendered-at, ms) and until when service hours run (data-running-until, ms;
// 0: they are off and the clocks stand still). This only counts down between the server's
// refreshes (htmx redraws the table every 30 s); it decides nothing.
(function () {
  "use strict";

  // units: the words for day, hour, minute, second (texts [staff_ops] units), "|"-separated
  function words(seconds, units) {
    var s = Math.abs(seconds);
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    if (h >= 24) { return Math.floor(h / 24) + " " + units[0] + " " + (h % 24) + " " + units[1]; }
    if (h) { return h + " " + units[1] + " " + m + " " + units[2]; }
    if (m) { return m + " " + units[2] + " " + r + " " + units[3]; }
    return r + " " + units[3];
  }

  function tick() {
    var boards = document.querySelectorAll(".ops-clocks[data-rendered-at]");
    var now = Date.now();
    boards.forEach(function (board) {
      var drawn = Number(board.getAttribute("data-rendered-at"));
      var until = Number(board.getAttribute("data-running-until"));
      var units = (board.getAttribute("data-units") || "d|h|min|s").split("|");
      if (!drawn || !until) { return; }
      var elapsed = Math.floor((Math.min(now, until) - drawn) / 1000);
      if (elapsed < 0) { elapsed = 0; }
      board.querySelectorAll(".ops-clock[data-seconds-left]").forEach(function (clock) {
        var left = Number(clock.getAttribute("data-seconds-left")) - elapsed;
        var late = left < 0;
        clock.textContent = (late ? clock.getAttribute("data-late-text") : clock.getAttribute("data-left-text")) + " " + words(left, units);
        clock.classList.toggle("ops-clock-late", late);
        var row = clock.closest("tr");
        if (row) { row.classList.toggle("ops-late", late); }
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    window.setInterval(tick, 1000);
  });
})();
