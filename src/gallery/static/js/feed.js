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

  // _images.html's photo_alt: the author's alt text, else imageAlt.
  function photoAlt(photo, item) {
    return photo && photo.alt_text ? photo.alt_text : imageAlt(item);
  }

  // _images.html's photo_img: <picture> with the srcset in the modern format and
  // the JPEG widths on the <img>, or the display file alone for older photos.
  // square: a tile's, the thumbnail as src and 400×400 (object-fit crops it).
  function photoImage(photo, item, className, sizes, square) {
    var img = el("img", className);
    img.setAttribute("src", square ? item.thumb_url : photo ? photo.url : item.url);
    if (photo && photo.fallback_srcset) {
      img.setAttribute("srcset", photo.fallback_srcset);
      img.setAttribute("sizes", sizes);
    }
    img.setAttribute("width", square ? "400" : String(photo ? photo.width : item.width));
    img.setAttribute("height", square ? "400" : String(photo ? photo.height : item.height));
    img.setAttribute("loading", "lazy");
    img.setAttribute("decoding", "async");
    img.setAttribute("alt", photoAlt(photo, item));
    if (photo && photo.blurhash) {
      img.setAttribute("data-blurhash", photo.blurhash);
    }
    if (!photo || !photo.srcset) {
      return img;
    }
    var picture = el("picture", "photo-picture");
    var source = el("source");
    source.setAttribute("type", photo.srcset_type);
    source.setAttribute("srcset", photo.srcset);
    source.setAttribute("sizes", sizes);
    picture.appendChild(source);
    picture.appendChild(img);
    return picture;
  }

  // _images.html's alt_badge: <details> with "ALT" and the text (nothing without alt text).
  function altBadge(photo) {
    if (!photo || !photo.alt_text) {
      return null;
    }
    var badge = el("details", "alt-badge");
    badge.setAttribute("data-alt-badge", "");
    var summary = el("summary", "alt-badge-button", "ALT");
    summary.setAttribute("aria-label", "Show the description of this photo");
    badge.appendChild(summary);
    badge.appendChild(el("p", "alt-badge-text", photo.alt_text));
    return badge;
  }

  // _images.html's blurred_class: marked sensitive, and the viewer did not ask to see such photos.
  function blurred(item) {
    return Boolean(item.sensitive) && !document.body.hasAttribute("data-show-sensitive");
  }

  // _images.html's sensitive_cover: the warning and "Show", over a blurred post.
  function sensitiveCover(item) {
    var cover = el("details", "sensitive-cover");
    cover.setAttribute("data-sensitive-cover", "");
    var summary = el("summary", "sensitive-cover-summary");
    summary.appendChild(el("span", "sensitive-cover-label", "Sensitive"));
    summary.appendChild(el("span", "sensitive-cover-warning",
      item.content_warning || "This post may show sensitive content."));
    summary.appendChild(el("span", "sensitive-cover-show", "Show"));
    cover.appendChild(summary);
    return cover;
  }

  // _images.html's multi_mark: the stacked frames and the count of a post's photos.
  function multiMark(item) {
    var count = (item.photos || []).length;
    if (count < 2) {
      return null;
    }
    var mark = el("span", "photo-multi-mark");
    mark.setAttribute("data-photo-count", String(count));
    mark.appendChild(icon("photos"));
    mark.appendChild(el("span", "count-value", count));
    mark.appendChild(el("span", "visually-hidden", " photos"));
    return mark;
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
    var name = el("span", "photo-card-username", item.author.display_name || item.author.username);
    if (item.author.display_name) {
      name.setAttribute("title", "@" + item.author.username);
    }
    author.appendChild(name);
    head.appendChild(author);
    head.appendChild(timeTag(item.created_at, "photo-card-date"));
    card.appendChild(head);

    var cover = (item.photos || [])[0];
    var frame = el("div", "photo-card-frame" + (blurred(item) ? " is-sensitive" : ""));
    var media = link("photo-card-media", imageUrl);
    media.appendChild(photoImage(cover, item, "photo-card-img", urls.cardSizes, false));
    var mark = multiMark(item);
    if (mark) {
      media.appendChild(mark);
    }
    frame.appendChild(media);
    var badge = altBadge(cover);
    if (badge) {
      frame.appendChild(badge);
    }
    if (blurred(item)) {
      frame.appendChild(sensitiveCover(item));
    }
    card.appendChild(frame);

    var body = el("div", "photo-card-body");
    var stats = el("div", "photo-stats");
    stats.appendChild(likeCount(item, urls));
    stats.appendChild(commentCount(item, imageUrl + "#comments"));
    if (shared.saveControl && document.body.hasAttribute("data-signed-in")) {
      stats.appendChild(shared.saveControl(item, urls.root));  // the save button of social.js
    }
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
          comment.author.display_name || comment.author.username));
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
    var tile = link("photo-tile" + (blurred(item) ? " is-sensitive" : ""), urls.image(item.id));
    tile.setAttribute("data-image-id", String(item.id));
    tile.appendChild(photoImage((item.photos || [])[0], item, "photo-tile-img", urls.tileSizes, true));
    var mark = multiMark(item);
    if (mark) {
      tile.appendChild(mark);
    }
    if (blurred(item)) {
      tile.appendChild(el("span", "photo-tile-warning", "Sensitive"));
    }
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
      cardSizes: root.getAttribute("data-card-sizes") || "100vw",
      tileSizes: root.getAttribute("data-tile-sizes") || "33vw",
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
