"""Every carrier status has plain words in French and English."""

from typing import get_args

from api.models_tracking import CheckpointStatus
from api.status_labels import LABELS, label


def test_every_status_has_a_label_in_each_language() -> None:
    for words in LABELS.values():
        assert set(words) == set(get_args(CheckpointStatus))
        assert all(text.strip() for text in words.values())


def test_other_languages_fall_back_to_english() -> None:
    assert label("Delivered", "fr") == "Livré"
    assert label("Delivered", "de") == label("Delivered", None) == "Delivered"
