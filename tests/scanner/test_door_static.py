"""The door's scripts as production serves them (hashed names, DEBUG off).

The door's service worker keeps the hashed files the templates name
(door_shell_urls); whatever those scripts import must be among them, or a
door phone reopened with no network loads a page whose modules never come.
"""

import re
from urllib.parse import urljoin, urlparse

from django.core.management import call_command
from django.test import override_settings

from scanner.door_views import door_shell_urls

# `import ... from "./x.js";` and `import("./x.js")`, as browsers resolve them.
RELATIVE_IMPORT = re.compile(
    r"""(?:\bfrom\s*|\bimport\s*\(\s*)["'](\.{1,2}/[^"']+)["']"""
)


def test_every_script_a_kept_door_page_imports_is_kept_too(settings, tmp_path):
    production = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "ticketing.static_storage.StaticStorage"},
    }
    with override_settings(STATIC_ROOT=tmp_path, STORAGES=production):
        call_command("collectstatic", "--noinput", verbosity=0)
        shell = door_shell_urls()

    imports = {}
    for url in shell:
        if url.endswith(".js"):
            source = (tmp_path / url.removeprefix(settings.STATIC_URL)).read_text()
            imports[url] = [
                urlparse(urljoin(url, found)).path
                for found in RELATIVE_IMPORT.findall(source)
            ]
    door_js = next(url for url in imports if "/js/door." in url)
    assert imports[door_js], "door.js imports its offline module"
    for url, imported in imports.items():
        for path in imported:
            assert path in shell, f"{url} imports {path}, which is not kept offline"
