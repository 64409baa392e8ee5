"""COLDTRAIL_INGEST_RULES_NICE lowers the rule process's CPU priority, and only its own."""

import multiprocessing
import os

from coldtrail.settings import IngestSettings
from ingest.rules_process import lower_priority


def test_the_rule_process_priority_is_lowered_by_the_setting() -> None:
    before = os.nice(0)
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(lower_priority, (0,)) == before
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        assert pool.apply(lower_priority, (5,)) == min(before + 5, 19)
    assert os.nice(0) == before  # the worker's own priority is untouched


def test_the_setting_defaults_to_equal_priority() -> None:
    assert IngestSettings.model_fields["rules_nice"].default == 0
