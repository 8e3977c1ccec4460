/* Gallery: helpers the page scripts share (window.Gallery). No inline scripts (strict CSP).
 *
 * Dates render as the _images.html macros do ("21 Nov 2026"), then as
 * relative times for the last week; DOM nodes are built with textContent only.
 * apiRequest() talks to the JSON API for comments.js, social.js and
 * notifications.js; svgIcon() builds the icons of the icon_* macros.
 */
(function () {
  "use strict";

  var SVG_NS = "http://www.w3.org/2000/svg";
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

  // A 20px line icon, as the icon_heart / icon_comment macros of _images.html draw it.
  function svgIcon(pathData) {
    var svg = document.createElementNS(SVG_NS, "svg");
    var attributes = {
      "class": "icon", width: "20", height: "20", viewBox: "0 0 24 24", fill: "none",
      stroke: "currentColor", "stroke-width": "2", "stroke-linecap": "round",
      "stroke-linejoin": "round", "aria-hidden": "true", focusable: "false"
    };
    Object.keys(attributes).forEach(function (name) {
      svg.setAttribute(name, attributes[name]);
    });
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", pathData);
    svg.appendChild(path);
    return svg;
  }

  // fetch → parsed JSON (or null for 204); rejects with an Error carrying the
  // API's message ({"error": {"message"}}) and the HTTP status (error.status;
  // none when the connection failed).
  function apiRequest(url, options, fallback) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = options.headers || {};
    options.headers.Accept = "application/json";
    return fetch(url, options).then(function (response) {
      if (response.status === 204) {
        return null;
      }
      return response.json().catch(function () {
        return null;
      }).then(function (data) {
        if (!response.ok) {
          var message = data && data.error && data.error.message;
          var error = new Error(message || fallback + " (error " + response.status + ").");
          error.status = response.status;
          throw error;
        }
        return data;
      });
    }, function () {
      throw new Error(fallback + ": the connection failed. Try again.");
    });
  }

  // ---- hashtags: the rules of services/tags.py (keep the two in step) ----
  //
  // "#" (or "＃") then letters, digits, marks and "_"; not glued to a preceding
  // tag character, "&" or "/"; never inside a word with "://" or starting with
  // "www."; at least one letter, at most 64 characters once folded.

  var TAG_MAX_LENGTH = 64;
  var HASH_CHARACTERS = "#\uFF03";
  var GLUE_CHARACTERS = "&/";
  var WORD = /[^\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff]+/g;
  var TAG_CHARACTER = null;
  var LETTER = null;
  try {
    // Built here, not as literals: an engine without Unicode property escapes
    // then shows descriptions as plain text instead of losing this whole file.
    TAG_CHARACTER = new RegExp("^[\\p{L}\\p{N}\\p{M}\\p{Pc}]$", "u");
    LETTER = new RegExp("\\p{L}", "u");
  } catch (error) {
    TAG_CHARACTER = null;
  }

  function isTagCharacter(character) {
    return TAG_CHARACTER.test(character);
  }

  // Python's NFKC + casefold, near enough: upper-then-lower folds "ß" to "ss";
  // casefold has no final sigma. The tag page folds the name again and redirects
  // to its one address, so a rare difference still lands on the right tag.
  function foldTagName(text) {
    return text.normalize("NFKC").toUpperCase().toLowerCase().replace(/\u03c2/g, "\u03c3")
      .normalize("NFKC");
  }

  function validTagName(text) {
    var name = foldTagName(text);
    var characters = Array.from(name);
    if (!characters.length || characters.length > TAG_MAX_LENGTH) {
      return null;
    }
    if (!characters.every(isTagCharacter) || !LETTER.test(name)) {
      return null;
    }
    return name;
  }

  // [{start, end, name}]: text.slice(start, end) is "#" and the tag as written.
  function hashtagSpans(text) {
    var spans = [];
    if (!TAG_CHARACTER) {
      return spans;
    }
    text = String(text || "");
    WORD.lastIndex = 0;
    var match;
    while ((match = WORD.exec(text)) !== null) {
      var word = match[0];
      if (word.indexOf("://") !== -1 || word.slice(0, 4).toLowerCase() === "www.") {
        continue;
      }
      var characters = Array.from(word);  // code points, as Python counts them
      var offsets = [];
      var position = match.index;
      characters.forEach(function (character) {
        offsets.push(position);
        position += character.length;
      });
      offsets.push(position);
      for (var index = 0; index < characters.length; index++) {
        if (HASH_CHARACTERS.indexOf(characters[index]) === -1) {
          continue;
        }
        var before = index > 0 ? characters[index - 1] : null;
        if (before !== null && (GLUE_CHARACTERS.indexOf(before) !== -1 || isTagCharacter(before))) {
          continue;
        }
        var end = index + 1;
        while (end < characters.length && isTagCharacter(characters[end])) {
          end++;
        }
        var name = end > index + 1 ? validTagName(characters.slice(index + 1, end).join("")) : null;
        if (name !== null) {
          spans.push({ start: offsets[index], end: offsets[end], name: name });
        }
      }
    }
    return spans;
  }

  // A description as nodes: text, with its #hashtags as links to the tag pages
  // (a.hashtag, as the hashtag_links filter renders them). textContent only.
  function descriptionNodes(text) {
    text = String(text || "");
    var fragment = document.createDocumentFragment();
    var shown = 0;
    hashtagSpans(text).forEach(function (span) {
      if (span.start > shown) {
        fragment.appendChild(document.createTextNode(text.slice(shown, span.start)));
      }
      var link = el("a", "hashtag", text.slice(span.start, span.end));
      link.setAttribute("href", "/tags/" + encodeURIComponent(span.name));
      fragment.appendChild(link);
      shown = span.end;
    });
    if (shown < text.length) {
      fragment.appendChild(document.createTextNode(text.slice(shown)));
    }
    return fragment;
  }

  window.Gallery = {
    apiRequest: apiRequest,
    descriptionNodes: descriptionNodes,
    hashtagSpans: hashtagSpans,
    el: el,
    csrfToken: csrfToken,
    humanDate: humanDate,
    parseIso: parseIso,
    plural: plural,
    relativeDate: relativeDate,
    refreshTimes: refreshTimes,
    svgIcon: svgIcon,
  };

  // Every page's relative times, once at load and each minute after: one loop
  // for the whole page (scripts refresh only the nodes they add).
  function startClock() {
    refreshTimes(document);
    window.setInterval(function () {
      refreshTimes(document);
    }, 60000);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", startClock);
  } else {
    startClock();
  }
})();
