import io

import pytest
from PIL import Image

from core import images
from core.exceptions import InvalidRequest


def _file(image_format: str, size=(800, 600), mode="RGB", **save) -> io.BytesIO:
    buffer = io.BytesIO()
    Image.new(mode, size, (200, 30, 90) if mode == "RGB" else None).save(
        buffer, format=image_format, **save
    )
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("image_format", ["JPEG", "PNG", "WEBP", "GIF"])
def test_accepted_formats_become_a_resized_jpeg(image_format):
    stored = images.prepare_event_image(_file(image_format, size=(3200, 1800)))
    with Image.open(stored) as result:
        assert (result.format, result.size) == ("JPEG", (1600, 900))
    assert stored.name.endswith(".jpg")


def test_small_pictures_are_not_enlarged():
    with Image.open(images.prepare_event_image(_file("PNG", size=(300, 200)))) as r:
        assert r.size == (300, 200)


def test_transparent_png_gets_the_dark_background():
    source = _file("PNG", mode="RGBA", size=(10, 10))
    with Image.open(images.prepare_event_image(source)) as result:
        assert result.getpixel((5, 5)) == pytest.approx((18, 18, 26), abs=3)


def test_phone_photos_are_turned_upright():
    exif = Image.Exif()
    exif[0x0112] = 6  # rotated 90° clockwise
    source = _file("JPEG", size=(400, 200), exif=exif.tobytes())
    with Image.open(images.prepare_event_image(source)) as result:
        assert result.size == (200, 400)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (b"GIF89a but not really", "invalid_image"),
        (b"%PDF-1.4 a document", "invalid_image"),
        (b"", "invalid_image"),
    ],
)
def test_files_that_are_not_pictures_are_refused(payload, code):
    with pytest.raises(InvalidRequest) as caught:
        images.prepare_event_image(io.BytesIO(payload))
    assert caught.value.code == code and caught.value.detail == {"field": "image"}


def test_other_image_formats_are_refused():
    with pytest.raises(InvalidRequest, match="BMP files are not accepted"):
        images.prepare_event_image(_file("BMP"))


def test_too_large_uploads_are_refused_before_decoding(monkeypatch):
    monkeypatch.setattr(images, "MAX_UPLOAD_BYTES", 1000)
    with pytest.raises(InvalidRequest) as caught:
        images.prepare_event_image(_file("PNG", size=(400, 400)))
    assert caught.value.code == "image_too_large"


def test_pictures_with_absurd_pixel_counts_are_refused(monkeypatch):
    monkeypatch.setattr(images, "MAX_SOURCE_PIXELS", 100 * 100)
    with pytest.raises(InvalidRequest) as caught:
        images.prepare_event_image(_file("PNG", size=(200, 200)))
    assert caught.value.code == "image_too_big_in_pixels"
