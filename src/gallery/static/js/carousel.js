/* Gallery: the post page's carousel of photos.
 *
 * Markup (templates/images/detail.html):
 *   <div data-carousel>
 *     <div data-carousel-track tabindex="0"> <figure data-carousel-slide id="photo-1">…</figure> … </div>
 *     <button data-carousel-prev hidden> <button data-carousel-next hidden>
 *     <div class="carousel-dots"> <a data-carousel-dot href="#photo-1" aria-current="true"> … </div>
 *   </div>
 *
 * Without this script the track still scrolls and snaps (swipe on a phone,
 * the arrow keys once it has focus) and each dot is a link to its photo. This
 * shows the arrow buttons, moves one photo per arrow key, and keeps the dots
 * and the arrows' state in step with the photo in view.
 */
(function () {
  "use strict";

  function setUp(root) {
    var track = root.querySelector("[data-carousel-track]");
    var slides = Array.prototype.slice.call(root.querySelectorAll("[data-carousel-slide]"));
    var dots = Array.prototype.slice.call(root.querySelectorAll("[data-carousel-dot]"));
    var previous = root.querySelector("[data-carousel-prev]");
    var next = root.querySelector("[data-carousel-next]");
    if (!track || slides.length < 2) {
      return;
    }
    var current = 0;

    function show(index) {
      var target = Math.max(0, Math.min(slides.length - 1, index));
      track.scrollTo({ left: slides[target].offsetLeft - track.offsetLeft, top: 0 });
    }

    function update() {
      var width = track.clientWidth || 1;
      current = Math.max(0, Math.min(slides.length - 1, Math.round(track.scrollLeft / width)));
      dots.forEach(function (dot, index) {
        if (index === current) {
          dot.setAttribute("aria-current", "true");
        } else {
          dot.removeAttribute("aria-current");
        }
      });
      if (previous) { previous.disabled = current === 0; }
      if (next) { next.disabled = current === slides.length - 1; }
      root.setAttribute("data-carousel-index", String(current));
    }

    if (previous) {
      previous.hidden = false;
      previous.addEventListener("click", function () { show(current - 1); });
    }
    if (next) {
      next.hidden = false;
      next.addEventListener("click", function () { show(current + 1); });
    }
    dots.forEach(function (dot, index) {
      dot.addEventListener("click", function (event) {
        event.preventDefault();  // the track scrolls; the page stays where it is
        show(index);
      });
    });
    track.addEventListener("keydown", function (event) {
      if (event.key === "ArrowLeft" || event.key === "ArrowRight") {
        event.preventDefault();
        show(current + (event.key === "ArrowRight" ? 1 : -1));
      } else if (event.key === "Home" || event.key === "End") {
        event.preventDefault();
        show(event.key === "Home" ? 0 : slides.length - 1);
      }
    });
    var pending = false;
    track.addEventListener("scroll", function () {
      if (!pending) {
        pending = true;
        window.requestAnimationFrame(function () { pending = false; update(); });
      }
    }, { passive: true });
    window.addEventListener("resize", update);
    // A link to #photo-3 opens at that photo.
    var wanted = /^#photo-(\d+)$/.exec(window.location.hash);
    if (wanted) {
      show(Number(wanted[1]) - 1);
    }
    update();
  }

  function start() {
    Array.prototype.forEach.call(document.querySelectorAll("[data-carousel]"), setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
