#!/usr/bin/env python3
"""Deterministic synthetic FHIR R4 patients for benchmarks: tests/fixtures/bench-patient-<N>.json.

Each is a searchset-style collection Bundle with about N resources in realistic proportions:
MDD and comorbid Conditions, a history of antidepressant MedicationRequests renewed monthly (RxNorm
product codes, tablets x strength, BID/QD timing), MedicationStatements, MedicationDispenses,
PHQ-9 totals and item 9, and a few Procedures. Run: python3 scripts/gen_bench_patients.py
"""
import json
import os
import random
from datetime import date, timedelta

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
RX = "http://www.nlm.nih.gov/research/umls/rxnorm"
# (ingredient, RxNorm SCD, display, mg per tablet)
DRUGS = [
    ("sertraline", "312940", "sertraline 50 MG Oral Tablet", 50),
    ("escitalopram", "349332", "escitalopram 10 MG Oral Tablet", 10),
    ("venlafaxine", "313583", "24 HR venlafaxine 75 MG Extended Release Oral Capsule", 75),
    ("bupropion", "993557", "24 HR bupropion hydrochloride 150 MG Extended Release Oral Tablet", 150),
    ("mirtazapine", "311725", "mirtazapine 15 MG Oral Tablet", 15),
    ("aripiprazole", "349545", "aripiprazole 5 MG Oral Tablet", 5),
]


def make(n, seed):
    rnd = random.Random(seed)
    pid = f"bench-{n}"
    subj = {"reference": f"Patient/{pid}"}
    res = [{"resourceType": "Patient", "id": pid, "gender": "female", "birthDate": "1975-06-01"}]
    start = date(2026, 11, 1) - timedelta(days=max(400, n * 3))
    res.append({"resourceType": "Condition", "id": "mdd", "subject": subj,
                "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
                "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F33.2"},
                                    {"system": "http://snomed.info/sct", "code": "370143000"}]},
                "onsetDateTime": start.isoformat()})
    for i, code in enumerate(["F41.1", "E03.9", "I10", "E11.9", "J45.909"]):
        res.append({"resourceType": "Condition", "id": f"c{i}", "subject": subj,
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": code}]},
                    "recordedDate": (start + timedelta(days=30 * i)).isoformat()})
    i = 0
    day = start + timedelta(days=5)
    while len(res) < n:
        drug = DRUGS[(i // 12) % len(DRUGS)]
        k = i % 5
        d = day.isoformat()
        if k in (0, 1):
            res.append({"resourceType": "MedicationRequest", "id": f"mr{i}", "status": "completed", "intent": "order",
                        "subject": subj, "authoredOn": d,
                        "medicationCodeableConcept": {"coding": [{"system": RX, "code": drug[1], "display": drug[2]}]},
                        "dosageInstruction": [{"timing": {"code": {"coding": [{"code": "BID" if rnd.random() < 0.5 else "QD"}]}},
                                               "doseAndRate": [{"doseQuantity": {"value": 1 + (i % 2), "unit": "tablet"}}]}],
                        "dispenseRequest": {"expectedSupplyDuration": {"value": 30, "unit": "days", "system": "http://unitsofmeasure.org", "code": "d"},
                                            "numberOfRepeatsAllowed": 0}})
        elif k == 2:
            res.append({"resourceType": "MedicationDispense", "id": f"md{i}", "status": "completed", "subject": subj,
                        "whenHandedOver": d, "daysSupply": {"value": 30, "unit": "d"}, "quantity": {"value": 60},
                        "medicationCodeableConcept": {"coding": [{"system": RX, "code": drug[1], "display": drug[2]}]}})
        else:
            res.append({"resourceType": "Observation", "id": f"phq{i}", "status": "final", "subject": subj,
                        "code": {"coding": [{"system": "http://loinc.org", "code": "44261-6" if k == 3 else "44260-8"}]},
                        "effectiveDateTime": d + "T10:00:00Z",
                        "valueInteger": rnd.randint(12, 24) if k == 3 else rnd.randint(0, 1)})
        i += 1
        day += timedelta(days=3)
    return {"resourceType": "Bundle", "type": "collection",
            "entry": [{"fullUrl": f"urn:uuid:{r['resourceType'].lower()}-{r['id']}", "resource": r} for r in res[:n]]}


def enrich(resource, i):
    """What EHR resources carry beyond the fields the rules read: meta, identifiers, narrative."""
    r = dict(resource)
    r["meta"] = {"versionId": str(1 + i % 3), "lastUpdated": "2026-10-01T08:%02d:00.000+00:00" % (i % 60),
                 "source": "#ehr-prod-7"}
    r["identifier"] = [{"system": "urn:oid:1.2.840.114350.1.13.0.1.7.2.798268", "value": f"{900000 + i}"}]
    r["text"] = {"status": "generated",
                 "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">" + (f"{r['resourceType']} {r['id']} " * 12) + "</div>"}
    return r


def patient_view_request(bundle):
    """A patient-view request whose prefetch holds the bundle's resources under the service's keys."""
    keys = {"Condition": "conditions", "MedicationStatement": "medicationStatements",
            "MedicationRequest": "medicationRequests", "MedicationDispense": "medicationDispenses",
            "Procedure": "procedures", "Observation": "observations"}
    groups = {k: [] for k in keys.values()}
    patient = None
    for i, e in enumerate(bundle["entry"]):
        r = enrich(e["resource"], i)
        if r["resourceType"] == "Patient":
            patient = r
        elif r["resourceType"] in keys:
            groups[keys[r["resourceType"]]].append(r)
    prefetch = {"patient": patient}
    for k, rs in groups.items():
        prefetch[k] = {"resourceType": "Bundle", "type": "searchset", "total": len(rs),
                       "entry": [{"fullUrl": f"https://ehr.example.org/fhir/{r['resourceType']}/{r['id']}",
                                  "resource": r, "search": {"mode": "match"}} for r in rs]} if rs else None
    return {"hook": "patient-view", "hookInstance": "8b1f6f0e-1c1e-4b0f-9d7a-2f8d3c4b5a61",
            "fhirServer": "https://ehr.example.org/fhir",
            "context": {"userId": "Practitioner/example", "patientId": patient["id"]}, "prefetch": prefetch}


if __name__ == "__main__":
    req = patient_view_request(make(60, 60))
    path = os.path.join(OUT, "patient-view-60.json")
    with open(path, "w") as f:
        json.dump(req, f, separators=(",", ":"))
    print(path, os.path.getsize(path), "bytes")
    for n in (10, 60, 500, 3000):
        path = os.path.join(OUT, f"bench-patient-{n}.json")
        with open(path, "w") as f:
            json.dump(make(n, n), f, separators=(",", ":"))
        print(path, os.path.getsize(path), "bytes")
