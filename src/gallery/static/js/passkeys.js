/* Passkeys: adding one on /settings/security, signing in with one on /login.

   WebAuthn hands out and takes ArrayBuffers; the server speaks JSON with
   binary fields in base64url. The two helpers below translate, and the server
   (py_webauthn) checks everything that matters: this only carries messages.
   Without WebAuthn in the browser the buttons stay hidden and the password
   form is all there is. */
(function () {
  "use strict";

  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) {
      base64 += "=";
    }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) {
      bytes[i] = binary.charCodeAt(i);
    }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) {
      binary += String.fromCharCode(bytes[i]);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function csrfToken() {
    var meta = document.querySelector("meta[name=csrf-token]");
    return meta ? meta.getAttribute("content") : "";
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        "X-CSRF-Token": csrfToken(),
      },
      body: JSON.stringify(body || {}),
    }).then(function (response) {
      return response
        .json()
        .catch(function () {
          return {};
        })
        .then(function (data) {
          if (!response.ok) {
            throw new Error((data.error && data.error.message) || "Something went wrong; try again.");
          }
          return data;
        });
    });
  }

  function withBuffers(options) {
    options.challenge = toBuffer(options.challenge);
    if (options.user) {
      options.user.id = toBuffer(options.user.id);
    }
    (options.excludeCredentials || []).concat(options.allowCredentials || []).forEach(function (item) {
      item.id = toBuffer(item.id);
    });
    return options;
  }

  function asJson(credential) {
    var answer = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      response: { clientDataJSON: toText(answer.clientDataJSON) },
      clientExtensionResults: credential.getClientExtensionResults
        ? credential.getClientExtensionResults()
        : {},
    };
    if (credential.authenticatorAttachment) {
      json.authenticatorAttachment = credential.authenticatorAttachment;
    }
    if (answer.attestationObject) {
      json.response.attestationObject = toText(answer.attestationObject);
      if (answer.getTransports) {
        json.response.transports = answer.getTransports();
      }
    }
    if (answer.authenticatorData) {
      json.response.authenticatorData = toText(answer.authenticatorData);
      json.response.signature = toText(answer.signature);
      if (answer.userHandle) {
        json.response.userHandle = toText(answer.userHandle);
      }
    }
    return json;
  }

  function say(status, text) {
    if (status) {
      status.textContent = text;
      status.hidden = !text;
    }
  }

  function failure(error) {
    // The person closing the browser's dialog is not an error worth words.
    return error && error.name === "NotAllowedError"
      ? "Cancelled, or no passkey of this site was chosen."
      : error.message;
  }

  var addForm = document.querySelector("[data-passkey-add]");
  if (addForm) {
    addForm.hidden = false;
    var addStatus = addForm.querySelector("[data-passkey-status]");
    addForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var name = addForm.querySelector("[name=name]").value;
      say(addStatus, "Follow your browser's steps…");
      post(addForm.getAttribute("data-options-url"))
        .then(function (options) {
          return navigator.credentials.create({ publicKey: withBuffers(options) });
        })
        .then(function (credential) {
          return post(addForm.getAttribute("data-add-url"), { name: name, credential: asJson(credential) });
        })
        .then(function () {
          window.location.reload();
        })
        .catch(function (error) {
          say(addStatus, failure(error));
        });
    });
  }

  var signIn = document.querySelector("[data-passkey-sign-in]");
  if (signIn) {
    signIn.hidden = false;
    var signInStatus = document.querySelector("[data-passkey-sign-in-status]");
    signIn.addEventListener("click", function () {
      var remember = document.querySelector("input[name=remember]");
      say(signInStatus, "");
      post(signIn.getAttribute("data-options-url"))
        .then(function (options) {
          return navigator.credentials.get({ publicKey: withBuffers(options) });
        })
        .then(function (credential) {
          return post(signIn.getAttribute("data-sign-in-url"), {
            credential: asJson(credential),
            next: signIn.getAttribute("data-next") || "/",
            remember: Boolean(remember && remember.checked),
          });
        })
        .then(function (answer) {
          window.location.assign(answer.redirect || "/");
        })
        .catch(function (error) {
          say(signInStatus, failure(error));
        });
    });
  }
})();
