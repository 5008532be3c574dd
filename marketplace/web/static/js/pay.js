// Paying an order with Stripe.js (loaded before this file from LINLI_STRIPE_JS_URL: Stripe's
// own in production, localstripe's stand-in in development and the browser tests): the card
// element, then confirmCardPayment with the PaymentIntent's client secret. Whether the order
// is paid is decided by the server (webhook, or the order page asking the provider); this
// only takes the shopper to the order page once Stripe says the payment went through. A
// declined card leaves the intent waiting for another one: the shopper corrects the card
// and taps again.
(function () {
  "use strict";

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("[data-pay]");
    if (!form) return;
    var button = form.querySelector("[data-pay-button]");
    var problem = form.querySelector("[data-pay-problem]");
    var status = form.querySelector("[data-pay-status]");
    var label = button.textContent;

    function say(text) {
      problem.textContent = text;
      problem.hidden = !text;
    }

    if (typeof window.Stripe !== "function") {
      say(form.getAttribute("data-unavailable"));
      button.disabled = true;
      return;
    }
    var stripe = window.Stripe(form.getAttribute("data-publishable-key"));
    var card = stripe.elements().create("card", { hidePostalCode: true });
    card.mount("#card-element");

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      say("");
      button.disabled = true;
      status.textContent = form.getAttribute("data-paying");
      stripe
        .confirmCardPayment(form.getAttribute("data-client-secret"), {
          payment_method: { card: card },
        })
        .then(function (result) {
          if (result.error) {
            var code = result.error.code;
            if (code === "card_declined") {
              say(form.getAttribute("data-declined"));
            } else if (code && code.indexOf("incomplete") === 0) {
              say(form.getAttribute("data-incomplete"));
            } else {
              say(form.getAttribute("data-failed"));
            }
            status.textContent = "";
            button.disabled = false;
            button.textContent = form.getAttribute("data-retry");
            return;
          }
          status.textContent = label;
          window.location.assign(form.getAttribute("data-done") + "?paid=1");
        });
    });
  });
})();
