"""Synthetic records for the sample clinical app. None of this is anyone's data.

Every value is obviously synthetic: surnames end in "Testpatient" or "Testvolunteer",
SSNs use the 900 area (never issued), MRNs start with MRN-TEST, dates fall in 1901-1909.
Tests use these values as canaries: none of them may ever leave the browser.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Patient:
    patient_id: int
    name: str
    date_of_birth: str
    mrn: str
    ssn: str
    study_arm: str


@dataclass(frozen=True)
class Volunteer:
    name: str
    phone: str
    email: str


PATIENTS = (
    Patient(1041, "Ada Testpatient", "1901-02-03", "MRN-TEST-100234", "900-12-3401", "Arm A"),
    Patient(1042, "Bram Testpatient", "1903-07-19", "MRN-TEST-100871", "900-12-3402", "Arm B"),
    Patient(1043, "Cleo Testpatient", "1905-11-28", "MRN-TEST-101502", "900-12-3403", "Arm A"),
    Patient(1044, "Dov Testpatient", "1907-04-09", "MRN-TEST-102213", "900-12-3404", "Placebo"),
    Patient(1045, "Esme Testpatient", "1909-09-30", "MRN-TEST-102990", "900-12-3405", "Arm B"),
)

VOLUNTEERS = (
    Volunteer("Fern Testvolunteer", "555-0101", "fern.testvolunteer@example.test"),
    Volunteer("Gil Testvolunteer", "555-0102", "gil.testvolunteer@example.test"),
)

MEDICATIONS = ("Metformin 500 mg", "Lisinopril 10 mg", "Atorvastatin 20 mg", "Study drug PRX-7")

DEMO_USER = "demo.nurse"


def patient(patient_id: int) -> Patient | None:
    return next((p for p in PATIENTS if p.patient_id == patient_id), None)


def canaries() -> list[str]:
    """Every synthetic PHI value the sample app shows."""
    values: list[str] = []
    for p in PATIENTS:
        values += [p.name, p.date_of_birth, p.mrn, p.ssn]
    for v in VOLUNTEERS:
        values += [v.name, v.phone, v.email]
    return values
