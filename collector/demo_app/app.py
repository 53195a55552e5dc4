"""A small clinical-trials application that embeds the recorder, for the demo and e2e.

Pages: a dashboard, a patient list (names, dates of birth, MRNs), a visit form per
patient (SSN, diagnosis, notes, medication), and a Volunteer module under /volunteers/
that the masking rules exclude from recording.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from collector.demo_app import data

_STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 0; color: #1d2733; background: #f4f6f9; }
header { background: #0f4c75; color: white; padding: 10px 24px; display: flex; gap: 24px;
         align-items: center; }
header nav a { color: white; margin-right: 16px; text-decoration: none; font-weight: 600; }
header .user { margin-left: auto; opacity: .85; }
main { max-width: 920px; margin: 24px auto; background: white; padding: 24px 32px;
       border-radius: 8px; box-shadow: 0 1px 3px rgba(0,0,0,.12); }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: 8px 10px; border-bottom: 1px solid #e1e6ec; }
th { background: #eef2f6; }
form { display: grid; grid-template-columns: 200px 1fr; gap: 12px 16px; max-width: 640px; }
input, select, textarea { font: inherit; padding: 6px 8px; border: 1px solid #b8c2cc;
                          border-radius: 4px; }
button { font: inherit; padding: 8px 16px; background: #0f4c75; color: white; border: 0;
         border-radius: 4px; cursor: pointer; }
.status { margin-top: 16px; padding: 10px; background: #e7f6ec; border-radius: 4px; }
.muted { color: #5b6b7b; }
"""


def _page(title: str, body: str, *, collector: str, rules: dict[str, Any]) -> HTMLResponse:
    start = {
        "endpoint": collector,
        "appKey": "dev",
        "user": data.DEMO_USER,
        "environment": "dev",
        "rules": rules,
    }
    # `</` cannot appear in JSON from json.dumps of our own constants, but escape anyway.
    options = json.dumps(start).replace("</", "<\\/")
    html = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>{escape(title)} · Trial Site Portal</title>
<style>{_STYLE}</style>
<script src="{escape(collector)}/sdk/phi-replay.min.js"></script>
<script>
  window.demoRecording = window.PhiReplay
    ? PhiReplay.start({options})
    : Promise.reject(new Error("recorder bundle did not load"));
  window.demoRecording.catch(function (e) {{ console.warn("phi-replay: " + e.message); }});
</script>
</head><body>
<header>
  <strong data-replay-unmask>Trial Site Portal</strong>
  <nav data-replay-unmask><a href="/">Dashboard</a><a href="/patients">Patients</a>
  <a href="/volunteers/">Volunteers</a></nav>
  <span class="user">Signed in as {escape(data.DEMO_USER)}</span>
</header>
<main>{body}</main>
</body></html>"""
    return HTMLResponse(html)


def create_sample_app(collector_url: str, rules: dict[str, Any]) -> Starlette:
    visits: list[dict[str, str]] = []

    def page(title: str, body: str) -> HTMLResponse:
        return _page(title, body, collector=collector_url, rules=rules)

    async def dashboard(request: Request) -> Response:
        return page(
            "Dashboard",
            f"""
<h1>Study PRX-7 dashboard</h1>
<p data-replay-unmask>Enrolled patients: {len(data.PATIENTS)}. Visits recorded today:
<span id="visit-count">{len(visits)}</span>.</p>
<p class="muted">Today's first visit is with {escape(data.PATIENTS[0].name)}.</p>
<p><a href="/patients" data-replay-unmask>Open the patient list</a></p>""",
        )

    async def patients(request: Request) -> Response:
        rows = "\n".join(
            f'<tr><td><a href="/patients/{p.patient_id}">{escape(p.name)}</a></td>'
            f"<td>{escape(p.date_of_birth)}</td><td>{escape(p.mrn)}</td>"
            f"<td>{escape(p.study_arm)}</td></tr>"
            for p in data.PATIENTS
        )
        return page(
            "Patients",
            f"""
<h1>Patients</h1>
<table id="patients"><thead><tr><th>Name</th><th>Date of birth</th><th>MRN</th>
<th>Study arm</th></tr></thead><tbody>{rows}</tbody></table>""",
        )

    async def visit_form(request: Request) -> Response:
        p = data.patient(int(request.path_params["patient_id"]))
        if p is None:
            return page("Not found", "<h1>Patient not found</h1>")
        options = "".join(f"<option>{escape(m)}</option>" for m in data.MEDICATIONS)
        return page(
            "Visit",
            f"""
<h1>Visit form</h1>
<p>Patient: <span id="patient-name">{escape(p.name)}</span>, MRN {escape(p.mrn)}</p>
<form id="visit" data-patient="{p.patient_id}">
  <label for="ssn">Social Security number</label><input id="ssn" name="ssn" autocomplete="off">
  <label for="diagnosis">Diagnosis</label><input id="diagnosis" name="diagnosis">
  <label for="notes">Notes</label><textarea id="notes" name="notes" rows="4"></textarea>
  <label for="medication">Medication</label>
  <select id="medication" name="medication">{options}</select>
  <span></span><button type="submit">Save visit</button>
</form>
<div id="status" role="status"></div>
<h2>Visits this session</h2>
<table><thead><tr><th>Diagnosis</th><th>Notes</th></tr></thead><tbody id="history"></tbody>
</table>
<script>
document.getElementById("visit").addEventListener("submit", async function (ev) {{
  ev.preventDefault();
  var form = ev.target, fields = Object.fromEntries(new FormData(form));
  var res = await fetch("/api/visits", {{method: "POST", headers: {{"content-type":
    "application/json"}}, body: JSON.stringify(Object.assign({{patient: form.dataset.patient}},
    fields))}});
  var status = document.getElementById("status");
  status.className = "status";
  status.textContent = res.ok ? "Visit saved for " +
    document.getElementById("patient-name").textContent + ": " + fields.diagnosis
    : "Could not save the visit";
  var row = document.createElement("tr");
  [fields.diagnosis, fields.notes].forEach(function (v) {{
    var td = document.createElement("td"); td.textContent = v; row.appendChild(td); }});
  document.getElementById("history").appendChild(row);
}});
</script>""",
        )

    async def save_visit(request: Request) -> Response:
        body = await request.json()
        visits.append({k: str(v) for k, v in body.items()})
        return JSONResponse({"saved": True, "visits": len(visits)})

    async def volunteers(request: Request) -> Response:
        rows = "".join(
            f"<tr><td>{escape(v.name)}</td><td>{escape(v.phone)}</td><td>{escape(v.email)}</td></tr>"
            for v in data.VOLUNTEERS
        )
        return page(
            "Volunteers",
            f"""
<h1>Volunteer module</h1>
<p>This module is excluded from recording by the masking rules.</p>
<table><thead><tr><th>Name</th><th>Phone</th><th>Email</th></tr></thead>
<tbody>{rows}</tbody></table>""",
        )

    return Starlette(
        routes=[
            Route("/", dashboard),
            Route("/patients", patients),
            Route("/patients/{patient_id:int}", visit_form),
            Route("/api/visits", save_visit, methods=["POST"]),
            Route("/volunteers/", volunteers),
        ]
    )
