/* The avatar form on /settings/profile: choose the square of the photo to keep.

   The chosen photo is shown (from a blob: URL, nothing is sent yet) with a
   square over it that can be dragged, resized by its corner or the slider, and
   moved with the arrow keys. On submit the square is written to the hidden
   crop_left/crop_top/crop_side fields in the photo's own pixels, as the
   browser shows it upright: the server cuts the same square after applying
   the photo's orientation. Without this script the form sends no square and
   the centre is taken. */
(function () {
  "use strict";

  var form = document.querySelector("[data-avatar-form]");
  if (!form) {
    return;
  }
  var input = form.querySelector("input[type=file]");
  var cropper = form.querySelector("[data-avatar-cropper]");
  var image = form.querySelector("[data-crop-image]");
  var box = form.querySelector("[data-crop-box]");
  var handle = form.querySelector("[data-crop-handle]");
  var slider = form.querySelector("[data-crop-size]");
  var fields = {
    left: form.querySelector("[data-crop=left]"),
    top: form.querySelector("[data-crop=top]"),
    side: form.querySelector("[data-crop=side]"),
  };
  // The square in fractions of the shown photo's width/height, so that it
  // survives the photo being laid out again (a rotated phone, a resize).
  var square = { x: 0, y: 0, side: 1 };
  var objectUrl = null;

  function shown() {
    return { width: image.clientWidth, height: image.clientHeight };
  }

  function clamp(value, low, high) {
    return Math.min(Math.max(value, low), high);
  }

  // The square's side in shown pixels, and its place, kept inside the photo.
  function place(x, y, side) {
    var size = shown();
    var most = Math.min(size.width, size.height);
    side = clamp(side, Math.max(16, most * 0.1), most);
    x = clamp(x, 0, size.width - side);
    y = clamp(y, 0, size.height - side);
    square = { x: x / size.width, y: y / size.height, side: side / most };
    box.style.left = x + "px";
    box.style.top = y + "px";
    box.style.width = side + "px";
    box.style.height = side + "px";
    slider.value = String(Math.round(square.side * 100));
  }

  function current() {
    var size = shown();
    var most = Math.min(size.width, size.height);
    return { x: square.x * size.width, y: square.y * size.height, side: square.side * most };
  }

  function centre(side) {
    var size = shown();
    place((size.width - side) / 2, (size.height - side) / 2, side);
  }

  input.addEventListener("change", function () {
    var file = input.files && input.files[0];
    if (objectUrl) {
      URL.revokeObjectURL(objectUrl);
      objectUrl = null;
    }
    if (!file) {
      cropper.hidden = true;
      return;
    }
    objectUrl = URL.createObjectURL(file);
    image.onload = function () {
      cropper.hidden = false;
      var size = shown();
      centre(Math.min(size.width, size.height));
    };
    image.onerror = function () {
      // Not something this browser can show (HEIC, say): the server still
      // takes it, and cuts the centre.
      cropper.hidden = true;
    };
    image.src = objectUrl;
  });

  // Dragging the square, or its corner to resize it.
  var drag = null;
  box.addEventListener("pointerdown", function (event) {
    event.preventDefault();
    box.setPointerCapture(event.pointerId);
    drag = {
      resizing: event.target === handle,
      startX: event.clientX,
      startY: event.clientY,
      from: current(),
    };
  });
  box.addEventListener("pointermove", function (event) {
    if (!drag) {
      return;
    }
    var dx = event.clientX - drag.startX;
    var dy = event.clientY - drag.startY;
    if (drag.resizing) {
      place(drag.from.x, drag.from.y, drag.from.side + Math.max(dx, dy));
    } else {
      place(drag.from.x + dx, drag.from.y + dy, drag.from.side);
    }
  });
  function endDrag() {
    drag = null;
  }
  box.addEventListener("pointerup", endDrag);
  box.addEventListener("pointercancel", endDrag);

  box.addEventListener("keydown", function (event) {
    var steps = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    var step = steps[event.key];
    if (!step) {
      return;
    }
    event.preventDefault();
    var by = event.shiftKey ? 20 : 4;
    var at = current();
    place(at.x + step[0] * by, at.y + step[1] * by, at.side);
  });

  slider.addEventListener("input", function () {
    var size = shown();
    var at = current();
    var side = (Number(slider.value) / 100) * Math.min(size.width, size.height);
    // Resize around the square's centre.
    place(at.x + (at.side - side) / 2, at.y + (at.side - side) / 2, side);
  });

  window.addEventListener("resize", function () {
    if (!cropper.hidden) {
      var at = current();
      place(at.x, at.y, at.side);
    }
  });

  form.addEventListener("submit", function () {
    if (cropper.hidden || !image.naturalWidth) {
      fields.left.value = fields.top.value = fields.side.value = "";
      return;
    }
    var size = shown();
    var scale = image.naturalWidth / size.width;
    var at = current();
    var side = Math.floor(at.side * scale);
    side = Math.min(side, image.naturalWidth, image.naturalHeight);
    fields.left.value = String(clamp(Math.round(at.x * scale), 0, image.naturalWidth - side));
    fields.top.value = String(clamp(Math.round(at.y * scale), 0, image.naturalHeight - side));
    fields.side.value = String(side);
  });
})();
