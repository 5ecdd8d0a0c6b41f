// The assistant's conversation page: asking with a streamed answer (server-sent events read
// from fetch), source previews and feedback without a page load. Without this script every
// form still works as a plain POST. Streamed model text is only ever inserted as text; the
// HTML swapped in comes from the portal's own templates (escaped and sanitized there).
(function () {
  "use strict";

  function csrfToken(form) {
    var input = (form && form.querySelector("input[name=csrfmiddlewaretoken]")) ||
      document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function nodeFromHtml(html) {
    var template = document.createElement("template");
    template.innerHTML = html.trim();
    return template.content.firstElementChild;
  }

  function fetchFragment(url) {
    return fetch(url, {
      credentials: "same-origin",
      headers: { "X-Fragment": "1" },
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("HTTP " + response.status);
      }
      return response.text();
    });
  }

  function element(tag, className, text) {
    var node = document.createElement(tag);
    if (className) {
      node.className = className;
    }
    if (text) {
      node.textContent = text;
    }
    return node;
  }

  // Server-sent events from a fetch response: calls onEvent(kind, data) for each event.
  function readEvents(response, onEvent) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var buffer = "";

    function dispatch(block) {
      var kind = "message";
      var data = "";
      block.split("\n").forEach(function (line) {
        if (line.indexOf("event:") === 0) {
          kind = line.slice(6).trim();
        } else if (line.indexOf("data:") === 0) {
          data += line.slice(5).replace(/^ /, "");
        }
      });
      if (!data) {
        return;
      }
      var parsed;
      try {
        parsed = JSON.parse(data);
      } catch (error) {
        return;
      }
      onEvent(kind, parsed);
    }

    function pump() {
      return reader.read().then(function (result) {
        if (result.done) {
          buffer += decoder.decode();
          if (buffer.trim()) {
            dispatch(buffer.replace(/\r\n/g, "\n"));
          }
          return;
        }
        buffer = (buffer + decoder.decode(result.value, { stream: true })).replace(/\r\n/g, "\n");
        var index = buffer.indexOf("\n\n");
        while (index !== -1) {
          dispatch(buffer.slice(0, index));
          buffer = buffer.slice(index + 2);
          index = buffer.indexOf("\n\n");
        }
        return pump();
      });
    }

    return pump();
  }

  // The hand-off panel, fresh from the server (after the assistant handed the conversation off).
  function refreshHandoffs() {
    var current = document.querySelector("[data-handoffs]");
    if (!current) {
      return;
    }
    fetch(window.location.pathname, { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : ""; })
      .then(function (html) {
        if (!html) {
          return;
        }
        var parsed = new DOMParser().parseFromString(html, "text/html");
        var fresh = parsed.querySelector("[data-handoffs]");
        if (fresh) {
          current.replaceWith(document.importNode(fresh, true));
        }
      })
      .catch(function () { /* the panel stays as it was; a reload shows it */ });
  }

  // An untitled conversation is named by its first question (as the server names it).
  function nameConversation(text) {
    var title = document.querySelector("[data-conversation-title][data-untitled]");
    if (!title) {
      return;
    }
    var label = text.split(/\s+/).join(" ").trim();
    if (label.length > 80) {
      label = label.slice(0, 79) + "…";
    }
    title.textContent = label;
    title.removeAttribute("data-untitled");
    var current = document.querySelector("[data-sidebar-current]");
    if (current) {
      current.textContent = label;
    }
    document.title = label + " · Enterprise Portal";
  }

  function setupAsk(form, log) {
    var input = form.querySelector("[data-ask-input]");
    var button = form.querySelector("[data-ask-submit]");
    var status = form.querySelector("[data-ask-status]");
    var errorBox = form.querySelector("[data-ask-error]");
    var busy = false;

    form.querySelectorAll("[data-js-only]").forEach(function (node) { node.hidden = false; });

    function setStatus(text) {
      if (status) {
        status.textContent = text;
      }
    }

    function showError(message) {
      if (errorBox) {
        errorBox.textContent = message;
        errorBox.classList.add("d-block");
      }
      input.classList.add("is-invalid");
      input.setAttribute("aria-invalid", "true");
      input.focus();
    }

    function clearError() {
      if (errorBox) {
        errorBox.textContent = "";
        errorBox.classList.remove("d-block");
      }
      input.classList.remove("is-invalid");
      input.removeAttribute("aria-invalid");
    }

    function questionNode(text) {
      var node = element("article", "portal-msg portal-msg-user");
      node.setAttribute("data-role", "user");
      node.setAttribute("aria-label", "Question");
      node.appendChild(element("div", "portal-msg-meta small", "You · just now"));
      var body = element("div", "portal-msg-text", text);
      body.setAttribute("data-question", "");
      node.appendChild(body);
      return node;
    }

    function answerNode() {
      var node = element("article", "portal-msg portal-msg-assistant card");
      node.setAttribute("data-role", "assistant");
      node.setAttribute("data-streaming", "");
      node.setAttribute("aria-label", "Answer");
      node.setAttribute("aria-busy", "true");
      var body = element("div", "card-body");
      var meta = element("div", "portal-msg-meta small d-flex flex-wrap gap-2 mb-2");
      meta.appendChild(element("span", "fw-semibold", "Assistant"));
      var typing = element("span", "portal-typing", "Answering");
      meta.appendChild(typing);
      var text = element("div", "portal-streaming-text");
      text.setAttribute("data-streaming-text", "");
      var tools = element("ul", "portal-tools list-unstyled small mt-2 mb-0");
      tools.setAttribute("data-stream-tools", "");
      tools.hidden = true;
      body.appendChild(meta);
      body.appendChild(text);
      body.appendChild(tools);
      node.appendChild(body);
      return { node: node, body: body, text: text, tools: tools, typing: typing, deltas: 0 };
    }

    function failAnswer(answer, message) {
      answer.node.removeAttribute("aria-busy");
      answer.typing.remove();
      var alert = element("div", "alert alert-danger mt-2 mb-0", message);
      alert.setAttribute("role", "alert");
      answer.body.appendChild(alert);
    }

    function finish(answer, data) {
      setStatus("Answer ready.");
      var cards = data.cards || [];
      if (cards.some(function (card) { return card.type === "handoff"; })) {
        refreshHandoffs();
      }
      return fetchFragment(data.fragment_url)
        .then(function (html) {
          var node = nodeFromHtml(html);
          if (node) {
            answer.node.replaceWith(node);
          }
        })
        .catch(function () {
          // The stored answer, already sanitized by the server; sources show on reload.
          answer.node.removeAttribute("aria-busy");
          answer.typing.remove();
          var html = element("div", "portal-answer");
          html.innerHTML = data.html || "";
          answer.text.replaceWith(html);
        });
    }

    function refused(response, question) {
      question.remove();
      return response.json()
        .catch(function () { return {}; })
        .then(function (data) {
          var message = data.message;
          if (!message) {
            message = response.status === 429
              ? "Too many questions in the last minute; wait a moment and ask again."
              : "Your question could not be sent (HTTP " + response.status + ").";
          }
          setStatus("");
          showError(message); // the typed text stays in the box
        });
    }

    function ask(text) {
      busy = true;
      button.disabled = true;
      clearError();
      setStatus("Sending your question…");
      var empty = log.querySelector("[data-chat-empty]");
      if (empty) {
        empty.hidden = true;
      }
      var question = questionNode(text);
      log.appendChild(question);
      question.scrollIntoView({ block: "nearest" });
      var answer = null;
      var finished = null;
      var body = new FormData(form);
      body.set("text", text);
      fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "Accept": "text/event-stream", "X-CSRFToken": csrfToken(form) },
      })
        .then(function (response) {
          var type = response.headers.get("Content-Type") || "";
          if (!response.ok || type.indexOf("text/event-stream") !== 0) {
            return refused(response, question);
          }
          answer = answerNode();
          log.appendChild(answer.node);
          setStatus("The assistant is answering…");
          return readEvents(response, function (kind, data) {
            if (kind === "question") {
              question.id = "message-" + data.message_id;
              question.setAttribute("data-message", data.message_id);
              if (input.value === text) {
                input.value = ""; // stored: the box is free for the next question
              }
              nameConversation(text);
            } else if (kind === "delta") {
              answer.text.appendChild(document.createTextNode(data.text || ""));
              answer.deltas += 1;
              answer.node.setAttribute("data-deltas", String(answer.deltas));
            } else if (kind === "tool") {
              var item = element("li", "", (data.ok ? "" : "refused: ") + (data.summary || data.name));
              item.setAttribute("data-tool", data.name || "");
              answer.tools.appendChild(item);
              answer.tools.hidden = false;
            } else if (kind === "done") {
              finished = finish(answer, data);
            } else if (kind === "error") {
              finished = Promise.resolve();
              failAnswer(answer, data.message || "The answer failed; your question is kept.");
              setStatus("");
            }
          }).then(function () {
            if (!finished) {
              failAnswer(answer, "The connection ended before the answer was complete. " +
                "Your question is kept: reload the page to see the answer.");
              setStatus("");
              return null;
            }
            return finished;
          });
        })
        .catch(function () {
          if (answer) {
            failAnswer(answer, "The connection was lost. Your question may have been " +
              "stored: reload the page to see it.");
          } else {
            question.remove();
            showError("The question could not be sent: check the connection and try again.");
          }
          setStatus("");
        })
        .then(function () {
          busy = false;
          button.disabled = false;
        });
    }

    input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.altKey && !event.ctrlKey &&
          !event.metaKey && !event.isComposing) {
        event.preventDefault();
        if (typeof form.requestSubmit === "function") {
          form.requestSubmit();
        } else {
          form.dispatchEvent(new Event("submit", { cancelable: true }));
        }
      }
    });
    input.addEventListener("input", function () {
      if (input.classList.contains("is-invalid")) {
        clearError();
      }
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      if (busy) {
        return;
      }
      var text = input.value;
      if (!text.trim()) {
        showError("Enter a question.");
        return;
      }
      ask(text);
    });

    // "Ask again" after a failed answer: the same streamed path as the box.
    document.addEventListener("submit", function (event) {
      var retry = event.target.closest && event.target.closest("[data-retry-form]");
      if (!retry) {
        return;
      }
      event.preventDefault();
      if (busy) {
        return;
      }
      var text = retry.querySelector("input[name=text]").value;
      input.value = text;
      ask(text);
    });
  }

  function togglePreview(toggle, open) {
    var panel = document.getElementById(toggle.getAttribute("aria-controls"));
    if (!panel) {
      return;
    }
    var expanded = toggle.getAttribute("aria-expanded") === "true";
    var show = open === undefined ? !expanded : open;
    toggle.setAttribute("aria-expanded", show ? "true" : "false");
    toggle.textContent = show ? "Hide source" : "Preview source";
    panel.hidden = !show;
    if (!show || panel.getAttribute("data-loaded")) {
      return;
    }
    panel.setAttribute("data-loaded", "loading");
    panel.textContent = "Loading the source…";
    fetchFragment(toggle.href)
      .then(function (html) {
        panel.textContent = "";
        var node = nodeFromHtml(html);
        if (node) {
          panel.appendChild(node);
        }
      })
      .catch(function () {
        panel.removeAttribute("data-loaded");
        panel.textContent = "This source is not available to you (any more).";
      });
  }

  function setupPreviews() {
    document.addEventListener("click", function (event) {
      if (event.defaultPrevented || event.button !== 0 || event.ctrlKey || event.metaKey ||
          event.shiftKey || event.altKey) {
        return; // a new tab or window: let the link open
      }
      var toggle = event.target.closest("[data-preview-toggle]");
      if (toggle) {
        event.preventDefault();
        togglePreview(toggle);
        return;
      }
      // A [n] in the answer text opens the source under the answer.
      var link = event.target.closest("[data-answer] a.citation");
      if (!link) {
        return;
      }
      var message = link.closest("[data-message]");
      var number = (link.textContent.match(/\d+/) || [""])[0];
      var target = message && number &&
        message.querySelector('[data-preview-toggle="' + number + '"]');
      if (!target) {
        return;
      }
      event.preventDefault();
      togglePreview(target, true);
      target.scrollIntoView({ block: "nearest" });
      target.focus();
    });
  }

  function setupFeedback() {
    document.addEventListener("submit", function (event) {
      var form = event.target.closest && event.target.closest("[data-feedback-form]");
      if (!form) {
        return;
      }
      event.preventDefault();
      var submitter = event.submitter;
      var body = new FormData(form);
      if (submitter && submitter.name) {
        body.set(submitter.name, submitter.value);
      }
      var chosen = submitter ? submitter.getAttribute("data-feedback") : null;
      fetch(form.action, {
        method: "POST",
        body: body,
        credentials: "same-origin",
        headers: { "X-Fragment": "1", "X-CSRFToken": csrfToken(form) },
      })
        .then(function (response) {
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          var article = form.closest("[data-message]");
          var node = nodeFromHtml(html);
          if (article && node) {
            article.replaceWith(node);
            var pressed = chosen && node.querySelector('[data-feedback="' + chosen + '"]');
            if (pressed) {
              pressed.focus();
            }
          }
        })
        .catch(function () {
          var note = form.querySelector("[data-feedback-error]");
          if (!note) {
            note = element("p", "small text-danger mt-1 mb-0");
            note.setAttribute("data-feedback-error", "");
            note.setAttribute("role", "alert");
            form.appendChild(note);
          }
          note.textContent = "Your feedback could not be saved; try again.";
        });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-ask-form]");
    var log = document.querySelector("[data-chat-log]");
    var capable = window.fetch && window.TextDecoder && window.ReadableStream &&
      "content" in document.createElement("template");
    if (!capable) {
      return; // the plain forms work on their own
    }
    if (form && log) {
      setupAsk(form, log);
    }
    setupPreviews();
    setupFeedback();
  });
})();
