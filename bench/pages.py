"""Synthetic clinical-app pages for the recorder benchmark.

A page is a navigation bar, an intake form (labels, inputs, selects, a textarea) and a
patient table, sized so the whole document holds about `nodes` DOM nodes (elements and
text). Every value is obviously synthetic ("Testpatient 0042", MRN "TEST-000042").
"""

from __future__ import annotations

from html import escape

# DOM nodes per table row: <tr> + 8 <td> + 8 text nodes + <span> inside the status cell.
ROW_NODES = 18
# Share of the page spent on form fields; the rest (minus the chrome) is table rows.
FORM_SHARE = 0.1
# Roughly how many nodes one form field adds (wrapper, label, its text, control, options).
FIELD_NODES = 8

STATUSES = ("Screening", "Enrolled", "Follow-up", "Withdrawn")
SITES = ("Test Site A", "Test Site B", "Test Site C")
COLUMNS = ("MRN", "Name", "Date of birth", "Site", "Status", "Last visit", "Arm", "Phone")


def patient_row(i: int) -> str:
    """One <tr> of obviously synthetic patient data (no whitespace text nodes)."""
    cells = (
        f"TEST-{i:06d}",
        f"Testpatient {i:04d}",
        f"1900-01-{1 + i % 28:02d}",
        SITES[i % len(SITES)],
        f'<span class="badge">{STATUSES[i % len(STATUSES)]}</span>',
        f"2000-02-{1 + i % 28:02d}",
        "Placebo" if i % 2 else "Active",
        f"555-0{i % 1000:03d}",
    )
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _field(i: int) -> str:
    kind = i % 4
    label = f'<label for="f{i}">Field {i}</label>'
    if kind == 0:
        control = f'<input id="f{i}" name="f{i}" type="text" value="Synthetic value {i}">'
    elif kind == 1:
        control = f'<input id="f{i}" name="f{i}" type="date" value="1900-01-01">'
    elif kind == 2:
        options = "".join(f"<option>{escape(s)}</option>" for s in STATUSES)
        control = f'<select id="f{i}" name="f{i}">{options}</select>'
    else:
        control = f'<textarea id="f{i}" name="f{i}">Synthetic note {i}</textarea>'
    return f'<div class="field">{label}{control}</div>'


def clinical_page(nodes: int, script: str) -> str:
    """A page of about `nodes` DOM nodes that loads `script` at the end of <body>."""
    fields = max(4, round(nodes * FORM_SHARE / FIELD_NODES))
    rows = max(1, round((nodes * (1 - FORM_SHARE) - 60) / ROW_NODES))
    head = "".join(f"<th>{c}</th>" for c in COLUMNS)
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        "<title>Trial TEST-01 - patients</title>"
        "<style>body{font:14px sans-serif;margin:0}nav{background:#234;color:#fff;padding:8px}"
        "nav a{color:#fff;margin-right:12px}.field{display:inline-block;margin:4px}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 4px}"
        ".badge{background:#eef;border-radius:3px;padding:0 4px}</style></head><body>"
        '<nav><a href="/patients">Patients</a><a href="/visits">Visits</a>'
        '<a href="/reports">Reports</a><span class="user">nurse.synthetic</span></nav>'
        "<main><h1>Patients (synthetic test data)</h1>"
        '<form id="intake"><h2>Intake</h2>'
        + "".join(_field(i) for i in range(fields))
        + '<button type="submit">Save</button></form>'
        f'<table id="patients"><thead><tr>{head}</tr></thead><tbody>'
        + "".join(patient_row(i) for i in range(rows))
        + f'</tbody></table></main><script src="{escape(script)}"></script></body></html>'
    )
