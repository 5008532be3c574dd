// Linli's few lines of page JavaScript (no inline script: the CSP forbids it).
// - The home page's popup deal: shown once a day, the dismissal remembered in localStorage.
// - "Use my location": asks the browser (with the shopper's consent), then submits the
//   location form with the position; refused or unavailable, the centre stays.
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

  document.addEventListener("DOMContentLoaded", function () {
    setUpPopup();
    setUpLocate();
  });
})();
