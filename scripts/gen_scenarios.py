#!/usr/bin/env python3
"""Generate the named clinical scenarios of tests/it/scenarios.rs as small FHIR R4 Bundles.

    python3 scripts/gen_scenarios.py          # writes tests/scenarios/<id>.json

Standard library only, deterministic (no clocks, no randomness): running it twice gives the same
files. One function per scenario, named after the scenario id (dashes → underscores); the expected
results live in ONE table in tests/it/scenarios.rs, worked out by hand from
docs/clinical-rules.md — not copied from the engine's output.

Conventions (so a reviewer can read each scenario at a glance):
- The patient is Patient/p1; the usual episode is MDD F33.1 (recurrent, moderate) with onset
  2025-01-01, and most scenarios are evaluated as of 2026-01-01 (see the table).
- Doses are written as a dose per administration × a timing; "daily" = frequency 1 per 1 d.
- Periods are [start, end): 2025-01-01 → 2025-02-12 lasts 42 days = 6.0 weeks (clinical-rules §3).
"""

import json
import os
import sys

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "scenarios")

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
CPT = "http://www.ama-assn.org/go/cpt"
HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
UCUM = "http://unitsofmeasure.org"

# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------

# RxNorm ingredient codes (knowledge/drugs.toml).
DRUGS = {
    "sertraline": "36437",
    "escitalopram": "321988",
    "fluoxetine": "4493",
    "venlafaxine": "39786",
    "mirtazapine": "15996",
    "bupropion": "42347",
    "linezolid": "190376",
    "tramadol": "10689",
    "methylphenidate": "6901",
    "nortriptyline": "7531",
    "maprotiline": "6646",
    "phenelzine": "8123",
    "tranylcypromine": "10734",
    "aripiprazole": "89013",
    "lithium": "6448",
    "liothyronine": "10814",
}


def rx(drug):
    """medicationCodeableConcept with the RxNorm ingredient code of `drug`."""
    return {"coding": [{"system": RXNORM, "code": DRUGS[drug], "display": drug}], "text": drug}


def rx_product(code, display):
    """An RxNorm product (SCD) concept."""
    return {"coding": [{"system": RXNORM, "code": code, "display": display}], "text": display}


def concept(system, code, display=None):
    c = {"system": system, "code": code}
    if display:
        c["display"] = display
    return {"coding": [c]}


def qty(value, unit="mg", code=None):
    q = {"value": value, "unit": unit}
    if code is not False:
        q["system"] = UCUM
        q["code"] = code if code is not None else unit
    return q


DAILY = {"repeat": {"frequency": 1, "period": 1, "periodUnit": "d"}}


def dosage(value, unit="mg", timing=DAILY, code=None, bounds=None):
    """One Dosage: `value` `unit` per administration, `timing` (None = no timing)."""
    d = {"doseAndRate": [{"doseQuantity": qty(value, unit, code)}]}
    if timing is not None:
        d["timing"] = json.loads(json.dumps(timing))
    if bounds is not None:
        d.setdefault("timing", {}).setdefault("repeat", {})["boundsPeriod"] = bounds
    return d


def patient():
    return {"resourceType": "Patient", "id": "p1", "gender": "female", "birthDate": "1980-04-02"}


SUBJECT = {"reference": "Patient/p1"}


def condition(cid, code, system=ICD10CM, onset="2025-01-01", clinical="active", verification="confirmed"):
    c = {
        "resourceType": "Condition",
        "id": cid,
        "subject": SUBJECT,
        "verificationStatus": concept(
            "http://terminology.hl7.org/CodeSystem/condition-ver-status", verification
        ),
        "code": concept(system, code),
    }
    if clinical is not None:
        c["clinicalStatus"] = concept("http://terminology.hl7.org/CodeSystem/condition-clinical", clinical)
    if onset is not None:
        c["onsetDateTime"] = onset
    return c


def mdd(code="F33.1", onset="2025-01-01", cid="c-mdd", **kw):
    return condition(cid, code, onset=onset, **kw)


def statement(sid, drug, start, end=None, dose=None, status="completed", timing=DAILY, unit="mg",
              med=None, dosages=None, status_reason=None, effective_datetime=False):
    """A MedicationStatement of `drug` (ingredient name) or `med` (a concept) over [start, end)."""
    s = {
        "resourceType": "MedicationStatement",
        "id": sid,
        "status": status,
        "subject": SUBJECT,
        "medicationCodeableConcept": med if med is not None else rx(drug),
    }
    if effective_datetime:
        s["effectiveDateTime"] = start
    else:
        s["effectivePeriod"] = {"start": start}
        if end is not None:
            s["effectivePeriod"]["end"] = end
    if dosages is not None:
        s["dosage"] = dosages
    elif dose is not None:
        s["dosage"] = [dosage(dose, unit, timing)]
    if status_reason is not None:
        s["statusReason"] = [status_reason]
    return s


def request(rid, drug, authored, dose, status="completed", intent="order", bounds=None, supply_days=None,
            repeats=None, med=None, med_ref=None, unit="mg", timing=DAILY, code=None):
    r = {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": status,
        "intent": intent,
        "subject": SUBJECT,
        "authoredOn": authored,
        "dosageInstruction": [dosage(dose, unit, timing, code=code, bounds=bounds)],
    }
    if med_ref is not None:
        r["medicationReference"] = {"reference": med_ref}
    else:
        r["medicationCodeableConcept"] = med if med is not None else rx(drug)
    if supply_days is not None:
        r["dispenseRequest"] = {"expectedSupplyDuration": {"value": supply_days, "unit": "days", "system": UCUM, "code": "d"}}
        if repeats is not None:
            r["dispenseRequest"]["numberOfRepeatsAllowed"] = repeats
    return r


def dispense(did, drug, handed_over, days_supply, dose, unit="mg"):
    return {
        "resourceType": "MedicationDispense",
        "id": did,
        "status": "completed",
        "subject": SUBJECT,
        "medicationCodeableConcept": rx(drug),
        "whenHandedOver": handed_over,
        "daysSupply": {"value": days_supply, "unit": "day", "system": UCUM, "code": "d"},
        "dosageInstruction": [dosage(dose, unit)],
    }


def phq9(oid, date, value, code="44261-6", status="final", value_field=None):
    o = {
        "resourceType": "Observation",
        "id": oid,
        "status": status,
        "subject": SUBJECT,
        "category": [concept("http://terminology.hl7.org/CodeSystem/observation-category", "survey")],
        "code": concept(LOINC, code),
        "effectiveDateTime": date,
    }
    if value_field == "quantity" or isinstance(value, float):
        o["valueQuantity"] = {"value": value, "unit": "{score}", "system": UCUM, "code": "{score}"}
    elif value_field == "string":
        o["valueString"] = str(value)
    else:
        o["valueInteger"] = value
    return o


def item9(oid, date, value=None, answer=None):
    """PHQ-9 item 9 (thoughts that you would be better off dead): a number or a LOINC answer code."""
    o = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "subject": SUBJECT,
        "code": concept(LOINC, "44260-8"),
        "effectiveDateTime": date,
    }
    if answer is not None:
        o["valueCodeableConcept"] = concept(LOINC, answer)
    else:
        o["valueInteger"] = value
    return o


def procedure(pid, system, code, date, status="completed"):
    return {
        "resourceType": "Procedure",
        "id": pid,
        "status": status,
        "subject": SUBJECT,
        "code": concept(system, code),
        "performedDateTime": date,
    }


def bundle(*resources, btype="collection", full_urls=None):
    entries = []
    for i, r in enumerate(resources):
        url = (full_urls or {}).get(i) or f"https://ehr.example.org/fhir/{r['resourceType']}/{r.get('id', i)}"
        e = {"fullUrl": url, "resource": r}
        if btype == "transaction":
            e["request"] = {"method": "POST", "url": r["resourceType"]}
        entries.append(e)
    return {"resourceType": "Bundle", "type": btype, "entry": entries}


# Two failed SSRI trials in the episode (the usual `met` background):
# sertraline 2025-01-15 → 2025-04-15 (90 d), escitalopram 2025-04-20 → 2025-07-20 (91 d), both
# completed; PHQ-9 20 (2025-01-10) → 18 (2025-04-10) → 17 (2025-07-15): non-response to both.
def two_failed_ssris(ser_mg=100, esc_mg=10):
    return [
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", ser_mg),
        statement("ms-escitalopram", "escitalopram", "2025-04-20", "2025-07-20", esc_mg),
        phq9("phq-1", "2025-01-10", 20),
        phq9("phq-2", "2025-04-10", 18),
        phq9("phq-3", "2025-07-15", 17),
    ]


def met_background(**kw):
    return [patient(), mdd(), *two_failed_ssris(**kw)]


# --------------------------------------------------------------------------------------------
# Scenarios: status
# --------------------------------------------------------------------------------------------


def met_two_failed_ssris():
    return bundle(*met_background())


def possible_failed_plus_unknown_dose():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        statement("ms-escitalopram", "escitalopram", "2025-04-20", "2025-07-20"),  # no dosage
        phq9("phq-1", "2025-01-10", 20),
        phq9("phq-2", "2025-04-10", 18),
        phq9("phq-3", "2025-07-15", 17),
    )


def not_met_single_failed_trial():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        phq9("phq-1", "2025-01-10", 20),
        phq9("phq-2", "2025-04-10", 18),
    )


def not_applicable_bipolar():
    return bundle(*met_background(), condition("c-bipolar", "F31.81", onset="2019-03-01"))


def not_applicable_no_mdd():
    # Two failed SSRIs for generalised anxiety only: no MDD episode, nothing to assess.
    return bundle(patient(), condition("c-gad", "F41.1", onset="2024-06-01"), *two_failed_ssris())


def not_applicable_mdd_in_remission_code():
    return bundle(patient(), mdd(code="F33.41"), *two_failed_ssris())


# --------------------------------------------------------------------------------------------
# Flags
# --------------------------------------------------------------------------------------------


def bipolar_cyclothymia_resolved():
    # F34.0 with clinicalStatus resolved still raises bipolar-spectrum (any clinical status).
    return bundle(*met_background(), condition("c-cyclo", "F34.0", onset="2010-01-01", clinical="resolved"))


def bipolar_refuted_is_ignored():
    return bundle(*met_background(), condition("c-bipolar", "F31.81", onset="2019-03-01", verification="refuted"))


def psychotic_features_f33_3():
    return bundle(patient(), mdd(code="F33.3"))


def catatonia_ect_unavailable():
    return bundle(patient(), mdd(), condition("c-cat", "F06.1"))


def suicide_item9_number():
    return bundle(patient(), mdd(), item9("phq9-item9", "2025-12-02", value=2))


def suicide_item9_answer_code_at_lookback_edge():
    # LA6569-3 = "several days" = 1, dated exactly as_of − 90 days (inclusive).
    return bundle(patient(), mdd(), item9("phq9-item9", "2025-10-03", answer="LA6569-3"))


def suicide_item9_zero_or_too_old():
    return bundle(
        patient(),
        mdd(),
        item9("phq9-item9-old", "2025-10-02", value=3),  # as_of − 91 days: outside the look-back
        item9("phq9-item9-now", "2025-12-20", answer="LA6568-5"),  # 0 = not at all
    )


def suicide_risk_condition_without_mdd():
    return bundle(patient(), condition("c-attempt", "T14.91XA", onset="2025-11-20"))


def subtherapeutic_dose():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-04-01", 25),
    )


def insufficient_duration():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-03-01", 100),
    )


def dose_unknown_ongoing():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-10-01", None, None, status="active"),
    )


def substance_use():
    return bundle(*met_background(), condition("c-aud", "F10.20"))


def thyroid_hypothyroidism():
    return bundle(*met_background(), condition("c-hypo", "E03.9"))


def comorbid_ptsd_adhd_personality_anxiety():
    return bundle(
        *met_background(),
        condition("c-ptsd", "F43.10"),
        condition("c-adhd", "F90.0"),
        condition("c-bpd", "F60.3"),
        condition("c-gad", "F41.1"),
        condition("c-old-gad", "F41.0", clinical="resolved"),
    )


def maoi_9_days_after_sertraline():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-06-01", 100),
        statement("ms-phenelzine", "phenelzine", "2025-06-10", "2025-09-01", 45),
    )


def maoi_15_days_after_sertraline():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-06-01", 100),
        statement("ms-phenelzine", "phenelzine", "2025-06-16", "2025-09-01", 45),
    )


def maoi_30_days_after_fluoxetine():
    return bundle(
        patient(),
        mdd(),
        statement("ms-fluoxetine", "fluoxetine", "2025-02-01", "2025-06-01", 20),
        statement("ms-tranylcypromine", "tranylcypromine", "2025-07-01", "2025-09-01", 30),
    )


def ssri_10_days_after_maoi():
    return bundle(
        patient(),
        mdd(),
        statement("ms-phenelzine", "phenelzine", "2025-02-01", "2025-06-01", 45),
        statement("ms-sertraline", "sertraline", "2025-06-11", "2025-09-01", 100),
    )


def prior_tms():
    return bundle(
        *met_background(),
        procedure("proc-tms", CPT, "90868", "2025-09-01"),
        procedure("proc-tms-planned", CPT, "90867", "2025-12-01", status="preparation"),
    )


# Psychotherapy (clinical-rules §1, §7 `prior-psychotherapy`, §9 `add-psychotherapy`).


def psychotherapy_in_episode():
    # CBT sessions in the episode: a value-set CPT code (90834), an add-on code (90836, §1 hand row) and a SNOMED
    # code (Psychotherapy - cognitive, 183383008): three sessions, the latest 2025-06-10; no add-psychotherapy.
    return bundle(
        *met_background(),
        procedure("proc-pt-1", CPT, "90834", "2025-03-04"),
        procedure("proc-pt-2", CPT, "90836", "2025-04-01"),
        procedure("proc-pt-3", SNOMED, "183383008", "2025-06-10"),
    )


def psychotherapy_before_episode():
    # Group psychotherapy (90853) in 2024, before the episode's onset 2025-01-01: not this episode's therapy, so
    # no prior-psychotherapy and add-psychotherapy is still recommended.
    return bundle(*met_background(), procedure("proc-pt-old", CPT, "90853", "2024-10-01"))


def psychotherapy_not_done():
    # A session recorded as not-done (patient did not attend) and one in preparation never count (§1: completed
    # only); neither is a data issue (a valid status, not a malformed value).
    return bundle(
        *met_background(),
        procedure("proc-pt-missed", CPT, "90837", "2025-05-01", status="not-done"),
        procedure("proc-pt-planned", CPT, "90837", "2025-12-15", status="preparation"),
    )


def possible_without_psychotherapy():
    # Status possible (one failed trial + one of unknown dose) and no session: add-psychotherapy after
    # verify-treatment-history; a family session (90847) after as_of does not count.
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        statement("ms-escitalopram", "escitalopram", "2025-04-20", "2025-07-20", None),
        phq9("phq-1", "2025-01-10", 20),
        phq9("phq-2", "2025-04-10", 18),
        phq9("phq-3", "2025-07-15", 17),
        procedure("proc-pt-future", CPT, "90847", "2026-02-01"),
    )


def prior_esketamine_hcpcs():
    return bundle(*met_background(ser_mg=200, esc_mg=20), procedure("proc-esk", HCPCS, "G2082", "2025-10-01"))


def ect_course_six_procedures():
    procs = [procedure(f"proc-ect-{i}", CPT, "90870", f"2025-09-{1 + 3 * i:02d}") for i in range(6)]
    return bundle(*met_background(), *procs)


# --------------------------------------------------------------------------------------------
# Recommendations
# --------------------------------------------------------------------------------------------


def ongoing_three_weeks_at_optimised_dose():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-12-11", None, 200, status="active"),
    )


def ongoing_ten_weeks_below_optimised_dose():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-10-23", None, 100, status="active"),
        phq9("phq-1", "2025-10-20", 20),
        phq9("phq-2", "2025-12-20", 14),
    )


def site_offers_no_neuromodulation():
    return bundle(*met_background(ser_mg=150, esc_mg=20))


def mgh_s_optimised_bonus():
    return bundle(*met_background(ser_mg=200, esc_mg=20))


def partial_response_on_current_trial_no_switch():
    # Two failed SSRIs, then venlafaxine 150 mg since 2025-08-01 with a partial response (17 → 12).
    return bundle(
        *met_background(),
        statement("ms-venlafaxine", "venlafaxine", "2025-08-01", None, 150, status="active"),
        phq9("phq-4", "2025-12-01", 12),
    )


# --------------------------------------------------------------------------------------------
# Dose and duration edges
# --------------------------------------------------------------------------------------------


def dose_exactly_at_minimum():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-04-01", 50),
        phq9("phq-1", "2025-01-28", 20),
        phq9("phq-2", "2025-03-25", 19),
    )


def dose_one_mg_below_minimum():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-04-01", 49),
        phq9("phq-1", "2025-01-28", 20),
        phq9("phq-2", "2025-03-25", 19),
    )


def duration_42_days():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-01", "2025-02-12", 100),
        phq9("phq-1", "2024-12-28", 20),
        phq9("phq-2", "2025-02-05", 19),
    )


def duration_41_days():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-01", "2025-02-11", 100),
        phq9("phq-1", "2024-12-28", 20),
        phq9("phq-2", "2025-02-05", 19),
    )


def gap_14_days_merges():
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-01-01", 30, 100),  # → 2025-01-31
        dispense("md-2", "sertraline", "2025-02-14", 30, 100),  # gap 14 → 2025-03-16
    )


def gap_15_days_splits():
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-01-01", 30, 100),  # → 2025-01-31
        dispense("md-2", "sertraline", "2025-02-15", 30, 100),  # gap 15 → 2025-03-17
    )


def cross_taper_27_days_is_switch():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-01", "2025-03-28", 100),
        statement("ms-venlafaxine", "venlafaxine", "2025-03-01", "2025-07-01", 150),
    )


def overlap_28_days_is_combination():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-01", "2025-03-29", 100),
        statement("ms-venlafaxine", "venlafaxine", "2025-03-01", "2025-07-01", 150),
    )


def combination_mirtazapine_failed():
    return bundle(
        patient(),
        mdd(),
        statement("ms-escitalopram", "escitalopram", "2025-01-01", "2025-03-15", 10),
        statement("ms-venlafaxine", "venlafaxine", "2025-03-20", "2025-09-01", 150),
        statement("ms-mirtazapine", "mirtazapine", "2025-05-01", "2025-09-01", 15),
        phq9("phq-1", "2024-12-20", 21),
        phq9("phq-2", "2025-03-10", 20),
        phq9("phq-3", "2025-04-25", 19),
        phq9("phq-4", "2025-08-25", 18),
    )


# --------------------------------------------------------------------------------------------
# Response measurement
# --------------------------------------------------------------------------------------------


def _ongoing_sertraline_with(baseline, followup):
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-09-01", None, 100, status="active"),
        phq9("phq-base", "2025-08-25", baseline),
        phq9("phq-follow", "2025-12-15", followup),
    )


def phq9_improvement_24_pct():
    return _ongoing_sertraline_with(25, 19)


def phq9_improvement_25_pct():
    return _ongoing_sertraline_with(20, 15)


def phq9_improvement_48_pct():
    # 49 % is not reachable with PHQ-9 integers (max 27): 27 → 14 = 48.1 %, the closest below 50 %.
    return _ongoing_sertraline_with(27, 14)


def phq9_improvement_50_pct():
    return _ongoing_sertraline_with(20, 10)


def remission_follow_up_4():
    # 6 → 4 is only 33 % but a follow-up < 5 is remission = response whatever the baseline.
    return _ongoing_sertraline_with(6, 4)


def float_phq9_rounds_half_up():
    # 20.4 → 20 and 10.5 → 11 (half up; half-to-even would give 10 = a 50 % response).
    return _ongoing_sertraline_with(20.4, 10.5)


def phq9_synthea_code_and_phq2_ignored():
    b = bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-09-01", None, 100, status="active"),
        phq9("phq-base", "2025-08-25", 20, code="89204-2"),
        phq9("phq-follow", "2025-12-15", 17, code="89204-2"),
        phq9("phq2-late", "2025-12-20", 1, code="55758-7"),  # PHQ-2: never a PHQ-9
        phq9("phq-prelim", "2025-12-28", 2, status="preliminary"),  # not final
    )
    return b


# --------------------------------------------------------------------------------------------
# Units, strengths and timing
# --------------------------------------------------------------------------------------------


def unit_micrograms_liothyronine():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-03-01", "2025-09-01", 100),
        statement("ms-liothyronine", "liothyronine", "2025-05-01", "2025-08-01", 25, unit="ug"),
        phq9("phq-1", "2025-04-28", 20),
        phq9("phq-2", "2025-07-25", 18),
    )


def unit_grams_lithium_bid():
    return bundle(
        patient(),
        mdd(),
        statement("ms-escitalopram", "escitalopram", "2025-03-01", None, 10, status="active"),
        statement("ms-lithium", "lithium", "2025-05-01", "2025-08-01", 0.3, unit="g", timing={"code": concept("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "BID")}),
        phq9("phq-1", "2025-04-28", 20),
        phq9("phq-2", "2025-07-25", 18),
    )


def tablets_times_rxnorm_product_strength():
    # 1 tablet of sertraline 100 MG Oral Tablet (RxCUI 312938) twice a day (timing.code BID) = 200 mg/day.
    return bundle(
        patient(),
        mdd(),
        request("mr-sertraline", None, "2025-02-01", 1, unit="{tbl}", med=rx_product("312938", "sertraline 100 MG Oral Tablet"),
                bounds={"start": "2025-02-01", "end": "2025-05-01"},
                timing={"code": concept("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "BID")}),
    )


def synthea_compact_text_strength():
    # An RxNorm code the knowledge base does not list, display in Synthea's compact form.
    med = {"coding": [{"system": RXNORM, "code": "999999001", "display": "Sertraline 100MG"}], "text": "Sertraline 100MG"}
    return bundle(
        patient(),
        mdd(),
        request("mr-sertraline", None, "2025-02-01", 1, unit="1", code=False, med=med, supply_days=30, repeats=2),
    )


def text_only_zoloft():
    return bundle(
        patient(),
        mdd(),
        statement("ms-zoloft", None, "2025-02-01", "2025-04-15", 1, unit="tablet", med={"text": "Zoloft 100 mg"}),
    )


def timing_tid_code():
    # sertraline 50 mg TID = 150 mg/day (timing.code only).
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-05-01", 50,
                  timing={"code": concept("http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation", "TID")}),
    )


def timing_every_12_hours():
    # venlafaxine 75 mg, frequency 1 per 12 h = 150 mg/day.
    return bundle(
        patient(),
        mdd(),
        statement("ms-venlafaxine", "venlafaxine", "2025-02-01", "2025-05-01", 75,
                  timing={"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}),
    )


def timing_weekly_fluoxetine():
    # fluoxetine 90 mg once a week = 12.9 mg/day: below the 20 mg/day minimum.
    return bundle(
        patient(),
        mdd(),
        statement("ms-fluoxetine", "fluoxetine", "2025-02-01", "2025-05-01", 90,
                  timing={"repeat": {"frequency": 1, "period": 1, "periodUnit": "wk"}}),
    )


def no_timing_assumes_once_daily():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-05-01", 100, timing=None),
    )


# --------------------------------------------------------------------------------------------
# Sources and resource shapes
# --------------------------------------------------------------------------------------------


def request_bounds_period():
    return bundle(
        patient(),
        mdd(),
        request("mr-sertraline", "sertraline", "2025-01-20", 100, status="active",
                bounds={"start": "2025-02-01", "end": "2025-04-01"}),
    )


def request_supply_times_repeats():
    # authoredOn 2025-01-01, 30 days × (1 + 2 repeats) = 90 days → 2025-04-01. Still "active" but its
    # supply ran out more than max_gap_days before as_of: ended.
    return bundle(
        patient(),
        mdd(),
        request("mr-sertraline", "sertraline", "2025-01-01", 100, status="active", supply_days=30, repeats=2),
    )


def request_completed_default_30_days():
    return bundle(
        patient(),
        mdd(),
        request("mr-sertraline", "sertraline", "2025-01-01", 100, status="completed"),
        request("mr-proposal", "escitalopram", "2025-03-01", 10, status="active", intent="proposal"),
        request("mr-draft", "venlafaxine", "2025-03-01", 150, status="draft"),
    )


def dispense_days_supply():
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-01-01", 30, 100),
        dispense("md-2", "sertraline", "2025-01-31", 30, 100),
        dispense("md-3", "sertraline", "2025-03-02", 30, 100),  # → 2025-04-01
    )


# --------------------------------------------------------------------------------------------
# Adherence (clinical-rules §3 `pdc`, §5, §7 `possible-nonadherence`): sertraline 100 mg/day
# dispenses, evaluated as of 2026-01-01. The PDC window runs from the first dispense to the
# latest supply end (clipped to as_of); an early refill starts when the previous supply runs out.
# --------------------------------------------------------------------------------------------


def pdc_exactly_80_percent():
    # [02-01, 03-01) 28 d, 14-day gap, [03-15, 04-12) 28 d: 56 covered / 70 days = 0.80 → adequate.
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-02-01", 28, 100),
        dispense("md-2", "sertraline", "2025-03-15", 28, 100),
    )


def pdc_just_below_80_percent():
    # The same with a 27-day second supply: 55 / 69 = 0.797 → not adherent, ended → inadequate.
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-02-01", 28, 100),
        dispense("md-2", "sertraline", "2025-03-15", 27, 100),
    )


def early_refill_stockpiles():
    # md-2 is handed over 20 days early: its supply runs [03-03, 04-02) (shifted), which covers the
    # 14 days before md-3, and md-3 then runs [04-02, 05-02). Shifted: 120 covered / 128 days
    # (02-01 → 06-09) = 0.9375; counted as handed over (union) it would be 100 / 128 = 0.78.
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-02-01", 30, 100),  # → 03-03
        dispense("md-2", "sertraline", "2025-02-11", 30, 100),  # as handed over → 03-13
        dispense("md-3", "sertraline", "2025-03-27", 30, 100),  # gap 14 after 03-13 → 04-26
        dispense("md-4", "sertraline", "2025-05-10", 30, 100),  # gap 14 after 04-26 → 06-09
    )


def dispenses_mixed_with_statement_no_pdc():
    # Two sparse dispenses (alone: 50 / 64 = 0.78) merged with a statement: not dispenses only → no PDC.
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-02-01", 30, 100),  # → 03-03
        dispense("md-2", "sertraline", "2025-03-17", 20, 100),  # gap 14 → 04-06
        statement("ms-sertraline", "sertraline", "2025-04-20", "2025-06-01", 100),  # gap 14
    )


def single_dispense_no_pdc():
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-02-01", 90, 100),  # → 2025-05-02
    )


def ongoing_nonadherent_trial():
    # 30-day supplies refilled every 44 days (two weeks late each month); the last runs past as_of.
    # Window 2025-08-01 → 2026-01-01 = 153 days, covered 30+30+30+21 = 111: PDC 0.725. PHQ-9 20 → 19:
    # non-response at an adequate dose for > 6 weeks, which would be `failed` if the supply had been taken.
    return bundle(
        patient(),
        mdd(),
        dispense("md-1", "sertraline", "2025-08-01", 30, 100),
        dispense("md-2", "sertraline", "2025-09-14", 30, 100),
        dispense("md-3", "sertraline", "2025-10-28", 30, 100),
        dispense("md-4", "sertraline", "2025-12-11", 30, 100),
        phq9("phq-1", "2025-07-25", 20),
        phq9("phq-2", "2025-12-15", 19),
    )


def contained_medication():
    s = statement("ms-sertraline", None, "2025-02-01", "2025-05-01", 2, unit="{tbl}",
                  med={"text": "see contained"})
    del s["medicationCodeableConcept"]
    s["contained"] = [{
        "resourceType": "Medication",
        "id": "med1",
        "code": rx_product("312941", "sertraline 50 MG Oral Tablet"),
    }]
    s["medicationReference"] = {"reference": "#med1"}
    return bundle(patient(), mdd(), s)


def transaction_urn_uuid_medication():
    med_url = "urn:uuid:6a1f3c7e-0000-4000-8000-000000000001"
    med = {"resourceType": "Medication", "code": rx_product("313586", "venlafaxine 75 MG Oral Tablet")}
    req = request("mr-venlafaxine", None, "2025-02-01", 1, unit="{tbl}", med_ref=med_url,
                  bounds={"start": "2025-02-01", "end": "2025-05-01"},
                  timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}})
    del req["id"]
    resources = [patient(), mdd(), med, req]
    urls = {
        0: "urn:uuid:6a1f3c7e-0000-4000-8000-00000000000a",
        1: "urn:uuid:6a1f3c7e-0000-4000-8000-00000000000b",
        2: med_url,
        3: "urn:uuid:6a1f3c7e-0000-4000-8000-00000000000c",
    }
    for r in resources:
        r.pop("id", None)
        if "subject" in r:
            r["subject"] = {"reference": urls[0]}
    return bundle(*resources, btype="transaction", full_urls=urls)


def entered_in_error_ignored():
    return bundle(
        patient(),
        mdd(),
        mdd(code="F33.3", cid="c-psychotic-eie", verification="entered-in-error"),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        statement("ms-escitalopram", "escitalopram", "2025-04-20", "2025-07-20", 10, status="entered-in-error"),
        phq9("phq-1", "2025-01-10", 20),
        phq9("phq-2", "2025-04-10", 18),
        phq9("phq-eie", "2025-04-12", 2, status="entered-in-error"),
        procedure("proc-tms-eie", CPT, "90868", "2025-09-01", status="entered-in-error"),
    )


def malformed_date_is_a_data_issue():
    b = met_background()
    b[3]["effectivePeriod"]["start"] = "2025-02-30"  # escitalopram: no such day
    return bundle(*b)


def partial_dates_widen():
    return bundle(
        patient(),
        mdd(onset="2025"),
        statement("ms-sertraline", "sertraline", "2025-02", "2025-04", 100),
    )


def icd10_codes_without_dot():
    return bundle(
        patient(),
        mdd(code="F331"),
        condition("c-hypo", "E039"),
        condition("c-attempt", "T1491XA"),
    )


def r4_tagged_bundle():
    res = met_background()
    for r in res:
        r["meta"] = {"profile": [f"http://hl7.org/fhir/StructureDefinition/{r['resourceType']}|4.0.1"]}
    return bundle(*res)


def r4b_tagged_bundle():
    # The fields the rules read are identical in R4 (4.0.1) and R4B (4.3.0); R4B adds resource types.
    # Here: every resource claims the 4.3.0 core profile, and two R4B-only resource types (Ingredient,
    # AdministrableProductDefinition) ride along: unknown types are skipped, never fatal, no issue.
    res = met_background()
    for r in res:
        r["meta"] = {"profile": [f"http://hl7.org/fhir/StructureDefinition/{r['resourceType']}|4.3.0"]}
    res.append({
        "resourceType": "Ingredient",
        "id": "ing-sertraline",
        "status": "active",
        "role": concept("http://hl7.org/fhir/ingredient-role", "100000072072", "Active"),
        "substance": {"code": {"concept": concept(RXNORM, "36437", "sertraline")}},
    })
    res.append({
        "resourceType": "AdministrableProductDefinition",
        "id": "apd-1",
        "status": "active",
        "routeOfAdministration": [{"code": concept(SNOMED, "26643006", "Oral route")}],
    })
    return bundle(*res)


# --------------------------------------------------------------------------------------------
# Outcomes and staging
# --------------------------------------------------------------------------------------------


def intolerant_adverse_effect():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-01", "2025-01-20", 100, status="stopped",
                  status_reason=concept(SNOMED, "281647001", "Adverse reaction")),
        statement("ms-escitalopram", "escitalopram", "2025-02-01", "2025-02-25", 10, status="stopped",
                  status_reason={"text": "stopped: GI side effects"}),
    )


def indeterminate_two_unknown_doses():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15"),
        statement("ms-escitalopram", "escitalopram", "2025-04-20", "2025-07-20"),
    )


def thase_rush_3_failed_tca():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        statement("ms-nortriptyline", "nortriptyline", "2025-04-20", "2025-07-20", 75),
    )


def thase_rush_3_tetracyclic_counts_as_tca():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        statement("ms-maprotiline", "maprotiline", "2025-04-20", "2025-07-20", 150),
    )


def maudsley_moderate_band():
    return bundle(
        patient(),
        mdd(code="F33.2", onset="2023-06-01"),
        *two_failed_ssris(),
    )


def treatment_step_3_failed_augmentation():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        statement("ms-venlafaxine", "venlafaxine", "2025-04-20", "2025-10-01", 150),
        statement("ms-aripiprazole", "aripiprazole", "2025-06-01", "2025-10-01", 5),
        phq9("phq-1", "2025-01-10", 20),
        phq9("phq-2", "2025-04-10", 18),
        phq9("phq-3", "2025-05-28", 18),
        phq9("phq-4", "2025-09-20", 17),
    )


def treatment_step_5_ect_long_episode():
    procs = [procedure(f"proc-ect-{i}", CPT, "90870", f"2025-11-{1 + 3 * i:02d}") for i in range(6)]
    return bundle(
        patient(),
        mdd(onset="2024-06-01"),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        statement("ms-venlafaxine", "venlafaxine", "2025-04-20", "2025-10-01", 150),
        statement("ms-aripiprazole", "aripiprazole", "2025-06-01", "2025-10-01", 5),
        phq9("phq-1", "2025-01-10", 20),
        phq9("phq-2", "2025-04-10", 18),
        phq9("phq-3", "2025-05-28", 18),
        phq9("phq-4", "2025-09-20", 17),
        *procs,
    )


def lithium_augmentation_failed():
    return bundle(
        *met_background(),
        statement("ms-venlafaxine", "venlafaxine", "2025-08-01", None, 150, status="active"),
        statement("ms-lithium", "lithium", "2025-09-01", "2025-12-01", 300,
                  timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}),
        phq9("phq-4", "2025-08-28", 17),
        phq9("phq-5", "2025-11-25", 16),
    )


def trial_before_episode_onset_not_counted():
    return bundle(
        patient(),
        mdd(onset="2025-06-01"),
        statement("ms-sertraline", "sertraline", "2025-01-15", "2025-04-15", 100),
        statement("ms-escitalopram", "escitalopram", "2025-06-20", "2025-09-20", 10),
    )


# --------------------------------------------------------------------------------------------
# More edges: products, patches, esketamine, same-day scores, dosage shapes, augmentation overlap
# --------------------------------------------------------------------------------------------


def symbyax_olanzapine_fluoxetine():
    # After a failed sertraline trial: fluoxetine 25 mg / olanzapine 6 mg capsule (RxCUI 403969)
    # daily for 91 days. One product, two ingredients: a fluoxetine trial + an olanzapine augmentation.
    b = met_background()
    b[3] = statement("ms-symbyax", None, "2025-04-20", "2025-07-20", 1, unit="{capsule}",
                     med=rx_product("403969", "fluoxetine 25 MG / olanzapine 6 MG Oral Capsule"))
    return bundle(*b)


def emsam_transdermal():
    # 24 HR selegiline 0.375 MG/HR patch (RxCUI 865210) = 9 mg/24 h, one patch a day.
    return bundle(
        patient(),
        mdd(),
        statement("ms-emsam", None, "2025-02-01", "2025-05-01", 1, unit="patch",
                  med=rx_product("865210", "24 HR selegiline 0.375 MG/HR Transdermal System")),
    )


def esketamine_exposure():
    return bundle(
        *met_background(ser_mg=200, esc_mg=20),
        statement("ms-spravato", None, "2025-09-01", "2025-11-01", 56,
                  med=rx_product("2201625", "esketamine Nasal Spray [Spravato]"),
                  timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "wk"}}),
    )


def f32a_severity_from_phq9():
    return bundle(patient(), mdd(code="F32.A"), *two_failed_ssris())


def same_day_scores_last_issued():
    late = phq9("phq-follow-late", "2025-12-15", 15)
    late["issued"] = "2025-12-15T16:00:00Z"
    early = phq9("phq-follow-early", "2025-12-15", 4)
    early["issued"] = "2025-12-15T09:00:00Z"
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-09-01", None, 100, status="active"),
        phq9("phq-base", "2025-08-25", 20),
        late,   # issued last, but first in the input
        early,
    )


def two_dosage_entries_summed():
    gts = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
    return bundle(
        patient(),
        mdd(),
        statement("ms-venlafaxine", "venlafaxine", "2025-02-01", "2025-05-01", dosages=[
            dosage(75, timing={"code": concept(gts, "QAM")}),
            dosage(75, timing={"code": concept(gts, "QPM")}),
        ]),
    )


def dose_range_uses_high():
    d = {"timing": DAILY, "doseAndRate": [{"doseRange": {"low": qty(25), "high": qty(50)}}]}
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-05-01", dosages=[d]),
    )


def max_dose_needs_14_days():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline-50", "sertraline", "2025-02-01", "2025-03-03", 50),
        statement("ms-sertraline-200", "sertraline", "2025-03-03", "2025-03-13", 200),
    )


def statement_completed_uses_date_asserted():
    s = statement("ms-sertraline", "sertraline", "2025-02-01", None, 100, effective_datetime=True)
    s["dateAsserted"] = "2025-04-01"
    return bundle(patient(), mdd(), s)


def combination_started_ten_days_before_as_of():
    return bundle(
        patient(),
        mdd(),
        statement("ms-escitalopram", "escitalopram", "2025-06-01", None, 10, status="active"),
        statement("ms-mirtazapine", "mirtazapine", "2025-12-22", None, 15, status="active"),
    )


def augmentation_overlap_13_days():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-02-01", "2025-06-01", 100),
        statement("ms-aripiprazole", "aripiprazole", "2025-05-19", "2025-06-20", 5),
    )


def suicide_item9_panel_component():
    o = {
        "resourceType": "Observation",
        "id": "phq9-panel",
        "status": "final",
        "subject": SUBJECT,
        "code": concept(LOINC, "44249-1", "PHQ-9 quick depression assessment panel"),
        "effectiveDateTime": "2025-12-15",
        "component": [
            {"code": concept(LOINC, "44250-9"), "valueCodeableConcept": concept(LOINC, "LA6569-3")},
            {"code": concept(LOINC, "44260-8"), "valueCodeableConcept": concept(LOINC, "LA6570-1")},
        ],
    }
    return bundle(patient(), mdd(), o)


# --------------------------------------------------------------------------------------------
# Issue 14: histories as real EHRs hold them
# --------------------------------------------------------------------------------------------


def zero_length_statement_keeps_dose():
    # A reconciled medication list: a completed statement with only effectivePeriod.start (end = start,
    # 0 days) and a dose. §3 "Zero-length exposures": the dose is kept (100 mg, adequate), 0 weeks.
    return bundle(patient(), mdd(), statement("ms-sertraline", "sertraline", "2025-03-01", None, 100))


def combination_outlives_base_own_trial():
    # Sertraline and bupropion started together; sertraline stopped after 8.4 weeks (a combination),
    # bupropion continues: bupropion's own trial starts 2025-03-01, 5.0 weeks before as_of 2025-04-05,
    # so it is not yet adequate (§3: never counted from the add-on period). PHQ-9 non-response on
    # sertraline only → one failed trial → not-met.
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-01", "2025-03-01", 100),
        statement("ms-bupropion", "bupropion", "2025-01-01", None, 300, status="active"),
        phq9("phq-1", "2024-12-20", 20),
        phq9("phq-2", "2025-02-25", 19),
        phq9("phq-3", "2025-04-01", 19),
    )


def two_add_ons_continue_earlier_is_trial():
    # Sertraline 2025-01-01 → 2025-03-01; bupropion added 2025-01-15 (150 mg) and mirtazapine 2025-01-20
    # (30 mg), both continuing: from 2025-03-01 bupropion (started first) is the trial, mirtazapine a
    # combination on it (§3), whatever their doses.
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-01-01", "2025-03-01", 100),
        statement("ms-bupropion", "bupropion", "2025-01-15", None, 150, status="active"),
        statement("ms-mirtazapine", "mirtazapine", "2025-01-20", None, 30, status="active"),
    )


def mgh_s_repeated_ingredient_counts_each_trial():
    # Two failed SSRIs, then a second failed sertraline trial (2025-08-01 → 2025-10-31, PHQ-9 17 → 17):
    # failed_adequate_trials counts ingredients (2), MGH-S counts each failed trial (§8): 3 → escalation.
    return bundle(
        *met_background(),
        statement("ms-sertraline-2", "sertraline", "2025-08-01", "2025-10-31", 100),
        phq9("phq-4", "2025-10-25", 17),
    )


def optimize_dose_after_reduction():
    # Sertraline 200 mg for 6 weeks, then reduced to 100 mg (running): the max dose (200) reached the
    # optimised dose but the current dose (the last covered day, §9) is 100 → optimize-dose.
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline-200", "sertraline", "2025-06-01", "2025-07-13", 200),
        statement("ms-sertraline-100", "sertraline", "2025-07-13", None, 100, status="active"),
    )


def optimize_dose_not_after_recent_increase():
    # Sertraline 100 mg for 60 days, then 200 mg for the last 10 days (running): the max dose held
    # 14 days is 100, but the current dose 200 is at the optimised dose → no optimize-dose (§9).
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline-100", "sertraline", "2025-06-01", "2025-07-31", 100),
        statement("ms-sertraline-200", "sertraline", "2025-07-31", None, 200, status="active"),
    )


def maoi_oral_selegiline_with_sertraline():
    # Oral selegiline (an MAO-B inhibitor, text only: no antidepressant trial) taken during sertraline:
    # every MAO inhibitor is an MAOI for the interaction rule (§7).
    oral = {"text": "selegiline hydrochloride 5 MG Oral Capsule"}
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-03-01", None, 100, status="active"),
        statement("ms-selegiline", None, "2025-06-01", "2025-07-01", 5, unit="capsule", med=oral,
                  timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}),
    )


def linezolid_during_sertraline():
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-03-01", None, 100, status="active"),
        request("mr-linezolid", "linezolid", "2025-09-01", 600, bounds={"start": "2025-09-01", "end": "2025-09-11"},
                timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}),
    )


def tramadol_10_days_after_phenelzine():
    return bundle(
        patient(),
        mdd(),
        statement("ms-phenelzine", "phenelzine", "2025-02-01", "2025-06-01", 45),
        statement("ms-tramadol", "tramadol", "2025-06-11", "2025-06-20", 100),
    )


def methylphenidate_during_tranylcypromine():
    # Methylphenidate is MAOI-contraindicated (hypertensive crisis), not serotonergic: the rule still fires.
    return bundle(
        patient(),
        mdd(),
        statement("ms-tranylcypromine", "tranylcypromine", "2025-03-01", None, 30, status="active"),
        statement("ms-methylphenidate", "methylphenidate", "2025-05-01", "2025-06-01", 10),
    )


def contradictory_emsam_tablet_is_a_data_issue():
    # "Emsam … tablet": the transdermal brand and an oral form at once. The text veto drops the match;
    # an MAO inhibitor that cannot be placed must surface as a data issue naming the resource (§1).
    return bundle(
        patient(),
        mdd(),
        statement("ms-emsam", None, "2025-03-01", "2025-06-01", 1, unit="tablet",
                  med={"text": "Emsam 6 mg/24 hr tablet"}),
    )


def maoi_course_split_in_two_records():
    # Phenelzine taken without a break, recorded as two contiguous statements (a reconciled list cuts
    # courses where a prescription was renewed), during sertraline: one interacting pair, not two.
    return bundle(
        patient(),
        mdd(),
        statement("ms-sertraline", "sertraline", "2025-03-01", None, 100, status="active"),
        statement("ms-phenelzine-1", "phenelzine", "2025-06-01", "2025-07-01", 45),
        statement("ms-phenelzine-2", "phenelzine", "2025-07-01", "2025-08-01", 45),
    )


def esketamine_course_split_in_two_records():
    # One Spravato course recorded as two contiguous statements: one course, not two records.
    return bundle(
        *met_background(ser_mg=200, esc_mg=20),
        statement("ms-spravato-1", None, "2025-09-01", "2025-10-01", 56,
                  med=rx_product("2201625", "esketamine Nasal Spray [Spravato]"),
                  timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "wk"}}),
        statement("ms-spravato-2", None, "2025-10-01", "2025-11-01", 56,
                  med=rx_product("2201625", "esketamine Nasal Spray [Spravato]"),
                  timing={"repeat": {"frequency": 2, "period": 1, "periodUnit": "wk"}}),
    )


SCENARIOS = [
    met_two_failed_ssris,
    possible_failed_plus_unknown_dose,
    not_met_single_failed_trial,
    not_applicable_bipolar,
    not_applicable_no_mdd,
    not_applicable_mdd_in_remission_code,
    bipolar_cyclothymia_resolved,
    bipolar_refuted_is_ignored,
    psychotic_features_f33_3,
    catatonia_ect_unavailable,
    suicide_item9_number,
    suicide_item9_answer_code_at_lookback_edge,
    suicide_item9_zero_or_too_old,
    suicide_risk_condition_without_mdd,
    subtherapeutic_dose,
    insufficient_duration,
    dose_unknown_ongoing,
    substance_use,
    thyroid_hypothyroidism,
    comorbid_ptsd_adhd_personality_anxiety,
    maoi_9_days_after_sertraline,
    maoi_15_days_after_sertraline,
    maoi_30_days_after_fluoxetine,
    ssri_10_days_after_maoi,
    prior_tms,
    prior_esketamine_hcpcs,
    ect_course_six_procedures,
    ongoing_three_weeks_at_optimised_dose,
    ongoing_ten_weeks_below_optimised_dose,
    site_offers_no_neuromodulation,
    mgh_s_optimised_bonus,
    partial_response_on_current_trial_no_switch,
    dose_exactly_at_minimum,
    dose_one_mg_below_minimum,
    duration_42_days,
    duration_41_days,
    gap_14_days_merges,
    gap_15_days_splits,
    cross_taper_27_days_is_switch,
    overlap_28_days_is_combination,
    combination_mirtazapine_failed,
    phq9_improvement_24_pct,
    phq9_improvement_25_pct,
    phq9_improvement_48_pct,
    phq9_improvement_50_pct,
    remission_follow_up_4,
    float_phq9_rounds_half_up,
    phq9_synthea_code_and_phq2_ignored,
    unit_micrograms_liothyronine,
    unit_grams_lithium_bid,
    tablets_times_rxnorm_product_strength,
    synthea_compact_text_strength,
    text_only_zoloft,
    timing_tid_code,
    timing_every_12_hours,
    timing_weekly_fluoxetine,
    no_timing_assumes_once_daily,
    request_bounds_period,
    request_supply_times_repeats,
    request_completed_default_30_days,
    dispense_days_supply,
    pdc_exactly_80_percent,
    pdc_just_below_80_percent,
    early_refill_stockpiles,
    dispenses_mixed_with_statement_no_pdc,
    single_dispense_no_pdc,
    ongoing_nonadherent_trial,
    contained_medication,
    transaction_urn_uuid_medication,
    entered_in_error_ignored,
    malformed_date_is_a_data_issue,
    partial_dates_widen,
    icd10_codes_without_dot,
    r4_tagged_bundle,
    r4b_tagged_bundle,
    intolerant_adverse_effect,
    indeterminate_two_unknown_doses,
    thase_rush_3_failed_tca,
    thase_rush_3_tetracyclic_counts_as_tca,
    maudsley_moderate_band,
    treatment_step_3_failed_augmentation,
    treatment_step_5_ect_long_episode,
    lithium_augmentation_failed,
    trial_before_episode_onset_not_counted,
    symbyax_olanzapine_fluoxetine,
    emsam_transdermal,
    esketamine_exposure,
    f32a_severity_from_phq9,
    same_day_scores_last_issued,
    two_dosage_entries_summed,
    dose_range_uses_high,
    max_dose_needs_14_days,
    statement_completed_uses_date_asserted,
    combination_started_ten_days_before_as_of,
    augmentation_overlap_13_days,
    suicide_item9_panel_component,
    zero_length_statement_keeps_dose,
    combination_outlives_base_own_trial,
    two_add_ons_continue_earlier_is_trial,
    mgh_s_repeated_ingredient_counts_each_trial,
    optimize_dose_after_reduction,
    optimize_dose_not_after_recent_increase,
    maoi_oral_selegiline_with_sertraline,
    linezolid_during_sertraline,
    tramadol_10_days_after_phenelzine,
    methylphenidate_during_tranylcypromine,
    contradictory_emsam_tablet_is_a_data_issue,
    maoi_course_split_in_two_records,
    esketamine_course_split_in_two_records,
    psychotherapy_in_episode,
    psychotherapy_before_episode,
    psychotherapy_not_done,
    possible_without_psychotherapy,
]


def main():
    os.makedirs(OUT, exist_ok=True)
    wanted = set()
    for fn in SCENARIOS:
        name = fn.__name__.replace("_", "-")
        wanted.add(name + ".json")
        with open(os.path.join(OUT, name + ".json"), "w", encoding="utf-8", newline="\n") as f:
            json.dump(fn(), f, indent=1, ensure_ascii=False)
            f.write("\n")
    stale = sorted(n for n in os.listdir(OUT) if n.endswith(".json") and n not in wanted)
    for n in stale:
        os.remove(os.path.join(OUT, n))
    print(f"wrote {len(SCENARIOS)} scenarios to {os.path.normpath(OUT)}" + (f"; removed {stale}" if stale else ""), file=sys.stderr)


if __name__ == "__main__":
    main()
