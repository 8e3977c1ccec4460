/* Gallery: likes and follows in place, and a small toast for their errors.
 *
 * Markup (templates/_images.html like_count, templates/social/_social.html follow_button;
 * every URL rendered there with url_for, none written here):
 *   <div class="like-count [is-liked]" data-like-count data-like-image="7">
 *     <form data-like-form method="post" action="(the like or unlike URL)"
 *           data-api-url="(API like URL)" data-like-url="(page like URL)" data-unlike-url="(page unlike URL)">
 *       <button data-like-button aria-pressed="false" aria-label="Like">♥</button>
 *     </form>
 *     (signed out: <a class="like-button" data-like-signin href="(sign-in URL)?next=…">♥</a>)
 *     <span class="count-value">3</span><span class="visually-hidden"> likes</span>
 *   </div>
 *   <form data-follow-form data-username="alice" data-api-url="(API follow URL)"
 *         action="(the follow or unfollow URL)" data-follow-url data-unfollow-url>
 *     <button data-follow-button aria-pressed="false"><span data-follow-label>Follow</span> …</button>
 *   </form>
 *   <strong data-follower-count="alice">3</strong> <span data-follower-noun="alice">followers</span>
 *
 * Buttons toggle through PUT / DELETE on the JSON API at once (optimistically)
 * and always end with the server's count; on an error the old state comes
 * back and a toast says what went wrong. Every control showing the same image
 * or person changes together. Without JavaScript the forms post to the page
 * routes, which come back to the page (303).
 *
 * Gallery.likeControl(item, grid) builds the like markup for the cards feed.js
 * adds, with the URL templates of the grid (data-like-url="…{id}" and the rest,
 * see feed.js); Gallery.toast(message) is shared with notifications.js. Requests
 * go through Gallery.apiRequest (shared.js, which adds the CSRF header), icons
 * come from Gallery.icon. User text only ever goes through textContent.
 */
(function () {
  "use strict";

  var shared = window.Gallery;
  var el = shared.el;
  var csrfToken = shared.csrfToken;
  var apiRequest = shared.apiRequest;

  var TOAST_SECONDS = 6;

  // ---- helpers ----

  function toastRegion() {
    var region = document.querySelector("[data-toast-region]");
    if (!region) {
      region = el("div", "toast-region");
      region.setAttribute("data-toast-region", "");
      document.body.appendChild(region);
    }
    return region;
  }

  // A message at the bottom of the screen, read out at once; it goes by itself.
  function toast(message, kind) {
    var region = toastRegion();
    var item = el("div", "gallery-toast" + (kind === "info" ? " is-info" : ""));
    item.setAttribute("role", kind === "info" ? "status" : "alert");
    item.setAttribute("data-toast", "");
    item.appendChild(el("span", "gallery-toast-text", message));
    var close = el("button", "gallery-toast-close");
    close.type = "button";
    close.setAttribute("aria-label", "Dismiss");
    close.textContent = "×";
    close.addEventListener("click", function () {
      item.remove();
    });
    item.appendChild(close);
    region.appendChild(item);
    window.setTimeout(function () {
      item.remove();
    }, TOAST_SECONDS * 1000);
    return item;
  }

  function signedIn() {
    return document.body.hasAttribute("data-signed-in");
  }

  function currentPage() {
    return window.location.pathname + window.location.search;
  }

  function hiddenInput(name, value) {
    var input = el("input");
    input.setAttribute("type", "hidden");
    input.setAttribute("name", name);
    input.setAttribute("value", value);
    return input;
  }

  function sameName(a, b) {
    return String(a || "").toLowerCase() === String(b || "").toLowerCase();
  }

  // ---- likes ----

  // The like_count macro of _images.html, in DOM calls; the URLs from the
  // templates on grid (the feed's section, or an element inside it).
  function likeControl(item, grid) {
    var id = String(item.id);
    var liked = Boolean(item.liked);
    var wrap = el("div", "like-count" + (liked ? " is-liked" : ""));
    wrap.setAttribute("data-like-count", "");
    wrap.setAttribute("data-like-image", id);
    if (signedIn()) {
      var likeUrl = shared.url(grid, "like", { id: id });
      var unlikeUrl = shared.url(grid, "unlike", { id: id });
      var form = el("form", "like-form");
      form.setAttribute("method", "post");
      form.setAttribute("action", liked ? unlikeUrl : likeUrl);
      form.setAttribute("data-like-form", "");
      form.setAttribute("data-api-url", shared.url(grid, "like-api", { id: id }));
      form.setAttribute("data-like-url", likeUrl);
      form.setAttribute("data-unlike-url", unlikeUrl);
      form.appendChild(hiddenInput("csrf_token", csrfToken()));
      form.appendChild(hiddenInput("next", currentPage()));
      var button = el("button", "like-button");
      button.setAttribute("type", "submit");
      button.setAttribute("aria-pressed", liked ? "true" : "false");
      button.setAttribute("aria-label", liked ? "Unlike" : "Like");
      button.setAttribute("title", liked ? "Unlike" : "Like");
      button.setAttribute("data-like-button", "");
      button.appendChild(shared.icon("heart"));
      form.appendChild(button);
      wrap.appendChild(form);
    } else {
      // Sign in, then back to this page: the grid renders that URL as like_count does.
      var link = el("a", "like-button");
      link.setAttribute("href", shared.url(grid, "login"));
      link.setAttribute("aria-label", "Sign in to like");
      link.setAttribute("title", "Sign in to like");
      link.setAttribute("data-like-signin", "");
      link.appendChild(shared.icon("heart"));
      wrap.appendChild(link);
    }
    wrap.appendChild(el("span", "count-value", item.like_count));
    wrap.appendChild(el("span", "visually-hidden", item.like_count === 1 ? " like" : " likes"));
    return wrap;
  }

  function likeControlsOf(imageId) {
    return document.querySelectorAll('[data-like-count][data-like-image="' + Number(imageId) + '"]');
  }

  function showLike(imageId, liked, count) {
    likeControlsOf(imageId).forEach(function (wrap) {
      wrap.classList.toggle("is-liked", liked);
      var value = wrap.querySelector(".count-value");
      if (value) {
        value.textContent = String(count);
      }
      var noun = wrap.querySelector(".count-value + .visually-hidden");
      if (noun) {
        noun.textContent = count === 1 ? " like" : " likes";
      }
      var button = wrap.querySelector("[data-like-button]");
      if (button) {
        button.setAttribute("aria-pressed", liked ? "true" : "false");
        button.setAttribute("aria-label", liked ? "Unlike" : "Like");
        button.setAttribute("title", liked ? "Unlike" : "Like");
      }
      var form = wrap.querySelector("[data-like-form]");
      var action = form && form.getAttribute(liked ? "data-unlike-url" : "data-like-url");
      if (action) {
        // Keep the no-JS action in step: it is what a plain submit would do next.
        form.setAttribute("action", action);
      }
    });
  }

  function setLikeBusy(imageId, busy) {
    likeControlsOf(imageId).forEach(function (wrap) {
      if (busy) {
        wrap.setAttribute("aria-busy", "true");
      } else {
        wrap.removeAttribute("aria-busy");
      }
    });
  }

  function toggleLike(form) {
    var wrap = form.closest("[data-like-count]");
    var button = form.querySelector("[data-like-button]");
    var apiUrl = form.getAttribute("data-api-url");
    if (!wrap || !button || !apiUrl || wrap.getAttribute("aria-busy") === "true") {
      return;
    }
    var imageId = wrap.getAttribute("data-like-image");
    var wasLiked = button.getAttribute("aria-pressed") === "true";
    var value = wrap.querySelector(".count-value");
    var before = value ? parseInt(value.textContent, 10) || 0 : 0;

    // Optimistic: the heart answers at once; the server's count follows.
    showLike(imageId, !wasLiked, Math.max(0, before + (wasLiked ? -1 : 1)));
    setLikeBusy(imageId, true);
    wrap.classList.add("like-pop");
    window.setTimeout(function () {
      wrap.classList.remove("like-pop");
    }, 400);
    apiRequest(apiUrl, { method: wasLiked ? "DELETE" : "PUT" },
      wasLiked ? "Could not remove your like" : "Could not like the photo"
    ).then(function (data) {
      showLike(imageId, Boolean(data.liked), Number(data.like_count) || 0);
    }).catch(function (error) {
      showLike(imageId, wasLiked, before);
      toast(error.message);
    }).then(function () {
      setLikeBusy(imageId, false);
    });
  }

  // ---- follows ----

  function followFormsOf(username) {
    return Array.prototype.filter.call(document.querySelectorAll("[data-follow-form]"), function (form) {
      return sameName(form.getAttribute("data-username"), username);
    });
  }

  function followerCountsOf(username) {
    return Array.prototype.filter.call(document.querySelectorAll("[data-follower-count]"), function (node) {
      return sameName(node.getAttribute("data-follower-count"), username);
    });
  }

  // ``requested``: asked to follow a private account, waiting for its owner.
  // Pressed either way: pressing again unfollows, or withdraws the request.
  function showFollow(username, following, count, requested) {
    var pressed = following || Boolean(requested);
    followFormsOf(username).forEach(function (form) {
      var button = form.querySelector("[data-follow-button]");
      var label = form.querySelector("[data-follow-label]");
      if (button) {
        button.setAttribute("aria-pressed", pressed ? "true" : "false");
        button.classList.toggle("is-following", pressed);
      }
      if (label) {
        label.textContent = following ? "Following" : requested ? "Requested" : "Follow";
      }
      var action = form.getAttribute(pressed ? "data-unfollow-url" : "data-follow-url");
      if (action) {
        form.setAttribute("action", action);  // what a plain submit would do next
      }
    });
    if (count === null || count === undefined) {
      return;
    }
    followerCountsOf(username).forEach(function (node) {
      node.textContent = String(count);
    });
    document.querySelectorAll("[data-follower-noun]").forEach(function (noun) {
      if (sameName(noun.getAttribute("data-follower-noun"), username)) {
        noun.textContent = count === 1 ? "follower" : "followers";
      }
    });
  }

  function toggleFollow(form) {
    var button = form.querySelector("[data-follow-button]");
    var apiUrl = form.getAttribute("data-api-url");
    var username = form.getAttribute("data-username");
    if (!button || !apiUrl || form.getAttribute("aria-busy") === "true") {
      return;
    }
    var wasFollowing = button.getAttribute("aria-pressed") === "true";
    var wasRequested = form.getAttribute("data-requested") === "true";
    // A private account is asked, not followed: its count stays until it says yes.
    var asks = form.getAttribute("data-private") === "true";
    var counts = followerCountsOf(username);
    var before = counts.length ? parseInt(counts[0].textContent, 10) || 0 : null;
    var step = asks || wasRequested ? 0 : wasFollowing ? -1 : 1;
    var guess = before === null ? null : Math.max(0, before + step);

    showFollow(username, !wasFollowing && !asks, guess, !wasFollowing && asks);
    followFormsOf(username).forEach(function (other) {
      other.setAttribute("aria-busy", "true");
    });
    apiRequest(apiUrl, { method: wasFollowing ? "DELETE" : "PUT" },
      wasFollowing ? "Could not unfollow " + username : "Could not follow " + username
    ).then(function (data) {
      followFormsOf(username).forEach(function (other) {
        other.setAttribute("data-requested", data.requested ? "true" : "false");
      });
      showFollow(
        username, Boolean(data.following), Number(data.follower_count) || 0, Boolean(data.requested)
      );
    }).catch(function (error) {
      showFollow(username, wasFollowing && !wasRequested, before, wasRequested);
      toast(error.message);
    }).then(function () {
      followFormsOf(username).forEach(function (other) {
        other.removeAttribute("aria-busy");
      });
    });
  }

  // ---- saved for later ----

  // The save_button macro of _images.html, in DOM calls; the URLs from the
  // grid's data-save-url, data-unsave-url and data-save-api-url templates.
  function saveControl(item, grid) {
    var id = item.id;
    var saved = Boolean(item.saved);
    var saveUrl = shared.url(grid, "save", { id: id });
    var unsaveUrl = shared.url(grid, "unsave", { id: id });
    var form = el("form", "save-form");
    form.setAttribute("method", "post");
    form.setAttribute("action", saved ? unsaveUrl : saveUrl);
    form.setAttribute("data-save-form", "");
    form.setAttribute("data-save-image", String(id));
    form.setAttribute("data-api-url", shared.url(grid, "save-api", { id: id }));
    form.setAttribute("data-save-url", saveUrl);
    form.setAttribute("data-unsave-url", unsaveUrl);
    var token = el("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = shared.csrfToken();
    form.appendChild(token);
    var next = el("input");
    next.type = "hidden";
    next.name = "next";
    next.value = window.location.pathname + window.location.search;
    form.appendChild(next);
    var button = el("button", "save-button" + (saved ? " is-saved" : ""));
    button.setAttribute("type", "submit");
    button.setAttribute("aria-pressed", saved ? "true" : "false");
    button.setAttribute("aria-label", saved ? "Saved" : "Save for later");
    button.setAttribute("title", saved ? "Saved" : "Save for later");
    button.setAttribute("data-save-button", "");
    button.appendChild(shared.icon("bookmark"));
    form.appendChild(button);
    return form;
  }

  function showSaved(imageId, saved) {
    document.querySelectorAll('[data-save-form][data-save-image="' + Number(imageId) + '"]').forEach(function (form) {
      var button = form.querySelector("[data-save-button]");
      if (button) {
        button.classList.toggle("is-saved", saved);
        button.setAttribute("aria-pressed", saved ? "true" : "false");
        button.setAttribute("aria-label", saved ? "Saved" : "Save for later");
        button.setAttribute("title", saved ? "Saved" : "Save for later");
      }
      var action = form.getAttribute(saved ? "data-unsave-url" : "data-save-url");
      if (action) {
        form.setAttribute("action", action);
      }
    });
  }

  function toggleSave(form) {
    var button = form.querySelector("[data-save-button]");
    var apiUrl = form.getAttribute("data-api-url");
    if (!button || !apiUrl || form.getAttribute("aria-busy") === "true") {
      return;
    }
    var imageId = form.getAttribute("data-save-image");
    var wasSaved = button.getAttribute("aria-pressed") === "true";
    showSaved(imageId, !wasSaved);
    form.setAttribute("aria-busy", "true");
    apiRequest(apiUrl, { method: wasSaved ? "DELETE" : "PUT" },
      wasSaved ? "Could not remove it from your saved posts" : "Could not save the post"
    ).then(function (data) {
      showSaved(imageId, Boolean(data.saved));
    }).catch(function (error) {
      showSaved(imageId, wasSaved);
      toast(error.message);
    }).then(function () {
      form.removeAttribute("aria-busy");
    });
  }

  // ---- wiring: one listener for every form, also those added later ----

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    if (form.hasAttribute("data-like-form")) {
      event.preventDefault();
      toggleLike(form);
    } else if (form.hasAttribute("data-follow-form")) {
      event.preventDefault();
      toggleFollow(form);
    } else if (form.hasAttribute("data-save-form")) {
      event.preventDefault();
      toggleSave(form);
    }
  });

  shared.likeControl = likeControl;
  shared.saveControl = saveControl;
  shared.toast = toast;
})();
