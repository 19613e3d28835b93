// Console forms: add ticket-type rows, and bring the error summary into view.
const form = document.querySelector("[data-event-form]");
if (form) {
  const list = form.querySelector("[data-type-list]");
  const template = form.querySelector("[data-type-template]");
  const addButton = form.querySelector("[data-add-type]");
  const total = form.querySelector("input[name='types-TOTAL_FORMS']");
  const maximum = form.querySelector("input[name='types-MAX_NUM_FORMS']");
  if (list && template && addButton && total) {
    addButton.hidden = false;
    addButton.addEventListener("click", () => {
      const index = Number(total.value);
      if (maximum && index >= Number(maximum.value)) return;
      const html = template.innerHTML
        .replaceAll("__prefix__", String(index))
        .replaceAll("__number__", String(index + 1));
      const holder = document.createElement("div");
      holder.innerHTML = html.trim();
      const card = holder.firstElementChild;
      list.appendChild(card);
      total.value = String(index + 1);
      const name = card.querySelector("input[name$='-name']");
      if (name) name.focus();
    });
  }
}

const summary = document.querySelector("[data-error-summary]");
if (summary) summary.focus();
