/* Gallery: comments in place on the image page.
 *
 * Markup (templates/images/detail.html and its comment_item macro):
 *   <section id="comments" data-comments data-comments-url data-next-cursor
 *            data-viewer-id data-image-author-id data-viewer-moderates
 *            data-comments-enabled="true|false"
 *            data-delete-url="…{id}…" data-api-delete-url="…{id}"
 *            data-report-url="…{id}…" data-profile-url="…{username}">
 *       (URL templates rendered with url_for, read with Gallery.url: none is written here)
 *     <ol data-comment-list> <li class="comment" id="comment-1" data-comment-id="1">…</li> </ol>
 *     <p data-comments-empty hidden>…</p>
 *     <p data-comments-more-wrap><a data-comments-more href="?comments=…">Load more comments</a></p>
 *     <div data-comments-status role="alert"></div>
 *     <form id="comment-form">… <textarea name="content"> … <div data-comment-error role="alert"></div></form>
 *       (or, with comments turned off, <p data-comments-off> and no form)
 *   </section>
 *   The counter: [data-comment-count] .count-value
 *
 * Posting, deleting and "load more" go through the JSON API (Gallery.apiRequest,
 * which adds the CSRF header); every form and link still works without JavaScript. User text only ever goes through
 * textContent (no innerHTML).
 *
 * Gallery.comments is what live.js uses for the comments others post and delete
 * while the page is open: add(comment) appends one (once: a comment already on
 * the page is skipped), remove(id) takes one away, sync(items) lays the
 * complete list over the page after a gap. The counters are live.js's to set
 * (the events carry the count), so these leave them alone.
 */
(function () {
  "use strict";

  var shared = window.Gallery;
  var el = shared.el;
  var humanDate = shared.humanDate;
  var refreshTimes = shared.refreshTimes;
  var csrfToken = shared.csrfToken;
  var request = shared.apiRequest;  // fetch → JSON, CSRF header added; errors carry the API's message
  var liveSections = [];  // what Gallery.comments reaches: one per comments section

  function setUp(section) {
    var list = section.querySelector("[data-comment-list]");
    var emptyNote = section.querySelector("[data-comments-empty]");
    var status = section.querySelector("[data-comments-status]");
    var moreLink = section.querySelector("[data-comments-more]");
    // Comments turned off: the page renders no form; never wire one up anyway.
    var commentsEnabled = section.getAttribute("data-comments-enabled") !== "false";
    var form = commentsEnabled ? document.getElementById("comment-form") : null;
    var commentsUrl = section.getAttribute("data-comments-url");
    var cursor = section.getAttribute("data-next-cursor") || null;
    var viewerId = parseInt(section.getAttribute("data-viewer-id") || "", 10);
    var imageAuthorId = parseInt(section.getAttribute("data-image-author-id") || "", 10);
    var moderates = section.getAttribute("data-viewer-moderates") === "true";

    if (!list || !commentsUrl) {
      return;
    }

    // A quiet live region for "posted" / "deleted" (errors go to role=alert boxes).
    var announcer = el("div", "visually-hidden");
    announcer.setAttribute("aria-live", "polite");
    section.appendChild(announcer);

    function announce(message) {
      announcer.textContent = "";
      window.setTimeout(function () {
        announcer.textContent = message;
      }, 50);
    }

    function showStatus(message) {
      if (status) {
        status.textContent = message || "";
      }
    }

    // The comment_item macro of detail.html, in DOM calls.
    function renderComment(comment) {
      var authorUrl = shared.url(section, "profile", { username: comment.author.username });
      var li = el("li", "comment");
      li.id = "comment-" + comment.id;
      li.setAttribute("data-comment-id", String(comment.id));

      var avatarLink = el("a", "comment-avatar");
      avatarLink.setAttribute("href", authorUrl);
      avatarLink.setAttribute("tabindex", "-1");
      avatarLink.setAttribute("aria-hidden", "true");
      var avatar = el("img", "avatar avatar-sm");
      avatar.setAttribute("src", comment.author.avatar_url);
      avatar.setAttribute("alt", "");
      avatar.setAttribute("width", "32");
      avatar.setAttribute("height", "32");
      avatarLink.appendChild(avatar);
      li.appendChild(avatarLink);

      var main = el("div", "comment-main");
      var meta = el("div", "comment-meta");
      var author = el("a", "comment-author", comment.author.display_name || comment.author.username);
      if (comment.author.display_name) {
        author.setAttribute("title", "@" + comment.author.username);
      }
      author.setAttribute("href", authorUrl);
      meta.appendChild(author);
      var time = el("time", "comment-time", humanDate(comment.created_at));
      time.setAttribute("datetime", comment.created_at);
      time.setAttribute("data-relative", "");
      meta.appendChild(time);

      var authorId = comment.author.id;
      var mayDelete = Boolean(viewerId && (viewerId === authorId || viewerId === imageAuthorId || moderates));
      if (mayDelete) {
        var deleteForm = el("form", "comment-delete-form");
        deleteForm.setAttribute("method", "post");
        deleteForm.setAttribute("action", shared.url(section, "delete", { id: comment.id }));
        deleteForm.setAttribute("data-confirm", "Delete this comment?");
        var token = el("input");
        token.setAttribute("type", "hidden");
        token.setAttribute("name", "csrf_token");
        token.setAttribute("value", csrfToken());
        deleteForm.appendChild(token);
        var button = el("button", "comment-delete", "Delete");
        button.setAttribute("type", "submit");
        button.setAttribute("aria-label", "Delete comment by " + comment.author.username);
        deleteForm.appendChild(button);
        meta.appendChild(deleteForm);
      }
      // Everyone but its author may report it (signed out: through sign-in and back).
      if (viewerId !== authorId) {
        var report = el("a", "comment-report small link-secondary" + (mayDelete ? "" : " ms-auto"), "Report");
        report.setAttribute("href", shared.url(section, "report", { id: comment.id }));
        report.setAttribute("aria-label", "Report comment by " + comment.author.username);
        report.setAttribute("data-comment-report", "");
        meta.appendChild(report);
      }
      main.appendChild(meta);
      main.appendChild(el("p", "comment-text", comment.content));
      li.appendChild(main);
      refreshTimes(li);
      return li;
    }

    function bumpCount(delta) {
      document.querySelectorAll("[data-comment-count]").forEach(function (counter) {
        var value = counter.querySelector(".count-value");
        if (!value) {
          return;
        }
        var count = Math.max(0, (parseInt(value.textContent, 10) || 0) + delta);
        value.textContent = String(count);
        var noun = counter.querySelector(".visually-hidden");
        if (noun) {
          noun.textContent = count === 1 ? " comment" : " comments";
        }
      });
    }

    function updateEmptyNote() {
      if (emptyNote) {
        emptyNote.hidden = list.children.length > 0;
      }
    }

    // ---- posting ----
    if (form) {
      var textarea = form.querySelector('textarea[name="content"]');
      var submit = form.querySelector('button[type="submit"]');
      var formError = form.querySelector("[data-comment-error]");
      var posting = false;

      var showFormError = function (message) {
        if (formError) {
          formError.textContent = message || "";
        }
        if (textarea) {
          textarea.classList.toggle("is-invalid", Boolean(message));
          if (message) {
            textarea.setAttribute("aria-invalid", "true");
          } else {
            textarea.removeAttribute("aria-invalid");
          }
        }
      };

      form.addEventListener("submit", function (event) {
        event.preventDefault();
        if (posting || !textarea) {
          return;
        }
        var content = textarea.value;
        if (!content.trim()) {
          showFormError("Write something first.");
          textarea.focus();
          return;
        }
        posting = true;
        showFormError("");
        submit.disabled = true;
        form.setAttribute("aria-busy", "true");
        request(commentsUrl, {
          method: "POST",
          headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ content: content })
        }, "Could not post the comment").then(function (comment) {
          // live.js may have shown it already (its event can beat this answer).
          var li = document.getElementById("comment-" + comment.id);
          if (!li) {
            li = renderComment(comment);
            list.appendChild(li);
            updateEmptyNote();
            bumpCount(1);
          }
          li.classList.add("comment-new");
          textarea.value = "";
          li.scrollIntoView({ block: "nearest" });
          textarea.focus();
          announce("Your comment was posted.");
        }).catch(function (error) {
          showFormError(error.message);
          textarea.focus();
        }).then(function () {
          posting = false;
          submit.disabled = false;
          form.removeAttribute("aria-busy");
        });
      });

      if (textarea) {
        // Ctrl/Cmd+Enter posts, as in most comment boxes.
        textarea.addEventListener("keydown", function (event) {
          if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
            event.preventDefault();
            if (form.requestSubmit) {
              form.requestSubmit();
            } else {
              form.dispatchEvent(new Event("submit", { cancelable: true }));
            }
          }
        });
        textarea.addEventListener("input", function () {
          if (formError && formError.textContent) {
            showFormError("");
          }
        });
      }
    }

    // ---- deleting ----
    // Handled here (before app.js's document-wide data-confirm handler, which
    // then never sees the event), so the question is asked exactly once.
    section.addEventListener("submit", function (event) {
      var deleteForm = event.target;
      if (!(deleteForm instanceof HTMLFormElement) || !deleteForm.classList.contains("comment-delete-form")) {
        return;
      }
      event.preventDefault();
      event.stopPropagation();
      var li = deleteForm.closest("li.comment");
      var button = deleteForm.querySelector("button");
      if (!li || (button && button.disabled)) {
        return;
      }
      var question = deleteForm.getAttribute("data-confirm");
      if (question && !window.confirm(question)) {
        return;
      }
      var id = li.getAttribute("data-comment-id");
      if (button) {
        button.disabled = true;
      }
      showStatus("");
      request(shared.url(section, "api-delete", { id: id }), {
        method: "DELETE"
      }, "Could not delete the comment").then(function () {
        // Keep the keyboard somewhere sensible: the next comment, else the previous, else the box.
        var next = li.nextElementSibling || li.previousElementSibling;
        var focusTarget = next ? next.querySelector(".comment-author") : null;
        if (li.isConnected) {  // else live.js took it away (and set the count) first
          li.remove();
          bumpCount(-1);
        }
        updateEmptyNote();
        var textarea = form ? form.querySelector("textarea") : null;
        (focusTarget || textarea || section).focus();
        announce("The comment was deleted.");
      }).catch(function (error) {
        if (button) {
          button.disabled = false;
        }
        showStatus(error.message);
      });
    });

    // ---- what others do, live (live.js) ----

    // Every comment is on the page: no "Load more" left, so a new one goes at the end.
    function complete() {
      return !section.getAttribute("data-next-cursor");
    }

    liveSections.push({
      add: function (comment) {
        if (!complete() || document.getElementById("comment-" + comment.id)) {
          return;  // older pages still to load: "Load more" brings it, in order
        }
        list.appendChild(renderComment(comment));
        updateEmptyNote();
      },
      remove: function (id) {
        var li = document.getElementById("comment-" + Number(id));
        if (li && list.contains(li)) {
          li.remove();
          updateEmptyNote();
        }
      },
      // items: the image's whole list from the API, oldest first.
      sync: function (items) {
        if (!complete()) {
          return;
        }
        var kept = {};
        items.forEach(function (comment) {
          kept[comment.id] = true;
        });
        Array.prototype.slice.call(list.querySelectorAll("li.comment[data-comment-id]")).forEach(function (li) {
          if (!kept[li.getAttribute("data-comment-id")]) {
            li.remove();
          }
        });
        items.forEach(function (comment) {
          if (!document.getElementById("comment-" + comment.id)) {
            list.appendChild(renderComment(comment));
          }
        });
        updateEmptyNote();
      },
      complete: complete,
      url: commentsUrl
    });

    // ---- loading more ----
    if (moreLink && cursor) {
      var loadingMore = false;
      moreLink.addEventListener("click", function (event) {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
          return;
        }
        event.preventDefault();
        if (loadingMore || !cursor) {
          return;
        }
        loadingMore = true;
        moreLink.setAttribute("aria-disabled", "true");
        section.setAttribute("aria-busy", "true");
        showStatus("");
        var url = new URL(commentsUrl, window.location.href);
        url.searchParams.set("cursor", cursor);
        request(url.toString(), { method: "GET" }, "Could not load more comments").then(function (data) {
          var first = null;
          (data.items || []).forEach(function (comment) {
            if (document.getElementById("comment-" + comment.id)) {
              return;
            }
            var li = renderComment(comment);
            first = first || li;
            list.appendChild(li);
          });
          updateEmptyNote();
          cursor = data.next_cursor || null;
          section.setAttribute("data-next-cursor", cursor || "");
          if (cursor) {
            var next = new URL(moreLink.getAttribute("href"), window.location.href);
            next.searchParams.set("comments", cursor);
            moreLink.setAttribute("href", next.pathname + next.search + next.hash);
          } else {
            var wrap = moreLink.closest("[data-comments-more-wrap]") || moreLink;
            wrap.remove();
          }
          if (first) {
            var author = first.querySelector(".comment-author");
            if (author) {
              author.focus();
            }
          }
        }).catch(function (error) {
          showStatus(error.message);
        }).then(function () {
          loadingMore = false;
          moreLink.removeAttribute("aria-disabled");
          section.removeAttribute("aria-busy");
        });
      });
    }
  }

  shared.comments = {
    add: function (comment) {
      liveSections.forEach(function (live) {
        live.add(comment);
      });
    },
    remove: function (id) {
      liveSections.forEach(function (live) {
        live.remove(id);
      });
    },
    sync: function (items) {
      liveSections.forEach(function (live) {
        live.sync(items);
      });
    },
    // The comments API URL of the section on the page, when all its comments
    // are shown (else a catch-up has nothing to lay over); null otherwise.
    syncUrl: function () {
      var live = liveSections[0];
      return live && live.complete() ? live.url : null;
    }
  };

  function start() {
    document.querySelectorAll("[data-comments]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
