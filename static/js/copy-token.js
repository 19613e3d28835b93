// Door devices: a Copy button for the token shown once after adding a device.
// The clipboard API needs a secure page; elsewhere (a phone on plain http)
// the token is selected and copied the older way, and if even that fails it
// stays selected for a long press and "Copy".
for (const button of document.querySelectorAll("[data-copy-token]")) {
  const field = document.getElementById(button.getAttribute("aria-controls"));
  const said = document.querySelector("[data-copy-said]");
  if (!field) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    let copied = false;
    try {
      await navigator.clipboard.writeText(field.value);
      copied = true;
    } catch {
      field.focus();
      field.setSelectionRange(0, field.value.length);
      try {
        copied = document.execCommand("copy");
      } catch {
        copied = false;
      }
    }
    if (said) {
      said.textContent = copied
        ? "Copied. Paste it into the device's scanning app."
        : "Couldn't copy by itself: the token is selected, so press and hold it and choose Copy.";
    }
    if (!copied) {
      field.focus();
      field.setSelectionRange(0, field.value.length);
    }
  });
}
