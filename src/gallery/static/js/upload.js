/* Gallery: the upload page. Previews of the chosen files, a warning when they
 * add up to more than the server takes, drag-and-drop onto the whole box.
 * The form itself is still posted by the browser as plain multipart.
 *
 * Markup (templates/images/upload.html):
 *   <form data-upload-form data-max-upload-mb data-max-files>
 *     <div class="upload-drop"> <input type="file" name="file" multiple> </div>
 *     <div data-upload-warning role="alert"></div>
 *     <ul data-upload-previews hidden></ul>
 *     <button data-upload-submit>
 */
(function () {
  "use strict";

  var el = window.Gallery.el;

  var TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp"];
  var MAX_PREVIEWS = 60;

  function megabytes(bytes) {
    var mb = bytes / (1024 * 1024);
    return (mb < 10 ? mb.toFixed(1) : Math.round(mb)) + " MB";
  }

  function setUp(form) {
    var input = form.querySelector('input[type="file"][name="file"]');
    var drop = form.querySelector(".upload-drop");
    var previews = form.querySelector("[data-upload-previews]");
    var warning = form.querySelector("[data-upload-warning]");
    var submit = form.querySelector("[data-upload-submit]");
    var maxMb = parseFloat(form.getAttribute("data-max-upload-mb") || "0");
    var maxFiles = parseInt(form.getAttribute("data-max-files") || "0", 10);
    var objectUrls = [];
    var blocking = false;

    if (!input) {
      return;
    }

    function clearPreviews() {
      objectUrls.forEach(function (url) {
        URL.revokeObjectURL(url);
      });
      objectUrls = [];
      if (previews) {
        previews.textContent = "";
        previews.hidden = true;
      }
    }

    function check() {
      var files = Array.prototype.slice.call(input.files || []);
      var total = files.reduce(function (sum, file) {
        return sum + file.size;
      }, 0);
      var problems = [];
      blocking = false;
      if (maxMb && total > maxMb * 1024 * 1024) {
        blocking = true;
        problems.push("These files add up to " + megabytes(total) + "; the limit is " + maxMb +
          " MB in total. Choose fewer or smaller photos.");
      }
      if (maxFiles && files.length > maxFiles) {
        blocking = true;
        problems.push("You chose " + files.length + " files; at most " + maxFiles +
          " can be uploaded at a time.");
      }
      var strange = files.filter(function (file) {
        return file.type && TYPES.indexOf(file.type) === -1;
      });
      if (strange.length) {
        problems.push((strange.length === 1 ? strange[0].name + " is not" : strange.length + " files are not") +
          " a JPEG, PNG, GIF or WebP image and will be refused.");
      }
      if (warning) {
        warning.textContent = problems.join(" ");
      }
      input.classList.toggle("is-invalid", blocking);

      clearPreviews();
      if (!previews || !files.length) {
        return;
      }
      files.slice(0, MAX_PREVIEWS).forEach(function (file) {
        var item = el("li", "upload-preview");
        if (TYPES.indexOf(file.type) !== -1) {
          var url = URL.createObjectURL(file);
          objectUrls.push(url);
          var img = el("img");
          img.setAttribute("src", url);
          img.setAttribute("alt", "");
          img.setAttribute("width", "92");
          img.setAttribute("height", "92");
          item.appendChild(img);
        }
        item.appendChild(el("span", "upload-preview-name", file.name));
        item.setAttribute("title", file.name + " · " + megabytes(file.size));
        previews.appendChild(item);
      });
      previews.hidden = false;
    }

    input.addEventListener("change", check);

    if (drop) {
      ["dragenter", "dragover"].forEach(function (type) {
        drop.addEventListener(type, function (event) {
          event.preventDefault();
          drop.classList.add("is-dragging");
        });
      });
      ["dragleave", "dragend"].forEach(function (type) {
        drop.addEventListener(type, function () {
          drop.classList.remove("is-dragging");
        });
      });
      drop.addEventListener("drop", function (event) {
        event.preventDefault();
        drop.classList.remove("is-dragging");
        if (event.dataTransfer && event.dataTransfer.files && event.dataTransfer.files.length) {
          try {
            input.files = event.dataTransfer.files;
          } catch (error) {
            return;  // an old browser: dropping onto the input itself still works
          }
          check();
        }
      });
    }

    form.addEventListener("submit", function (event) {
      if (blocking) {
        event.preventDefault();
        input.focus();
        return;
      }
      if (submit && !event.defaultPrevented) {
        // One upload at a time; disabled after this tick so the form still goes.
        window.setTimeout(function () {
          submit.disabled = true;
          submit.textContent = "Uploading…";
        }, 0);
      }
    });

    // Back/forward cache: the page may come back with the button still disabled.
    window.addEventListener("pageshow", function () {
      if (submit) {
        submit.disabled = false;
        submit.textContent = "Upload";
      }
      if (input.files && input.files.length) {
        check();
      }
    });
  }

  function start() {
    document.querySelectorAll("[data-upload-form]").forEach(setUp);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
