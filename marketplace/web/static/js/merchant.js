/* The merchant portal's counter (templates/merchant/redeem*.html). Plain JavaScript, no
   inline code (the CSP allows none):
   - the code field groups the 12 digits 4-4-4 and checks the Damm check digit before
     anything is sent, so a mistyped digit is caught at once (a code that fails the check
     is sent if the clerk asks again: codes issued before Damm, under Luhn, still redeem);
   - scanning: the camera through getUserMedia, decoded by the browser's BarcodeDetector
     where it has one, else by jsQR (static/vendor/jsqr, loaded on the first scan);
   - the confirmation is sent with fetch: a pending state at once, a word after 1.5 s, and
     after a timeout (or a lost connection) a retry that sends the same form, with the same
     idempotency key, so it reports the first result instead of "already used". */
(function () {
  "use strict";

  var DAMM = [
    [0, 3, 1, 7, 5, 9, 8, 6, 4, 2], [7, 0, 9, 2, 1, 5, 4, 8, 6, 3],
    [4, 2, 0, 6, 8, 7, 1, 3, 5, 9], [1, 7, 5, 0, 9, 8, 3, 4, 2, 6],
    [6, 1, 2, 3, 0, 4, 5, 9, 7, 8], [3, 6, 7, 4, 2, 0, 9, 5, 8, 1],
    [5, 8, 6, 9, 7, 2, 0, 1, 3, 4], [8, 9, 4, 5, 3, 6, 2, 0, 1, 7],
    [9, 4, 3, 8, 6, 1, 7, 2, 0, 5], [2, 5, 8, 1, 4, 3, 6, 7, 9, 0]
  ];

  function dammOk(digits) {
    var interim = 0;
    for (var i = 0; i < digits.length; i++) interim = DAMM[interim][digits.charCodeAt(i) - 48];
    return interim === 0;
  }

  function grouped(digits) {
    return digits.replace(/(\d{4})(?=\d)/g, "$1 ");
  }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, name) { return values[name]; });
  }

  // -- typing a code ------------------------------------------------------------------------

  function codeForm(form) {
    var input = form.querySelector("#code");
    var problem = form.querySelector("#code-problem");
    var insisted = null;

    function say(text) {
      problem.textContent = text;
      problem.hidden = !text;
      input.setAttribute("aria-invalid", text ? "true" : "false");
    }

    input.addEventListener("input", function () {
      var digits = input.value.replace(/\D/g, "").slice(0, 12);
      var formatted = grouped(digits);
      if (formatted !== input.value) input.value = formatted;
      if (!problem.hidden && digits.length < 12) say("");
    });

    form.addEventListener("submit", function (event) {
      var digits = input.value.replace(/\D/g, "");
      if (digits.length !== 12) {
        event.preventDefault();
        say(fill(input.dataset.msgShort, { missing: Math.max(0, 12 - digits.length) }));
        input.focus();
        return;
      }
      if (!dammOk(digits) && insisted !== digits) {
        event.preventDefault();
        insisted = digits;
        say(input.dataset.msgTypo);
        input.focus();
        return;
      }
      input.value = digits;
    });
    return { input: input, say: say };
  }

  // -- scanning -----------------------------------------------------------------------------

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function scanner(box, form, field) {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) return;
    box.hidden = false;
    var start = box.querySelector("#scan-start");
    var view = box.querySelector("#scan-view");
    var video = box.querySelector("#scan-video");
    var status = box.querySelector("#scan-status");
    var stop = box.querySelector("#scan-stop");
    var stream = null;
    var timer = null;
    var canvas = document.createElement("canvas");
    var context = canvas.getContext("2d", { willReadFrequently: true });

    function end() {
      if (timer) clearTimeout(timer);
      timer = null;
      if (stream) stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
      view.hidden = true;
      start.hidden = false;
    }

    function found(text) {
      var digits = (text || "").replace(/\s/g, "");
      if (!/^\d{12}$/.test(digits)) {
        status.textContent = box.dataset.msgNotVoucher;
        return false;
      }
      end();
      field.input.value = grouped(digits);
      field.say("");
      if (form.requestSubmit) form.requestSubmit(); else form.submit();
      return true;
    }

    function decoder() {
      if ("BarcodeDetector" in window) {
        return window.BarcodeDetector.getSupportedFormats().then(function (formats) {
          if (formats.indexOf("qr_code") < 0) throw new Error("no qr_code");
          var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
          return function () {
            return detector.detect(video).then(function (codes) {
              return codes.length ? codes[0].rawValue : null;
            });
          };
        }).catch(function () { return jsqrDecoder(); });
      }
      return jsqrDecoder();
    }

    function jsqrDecoder() {
      var ready = window.jsQR ? Promise.resolve() : loadScript(box.dataset.decoder);
      return ready.then(function () {
        return function () {
          var width = video.videoWidth, height = video.videoHeight;
          if (!width || !height) return Promise.resolve(null);
          canvas.width = width;
          canvas.height = height;
          context.drawImage(video, 0, 0, width, height);
          var image = context.getImageData(0, 0, width, height);
          var code = window.jsQR(image.data, width, height, { inversionAttempts: "dontInvert" });
          return Promise.resolve(code ? code.data : null);
        };
      });
    }

    start.addEventListener("click", function () {
      status.textContent = box.dataset.msgLooking;
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (media) {
          stream = media;
          video.srcObject = media;
          view.hidden = false;
          start.hidden = true;
          return video.play().then(decoder);
        })
        .then(function (decode) {
          function tick() {
            if (!stream) return;
            decode().then(function (text) {
              if (!(text && found(text)) && stream) timer = setTimeout(tick, 150);
            }, function () { if (stream) timer = setTimeout(tick, 300); });
          }
          tick();
        })
        .catch(function (error) {
          end();
          field.say(error && error.name === "NotAllowedError" ? box.dataset.msgDenied : box.dataset.msgNone);
        });
    });
    stop.addEventListener("click", end);
    window.addEventListener("pagehide", end);
  }

  // -- confirming on a poor network ---------------------------------------------------------

  function confirmForm(form) {
    var button = form.querySelector("#confirm-button");
    var status = form.querySelector("#confirm-status");
    var retry = form.querySelector("#confirm-retry");
    var retryText = form.querySelector("#confirm-retry-text");
    var retryButton = form.querySelector("#retry-button");
    var busy = false;
    var data = null;

    function show(html) {
      var page = new DOMParser().parseFromString(html, "text/html");
      var main = page.getElementById("main");
      if (!main) throw new Error("not a page");
      document.title = page.title;
      document.getElementById("main").replaceWith(main);
      history.replaceState(null, "", form.action);
      var heading = main.querySelector("h1");
      if (heading) { heading.tabIndex = -1; heading.focus(); }
    }

    function send() {
      if (busy) return;  // a double tap sends once (and the key would answer it anyway)
      busy = true;
      data = data || new FormData(form);  // the same key on every retry
      button.disabled = true;
      button.hidden = true;
      retry.hidden = true;
      status.hidden = false;
      status.textContent = form.dataset.msgPending;
      var slow = setTimeout(function () { status.textContent = form.dataset.msgSlow; }, 1500);
      var controller = new AbortController();
      var timeout = setTimeout(function () { controller.abort(); }, Number(form.dataset.timeoutMs) || 15000);
      fetch(form.action, {
        method: "POST",
        body: data,
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
        signal: controller.signal
      }).then(function (response) {
        return response.text().then(function (html) {
          if (response.status >= 500 || !html) throw new Error("server " + response.status);
          show(html);
        });
      }).catch(function (error) {
        busy = false;
        status.hidden = true;
        retryText.textContent = error && error.name === "AbortError" ? form.dataset.msgTimeout : form.dataset.msgOffline;
        retry.hidden = false;
        retryButton.focus();
      }).then(function () {
        clearTimeout(slow);
        clearTimeout(timeout);
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      send();
    });
    retryButton.addEventListener("click", send);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var codeFormElement = document.getElementById("redeem-form");
    if (codeFormElement) {
      var field = codeForm(codeFormElement);
      var scan = document.getElementById("scan");
      if (scan) scanner(scan, codeFormElement, field);
    }
    var confirm = document.getElementById("confirm-form");
    if (confirm) confirmForm(confirm);
  });
})();
