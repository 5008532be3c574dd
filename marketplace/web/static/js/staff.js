// The merchant board's drag and drop (templates/staff/bd/board.html): dropping a card on
// a column fills that card's move form with the column's stage and sends it, the same
// form post as choosing the stage and pressing the button. Only moves the stage rule
// allows are offered as drop targets; the server decides (and refuses with a sentence).
(function () {
  "use strict";
  var board = document.getElementById("board");
  if (!board) return;
  var dragged = null;

  function allowed(card, stage) {
    return (card.getAttribute("data-moves") || "").split(" ").indexOf(stage) !== -1;
  }

  board.addEventListener("dragstart", function (event) {
    var card = event.target.closest && event.target.closest(".board-card");
    if (!card) return;
    dragged = card;
    event.dataTransfer.effectAllowed = "move";
    event.dataTransfer.setData("text/plain", card.getAttribute("data-merchant"));
  });
  board.addEventListener("dragend", function () {
    dragged = null;
    board.querySelectorAll(".drop-target").forEach(function (column) {
      column.classList.remove("drop-target");
    });
  });
  board.addEventListener("dragover", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (!dragged || !column || !allowed(dragged, column.getAttribute("data-stage"))) return;
    event.preventDefault();
    column.classList.add("drop-target");
  });
  board.addEventListener("dragleave", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (column && !column.contains(event.relatedTarget)) column.classList.remove("drop-target");
  });
  board.addEventListener("drop", function (event) {
    var column = event.target.closest && event.target.closest(".board-column");
    if (!dragged || !column) return;
    var stage = column.getAttribute("data-stage");
    if (!allowed(dragged, stage)) return;
    event.preventDefault();
    var form = dragged.querySelector("form.board-move");
    form.querySelector("select[name=stage]").value = stage;
    form.requestSubmit();
  });
})();

// The deal editor's live rule check (templates/staff/deals/editor.html) must not be cut
// off by the save: once the form is submitted no further check starts (hx-disable), and a
// check still under way is let finish first, then the form goes.
document.addEventListener(
  "submit",
  function (event) {
    var form = event.target;
    if (!form.matches || !form.matches("form[data-live-check]")) return;
    form.setAttribute("hx-disable", "");
    if (!form.classList.contains("htmx-request")) return;
    event.preventDefault();
    form.addEventListener(
      "htmx:afterRequest",
      function () {
        form.submit();
      },
      { once: true }
    );
  },
  true
);
