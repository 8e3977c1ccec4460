/* Gallery: small progressive enhancements. No inline scripts (strict CSP). */
(function () {
  "use strict";

  // Bootstrap tooltips on any element that asks for one.
  function enableTooltips() {
    if (!window.bootstrap || !window.bootstrap.Tooltip) {
      return;
    }
    document.querySelectorAll('[data-bs-toggle="tooltip"]').forEach(function (element) {
      window.bootstrap.Tooltip.getOrCreateInstance(element);
    });
  }

  // <form data-confirm="Question?">: ask before submitting.
  // A submit button may carry its own data-confirm, which wins.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    var submitter = event.submitter;
    var message = (submitter && submitter.getAttribute("data-confirm")) ||
      form.getAttribute("data-confirm");
    if (message && !window.confirm(message)) {
      event.preventDefault();
    }
  });

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", enableTooltips);
  } else {
    enableTooltips();
  }
})();
