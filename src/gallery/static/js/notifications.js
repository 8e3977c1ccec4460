/* Gallery: the notification bell, and the notifications page in place.
 *
 * Markup (templates/base.html, templates/social/notifications.html and the
 * notification_item macro of templates/social/_social.html; the URLs rendered
 * there with url_for, none written here):
 *   <a data-notification-bell data-unread-url="(API unread count)" data-unread-count="3">
 *     <span data-unread-badge>3</span> <span data-unread-label>Notifications (3 unread)</span>
 *   </a>
 *   <p data-unread-summary>3 unread</p>
 *   <form data-mark-all-form data-api-url="(API read-all)">…</form>
 *   <li data-notification data-notification-id="9" data-api-read-url="(API read of 9)" class="is-unread">
 *     <a data-notification-link>… <span data-unread-marker>Unread: </span> …</a>
 *     <form data-mark-read-form>…</form>
 *   </li>
 *
 * The bell asks the server for the unread count every POLL_SECONDS while the
 * tab is visible, and at once when it becomes visible or focused again; it
 * sends If-None-Match, so an unchanged count costs a 304. Marking read goes
 * through the JSON API without a reload; every form still posts without it.
 *
 * While live.js holds the live socket open, the server pushes the count, so the
 * 30 s ticks ask only every LIVE_POLL_SECONDS (a safety net); when the socket
 * goes down, the bell asks at once and polls every POLL_SECONDS again.
 * live.js reaches the bell through Gallery.notifications.
 * Every request goes through Gallery.apiFetch / apiRequest (shared.js), which
 * add the CSRF header to the POSTs.
 */
(function () {
  "use strict";

  var shared = window.Gallery;
  var POLL_SECONDS = 30;
  var LIVE_POLL_SECONDS = 300;
  var MIN_GAP_MS = 2000;  // focus and visibilitychange often come together

  var bells = document.querySelectorAll("[data-notification-bell]");
  var unreadUrl = bells.length ? bells[0].getAttribute("data-unread-url") : null;
  var etag = null;
  var inFlight = false;
  var stopped = false;
  var lastAsked = 0;
  var live = false;  // live.js's socket is open: the count comes pushed

  function apiRequest(url, options, fallback) {
    return shared.apiRequest(url, options, fallback);
  }

  // ---- the count, wherever it shows ----

  function showUnread(count) {
    count = Math.max(0, Number(count) || 0);
    bells.forEach(function (bell) {
      bell.setAttribute("data-unread-count", String(count));
      var badge = bell.querySelector("[data-unread-badge]");
      if (badge) {
        badge.textContent = count > 99 ? "99+" : String(count);
        badge.hidden = count === 0;
      }
      var label = bell.querySelector("[data-unread-label]");
      if (label) {
        label.textContent = count ? "Notifications (" + count + " unread)" : "Notifications";
      }
    });
    var summary = document.querySelector("[data-unread-summary]");
    if (summary) {
      summary.textContent = count ? count + " unread" : "You're all caught up.";
    }
    var markAll = document.querySelector("[data-mark-all-form]");
    if (markAll) {
      markAll.hidden = count === 0;
    }
  }

  // ---- polling ----

  function refresh() {
    if (!unreadUrl || stopped || inFlight || document.hidden) {
      return;
    }
    var now = Date.now();
    if (now - lastAsked < MIN_GAP_MS) {
      return;
    }
    lastAsked = now;
    inFlight = true;
    var headers = {};
    if (etag) {
      headers["If-None-Match"] = etag;
    }
    // no-store: the browser cache must neither answer nor add its own validators.
    shared.apiFetch(unreadUrl, { headers: headers, cache: "no-store" })
      .then(function (response) {
        if (response.status === 304) {
          return;
        }
        if (response.status === 401) {
          stopped = true;  // signed out in another tab: the next page load shows it
          return;
        }
        if (!response.ok) {
          return;  // try again at the next tick
        }
        return response.json().then(function (data) {
          etag = response.headers.get("ETag");
          showUnread(data.unread_count);
        });
      })
      .catch(function () {
        // Offline for a moment: the next tick tries again.
      })
      .then(function () {
        inFlight = false;
      });
  }

  // A tick of the timer: every tick without the live socket, rarely with it.
  function tick() {
    if (live && Date.now() - lastAsked < LIVE_POLL_SECONDS * 1000) {
      return;
    }
    refresh();
  }

  // ---- what live.js uses ----

  shared.notifications = {
    showUnread: showUnread,
    // Ask now (after the socket missed events), whatever the time since the last ask.
    refresh: function () {
      lastAsked = 0;
      refresh();
    },
    // The socket opened (true) or went down (false): poll slowly, or as before at once.
    setLive: function (open) {
      var wasLive = live;
      live = Boolean(open);
      if (wasLive && !live) {
        refresh();
      }
    }
  };

  // ---- the notifications page ----

  function markItemRead(item) {
    item.classList.remove("is-unread");
    var marker = item.querySelector("[data-unread-marker]");
    if (marker) {
      marker.remove();
    }
    var form = item.querySelector("[data-mark-read-form]");
    if (form) {
      form.remove();
    }
    var dot = item.querySelector(".notice-dot");
    if (dot) {
      dot.remove();
    }
  }

  function markOne(form) {
    var item = form.closest("[data-notification]");
    var url = item && item.getAttribute("data-api-read-url");
    var button = form.querySelector("button");
    if (!url || (button && button.disabled)) {
      return;
    }
    if (button) {
      button.disabled = true;
    }
    apiRequest(url, { method: "POST" }, "Could not mark the notification as read").then(function (data) {
      var link = item.querySelector("[data-notification-link]");
      markItemRead(item);
      showUnread(data.unread_count);
      if (link) {
        link.focus();  // the button the keyboard was on is gone
      }
    }).catch(function (error) {
      if (button) {
        button.disabled = false;
      }
      shared.toast(error.message);
    });
  }

  function markAll(form) {
    var url = form.getAttribute("data-api-url");
    var button = form.querySelector("button");
    if (!url || (button && button.disabled)) {
      return;
    }
    if (button) {
      button.disabled = true;
    }
    apiRequest(url, { method: "POST" }, "Could not mark the notifications as read").then(function (data) {
      document.querySelectorAll("[data-notification].is-unread").forEach(markItemRead);
      showUnread(data.unread_count);
      var heading = document.querySelector(".notices-title");
      if (heading) {
        heading.setAttribute("tabindex", "-1");
        heading.focus();
      }
    }).catch(function (error) {
      shared.toast(error.message);
    }).then(function () {
      if (button) {
        button.disabled = false;
      }
    });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    if (form.hasAttribute("data-mark-read-form")) {
      event.preventDefault();
      markOne(form);
    } else if (form.hasAttribute("data-mark-all-form")) {
      event.preventDefault();
      markAll(form);
    }
  });

  // Opening an unread notice marks it read on the way (keepalive: it outlives the page).
  document.addEventListener("click", function (event) {
    var link = event.target instanceof Element ? event.target.closest("[data-notification-link]") : null;
    var item = link && link.closest("[data-notification].is-unread");
    if (!item) {
      return;
    }
    var url = item.getAttribute("data-api-read-url");
    if (url) {
      shared.apiFetch(url, { method: "POST", keepalive: true }).catch(function () {});
    }
  });

  // ---- start ----

  if (unreadUrl) {
    window.setInterval(tick, POLL_SECONDS * 1000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) {
        refresh();
      }
    });
    window.addEventListener("focus", refresh);
    window.addEventListener("pageshow", function (event) {
      if (event.persisted) {
        refresh();  // back from the back/forward cache: the badge may be old
      }
    });
  }
})();
