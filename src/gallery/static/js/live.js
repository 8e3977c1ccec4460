/* Gallery: live updates over one WebSocket per page. No inline scripts (strict CSP).
 *
 * Markup (URLs rendered by the templates, none written here):
 *   <body data-live-url="(the socket's path)" data-live-counts-url="(API counts)"
 *         [data-signed-in data-viewer-id="7"]>
 *   <section data-feed data-live-topic="feed|following|tag:<name>|author:<id>"
 *            data-feed-url="(the feed's JSON)" data-page-size …>   (templates/_images.html feed_grid)
 *     <div class="live-pill-wrap" aria-live="polite"><button data-live-pill hidden></button></div>
 *     <div data-feed-items> <article data-image-id="41">… [data-like-count] .count-value …</article> </div>
 *   </section>
 *   <article data-image-id="12" data-live-photo>…</article>   (the photo page)
 *
 * What it does (the protocol: the README, "Live updates"; the server: web/live.py):
 *   - subscribes to the page's feed topic and to "photo:<id>" of every photo
 *     shown (cards added later by infinite scroll or by the pill too: a
 *     MutationObserver notices them); the server adds the viewer's "me";
 *   - photo.new: counts the distinct new photos on the pill; a click fetches
 *     the feed's first page and puts the missing cards on top, built by
 *     feed.js (Gallery.renderFeedItem), keeping what is on screen in place;
 *   - photo.counts / comment.*: the counts in place; on the photo page the
 *     comment itself (comments.js, Gallery.comments); photo.deleted: the card
 *     goes, the photo page says so;
 *   - "me": the bell (notifications.js, Gallery.notifications) and the
 *     locked-account banner;
 *   - sequence numbers per stream: a gap, a reconnect or a "resync" is caught
 *     up through the JSON API;
 *   - reconnects with exponential back-off and full jitter. If the socket
 *     never opens (live turned off), it gives up quietly and the bell keeps
 *     polling, as it always did.
 * body[data-live-state] says where it stands: connecting, open (every
 * subscription confirmed), subscribing, closed, off.
 */
(function () {
  "use strict";

  var shared = window.Gallery;
  var body = document.body;
  var socketPath = body ? body.getAttribute("data-live-url") : null;
  if (!shared || !socketPath || !("WebSocket" in window) || !("MutationObserver" in window)) {
    return;  // nothing live: the pages work as before (the bell polls)
  }

  var BASE_DELAY_MS = 1000;
  var MAX_DELAY_MS = 30000;
  var STABLE_MS = 10000;  // open this long: the next failure starts the back-off again
  var TRY_LATER_MS = 5000;  // close 1013 (Redis away): never sooner than this
  var GIVE_UP_FAILURES = 6;  // handshakes in a row that failed on a page never connected
  var PING_MS = 25000;
  var PONG_TIMEOUT_MS = 10000;  // no word from the server this long after a ping: dead
  var MAX_TOPICS = 280;  // the server closes a socket asking for more than 300
  var MAX_FRAME_BYTES = 3800;  // the server takes frames of up to 4096 bytes
  var CATCH_UP_DELAY_MS = 300;  // gaps come in bursts: one catch-up for all of them
  var COUNTS_BATCH = 100;  // ids per /images/counts request
  var COMMENT_PAGE = 100;
  var COMMENT_PAGES = 20;

  // services/permissions.py LOCKED_MESSAGE, as the banner of a locked account's
  // next page says it (not rendered into every page: only a locked account sees it).
  var LOCKED_MESSAGE = "Your account has been locked, so you can look around but not upload, " +
    "comment, like, follow or report. If you think this is a mistake, write to the site's moderators.";

  var CLOSE_TRY_AGAIN_LATER = 1013;
  var CLOSE_SIGNED_OUT = 4401;

  var pageViewerId = body.getAttribute("data-viewer-id");
  var feedRoot = document.querySelector("[data-feed][data-live-topic]");
  var feedTopic = feedRoot ? feedRoot.getAttribute("data-live-topic") : null;
  var pill = feedRoot ? feedRoot.querySelector("[data-live-pill]") : null;
  var photoPage = document.querySelector("[data-live-photo][data-image-id]");
  var photoPageId = photoPage ? photoPage.getAttribute("data-image-id") : null;

  var socket = null;
  var attempt = 0;
  var everOpened = false;
  var failures = 0;  // handshakes in a row that never opened
  var stopped = false;  // the page is going away, or live is off
  var signedOut = false;  // the sign-in this page was rendered for ended
  var reconnectTimer = null;
  var stableTimer = null;
  var pingTimer = null;
  var pongTimer = null;
  var syncTimer = null;
  var catchUpTimer = null;
  var subscribed = {};  // topic -> true: asked for on the current socket
  var everSubscribed = {};  // topic -> true: asked for on any socket of this page
  var outstanding = 0;  // subscribe frames not answered yet
  var lastSeq = {};  // stream -> the last sequence number seen
  var pending = {};  // id -> true: new photos the pill counts
  var loadingNew = false;
  var due = freshDue();

  function setState(state) {
    body.setAttribute("data-live-state", state);
  }

  function freshDue() {
    return { feed: false, photos: {}, comments: false, bell: false };
  }

  // ---- what the page shows ----

  function cleanId(id) {
    var number = parseInt(id, 10);
    return number > 0 ? String(number) : null;
  }

  // The cards of the feeds and the photo page's article, of one photo or of all.
  function photoElements(id) {
    var attribute = id ? '[data-image-id="' + cleanId(id) + '"]' : "[data-image-id]";
    return Array.prototype.slice.call(document.querySelectorAll(
      "[data-feed-items] " + attribute + ", [data-live-photo]" + attribute));
  }

  function onPage(id) {
    return photoElements(id).length > 0;
  }

  function shownPhotoIds(limit) {
    var nodes = photoElements(null);
    if (nodes.length > limit) {
      // More than the server allows: follow the ones nearest to what is on screen.
      var middle = window.innerHeight / 2;
      nodes = nodes.map(function (node) {
        var rect = node.getBoundingClientRect();
        var pinned = node.hasAttribute("data-live-photo");
        return { node: node, distance: pinned ? -1 : Math.abs((rect.top + rect.bottom) / 2 - middle) };
      }).sort(function (a, b) {
        return a.distance - b.distance;
      }).map(function (entry) {
        return entry.node;
      });
    }
    var ids = [];
    var seen = {};
    nodes.forEach(function (node) {
      var id = cleanId(node.getAttribute("data-image-id"));
      if (id && !seen[id] && ids.length < limit) {
        seen[id] = true;
        ids.push(id);
      }
    });
    return ids;
  }

  function wantedTopics() {
    var topics = [];
    if (feedTopic && !(signedOut && feedTopic === "following")) {
      topics.push(feedTopic);
    }
    shownPhotoIds(MAX_TOPICS - topics.length).forEach(function (id) {
      topics.push("photo:" + id);
    });
    return topics;
  }

  // ---- sending ----

  function byteLength(text) {
    return window.TextEncoder ? new TextEncoder().encode(text).length : text.length * 3;
  }

  function send(message) {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  // (un)subscribe in frames the server accepts (4096 bytes each).
  function sendTopics(type, topics) {
    var frames = 0;
    var batch = [];
    var size = byteLength(JSON.stringify({ type: type, topics: [] }));
    topics.forEach(function (topic) {
      var extra = byteLength(JSON.stringify(topic)) + 1;
      if (batch.length && size + extra > MAX_FRAME_BYTES) {
        frames += send({ type: type, topics: batch }) ? 1 : 0;
        batch = [];
        size = byteLength(JSON.stringify({ type: type, topics: [] }));
      }
      batch.push(topic);
      size += extra;
    });
    if (batch.length) {
      frames += send({ type: type, topics: batch }) ? 1 : 0;
    }
    return frames;
  }

  // Subscribe to what the page shows now, unsubscribe from what it no longer shows.
  function syncTopics() {
    syncTimer = null;
    if (!socket || socket.readyState !== WebSocket.OPEN || !socket.greeted) {
      return;
    }
    var wanted = {};
    var add = [];
    var drop = [];
    wantedTopics().forEach(function (topic) {
      wanted[topic] = true;
      if (!subscribed[topic]) {
        add.push(topic);
      }
    });
    Object.keys(subscribed).forEach(function (topic) {
      if (!wanted[topic]) {
        drop.push(topic);
      }
    });
    if (drop.length) {  // first, so the count never goes past the server's limit
      sendTopics("unsubscribe", drop);
      drop.forEach(function (topic) {
        delete subscribed[topic];
      });
    }
    if (add.length) {
      outstanding += sendTopics("subscribe", add);
      add.forEach(function (topic) {
        subscribed[topic] = true;
      });
      setState("subscribing");
    }
  }

  function scheduleSync() {
    if (syncTimer === null) {
      syncTimer = window.setTimeout(syncTopics, 50);
    }
  }

  // Cards added (infinite scroll, the pill) or removed: follow them or let go.
  function touchesPhotos(nodes) {
    for (var index = 0; index < nodes.length; index++) {
      var node = nodes[index];
      if (node.nodeType === 1 && (node.hasAttribute("data-image-id") || node.querySelector("[data-image-id]"))) {
        return true;
      }
    }
    return false;
  }

  new MutationObserver(function (records) {
    for (var index = 0; index < records.length; index++) {
      if (touchesPhotos(records[index].addedNodes) || touchesPhotos(records[index].removedNodes)) {
        scheduleSync();
        return;
      }
    }
  }).observe(body, { childList: true, subtree: true });

  // ---- counts, cards, comments ----

  // A card's and the photo page's counters (the like_count / comment_count
  // macros), and a tile's (image_tile).
  var COUNTERS = {
    likes: '[data-like-count] .count-value, [data-tile-count="likes"]',
    comments: '[data-comment-count] .count-value, [data-tile-count="comments"]'
  };

  function setCount(scope, kind, value, one, many) {
    scope.querySelectorAll(COUNTERS[kind]).forEach(function (node) {
      node.textContent = String(value);
      var noun = node.nextElementSibling;
      if (noun && noun.classList.contains("visually-hidden")) {
        noun.textContent = value === 1 ? one : many;
      }
    });
  }

  function setCounts(id, likes, comments) {
    photoElements(id).forEach(function (scope) {
      if (typeof likes === "number") {
        setCount(scope, "likes", likes, " like", " likes");
      }
      if (typeof comments === "number") {
        setCount(scope, "comments", comments, " comment", " comments");
        var all = scope.querySelector(".photo-card-all-comments");
        if (all) {
          all.textContent = "View all " + comments + " comments";
        }
      }
    });
  }

  function notice(kind, text, marker) {
    var box = shared.el("div", "alert alert-" + kind, text);
    box.setAttribute("role", "alert");
    box.setAttribute(marker, "");
    return box;
  }

  function photoDeleted(id) {
    id = cleanId(id);
    if (!id) {
      return;
    }
    delete pending[id];
    updatePill();
    document.querySelectorAll('[data-feed-items] [data-image-id="' + id + '"]').forEach(function (card) {
      card.remove();
    });
    if (photoPage && id === photoPageId && !document.querySelector("[data-live-photo-deleted]")) {
      photoPage.removeAttribute("data-live-photo");  // nothing more to follow here
      scheduleSync();
      photoPage.parentNode.insertBefore(
        notice("warning", "This photo has been deleted.", "data-live-photo-deleted"), photoPage);
      var form = document.getElementById("comment-form");
      if (form) {
        form.querySelectorAll("textarea, button").forEach(function (control) {
          control.disabled = true;
        });
      }
    }
  }

  // ---- the pill and the new photos ----

  function updatePill() {
    if (!pill) {
      return;
    }
    var count = Object.keys(pending).length;
    pill.textContent = count === 1 ? "1 new photo" : count + " new photos";
    pill.hidden = count === 0;
  }

  function feedGrid(create) {
    var grid = feedRoot.querySelector("[data-feed-items]");
    if (!grid && create) {
      // The feed was empty: its grid replaces the empty state.
      var tiles = feedRoot.getAttribute("data-layout") === "tiles";
      grid = shared.el("div", tiles ? "tile-grid" : "photo-grid");
      grid.setAttribute("data-feed-items", "");
      var empty = feedRoot.querySelector("[data-feed-empty]");
      var footer = feedRoot.querySelector(".feed-footer");
      if (empty) {
        empty.replaceWith(grid);
      } else if (footer) {
        feedRoot.insertBefore(grid, footer);
      } else {
        feedRoot.appendChild(grid);
      }
    }
    return grid;
  }

  function firstPage() {
    var url = new URL(feedRoot.getAttribute("data-feed-url"), window.location.href);
    var size = feedRoot.getAttribute("data-page-size");
    if (size) {
      url.searchParams.set("limit", size);
    }
    return shared.apiRequest(url.toString(), { cache: "no-cache" }, "Could not load the new photos")
      .then(function (data) {
        return data && Array.isArray(data.items) ? data.items : [];
      });
  }

  // The items of the first page above the newest card the page shows.
  function newerThanShown(items) {
    var grid = feedGrid(false);
    var fresh = [];
    for (var index = 0; index < items.length; index++) {
      var id = cleanId(items[index].id);
      if (grid && grid.querySelector('[data-image-id="' + id + '"]')) {
        break;
      }
      fresh.push(items[index]);
    }
    return fresh;
  }

  // The first card at least partly on screen: it must not move.
  function anchorIn(grid) {
    var children = grid.children;
    for (var index = 0; index < children.length; index++) {
      if (children[index].getBoundingClientRect().bottom > 0) {
        return children[index];
      }
    }
    return null;
  }

  function putOnTop(items) {
    if (!items.length || !shared.renderFeedItem) {
      return [];
    }
    var grid = feedGrid(true);
    // Scrolled down: keep what is on screen where it is (the browser's own scroll
    // anchoring may do it already; then the measured shift is 0). At the very top
    // the new photos simply show.
    var anchor = window.scrollY > 0 ? anchorIn(grid) : null;
    var before = anchor ? anchor.getBoundingClientRect().top : 0;
    var fragment = document.createDocumentFragment();
    var added = items.map(function (item) {
      var node = shared.renderFeedItem(feedRoot, item);
      fragment.appendChild(node);
      return node;
    });
    grid.insertBefore(fragment, grid.firstChild);
    if (anchor) {
      var shift = anchor.getBoundingClientRect().top - before;
      if (Math.abs(shift) >= 1) {
        // At once: the page's smooth scrolling (Bootstrap's) would show the jump.
        window.scrollBy({ top: shift, left: 0, behavior: "instant" });
      }
    }
    return added;
  }

  function showNewPhotos() {
    if (loadingNew) {
      return;
    }
    loadingNew = true;
    pill.disabled = true;
    firstPage().then(function (items) {
      var added = putOnTop(newerThanShown(items));
      pending = {};
      var hadFocus = document.activeElement === pill;
      updatePill();
      if (hadFocus && added.length) {
        // The button is gone: the keyboard goes on from the first new photo, where it is.
        var target = added[0].matches("a") ? added[0] : added[0].querySelector("a");
        if (target) {
          target.focus({ preventScroll: true });
        }
      }
    }).catch(function (error) {
      if (shared.toast) {
        shared.toast(error.message);
      }
    }).then(function () {
      loadingNew = false;
      pill.disabled = false;
    });
  }

  if (pill) {
    pill.addEventListener("click", showNewPhotos);
  }

  // ---- catching up through the JSON API ----

  function needCatchUp(topic) {
    if (!topic) {
      return;
    }
    if (topic === feedTopic) {
      due.feed = true;
    } else if (topic.indexOf("photo:") === 0) {
      var id = cleanId(topic.slice(6));
      if (id) {
        due.photos[id] = true;
        if (id === photoPageId) {
          due.comments = true;
        }
      }
    } else if (topic === "me") {
      due.bell = true;
    }
    if (catchUpTimer === null) {
      catchUpTimer = window.setTimeout(catchUp, CATCH_UP_DELAY_MS);
    }
  }

  function needEverything() {
    if (feedTopic) {
      needCatchUp(feedTopic);
    }
    shownPhotoIds(Infinity).forEach(function (id) {
      needCatchUp("photo:" + id);
    });
    needCatchUp("me");
  }

  function catchUp() {
    catchUpTimer = null;
    var work = due;
    due = freshDue();
    if (work.feed && feedRoot) {
      catchUpFeed();
    }
    var ids = Object.keys(work.photos);
    for (var start = 0; start < ids.length; start += COUNTS_BATCH) {
      catchUpCounts(ids.slice(start, start + COUNTS_BATCH));
    }
    if (work.comments) {
      catchUpComments();
    }
    if (work.bell && shared.notifications && !signedOut) {
      shared.notifications.refresh();
    }
  }

  function catchUpFeed() {
    firstPage().then(function (items) {
      newerThanShown(items).forEach(function (item) {
        var id = cleanId(item.id);
        if (id) {
          pending[id] = true;
        }
      });
      updatePill();
    }).catch(function () {
      // The next event or reconnect tries again.
    });
  }

  function catchUpCounts(ids) {
    var countsUrl = body.getAttribute("data-live-counts-url");
    if (!countsUrl) {
      return;
    }
    var url = new URL(countsUrl, window.location.href);
    url.searchParams.set("ids", ids.join(","));
    shared.apiRequest(url.toString(), { cache: "no-cache" }, "Could not load the counts").then(function (data) {
      var found = {};
      ((data && data.items) || []).forEach(function (item) {
        var id = cleanId(item.id);
        if (id) {
          found[id] = true;
          setCounts(id, item.like_count, item.comment_count);
        }
      });
      ids.forEach(function (id) {
        if (!found[id]) {
          photoDeleted(id);  // absent: it no longer exists
        }
      });
    }).catch(function () {
      // Counts stay as they are until the next event.
    });
  }

  function catchUpComments() {
    var commentsUrl = shared.comments ? shared.comments.syncUrl() : null;
    if (!commentsUrl) {
      return;  // older comments still to load: "Load more" brings the rest in order
    }
    var items = [];
    function page(cursor, left) {
      var url = new URL(commentsUrl, window.location.href);
      url.searchParams.set("limit", String(COMMENT_PAGE));
      if (cursor) {
        url.searchParams.set("cursor", cursor);
      }
      return shared.apiRequest(url.toString(), { cache: "no-cache" }, "Could not load the comments")
        .then(function (data) {
          items = items.concat((data && data.items) || []);
          if (data && data.next_cursor) {
            return left > 1 ? page(data.next_cursor, left - 1) : null;
          }
          return items;
        });
    }
    page(null, COMMENT_PAGES).then(function (all) {
      if (all) {
        shared.comments.sync(all);
      }
    }).catch(function () {
      // A missing page (the photo deleted, say): the counts catch-up tells.
    });
  }

  // ---- messages from the server ----

  function viewerMatches(viewer) {
    if (!pageViewerId) {
      return false;  // an anonymous page has no bell or banner to keep
    }
    return Boolean(viewer) && String(viewer.id) === pageViewerId;
  }

  function onHello(message) {
    socket.greeted = true;
    if (pageViewerId && !viewerMatches(message.viewer)) {
      showSignedOut();  // the sign-in of this page ended (or is somebody else's now)
    }
    if (!signedOut && pageViewerId && typeof message.unread === "number" && shared.notifications) {
      shared.notifications.showUnread(message.unread);
    }
    syncTopics();
    if (!outstanding) {
      setState("open");
    }
  }

  function onSubscribed(seqs) {
    Object.keys(seqs).forEach(function (topic) {
      var seq = seqs[topic];
      if (seq === null || seq === undefined) {
        // No single stream (following): after a reconnect, always refetch.
        if (everSubscribed[topic]) {
          needCatchUp(topic);
        }
      } else {
        var known = lastSeq[topic];
        if (known !== undefined && known !== seq) {
          needCatchUp(topic);  // events went by while we were away
        }
        lastSeq[topic] = seq;
      }
      everSubscribed[topic] = true;
    });
    outstanding = Math.max(0, outstanding - 1);
    if (!outstanding) {
      setState("open");
    }
  }

  function onEvent(message) {
    var topic = message.topic;
    var stream = message.stream || topic;
    if (stream && typeof message.seq === "number") {
      var known = lastSeq[stream];
      if (known !== undefined && message.seq !== known + 1) {
        needCatchUp(topic);  // missed some; this one still counts
      }
      lastSeq[stream] = message.seq;
    }
    switch (message.type) {
      case "photo.new":
        if (topic === feedTopic && message.photo) {
          var id = cleanId(message.photo.id);
          if (id && !onPage(id)) {
            pending[id] = true;
            updatePill();
          }
        }
        break;
      case "photo.counts":
        setCounts(message.id, message.like_count, message.comment_count);
        break;
      case "comment.new":
        setCounts(message.photo_id, null, message.comment_count);
        if (message.comment && cleanId(message.photo_id) === photoPageId && shared.comments) {
          shared.comments.add(message.comment);
        }
        break;
      case "comment.deleted":
        setCounts(message.photo_id, null, message.comment_count);
        if (cleanId(message.photo_id) === photoPageId && shared.comments) {
          shared.comments.remove(message.id);
        }
        break;
      case "photo.deleted":
        photoDeleted(message.id);
        break;
      case "notifications":
        if (!signedOut && shared.notifications) {
          shared.notifications.showUnread(message.unread);
        }
        break;
      case "account.locked":
        if (!signedOut) {
          showLocked();
        }
        break;
      case "account.unlocked":
        document.querySelectorAll("[data-locked-banner]").forEach(function (banner) {
          banner.remove();
        });
        break;
      default:
        break;  // a newer server's event: nothing to do with it here
    }
  }

  function onMessage(event) {
    clearPongTimer();  // any word from the server: it is alive
    var message;
    try {
      message = JSON.parse(event.data);
    } catch (error) {
      return;
    }
    if (!message || typeof message.type !== "string") {
      return;
    }
    if (message.type === "hello") {
      onHello(message);
    } else if (message.type === "subscribed") {
      onSubscribed(message.seqs || {});
    } else if (message.type === "resync") {
      needEverything();  // the server dropped events for this socket
    } else if (message.type !== "pong" && message.type !== "keepalive") {
      onEvent(message);
    }
  }

  // ---- notices ----

  function showLocked() {
    if (document.querySelector("[data-locked-banner]")) {
      return;
    }
    var header = document.querySelector("body > header");
    if (!header) {
      return;
    }
    var banner = shared.el("div", "locked-banner");
    banner.setAttribute("role", "alert");
    banner.setAttribute("data-locked-banner", "");
    var inner = shared.el("div", "container py-2");
    inner.appendChild(shared.el("p", "mb-0", LOCKED_MESSAGE));
    banner.appendChild(inner);
    header.appendChild(banner);
  }

  // The page was rendered for a sign-in that ended (signed out in another tab,
  // revoked, expired). It stays as it is — no reload, so nothing typed is lost —
  // says so, and listens on anonymously: no "me", no following feed.
  function showSignedOut() {
    if (signedOut) {
      return;
    }
    signedOut = true;
    if (shared.notifications) {
      shared.notifications.setLive(false);  // its next ask gets the 401 and stops
    }
    var main = document.getElementById("content");
    if (main && !document.querySelector("[data-live-signed-out]")) {
      var wrap = shared.el("div", "container pt-3");
      var box = notice("info", "You have been signed out. ", "data-live-signed-out");
      var reload = shared.el("a", "alert-link", "Reload the page");
      reload.setAttribute("href", window.location.pathname + window.location.search);
      box.appendChild(reload);
      box.appendChild(document.createTextNode(" to go on."));
      wrap.appendChild(box);
      main.insertBefore(wrap, main.firstChild);
    }
    if (feedTopic === "following" && socket) {
      scheduleSync();  // drop it: anonymous sockets may not follow it
    }
  }

  // ---- the connection ----

  function clearPongTimer() {
    if (pongTimer !== null) {
      window.clearTimeout(pongTimer);
      pongTimer = null;
    }
  }

  function clearTimers() {
    [stableTimer, pingTimer].forEach(function (timer) {
      if (timer !== null) {
        window.clearTimeout(timer);
        window.clearInterval(timer);
      }
    });
    stableTimer = pingTimer = null;
    clearPongTimer();
  }

  function socketUrl() {
    var url = new URL(socketPath, window.location.href);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    return url.toString();
  }

  // Full jitter: random(0, min(30 s, 1 s * 2^attempt)).
  function backoff() {
    var ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * Math.pow(2, Math.min(attempt, 10)));
    attempt += 1;
    return Math.random() * ceiling;
  }

  function connect() {
    reconnectTimer = null;
    if (stopped || socket) {
      return;
    }
    var opened = false;
    var current;
    try {
      current = new WebSocket(socketUrl());
    } catch (error) {
      stopped = true;  // refused outright (a policy): stay with polling
      setState("off");
      return;
    }
    socket = current;
    socket.greeted = false;
    subscribed = {};
    outstanding = 0;
    setState("connecting");

    current.onopen = function () {
      opened = true;
      everOpened = true;
      failures = 0;
      stableTimer = window.setTimeout(function () {
        attempt = 0;
      }, STABLE_MS);
      pingTimer = window.setInterval(function () {
        if (send({ type: "ping" }) && pongTimer === null) {
          pongTimer = window.setTimeout(function () {
            lost(current, null);  // half-open (a laptop woke up): start over
          }, PONG_TIMEOUT_MS);
        }
      }, PING_MS);
      if (shared.notifications && pageViewerId && !signedOut) {
        shared.notifications.setLive(true);
      }
    };
    current.onmessage = function (event) {
      if (socket === current) {
        onMessage(event);
      }
    };
    current.onclose = function (event) {
      lost(current, opened ? event.code : null);
    };
  }

  // The socket closed (code), failed to open (null), or went silent.
  function lost(which, code) {
    if (socket !== which) {
      return;  // an old one, already given up
    }
    which.onopen = which.onmessage = which.onclose = null;
    if (which.readyState === WebSocket.OPEN || which.readyState === WebSocket.CONNECTING) {
      which.close();
    }
    socket = null;
    clearTimers();
    if (shared.notifications) {
      shared.notifications.setLive(false);  // polling as before, asked at once
    }
    if (stopped) {
      return;
    }
    if (code === null && !everOpened) {
      failures += 1;
      if (failures >= GIVE_UP_FAILURES) {
        stopped = true;  // live is off here (or blocked): the polling stays
        setState("off");
        return;
      }
    }
    if (code === CLOSE_SIGNED_OUT) {
      showSignedOut();  // then on anonymously, after the usual pause
    }
    var delay = backoff();
    if (code === CLOSE_TRY_AGAIN_LATER) {
      delay = Math.max(delay, TRY_LATER_MS);
    }
    setState("closed");
    reconnectTimer = window.setTimeout(connect, delay);
  }

  function stop() {
    stopped = true;
    if (reconnectTimer !== null) {
      window.clearTimeout(reconnectTimer);
      reconnectTimer = null;
    }
    if (socket) {
      lost(socket, 1000);
    }
  }

  // Leaving (or going into the back/forward cache): close, so the page can be
  // cached; coming back from the cache counts as a reconnect (catch up).
  window.addEventListener("pagehide", stop);
  window.addEventListener("pageshow", function (event) {
    if (event.persisted && stopped && body.getAttribute("data-live-state") !== "off") {
      stopped = false;
      attempt = 0;
      connect();
    }
  });
  // Back online while waiting to reconnect: try now rather than at the end of the pause.
  window.addEventListener("online", function () {
    if (!stopped && !socket && reconnectTimer !== null) {
      window.clearTimeout(reconnectTimer);
      connect();
    }
  });

  connect();
})();
