/* Gallery: helpers the page scripts share (window.Gallery). No inline scripts (strict CSP).
 *
 * Dates render as the _images.html macros do ("21 Nov 2026"), then as
 * relative times for the last week; DOM nodes are built with textContent only.
 */
(function () {
  "use strict";

  var MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

  function parseIso(iso) {
    // Trim microseconds to milliseconds: the one ISO form every engine parses.
    var time = Date.parse(String(iso).replace(/(\.\d{3})\d+/, "$1"));
    return isNaN(time) ? null : time;
  }

  function humanDate(iso) {
    iso = String(iso || "");
    var month = parseInt(iso.slice(5, 7), 10);
    if (!(month >= 1 && month <= 12)) {
      return iso;
    }
    return parseInt(iso.slice(8, 10), 10) + " " + MONTHS[month - 1] + " " + iso.slice(0, 4);
  }

  function plural(count, word) {
    return count + " " + word + (count === 1 ? "" : "s");
  }

  function relativeDate(iso, now) {
    var then = parseIso(iso);
    if (then === null) {
      return null;
    }
    var seconds = Math.floor((now - then) / 1000);
    if (seconds < 60) {
      return "just now";
    }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) {
      return plural(minutes, "minute") + " ago";
    }
    var hours = Math.floor(minutes / 60);
    if (hours < 24) {
      return plural(hours, "hour") + " ago";
    }
    var days = Math.floor(hours / 24);
    if (days === 1) {
      return "yesterday";
    }
    if (days < 7) {
      return days + " days ago";
    }
    return null;
  }

  // <time data-relative datetime="..."> within root: "3 hours ago" for the last week.
  function refreshTimes(root) {
    var now = Date.now();
    (root || document).querySelectorAll("time[data-relative]").forEach(function (time) {
      var iso = time.getAttribute("datetime");
      var relative = relativeDate(iso, now);
      time.textContent = relative || humanDate(iso);
      var then = parseIso(iso);
      if (then !== null && !time.hasAttribute("title")) {
        time.setAttribute("title", new Date(then).toLocaleString());
      }
    });
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text !== undefined && text !== null) {
      node.textContent = String(text);
    }
    return node;
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // A description as nodes: text, with its #hashtags as links to the tag pages
  // (the hashtag feature fills this in; until then, plain text).
  function descriptionNodes(text) {
    var fragment = document.createDocumentFragment();
    fragment.appendChild(document.createTextNode(String(text || "")));
    return fragment;
  }

  window.Gallery = {
    descriptionNodes: descriptionNodes,
    el: el,
    csrfToken: csrfToken,
    humanDate: humanDate,
    parseIso: parseIso,
    plural: plural,
    relativeDate: relativeDate,
    refreshTimes: refreshTimes,
  };
})();
