/* Gallery: the composer of a new post (the upload page).
 *
 * Markup (templates/images/upload.html):
 *   <form data-upload-form data-max-upload-mb data-max-files
 *         data-photos-url data-photo-url="…/{id}" data-posts-url data-post-url="…/{id}">
 *     <div class="upload-drop"> <input type="file" name="file" multiple data-alt-text-max-length> </div>
 *     <div data-upload-warning role="alert"></div>
 *     <ul data-upload-previews hidden></ul>
 *     <textarea name="description">
 *     <button data-upload-submit>
 *   </form>
 *
 * Without this script the browser posts the chosen files in one request (one
 * post, no alt texts). With it, each photo chosen (or dropped, as many times
 * as wanted) is sent on its own at once (POST data-photos-url, a progress bar
 * of its own, its own refusal if it is not a usable image) and listed with a
 * preview, a field for its alt text (a reminder while it is empty, never a
 * requirement), buttons to move it earlier or later, and one to remove it
 * (DELETE data-photo-url). "Post" sends the order, the alt texts and the
 * caption (POST data-posts-url): the post appears only then, with every photo
 * already stored, and the page goes to it (data-post-url).
 */
(function () {
  "use strict";

  var shared = window.Gallery;
  var el = shared.el;

  var TYPES = ["image/jpeg", "image/png", "image/gif", "image/webp", "image/heic", "image/heif", "image/avif"];
  var RETRYABLE = "could not be sent";

  function megabytes(bytes) {
    var mb = bytes / (1024 * 1024);
    return (mb < 10 ? mb.toFixed(1) : Math.round(mb)) + " MB";
  }

  function button(className, label, text) {
    var node = el("button", "btn btn-sm " + className, text);
    node.setAttribute("type", "button");
    node.setAttribute("aria-label", label);
    node.setAttribute("title", label);
    return node;
  }

  function setUp(form) {
    var input = form.querySelector('input[type="file"][name="file"]');
    var drop = form.querySelector(".upload-drop");
    var previews = form.querySelector("[data-upload-previews]");
    var warning = form.querySelector("[data-upload-warning]");
    var submit = form.querySelector("[data-upload-submit]");
    var caption = form.querySelector('[name="description"]');
    // "public" or "followers": the checked radio of the visibility choice.
    function chosenVisibility() {
      var checked = form.querySelector('[name="visibility"]:checked');
      return checked ? checked.value : "public";
    }
    var maxMb = parseFloat(form.getAttribute("data-max-upload-mb") || "0");
    var maxFiles = parseInt(form.getAttribute("data-max-files") || "0", 10);
    var altMax = parseInt((input && input.getAttribute("data-alt-text-max-length")) || "1500", 10);
    var photosUrl = form.getAttribute("data-photos-url");
    var postsUrl = form.getAttribute("data-posts-url");
    // Each: {file, url, alt, state: "sending"|"ready"|"failed", id, message, loaded}
    var chosen = [];
    var posting = false;

    if (!input || !previews || !photosUrl || !postsUrl || !window.FormData) {
      return;  // the plain form still works
    }
    // The list is what gets posted now; an empty input must not block the form.
    input.required = false;

    function say(text) {
      if (warning) {
        warning.textContent = text || "";
      }
    }

    function problems() {
      var found = [];
      if (maxFiles && chosen.length > maxFiles) {
        found.push("A post has at most " + maxFiles + " photos; remove " +
          (chosen.length - maxFiles) + ".");
      }
      if (chosen.some(function (entry) { return entry.state === "failed"; })) {
        found.push("Remove the photos marked as not usable (or try them again) to post.");
      }
      return found;
    }

    function updateSubmit() {
      var sending = chosen.some(function (entry) { return entry.state === "sending"; });
      if (submit) {
        submit.disabled = posting || sending;
        submit.textContent = posting ? "Posting…" : sending ? "Sending photos…" : "Post";
      }
    }

    function send(entry) {
      entry.state = "sending";
      entry.message = "";
      entry.loaded = 0;
      var body = new FormData();
      body.append("file", entry.file, entry.file.name);
      var request = new XMLHttpRequest();
      entry.request = request;
      request.open("POST", photosUrl);
      request.setRequestHeader("Accept", "application/json");
      request.setRequestHeader("X-CSRF-Token", shared.csrfToken());
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) {
          entry.loaded = event.loaded / event.total;
          showProgress(entry);
        }
      });
      request.addEventListener("load", function () {
        entry.request = null;
        var data = null;
        try {
          data = JSON.parse(request.responseText);
        } catch (error) {
          data = null;
        }
        if (request.status === 201 && data) {
          entry.state = "ready";
          entry.id = data.id;
          if (chosen.indexOf(entry) === -1) {
            discard(entry);  // removed while it was on its way
          }
        } else {
          entry.state = "failed";
          entry.message = (data && data.error && data.error.message) ||
            (request.status >= 500 ? "This photo " + RETRYABLE + " (error " + request.status + ")." :
              "This photo was refused (error " + request.status + ").");
          entry.retry = request.status === 0 || request.status >= 500 || request.status === 429;
        }
        render();
      });
      request.addEventListener("error", function () {
        entry.request = null;
        entry.state = "failed";
        entry.message = "This photo " + RETRYABLE + ": the connection failed.";
        entry.retry = true;
        render();
      });
      request.send(body);
    }

    function discard(entry) {
      if (entry.request) {
        entry.request.abort();
      }
      if (entry.id) {
        // Best effort: a photo left behind is removed by the server after a day.
        shared.apiFetch(shared.fillUrl(form.getAttribute("data-photo-url"), { id: entry.id }),
          { method: "DELETE" }).catch(function () {});
      }
      URL.revokeObjectURL(entry.url);
    }

    function move(index, by) {
      var target = index + by;
      if (target < 0 || target >= chosen.length) {
        return;
      }
      var entry = chosen.splice(index, 1)[0];
      chosen.splice(target, 0, entry);
      render();
      var again = entry.node && entry.node.querySelector(by < 0 ? "[data-move-earlier]" : "[data-move-later]");
      if (again && !again.disabled) {
        again.focus();
      }
    }

    function remove(index) {
      var entry = chosen.splice(index, 1)[0];
      discard(entry);
      render();
      input.focus();
    }

    function showProgress(entry) {
      if (entry.fill) {
        entry.fill.style.width = Math.round((entry.state === "ready" ? 1 : entry.loaded) * 100) + "%";
      }
    }

    function renderEntry(entry, index) {
      var item = el("li", "upload-preview is-" + entry.state);
      item.setAttribute("data-upload-preview", entry.state);
      var figure = el("div", "upload-preview-media");
      var img = el("img");
      img.setAttribute("src", entry.url);
      img.setAttribute("alt", "");
      img.setAttribute("width", "92");
      img.setAttribute("height", "92");
      figure.appendChild(img);
      figure.appendChild(el("span", "upload-preview-position", String(index + 1)));
      item.appendChild(figure);

      var main = el("div", "upload-preview-main");
      var name = el("span", "upload-preview-name", entry.file.name);
      name.setAttribute("title", entry.file.name + " · " + megabytes(entry.file.size));
      main.appendChild(name);
      var fieldId = "alt-text-" + index;
      var label = el("label", "form-label small mb-1", "Alt text for photo " + (index + 1));
      label.setAttribute("for", fieldId);
      main.appendChild(label);
      var alt = el("textarea", "form-control form-control-sm");
      alt.id = fieldId;
      alt.rows = 2;
      alt.maxLength = altMax;
      alt.value = entry.alt;
      alt.setAttribute("data-alt-text", "");
      alt.setAttribute("placeholder", "What does the photo show?");
      var reminder = el("div", "form-text upload-alt-reminder",
        "Describe it for people who cannot see it (optional).");
      reminder.id = fieldId + "-help";
      reminder.hidden = Boolean(entry.alt.trim());
      alt.setAttribute("aria-describedby", reminder.id);
      alt.addEventListener("input", function () {
        entry.alt = alt.value;
        reminder.hidden = Boolean(alt.value.trim());
      });
      main.appendChild(alt);
      main.appendChild(reminder);

      var status = el("div", "upload-preview-status");
      status.setAttribute("data-upload-status", "");
      if (entry.state === "failed") {
        status.textContent = entry.message;
        status.setAttribute("role", "alert");
        status.className += " is-refused";
      } else {
        status.textContent = entry.state === "ready" ? "Ready" : "Sending…";
      }
      main.appendChild(status);
      var bar = el("div", "upload-preview-progress");
      bar.setAttribute("aria-hidden", "true");
      bar.hidden = entry.state === "failed";
      entry.fill = el("div", "upload-preview-progress-fill");
      bar.appendChild(entry.fill);
      main.appendChild(bar);
      showProgress(entry);

      var actions = el("div", "upload-preview-actions");
      var earlier = button("btn-outline-secondary", "Move photo " + (index + 1) + " earlier", "←");
      earlier.setAttribute("data-move-earlier", "");
      earlier.disabled = index === 0;
      earlier.addEventListener("click", function () { move(chosen.indexOf(entry), -1); });
      var later = button("btn-outline-secondary", "Move photo " + (index + 1) + " later", "→");
      later.setAttribute("data-move-later", "");
      later.disabled = index === chosen.length - 1;
      later.addEventListener("click", function () { move(chosen.indexOf(entry), 1); });
      actions.appendChild(earlier);
      actions.appendChild(later);
      if (entry.state === "failed" && entry.retry) {
        var retry = button("btn-outline-secondary", "Send photo " + (index + 1) + " again", "Try again");
        retry.addEventListener("click", function () { send(entry); render(); });
        actions.appendChild(retry);
      }
      var removeButton = button("btn-outline-danger", "Remove photo " + (index + 1), "Remove");
      removeButton.setAttribute("data-remove-photo", "");
      removeButton.addEventListener("click", function () { remove(chosen.indexOf(entry)); });
      actions.appendChild(removeButton);
      main.appendChild(actions);
      item.appendChild(main);
      entry.node = item;
      return item;
    }

    function render() {
      previews.textContent = "";
      chosen.forEach(function (entry, index) {
        previews.appendChild(renderEntry(entry, index));
      });
      previews.hidden = chosen.length === 0;
      input.classList.toggle("is-invalid", maxFiles > 0 && chosen.length > maxFiles);
      updateSubmit();
    }

    function add(files) {
      var notes = [];
      Array.prototype.forEach.call(files, function (file) {
        if (maxMb && file.size > maxMb * 1024 * 1024) {
          notes.push(file.name + " is " + megabytes(file.size) + "; each photo can be at most " +
            maxMb + " MB.");
          return;
        }
        if (file.type && TYPES.indexOf(file.type) === -1 && file.type.indexOf("image/") !== 0) {
          notes.push(file.name + " is not a photo.");
          return;
        }
        var entry = { file: file, url: URL.createObjectURL(file), alt: "", state: "sending" };
        chosen.push(entry);
        send(entry);
      });
      // Cleared, so choosing the same file again adds it again.
      input.value = "";
      say(notes.concat(problems()).join(" "));
      render();
    }

    input.addEventListener("change", function () {
      if (input.files && input.files.length) {
        add(input.files);
      }
    });

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
          add(event.dataTransfer.files);
        }
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (posting) {
        return;
      }
      if (!chosen.length) {
        say("Choose at least one photo.");
        input.focus();
        return;
      }
      var found = problems();
      if (found.length) {
        say(found.join(" "));
        return;
      }
      posting = true;
      updateSubmit();
      say("");
      shared.apiRequest(postsUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({
          description: caption ? caption.value : "",
          visibility: chosenVisibility(),
          photos: chosen.map(function (entry) { return { id: entry.id, alt_text: entry.alt }; }),
        }),
      }, "The post could not be made").then(function (post) {
        chosen = [];  // taken by the post: leaving the page must not remove them
        window.location.assign(shared.fillUrl(form.getAttribute("data-post-url"), { id: post.id }));
      }).catch(function (error) {
        posting = false;
        updateSubmit();
        say(error.message);
      });
    });

    // Leaving with photos sent but not posted: remove them now rather than in a day.
    window.addEventListener("pagehide", function (event) {
      if (event.persisted) {
        return;  // kept in the back/forward cache, list and all
      }
      chosen.forEach(function (entry) {
        if (entry.id) {
          shared.apiFetch(shared.fillUrl(form.getAttribute("data-photo-url"), { id: entry.id }),
            { method: "DELETE", keepalive: true }).catch(function () {});
        }
      });
    });
    window.addEventListener("pageshow", function () {
      posting = false;
      updateSubmit();
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
