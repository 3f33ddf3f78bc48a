#!/usr/bin/env python3
"""Generate the order-hook scenarios of tests/it/order_hooks.rs as full CDS Hooks requests.

    python3 scripts/gen_order_scenarios.py     # writes tests/order_scenarios/<id>.json

Standard library only, deterministic. One function per scenario, named after the scenario id
(dashes -> underscores); the expected cards live in ONE table in tests/it/order_hooks.rs, worked out
by hand from docs/clinical-rules.md (§2, §7, §10, §11), not copied from the service's output.

Hook calls are evaluated as of *today* (the service's clock), so dates are written relative to it:
the string "@T-13" means "13 days before today", "@T+16" 16 days after; the test replaces every
such marker (also inside longer strings) before posting the request.

Conventions: the patient is Patient/p1 with MDD F33.1 (onset @T-700); periods are [start, end);
doses are a dose per administration x a timing ("daily" = frequency 1 per 1 d); every prefetch key
of the service is present (a Bundle or null).
"""

import json
import os
import sys
import uuid

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "order_scenarios")

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
UCUM = "http://unitsofmeasure.org"

# RxNorm ingredient codes (knowledge/drugs.toml).
DRUGS = {
    "sertraline": "36437",
    "citalopram": "2556",
    "escitalopram": "321988",
    "fluoxetine": "4493",
    "venlafaxine": "39786",
    "bupropion": "42347",
    "phenelzine": "8123",
    "tranylcypromine": "10734",
    "lithium": "6448",
    "quetiapine": "51272",
    "rasagiline": "134748",
    "tramadol": "10689",
    "methylphenidate": "6901",
}

DAILY = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}
TID = {"code": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "code": "TID"}]}}
SUBJECT = {"reference": "Patient/p1"}


def rx(drug):
    return {"coding": [{"system": RXNORM, "code": DRUGS[drug], "display": drug}], "text": drug}


def dose(value, unit="mg", timing=DAILY):
    q = {"value": value, "unit": unit}
    if unit == "mg":
        q.update({"system": UCUM, "code": "mg"})
    return [{"timing": json.loads(json.dumps(timing)), "doseAndRate": [{"doseQuantity": q}]}]


def condition(cid, code, onset="@T-700"):
    return {
        "resourceType": "Condition",
        "id": cid,
        "subject": SUBJECT,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "code": {"coding": [{"system": ICD10CM, "code": code}]},
        "onsetDateTime": onset,
    }


MDD = condition("c-mdd", "F33.1")
BIPOLAR = condition("c-bipolar", "F31.81")


def statement(sid, drug, start, end=None, mg=None, status="completed"):
    s = {
        "resourceType": "MedicationStatement",
        "id": sid,
        "status": status,
        "subject": SUBJECT,
        "medicationCodeableConcept": rx(drug),
        "effectivePeriod": {"start": start},
        "dosage": dose(mg),
    }
    if end is not None:
        s["effectivePeriod"]["end"] = end
    return s


def dispense(did, drug, handed_over, days_supply, mg):
    return {"resourceType": "MedicationDispense", "id": did, "status": "completed", "subject": SUBJECT,
            "medicationCodeableConcept": rx(drug), "whenHandedOver": handed_over,
            "daysSupply": {"value": days_supply, "unit": "day", "system": "http://unitsofmeasure.org", "code": "d"},
            "dosageInstruction": dose(mg)}


def draft(did, drug=None, mg=None, unit="mg", timing=DAILY, med=None, contained=None, text=None):
    """A draft MedicationRequest: `drug` (RxNorm ingredient) or `med` (a medicationReference)."""
    r = {"resourceType": "MedicationRequest", "id": did, "status": "draft", "intent": "order", "subject": SUBJECT,
         "authoredOn": "@T-0"}
    if contained is not None:
        r["contained"] = contained
    if med is not None:
        r["medicationReference"] = {"reference": med}
    elif text is not None:
        r["medicationCodeableConcept"] = {"text": text}
    else:
        r["medicationCodeableConcept"] = rx(drug)
    if mg is not None:
        r["dosageInstruction"] = dose(mg, unit, timing)
    return r


def bundle(resources, kind="searchset"):
    entries = []
    for r in resources:
        if isinstance(r, tuple):
            url, res = r
            entries.append({"fullUrl": url, "resource": res})
        else:
            entries.append({"resource": r})
    return {"resourceType": "Bundle", "type": kind, "entry": entries}


PREFETCH_KEYS = {
    "conditions": "Condition",
    "medicationStatements": "MedicationStatement",
    "medicationRequests": "MedicationRequest",
    "medicationDispenses": "MedicationDispense",
    "procedures": "Procedure",
    "observations": "Observation",
}


def request(name, history, drafts, hook="order-sign", selections=None):
    prefetch = {"patient": {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-04-02"}}
    for key, rtype in PREFETCH_KEYS.items():
        rs = [r for r in history if r["resourceType"] == rtype]
        prefetch[key] = bundle(rs) if rs else None
    context = {"userId": "Practitioner/u1", "patientId": "p1"}
    if selections is not None:
        context["selections"] = selections
    context["draftOrders"] = bundle(drafts, "collection")
    return {
        "hook": hook,
        "hookInstance": str(uuid.uuid5(uuid.NAMESPACE_URL, "urn:trd-cds:order-scenario:" + name)),
        "context": context,
        "prefetch": prefetch,
    }


# --------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------

def maoi_after(drug, days, first_mg=100):
    """`drug` stopped `days` days ago; draft phenelzine 45 mg/day."""
    return [MDD, statement("ms-" + drug, drug, "@T-200", "@T-%d" % days, first_mg)], [draft("draft-phenelzine", "phenelzine", 15, timing=TID)]


def serotonergic_after_maoi(days):
    return [MDD, statement("ms-phenelzine", "phenelzine", "@T-200", "@T-%d" % days, 45)], [draft("draft-sertraline", "sertraline", 50)]


def maoi_after_sertraline_13_days():
    return maoi_after("sertraline", 13)


def maoi_after_sertraline_14_days():
    return maoi_after("sertraline", 14)


def maoi_after_sertraline_15_days():
    return maoi_after("sertraline", 15)


def maoi_after_fluoxetine_34_days():
    return maoi_after("fluoxetine", 34, 20)


def maoi_after_fluoxetine_35_days():
    return maoi_after("fluoxetine", 35, 20)


def maoi_after_fluoxetine_36_days():
    return maoi_after("fluoxetine", 36, 20)


def maoi_after_fluoxetine_20_days():
    return maoi_after("fluoxetine", 20, 20)


def ssri_after_maoi_13_days():
    return serotonergic_after_maoi(13)


def ssri_after_maoi_14_days():
    return serotonergic_after_maoi(14)


def ssri_after_maoi_15_days():
    return serotonergic_after_maoi(15)


def maoi_while_ssri_current():
    return [MDD, statement("ms-sertraline", "sertraline", "@T-60", None, 100, status="active")], [
        draft("draft-tranylcypromine", "tranylcypromine", 10, timing=TID)]


def maoi_low_dose_while_venlafaxine_current():
    # Issue 15: phenelzine 15 mg/day (below its 45 mg/day minimum) next to current venlafaxine. The
    # critical card cancels the draft; no card may also propose raising it.
    return [MDD, statement("ms-venlafaxine", "venlafaxine", "@T-60", None, 150, status="active")], [
        draft("draft-phenelzine", "phenelzine", 15)]


def maoi_contained_medication():
    med = {"resourceType": "Medication", "id": "med", "code": {"coding": [{"system": RXNORM, "code": DRUGS["phenelzine"], "display": "phenelzine"}]},
           "ingredient": [{"itemCodeableConcept": rx("phenelzine"),
                           "strength": {"numerator": {"value": 15, "unit": "mg", "system": UCUM, "code": "mg"},
                                        "denominator": {"value": 1, "unit": "tablet"}}}]}
    return [MDD, statement("ms-sertraline", "sertraline", "@T-200", "@T-10", 100)], [
        draft("draft-phenelzine", mg=1, unit="tablet", timing=TID, med="#med", contained=[med])]


def low_dose_bundle_medication():
    url = "urn:uuid:6c1b0f7e-0d7e-4f38-9d0a-2f3b1c4d5e6f"
    med = {"resourceType": "Medication", "code": rx("sertraline"),
           "ingredient": [{"itemCodeableConcept": rx("sertraline"),
                           "strength": {"numerator": {"value": 25, "unit": "mg", "system": UCUM, "code": "mg"},
                                        "denominator": {"value": 1, "unit": "tablet"}}}]}
    return [MDD], [(url, med), draft("draft-sertraline", mg=1, unit="tablet", med=url)]


def low_dose_update():
    return [MDD], [draft("draft-sertraline", "sertraline", 25)]


def low_dose_update_keeps_timing_drops_invalid_fields():
    # Issue 15: the reference client sent `category` as an object (R4: an array) and the update
    # copied it back verbatim. 12.5 mg twice daily = 25 mg/day.
    d = draft("draft-sertraline", "sertraline", 12.5, timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}})
    d["category"] = {"coding": [{"code": "outpatient"}]}
    d["madeUp"] = True
    return [MDD], [d]


def dose_at_minimum_silent():
    return [MDD], [draft("draft-sertraline", "sertraline", 50)]


def combination_dose_uses_adjunct_minimum():
    return [MDD, statement("ms-sertraline", "sertraline", "@T-90", None, 100, status="active")], [
        draft("draft-bupropion", "bupropion", 150)]


MET = [
    MDD,
    statement("ms-citalopram", "citalopram", "@T-600", "@T-500", 20),
    statement("ms-sertraline", "sertraline", "@T-450", "@T-350", 100),
]


def repeat_failed_ssri_class():
    return MET, [draft("draft-escitalopram", "escitalopram", 10)]


def repeat_failed_ssri_class_after_nonadherent_fluoxetine():
    # The met history plus fluoxetine refilled two weeks late each month (90 of 118 days covered,
    # PDC 0.762): `possible-nonadherence`, context for the repeat-class warning (issue 19).
    return MET + [
        dispense("md-fluoxetine-1", "fluoxetine", "@T-300", 30, 20),
        dispense("md-fluoxetine-2", "fluoxetine", "@T-256", 30, 20),
        dispense("md-fluoxetine-3", "fluoxetine", "@T-212", 30, 20),
    ], [draft("draft-escitalopram", "escitalopram", 10)]


def repeat_class_other_class_silent():
    return MET, [draft("draft-venlafaxine", "venlafaxine", 150)]


def repeat_class_renewal_silent():
    return MET + [statement("ms-escitalopram", "escitalopram", "@T-20", None, 10, status="active")], [
        draft("draft-escitalopram", "escitalopram", 20)]


def bipolar_antidepressant_monotherapy():
    return [MDD, BIPOLAR], [draft("draft-sertraline", "sertraline", 50)]


def bipolar_lithium_in_other_draft_silent():
    return [MDD, BIPOLAR], [draft("draft-sertraline", "sertraline", 50), draft("draft-lithium", "lithium", 600)]


def bipolar_current_quetiapine_silent():
    return [MDD, BIPOLAR, statement("ms-quetiapine", "quetiapine", "@T-100", None, 300, status="active")], [
        draft("draft-sertraline", "sertraline", 50)]


def unknown_drug_silent():
    return [MDD, statement("ms-sertraline", "sertraline", "@T-200", "@T-5", 100)], [
        draft("draft-amoxicillin", text="Amoxicillin 500 MG Oral Capsule", mg=500)]


def non_medication_orders_ignored():
    service = {"resourceType": "ServiceRequest", "id": "sr1", "status": "draft", "intent": "order", "subject": SUBJECT,
               "code": {"text": "Thyroid function panel"}}
    diet = {"resourceType": "NutritionOrder", "id": "no1", "status": "draft", "intent": "order", "patient": SUBJECT,
            "dateTime": "@T-0", "oralDiet": {"type": [{"text": "Pureed diet"}]}}
    return [MDD, BIPOLAR], [service, diet]


def order_select_unselected_draft_silent():
    return [MDD, BIPOLAR], [draft("draft-sertraline", "sertraline", 25),
                            {"resourceType": "ServiceRequest", "id": "sr1", "status": "draft", "intent": "order",
                             "subject": SUBJECT, "code": {"text": "Psychotherapy referral"}}]


def order_select_selected_draft():
    return [MDD, BIPOLAR], [draft("draft-sertraline", "sertraline", 25), draft("draft-escitalopram", "escitalopram", 10)]


def order_select_other_draft_is_context():
    return [MDD, BIPOLAR], [draft("draft-sertraline", "sertraline", 50), draft("draft-lithium", "lithium", 600)]


def order_sign_all_drafts():
    return [MDD], [draft("draft-sertraline", "sertraline", 25), draft("draft-fluoxetine", "fluoxetine", 10)]


def order_sign_maoi_and_ssri_drafts():
    return [MDD], [draft("draft-phenelzine", "phenelzine", 15, timing=TID), draft("draft-sertraline", "sertraline", 50)]


def maoi_ssri_draft_while_rasagiline_current():
    # Rasagiline (an MAO-B inhibitor for Parkinson's, not an antidepressant) is an MAOI for the rule (§7, §11).
    return [MDD, statement("ms-rasagiline", "rasagiline", "@T-90", None, 1, status="active")], [
        draft("draft-sertraline", "sertraline", 50)]


def maoi_tramadol_draft_10_days_after_phenelzine():
    # Tramadol is serotonergic beyond antidepressants (§7): 10 days after an MAOI is inside the 14-day washout.
    return [MDD, statement("ms-phenelzine", "phenelzine", "@T-200", "@T-10", 45)], [
        draft("draft-tramadol", "tramadol", 50, timing=TID)]


def maoi_methylphenidate_draft_while_tranylcypromine_current():
    # Methylphenidate is contraindicated with MAOIs for a hypertensive crisis, not serotonin (§7).
    return [MDD, statement("ms-tranylcypromine", "tranylcypromine", "@T-90", None, 30, status="active")], [
        draft("draft-methylphenidate", "methylphenidate", 10)]


SELECT = {
    "order-select-unselected-draft-silent": ["ServiceRequest/sr1"],
    "order-select-selected-draft": ["MedicationRequest/draft-sertraline"],
    "order-select-other-draft-is-context": ["MedicationRequest/draft-sertraline"],
}


def main():
    os.makedirs(OUT, exist_ok=True)
    names = [n for n, f in globals().items() if callable(f) and n.startswith(
        ("maoi_", "ssri_", "low_", "dose_", "combination_", "repeat_", "bipolar_", "unknown_", "non_", "order_"))
        and n not in ("maoi_after",)]
    written = 0
    for fn_name in sorted(names):
        name = fn_name.replace("_", "-")
        history, drafts = globals()[fn_name]()
        sel = SELECT.get(name)
        req = request(name, history, drafts, hook="order-select" if sel else "order-sign", selections=sel)
        with open(os.path.join(OUT, name + ".json"), "w") as f:
            json.dump(req, f, indent=1, ensure_ascii=False)
            f.write("\n")
        written += 1
    print(f"wrote {written} scenarios to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
