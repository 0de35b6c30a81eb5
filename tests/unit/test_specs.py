"""The German SE16N labels of the table specs, which the reader matches German headers by."""

from __future__ import annotations

from collections import Counter

from pipelines.ingest.specs import GERMAN_LABELS, TABLE_SPECS

#: Labels a table legitimately repeats because SAP does: EKBE's purchase order item (EBELP) and
#: material document item (BUZEI) are both "Position". The reader maps repeats in spec order.
REPEATED_GERMAN_LABELS = {"EKBE": {"Position": ["EBELP", "BUZEI"]}}


def test_every_spec_column_has_a_german_label_and_no_stray_ones() -> None:
    assert set(GERMAN_LABELS) == set(TABLE_SPECS)
    for name, spec in TABLE_SPECS.items():
        assert set(GERMAN_LABELS[name]) == set(spec.column_names), name
        for col in spec.columns:
            assert col.label_de and col.label_de.strip() == col.label_de, (name, col.name)


def test_german_labels_are_unique_per_table_except_sap_repeats() -> None:
    repeated = {}
    for name, spec in TABLE_SPECS.items():
        counts = Counter(col.label_de for col in spec.columns)
        for label, count in counts.items():
            if count > 1:
                columns = [col.name for col in spec.columns if col.label_de == label]
                repeated.setdefault(name, {})[label] = columns
    assert repeated == REPEATED_GERMAN_LABELS
