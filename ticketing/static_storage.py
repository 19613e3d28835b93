"""Static files as production serves them: hashed names, compressed, and
JavaScript modules importing each other by their hashed names.

Django's manifest storage renames `door-offline.js` to
`door-offline.<hash>.js` but, unless told, leaves `import ... from
"./door-offline.js"` inside `door.<hash>.js` as written. The page then
loads the unhashed copy, which the door's service worker does not keep
(it keeps the hashed names the templates use): a door phone reopened with
no network had no door.js module graph, and no scanning.
"""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    support_js_module_import_aggregation = True
