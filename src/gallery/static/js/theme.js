/* The colour mode for "follow my system" (and everyone signed out): loaded
   in <head> without defer, so it runs before the body is drawn and the page
   never flashes the wrong mode. A page with a chosen mode carries it in
   data-bs-theme already and does not load this file. */
(function () {
  "use strict";
  var root = document.documentElement;
  var dark = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;

  function apply() {
    root.setAttribute("data-bs-theme", dark && dark.matches ? "dark" : "light");
  }

  apply();
  if (dark) {
    // The system switching (at sunset, say) switches the open page too.
    if (dark.addEventListener) {
      dark.addEventListener("change", apply);
    } else if (dark.addListener) {
      dark.addListener(apply);
    }
  }
})();
