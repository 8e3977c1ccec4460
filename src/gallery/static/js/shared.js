/* Gallery: helpers the page scripts share (window.Gallery). No inline scripts (strict CSP).
 *
 * Dates render as the _images.html macros do ("21 Nov 2026"), then as
 * relative times for the last week; DOM nodes are built with textContent only.
 *
 * The three things the scripts must agree on with the server live here once:
 *   - requests: apiFetch() / apiRequest() are the only way the scripts talk to
 *     the site; they alone set the X-CSRF-Token header (from <meta name="csrf-token">);
 *   - icons: icon(name) clones the <template data-icon> base.html renders from
 *     templates/_icons.html, the macros the server's own markup uses;
 *   - URLs: none is written in a script. The pages render them with url_for
 *     into data-*-url attributes; url(element, name, params) reads one
 *     ("{id}", "{username}", "{name}" filled in), fillUrl() fills a template.
 */
(function () {
  "use strict";

  var SAFE_METHODS = ["GET", "HEAD", "OPTIONS"];
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

  // ---- URLs: rendered by the templates, never written here ----

  // A URL template as the pages render it ("…/{id}/like") with {id: 7} -> "…/7/like";
  // each value URL-encoded.
  function fillUrl(template, params) {
    var url = String(template);
    Object.keys(params || {}).forEach(function (key) {
      url = url.split("{" + key + "}").join(encodeURIComponent(String(params[key])));
    });
    return url;
  }

  // The data-<name>-url of element or of its nearest ancestor that has one,
  // filled in with params; null when the page rendered none.
  //   Gallery.url(feedSection, "image", { id: 7 })  // its data-image-url="…/{id}"
  function url(element, name, params) {
    var attribute = "data-" + name + "-url";
    var holder = element ? element.closest("[" + attribute + "]") : null;
    return holder ? fillUrl(holder.getAttribute(attribute), params) : null;
  }

  // ---- icons: the set of templates/_icons.html ----

  // A copy of the <svg> base.html renders into <template data-icon="name">, the
  // markup of the icon_<name> macro; an empty fragment on a page without it.
  function icon(name) {
    var template = document.querySelector('template[data-icon="' + name + '"]');
    var svg = template ? template.content.firstElementChild : null;
    return svg ? document.importNode(svg, true) : document.createDocumentFragment();
  }

  // ---- requests: every call to the site goes through here ----

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // fetch() as the site wants it: the session cookie, JSON asked for, and on
  // every state-changing method the X-CSRF-Token header (the API refuses
  // PUT/POST/DELETE without it). options are fetch's (method, headers, body,
  // cache, keepalive…). Resolves with the Response, for callers that read the
  // status themselves (the bell's 304) or not at all (a keepalive POST).
  function apiFetch(url, options) {
    options = options || {};
    var init = {};
    Object.keys(options).forEach(function (key) {
      init[key] = options[key];
    });
    init.method = String(options.method || "GET").toUpperCase();
    init.credentials = "same-origin";
    init.headers = { Accept: "application/json" };
    Object.keys(options.headers || {}).forEach(function (name) {
      init.headers[name] = options.headers[name];
    });
    if (SAFE_METHODS.indexOf(init.method) === -1) {
      init.headers["X-CSRF-Token"] = csrfToken();
    }
    return fetch(url, init);
  }

  // apiFetch → parsed JSON (or null for 204); rejects with an Error carrying the
  // API's message ({"error": {"message"}}, else "<fallback> (error 500).") and
  // the HTTP status (error.status; none when the connection failed, and then
  // the message is "<fallback>: the connection failed. Try again.").
  function apiRequest(url, options, fallback) {
    return apiFetch(url, options).then(function (response) {
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
  // (a.hashtag, as the hashtag_links filter renders them). tagUrl is the tag
  // page's URL with "{name}" for the tag, as a grid's data-tag-url carries it;
  // without one the tags stay text. textContent only.
  function descriptionNodes(text, tagUrl) {
    text = String(text || "");
    var fragment = document.createDocumentFragment();
    var shown = 0;
    hashtagSpans(text).forEach(function (span) {
      if (span.start > shown) {
        fragment.appendChild(document.createTextNode(text.slice(shown, span.start)));
      }
      var shownTag = text.slice(span.start, span.end);
      if (tagUrl) {
        var link = el("a", "hashtag", shownTag);
        link.setAttribute("href", fillUrl(tagUrl, { name: span.name }));
        fragment.appendChild(link);
      } else {
        fragment.appendChild(document.createTextNode(shownTag));
      }
      shown = span.end;
    });
    if (shown < text.length) {
      fragment.appendChild(document.createTextNode(text.slice(shown)));
    }
    return fragment;
  }

  window.Gallery = {
    apiFetch: apiFetch,
    apiRequest: apiRequest,
    csrfToken: csrfToken,
    descriptionNodes: descriptionNodes,
    el: el,
    fillUrl: fillUrl,
    hashtagSpans: hashtagSpans,
    humanDate: humanDate,
    icon: icon,
    parseIso: parseIso,
    plural: plural,
    relativeDate: relativeDate,
    refreshTimes: refreshTimes,
    url: url,
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
