// Linli's few lines of page JavaScript (no inline script: the CSP forbids it).
// - The home page's popup deal: shown once a day, the dismissal remembered in localStorage.
// - The login form's resend countdown; the checkout's quantity and total.
// - "Use my location": asks the browser (with the shopper's consent), then submits the
//   location form with the position; refused or unavailable, the centre stays.
// - The category chips: the current one in view, a cue where more lie.
(function () {
  "use strict";

  var POPUP_KEY = "linli.popup.dismissed";

  function remembered() {
    try { return window.localStorage.getItem(POPUP_KEY); } catch (e) { return null; }
  }

  function remember(value) {
    try { window.localStorage.setItem(POPUP_KEY, value); } catch (e) { /* private mode */ }
  }

  function setUpPopup() {
    var popup = document.querySelector("[data-popup]");
    if (!popup) return;
    var token = popup.getAttribute("data-popup-day") + ":" + popup.getAttribute("data-popup");
    if (remembered() === token) return;
    popup.hidden = false;
    var dialog = popup.querySelector("[role=dialog]");
    dialog.setAttribute("tabindex", "-1");
    dialog.focus();
    popup.querySelectorAll("[data-popup-close]").forEach(function (el) {
      el.addEventListener("click", function () {
        remember(token);
        popup.hidden = true;
      });
    });
    document.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !popup.hidden) {
        remember(token);
        popup.hidden = true;
      }
    });
  }

  function setUpLocate() {
    var button = document.querySelector("[data-locate-button]");
    if (!button || !navigator.geolocation) return;
    var form = button.form;
    var status = form.querySelector("[data-locate-status]");
    button.addEventListener("click", function (event) {
      event.preventDefault();
      status.textContent = button.getAttribute("data-locating");
      button.disabled = true;
      navigator.geolocation.getCurrentPosition(
        function (position) {
          form.elements.lat.value = position.coords.latitude.toFixed(5);
          form.elements.lng.value = position.coords.longitude.toFixed(5);
          var use = document.createElement("input");
          use.type = "hidden";
          use.name = "use";
          use.value = "device";
          form.appendChild(use);
          form.submit();
        },
        function () {
          status.textContent = button.getAttribute("data-denied");
          button.disabled = false;
        },
        { enableHighAccuracy: false, timeout: 10000, maximumAge: 600000 }
      );
    });
  }

  // The login form's "send the code" button waits out the resend interval (or the rate
  // limit's Retry-After), counting down on its label; the server enforces the limit anyway.
  function setUpCountdown() {
    document.querySelectorAll("[data-countdown]").forEach(function (button) {
      var left = parseInt(button.getAttribute("data-countdown"), 10) || 0;
      if (left <= 0) return;
      var label = button.textContent;
      var template = button.getAttribute("data-countdown-text");
      button.disabled = true;
      function tick() {
        if (left <= 0) {
          button.disabled = false;
          button.textContent = label;
          return;
        }
        button.textContent = template.replace("{seconds}", String(left));
        left -= 1;
        window.setTimeout(tick, 1000);
      }
      tick();
    });
  }

  // The checkout's quantity: the − and + buttons step the number field within its range,
  // and the total follows (integer fen, like the server). Without JavaScript the field alone.
  function setUpCheckout() {
    var form = document.querySelector("[data-checkout]");
    if (!form) return;
    var field = form.elements.quantity;
    var unit = parseInt(form.getAttribute("data-unit-price"), 10);
    var totals = document.querySelectorAll("[data-total]");
    function show() {
      var n = Math.max(1, Math.min(parseInt(field.max, 10), parseInt(field.value, 10) || 1));
      var fen = unit * n;
      var text = totals[0].getAttribute("data-currency") + Math.floor(fen / 100) + "." +
        String(fen % 100).padStart(2, "0");
      totals.forEach(function (el) { el.textContent = text; });
    }
    form.querySelectorAll("[data-step]").forEach(function (button) {
      button.addEventListener("click", function () {
        var n = (parseInt(field.value, 10) || 1) + parseInt(button.getAttribute("data-step"), 10);
        field.value = String(Math.max(1, Math.min(parseInt(field.max, 10), n)));
        show();
      });
    });
    field.addEventListener("input", show);
  }

  // A sideways strip of chips (the categories): the current chip scrolled into view, and the
  // sides where more chips lie marked (data-more-start, data-more-end) so a shadow shows
  // there is more. Without JavaScript the strip still scrolls.
  function setUpStrips() {
    document.querySelectorAll(".chips").forEach(function (strip) {
      var current = strip.querySelector("[aria-current]");
      if (current) {
        var s = strip.getBoundingClientRect(), c = current.getBoundingClientRect();
        if (c.left < s.left || c.right > s.right) {
          strip.scrollLeft += c.left + c.width / 2 - (s.left + s.width / 2);
        }
      }
      function mark() {
        var left = strip.scrollLeft, room = strip.scrollWidth - strip.clientWidth;
        strip.toggleAttribute("data-more-start", left > 1);
        strip.toggleAttribute("data-more-end", left < room - 1);
      }
      mark();
      strip.addEventListener("scroll", mark, { passive: true });
      window.addEventListener("resize", mark);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    setUpPopup();
    setUpLocate();
    setUpCountdown();
    setUpCheckout();
    setUpStrips();
  });
})();
