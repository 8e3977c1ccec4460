/* Gallery: infinite scroll for the photo grids (home cards, profile tiles).
 *
 * Markup (templates/_images.html feed_grid; its card_urls macro renders the URLs):
 *   <section data-feed data-layout="cards|tiles" data-feed-url data-next-cursor data-page-size
 *            data-image-url="…{id}" data-profile-url="…{username}" data-tag-url="…{name}"
 *            data-like-url="…{id}" data-unlike-url="…{id}" data-like-api-url="…{id}" data-login-url>
 *     <div data-feed-items> ...[data-image-id]... </div>
 *     <div data-feed-sentinel><a data-feed-more href="?cursor=...">More photos</a></div>
 *     <div data-feed-status aria-live="polite"></div>
 *     <p data-feed-end hidden>You've reached the end.</p>
 *   </section>
 *
 * Cards and tiles are built here exactly as the Jinja macros build them, with
 * the icons of templates/_icons.html (Gallery.icon) and the URLs the section
 * carries (Gallery.url); user text only ever goes through textContent /
 * attributes (no innerHTML). Without JavaScript the "More photos" link pages
 * through ?cursor=.
 *
 * Gallery.renderFeedItem(root, item) builds one card or tile for the grid root:
 * live.js puts the new photos of the "N new photos" pill on top with it.
 */
(function () {
  "use strict";

  var shared = window.Gallery;
  var el = shared.el;
  var humanDate = shared.humanDate;
  var refreshTimes = shared.refreshTimes;
  var icon = shared.icon;

  var LOAD_FAILED = "Could not load more photos";

  // ---- DOM building ----

  function link(className, href, text) {
    var node = el("a", className, text);
    node.setAttribute("href", href);
    return node;
  }

  function timeTag(iso, className) {
    var time = el("time", className || null, humanDate(iso));
    time.setAttribute("datetime", iso);
    time.setAttribute("data-relative", "");
    return time;
  }

  function avatar(url) {
    var img = el("img", "avatar avatar-sm");
    img.setAttribute("src", url);
    img.setAttribute("alt", "");
    img.setAttribute("width", "32");
    img.setAttribute("height", "32");
    return img;
  }

  // Jinja's truncate(80, killwords=false, end="…", leeway=0).
  function truncateWords(text, length) {
    if (text.length <= length) {
      return text;
    }
    var cut = text.slice(0, length - 1);
    var space = cut.lastIndexOf(" ");
    if (space !== -1) {
      cut = cut.slice(0, space);
    }
    return cut + "…";
  }

  function imageAlt(item) {
    var words = String(item.description || "").split(/\s+/).filter(Boolean).join(" ");
    var alt = "Photo by " + item.author.username;
    return words ? alt + ": " + truncateWords(words, 80) : alt;
  }

  function likeCount(item, urls) {
    if (shared.likeControl) {
      return shared.likeControl(item, urls.root);  // the like button of social.js
    }
    var node = el("span", "like-count" + (item.liked ? " is-liked" : ""));
    node.setAttribute("data-like-count", "");
    node.appendChild(icon("heart"));
    node.appendChild(el("span", "count-value", item.like_count));
    node.appendChild(el("span", "visually-hidden", item.like_count === 1 ? " like" : " likes"));
    return node;
  }

  function commentCount(item, href) {
    var node = link("comment-count", href);
    node.setAttribute("data-comment-count", "");
    node.appendChild(icon("comment"));
    node.appendChild(el("span", "count-value", item.comment_count));
    node.appendChild(el("span", "visually-hidden", item.comment_count === 1 ? " comment" : " comments"));
    return node;
  }

  function renderCard(item, urls) {
    var imageUrl = urls.image(item.id);
    var card = el("article", "photo-card");
    card.setAttribute("data-image-id", String(item.id));

    var head = el("div", "photo-card-head");
    var author = link("photo-card-author", urls.profile(item.author.username));
    author.appendChild(avatar(item.author.avatar_url));
    author.appendChild(el("span", "photo-card-username", item.author.username));
    head.appendChild(author);
    head.appendChild(timeTag(item.created_at, "photo-card-date"));
    card.appendChild(head);

    var media = link("photo-card-media", imageUrl);
    var img = el("img", "photo-card-img");
    img.setAttribute("src", item.url);
    img.setAttribute("width", String(item.width));
    img.setAttribute("height", String(item.height));
    img.setAttribute("loading", "lazy");
    img.setAttribute("decoding", "async");
    img.setAttribute("alt", imageAlt(item));
    media.appendChild(img);
    card.appendChild(media);

    var body = el("div", "photo-card-body");
    var stats = el("div", "photo-stats");
    stats.appendChild(likeCount(item, urls));
    stats.appendChild(commentCount(item, imageUrl + "#comments"));
    body.appendChild(stats);
    if (item.description) {
      var description = el("p", "photo-card-desc");
      description.appendChild(shared.descriptionNodes(item.description, urls.tag));
      body.appendChild(description);
    }
    var comments = item.comments || [];
    if (comments.length) {
      var list = el("ul", "photo-card-comments");
      comments.forEach(function (comment) {
        var li = el("li");
        li.appendChild(link("photo-card-comment-author", urls.profile(comment.author.username),
          comment.author.username));
        li.appendChild(document.createTextNode(" "));
        li.appendChild(el("span", "photo-card-comment-text", comment.content));
        list.appendChild(li);
      });
      body.appendChild(list);
    }
    if (item.comment_count > comments.length) {
      body.appendChild(link("photo-card-all-comments", imageUrl + "#comments",
        "View all " + item.comment_count + " comments"));
    }
    card.appendChild(body);
    return card;
  }

  // <span data-tile-count="likes|comments">: live.js finds a tile's counts by it.
  function tileCount(kind, count) {
    var node = el("span", null, count);
    node.setAttribute("data-tile-count", kind);
    return node;
  }

  function renderTile(item, urls) {
    var tile = link("photo-tile", urls.image(item.id));
    tile.setAttribute("data-image-id", String(item.id));
    var img = el("img", "photo-tile-img");
    img.setAttribute("src", item.thumb_url);
    img.setAttribute("width", "400");
    img.setAttribute("height", "400");
    img.setAttribute("loading", "lazy");
    img.setAttribute("decoding", "async");
    img.setAttribute("alt", imageAlt(item));
    tile.appendChild(img);
    var overlay = el("span", "photo-tile-overlay");
    overlay.setAttribute("aria-hidden", "true");
    var likes = el("span", "photo-tile-stat");
    likes.appendChild(icon("heart"));
    likes.appendChild(tileCount("likes", item.like_count));
    var comments = el("span", "photo-tile-stat");
    comments.appendChild(icon("comment"));
    comments.appendChild(tileCount("comments", item.comment_count));
    overlay.appendChild(likes);
    overlay.appendChild(comments);
    tile.appendChild(overlay);
    return tile;
  }

  // The URLs a grid's cards link to, from its data-*-url templates.
  function urlsOf(root) {
    return {
      root: root,  // where social.js's likeControl finds its URLs
      tag: root.getAttribute("data-tag-url"),
      image: function (id) {
        return shared.url(root, "image", { id: id });
      },
      profile: function (username) {
        return shared.url(root, "profile", { username: username });
      }
    };
  }

  function rendererOf(root) {
    return root.getAttribute("data-layout") === "tiles" ? renderTile : renderCard;
  }

  // One item of the feed API as the grid root ([data-feed]) shows it: a card or a
  // tile, as image_card / image_tile render it. live.js puts new photos on top with it.
  shared.renderFeedItem = function (root, item) {
    var node = rendererOf(root)(item, urlsOf(root));
    refreshTimes(node);
    return node;
  };

  // ---- the feed ----

  function setUpFeed(root) {
    var grid = root.querySelector("[data-feed-items]");
    var sentinel = root.querySelector("[data-feed-sentinel]");
    var moreLink = root.querySelector("[data-feed-more]");
    var status = root.querySelector("[data-feed-status]");
    var end = root.querySelector("[data-feed-end]");
    var feedUrl = root.getAttribute("data-feed-url");
    var cursor = root.getAttribute("data-next-cursor") || null;
    var pageSize = root.getAttribute("data-page-size") || "";
    var render = rendererOf(root);
    var urls = urlsOf(root);
    var loading = false;
    var failed = false;
    var observer = null;
    var spinner = null;

    if (!grid || !sentinel || !feedUrl || !cursor) {
      return;
    }

    function setStatus(message, withRetry) {
      status.textContent = "";
      if (!message) {
        return;
      }
      status.appendChild(el("span", "text-danger", message + " "));
      if (withRetry) {
        var retry = el("button", "btn btn-link btn-sm p-0 align-baseline", "Try again");
        retry.type = "button";
        retry.setAttribute("data-feed-retry", "");
        retry.addEventListener("click", function () {
          failed = false;
          setStatus("");
          load(true);
        });
        status.appendChild(retry);
      }
    }

    function showSpinner(on) {
      if (on && !spinner) {
        spinner = el("div", "spinner-border spinner-border-sm text-secondary");
        spinner.setAttribute("aria-hidden", "true");
        sentinel.appendChild(spinner);
      } else if (!on && spinner) {
        spinner.remove();
        spinner = null;
      }
      if (moreLink) {
        moreLink.hidden = on;
      }
    }

    function finish() {
      if (observer) {
        observer.disconnect();
        observer = null;
      }
      sentinel.remove();
      if (end) {
        end.hidden = false;
      }
    }

    function updateMoreLink() {
      if (!moreLink) {
        return;
      }
      // Keep the no-JS link pointing at the page after what is shown.
      var url = new URL(moreLink.getAttribute("href"), window.location.href);
      url.searchParams.set("cursor", cursor);
      moreLink.setAttribute("href", url.pathname + url.search + url.hash);
    }

    function append(items) {
      var fragment = document.createDocumentFragment();
      var added = [];
      items.forEach(function (item) {
        if (grid.querySelector('[data-image-id="' + Number(item.id) + '"]')) {
          return;  // already shown
        }
        var node = render(item, urls);
        added.push(node);
        fragment.appendChild(node);
      });
      refreshTimes(fragment);
      grid.appendChild(fragment);
      return added;
    }

    function load(fromClick) {
      if (loading || failed || !cursor) {
        return;
      }
      loading = true;
      root.setAttribute("aria-busy", "true");
      showSpinner(true);
      var url = new URL(feedUrl, window.location.href);
      url.searchParams.set("cursor", cursor);
      if (pageSize) {
        url.searchParams.set("limit", pageSize);
      }
      shared.apiRequest(url.toString(), { method: "GET" }, LOAD_FAILED).then(function (data) {
        if (!data || !Array.isArray(data.items)) {
          var malformed = new Error(LOAD_FAILED + " (error 200).");
          malformed.status = 200;
          throw malformed;
        }
        var added = append(data.items);
        cursor = data.next_cursor || null;
        root.setAttribute("data-next-cursor", cursor || "");
        if (fromClick && added.length) {
          // A keyboard user asked for more: take them to the first new photo.
          var target = added[0].matches("a") ? added[0] : added[0].querySelector("a");
          if (target) {
            target.focus();
          }
        }
        if (cursor) {
          updateMoreLink();
        } else {
          finish();
        }
      }).catch(function (error) {
        failed = true;
        // Without a status the connection failed: the "Try again" button follows.
        setStatus(error.status ? error.message : LOAD_FAILED + ": the connection failed.", true);
      }).then(function () {
        loading = false;
        root.removeAttribute("aria-busy");
        if (cursor) {
          showSpinner(false);
          if (observer && !failed) {
            // Re-arm: if the sentinel is still in view (short page), load on.
            observer.unobserve(sentinel);
            observer.observe(sentinel);
          }
        }
      });
    }

    if (moreLink) {
      moreLink.addEventListener("click", function (event) {
        if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
          return;  // new tab or window: let the browser open the page
        }
        event.preventDefault();
        failed = false;
        setStatus("");
        load(true);
      });
    }

    if ("IntersectionObserver" in window) {
      observer = new IntersectionObserver(function (entries) {
        if (entries.some(function (entry) { return entry.isIntersecting; })) {
          load(false);
        }
      }, { rootMargin: "600px 0px" });
      observer.observe(sentinel);
    }
  }

  function start() {
    document.querySelectorAll("[data-feed]").forEach(setUpFeed);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
