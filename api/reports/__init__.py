"""Shipment reports for quality teams: one read model (:mod:`api.reports.data`), rendered as a
PDF (:mod:`api.reports.pdf`) or a CSV (:mod:`api.reports.csv_export`), both carrying the same
content hash. See docs/reports.md."""
