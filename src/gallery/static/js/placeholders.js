/* Gallery: a blurred impression of each photo while it loads.
 *
 * Markup: <img data-blurhash="LEHV6nWB2yk8pyo0adR*.7kCMdnj" …> (templates/_images.html
 * photo_img, and feed.js's cards). The BlurHash (computed when the photo was
 * stored, gallery/imaging.py) is decoded here into a 32×32 image that becomes
 * the <img>'s background until the photo itself has loaded; then it goes.
 * Photos already loaded (from the cache) get nothing. Images added later
 * (infinite scroll, live updates) are found by a MutationObserver.
 *
 * The decoder follows the published BlurHash algorithm (base-83 digits, DC
 * colour plus cosine components in linear light).
 */
(function () {
  "use strict";

  var DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~";
  var SIZE = 32;
  var cache = {};
  var painted = new WeakSet();  // not an attribute: the markup stays the server's

  function decode83(text) {
    var value = 0;
    for (var i = 0; i < text.length; i++) {
      var digit = DIGITS.indexOf(text.charAt(i));
      if (digit < 0) {
        throw new Error("not a BlurHash");
      }
      value = value * 83 + digit;
    }
    return value;
  }

  function toLinear(value) {
    var v = value / 255;
    return v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  }

  function toSrgb(value) {
    var v = Math.max(0, Math.min(1, value));
    return Math.round(v <= 0.0031308 ? v * 12.92 * 255 : (1.055 * Math.pow(v, 1 / 2.4) - 0.055) * 255);
  }

  function signPow(value, exponent) {
    return (value < 0 ? -1 : 1) * Math.pow(Math.abs(value), exponent);
  }

  // The RGBA pixels (SIZE × SIZE) the hash stands for.
  function decode(hash) {
    var sizeFlag = decode83(hash.charAt(0));
    var columns = (sizeFlag % 9) + 1;
    var rows = Math.floor(sizeFlag / 9) + 1;
    if (hash.length !== 4 + 2 * columns * rows) {
      throw new Error("not a BlurHash");
    }
    var maximum = (decode83(hash.charAt(1)) + 1) / 166;
    var colours = [];
    for (var i = 0; i < columns * rows; i++) {
      if (i === 0) {
        var dc = decode83(hash.substring(2, 6));
        colours.push([toLinear(dc >> 16), toLinear((dc >> 8) & 255), toLinear(dc & 255)]);
      } else {
        var ac = decode83(hash.substring(4 + i * 2, 6 + i * 2));
        colours.push([
          signPow((Math.floor(ac / (19 * 19)) - 9) / 9, 2) * maximum,
          signPow(((Math.floor(ac / 19) % 19) - 9) / 9, 2) * maximum,
          signPow(((ac % 19) - 9) / 9, 2) * maximum,
        ]);
      }
    }
    var pixels = new Uint8ClampedArray(SIZE * SIZE * 4);
    for (var y = 0; y < SIZE; y++) {
      for (var x = 0; x < SIZE; x++) {
        var r = 0;
        var g = 0;
        var b = 0;
        for (var j = 0; j < rows; j++) {
          for (var k = 0; k < columns; k++) {
            var basis = Math.cos((Math.PI * x * k) / SIZE) * Math.cos((Math.PI * y * j) / SIZE);
            var colour = colours[k + j * columns];
            r += colour[0] * basis;
            g += colour[1] * basis;
            b += colour[2] * basis;
          }
        }
        var at = 4 * (x + y * SIZE);
        pixels[at] = toSrgb(r);
        pixels[at + 1] = toSrgb(g);
        pixels[at + 2] = toSrgb(b);
        pixels[at + 3] = 255;
      }
    }
    return pixels;
  }

  function dataUrl(hash) {
    if (!cache[hash]) {
      var canvas = document.createElement("canvas");
      canvas.width = SIZE;
      canvas.height = SIZE;
      var context = canvas.getContext("2d");
      context.putImageData(new ImageData(decode(hash), SIZE, SIZE), 0, 0);
      cache[hash] = canvas.toDataURL();
    }
    return cache[hash];
  }

  function clear(img) {
    img.style.removeProperty("background-image");
    img.style.removeProperty("background-size");
    if (!img.getAttribute("style")) {
      img.removeAttribute("style");
    }
  }

  function paint(img) {
    var hash = img.getAttribute("data-blurhash");
    if (!hash || img.complete || painted.has(img)) {
      return;
    }
    painted.add(img);
    try {
      img.style.backgroundImage = "url(" + dataUrl(hash) + ")";
      img.style.backgroundSize = "cover";
    } catch (error) {
      return;  // a malformed hash: no placeholder, the photo still loads
    }
    img.addEventListener("load", function () { clear(img); }, { once: true });
    img.addEventListener("error", function () { clear(img); }, { once: true });
  }

  function paintWithin(root) {
    if (root.matches && root.matches("img[data-blurhash]")) {
      paint(root);
    }
    if (root.querySelectorAll) {
      root.querySelectorAll("img[data-blurhash]").forEach(paint);
    }
  }

  function start() {
    paintWithin(document);
    new MutationObserver(function (changes) {
      changes.forEach(function (change) {
        change.addedNodes.forEach(function (node) {
          if (node.nodeType === Node.ELEMENT_NODE) {
            paintWithin(node);
          }
        });
      });
    }).observe(document.body, { childList: true, subtree: true });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
