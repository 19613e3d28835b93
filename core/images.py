"""Event images: checked for type and size, then resized with Pillow.

An upload is never stored as sent: it is decoded (so a file that merely
claims to be an image is refused), turned upright from its EXIF orientation,
shrunk to fit `MAX_EDGE` pixels and re-encoded as JPEG, which also drops any
metadata (GPS positions from phone photos).
"""

import io
import uuid

from django.core.files.base import ContentFile
from PIL import Image, ImageOps, UnidentifiedImageError

from core.exceptions import InvalidRequest

MAX_UPLOAD_BYTES = 8 * 1024 * 1024
MAX_SOURCE_PIXELS = 50_000_000  # refuses decompression bombs before decoding
MAX_EDGE = 1600
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "GIF"}
ACCEPTED_DESCRIPTION = "a JPEG, PNG, WebP or GIF picture"


def _refuse(message: str, code: str) -> InvalidRequest:
    return InvalidRequest(message, code=code, field="image")


def prepare_event_image(upload) -> ContentFile:
    """Validate an uploaded file and return a resized JPEG ready to store.

    Raises InvalidRequest (codes image_too_large, invalid_image,
    image_too_big_in_pixels) with `field="image"`.
    """
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_UPLOAD_BYTES:
        raise _refuse(
            f"The picture is {size / 1024 / 1024:.1f} MB; the limit is "
            f"{MAX_UPLOAD_BYTES // 1024 // 1024} MB. Try a smaller photo.",
            "image_too_large",
        )
    upload.seek(0)
    data = upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise _refuse(
            f"The picture is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MB. "
            "Try a smaller photo.",
            "image_too_large",
        )
    try:
        with Image.open(io.BytesIO(data)) as probe:
            image_format = probe.format
            width, height = probe.size
            probe.verify()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise _refuse(
            f"That file is not a picture we can read. Use {ACCEPTED_DESCRIPTION}.",
            "invalid_image",
        ) from exc
    except Image.DecompressionBombError as exc:
        raise _refuse(
            "That picture has far too many pixels. Use a normal photo.",
            "image_too_big_in_pixels",
        ) from exc
    if image_format not in ACCEPTED_FORMATS:
        raise _refuse(
            f"{image_format or 'That'} files are not accepted. Use {ACCEPTED_DESCRIPTION}.",
            "invalid_image",
        )
    if width * height > MAX_SOURCE_PIXELS:
        raise _refuse(
            "That picture has far too many pixels. Use a normal photo.",
            "image_too_big_in_pixels",
        )
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.seek(0)  # first frame of an animated GIF
            picture = ImageOps.exif_transpose(image)
            if picture.mode in ("RGBA", "LA", "P"):
                picture = picture.convert("RGBA")
                background = Image.new("RGB", picture.size, (18, 18, 26))
                background.paste(picture, mask=picture.getchannel("A"))
                picture = background
            else:
                picture = picture.convert("RGB")
            picture.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS)
            out = io.BytesIO()
            picture.save(
                out, format="JPEG", quality=85, optimize=True, progressive=True
            )
    except (OSError, ValueError) as exc:
        raise _refuse(
            f"That picture could not be processed. Use {ACCEPTED_DESCRIPTION}.",
            "invalid_image",
        ) from exc
    return ContentFile(out.getvalue(), name=f"{uuid.uuid4().hex}.jpg")
