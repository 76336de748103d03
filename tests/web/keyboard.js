// The keyboard check of tests/web/harness.py (assert_keyboard_operable). Evaluated in the
// page, it installs window.__vpsorgKeyboard: collect() lists what Tab must reach and notes
// how each looks unfocused; current() says what has focus now and whether it looks different.
(() => {
  // What a person can operate, so what Tab must reach. Elements with a negative tabindex
  // are left out (focused from script by design); so are disabled, hidden and inert ones.
  const INTERACTIVE = [
    "a[href]", "button", "input", "select", "textarea", "[tabindex]", "[onclick]",
    "[role=button]", "[role=link]", "[role=checkbox]", "[role=radio]", "[role=switch]",
    "[role=tab]", "[role=menuitem]",
  ].join(",");
  // htmx makes any element clickable: without hx-trigger, anything but a form or a form
  // field fires on click, so a div with hx-get is a control that must be reachable.
  const HTMX = "[hx-get],[hx-post],[hx-put],[hx-patch],[hx-delete]";
  const clickedByHtmx = (el) =>
    !el.matches("form,input,select,textarea") && /^$|\bclick\b/.test(el.getAttribute("hx-trigger") || "");

  const usable = (el) =>
    el.checkVisibility({ visibilityProperty: true }) &&
    !el.matches(":disabled") &&
    !el.closest("[inert]") &&
    !(el.hasAttribute("tabindex") && el.tabIndex < 0);

  const describe = (el) => {
    let d = el.tagName.toLowerCase() + (el.id ? `#${el.id}` : "");
    for (const name of ["name", "type", "role", "href", "onclick", "hx-get", "hx-post"]) {
      if (el.hasAttribute(name)) d += `[${name}="${el.getAttribute(name)}"]`;
    }
    const text = (el.getAttribute("aria-label") || el.innerText || el.placeholder || "")
      .trim().replace(/\s+/g, " ").slice(0, 40);
    return text ? `${d} "${text}"` : d;
  };

  // Only one radio button of a group is a Tab stop: the group is what Tab must reach.
  const group = (el) =>
    el.matches("input[type=radio][name]")
      ? `radio group "${el.name}" of form ${[...document.forms].indexOf(el.form)}`
      : null;

  // A focus indicator may be drawn on the element, its parent (:focus-within) or its label.
  const lookOf = (el) => {
    const s = getComputedStyle(el);
    const outline =
      s.outlineStyle === "none" || parseFloat(s.outlineWidth) === 0
        ? "none"
        : [s.outlineStyle, s.outlineWidth, s.outlineColor, s.outlineOffset].join(" ");
    return [outline, s.boxShadow, s.backgroundColor, s.color, s.borderColor, s.borderWidth,
            s.textDecorationLine].join("|");
  };
  // A transparent or visually hidden element (a radio drawn as a card) shows nothing itself.
  const shows = (el) => {
    const box = el.getBoundingClientRect();
    return el.checkVisibility({ opacityProperty: true }) && box.width > 1 && box.height > 1;
  };
  const look = (el) =>
    [shows(el) ? el : null, el.parentElement, ...(el.labels || [])].filter(Boolean).map(lookOf).join(" / ");

  // A focus style that fades in is judged as it ends, not mid-transition.
  const settle = () => {
    for (const a of document.getAnimations()) if (a instanceof CSSTransition) a.finish();
  };

  window.__vpsorgKeyboard = {
    collect() {
      // Tab from the top: focusing the body (focusable for a moment) moves the starting point
      // that blur() leaves where the focus was (on an autofocused field, say).
      const body = document.body;
      const tabindex = body.getAttribute("tabindex");
      body.setAttribute("tabindex", "-1");
      body.focus();
      body.blur();
      if (tabindex === null) body.removeAttribute("tabindex");
      else body.setAttribute("tabindex", tabindex);
      this.elements = [...document.querySelectorAll(`${INTERACTIVE},${HTMX}`)].filter(
        (el) => usable(el) && (el.matches(INTERACTIVE) || clickedByHtmx(el)),
      );
      settle();
      this.looks = this.elements.map(look);
      return this.elements.map((el) => ({ description: describe(el), group: group(el) }));
    },
    current() {
      const el = document.activeElement;
      if (!el || el === document.body || el === document.documentElement) {
        return { index: -1, description: null, visible: false };
      }
      const index = this.elements.indexOf(el);
      settle();
      return { index, description: describe(el), visible: index >= 0 && look(el) !== this.looks[index] };
    },
  };
})();
