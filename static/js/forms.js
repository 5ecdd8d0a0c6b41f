// Conditional visibility of smart-form fields (mirrors the server's show_when rule).
// Wrappers carry data-show-when-field plus data-show-when-equals or data-show-when-not-empty.
(function () {
  "use strict";

  function wrapperOf(form, key) {
    return form.querySelector('[data-field-key="' + CSS.escape(key) + '"]');
  }

  function valueOf(form, key) {
    var wrapper = wrapperOf(form, key);
    if (!wrapper || wrapper.hidden) {
      return null; // a hidden field counts as empty, so its dependants hide too
    }
    var inputs = wrapper.querySelectorAll('[name="' + CSS.escape(key) + '"]');
    if (!inputs.length) {
      return null;
    }
    var first = inputs[0];
    if (first.type === "checkbox" && inputs.length === 1 && !first.hasAttribute("value")) {
      return first.checked; // a single yes/no checkbox
    }
    if (first.type === "checkbox" || first.type === "radio") {
      var values = [];
      inputs.forEach(function (input) {
        if (input.checked) {
          values.push(input.value);
        }
      });
      return values;
    }
    if (first.tagName === "SELECT" && first.multiple) {
      return Array.from(first.selectedOptions).map(function (o) { return o.value; });
    }
    return first.value;
  }

  function isEmpty(value) {
    return value === null || value === "" || value === false ||
      (Array.isArray(value) && value.length === 0);
  }

  function conditionMet(wrapper, value) {
    if (wrapper.dataset.showWhenNotEmpty === "true") {
      return !isEmpty(value);
    }
    var expected = wrapper.dataset.showWhenEquals;
    if (typeof value === "boolean") {
      return value === (expected === "true" || expected === "on" || expected === "1");
    }
    if (Array.isArray(value)) {
      return value.indexOf(expected) !== -1;
    }
    return value !== null && String(value) === expected;
  }

  function refresh(form) {
    // In document order: a field can only depend on an earlier one.
    form.querySelectorAll("[data-field-key]").forEach(function (wrapper) {
      var controller = wrapper.dataset.showWhenField;
      if (!controller) {
        return;
      }
      var shown = conditionMet(wrapper, valueOf(form, controller));
      wrapper.hidden = !shown;
      wrapper.classList.toggle("d-none", !shown);
      wrapper.querySelectorAll("input, select, textarea").forEach(function (input) {
        input.disabled = !shown;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form[data-smart-form]").forEach(function (form) {
      refresh(form);
      form.addEventListener("change", function () { refresh(form); });
      form.addEventListener("input", function () { refresh(form); });
    });
  });
})();
