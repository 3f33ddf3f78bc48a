//! Discovery (`GET /cds-services`): the services this deployment offers. A service is listed only
//! when its logic exists (never advertise a hook that would answer nothing useful).

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::prefetch::Template;

// No `version` field: a CDS Service in the CDS Hooks 2.0 discovery response has exactly `hook`,
// `title`, `description`, `id`, `prefetch` and `usageRequirements`
// (https://cds-hooks.hl7.org/2.0/#response); the 3.0 ballot's logical model of the discovery
// response (https://build.fhir.org/ig/HL7/cds-hooks/en/StructureDefinition-CDSHooksServices.html)
// is still a ballot. We implement 2.0, so we emit none rather than a non-2.0 field; the semver of
// the spec implemented belongs here once 3.0 is published and implemented.

/// patient-view prefetch: exactly these keys (documented in the README and the OpenAPI).
pub const PATIENT_VIEW_PREFETCH: &[Template] = &[
    Template {
        key: "patient",
        query: "Patient/{{context.patientId}}",
        required: false,
    },
    Template {
        key: "conditions",
        query: "Condition?patient={{context.patientId}}",
        required: true,
    },
    Template {
        key: "medicationStatements",
        query: "MedicationStatement?patient={{context.patientId}}",
        required: true,
    },
    Template {
        key: "medicationRequests",
        query: "MedicationRequest?patient={{context.patientId}}",
        required: true,
    },
    Template {
        key: "medicationDispenses",
        query: "MedicationDispense?patient={{context.patientId}}",
        required: true,
    },
    Template {
        key: "procedures",
        query: "Procedure?patient={{context.patientId}}",
        required: true,
    },
    Template {
        key: "observations",
        query: "Observation?patient={{context.patientId}}&code=http://loinc.org|44261-6,http://loinc.org|89204-2,http://loinc.org|44260-8",
        required: true,
    },
];

/// A service this deployment offers.
#[derive(Debug, Clone, Copy)]
pub struct ServiceDef {
    pub id: &'static str,
    pub hook: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub usage_requirements: &'static str,
    pub prefetch: &'static [Template],
}

pub const PATIENT_VIEW: ServiceDef = ServiceDef {
    id: "trd-patient-view",
    hook: "patient-view",
    title: "Treatment-resistant depression assessment",
    description: "When a patient's chart is opened, counts failed adequate antidepressant trials in the current \
major depressive episode, stages treatment resistance (Thase–Rush, MGH-S, Maudsley), flags pseudo-resistance \
(low dose, short trial, bipolar disorder, substance use, thyroid disease) and safety issues, and suggests next \
steps (augmentation, switch, neuromodulation referral) with the evidence behind each. Silent when there is nothing to say.",
    usage_requirements: "Needs the patient's Conditions, MedicationStatements, MedicationRequests, MedicationDispenses, \
Procedures and PHQ-9 Observations (prefetch, or a reachable fhirServer). A key that is missing or an \
OperationOutcome, with no way to fetch it, gets HTTP 412.",
    prefetch: PATIENT_VIEW_PREFETCH,
};

pub const ORDER_SELECT: ServiceDef = ServiceDef {
    id: "trd-order-select",
    hook: "order-select",
    title: "Antidepressant order check (order-select)",
    description: "When an antidepressant or augmentation agent is selected for ordering, checks the selected draft \
MedicationRequests against the patient's history: MAOI–serotonergic interactions within the washout (critical), \
another trial of a class that has already failed twice in treatment-resistant depression (with the alternatives), \
antidepressant monotherapy in bipolar disorder, and a daily dose below the minimum adequate dose. Silent otherwise.",
    usage_requirements: "Same prefetch as trd-patient-view. The context's draftOrders Bundle carries the draft \
MedicationRequests (Medications contained or in the Bundle); only the selections are evaluated.",
    prefetch: PATIENT_VIEW_PREFETCH,
};

pub const ORDER_SIGN: ServiceDef = ServiceDef {
    id: "trd-order-sign",
    hook: "order-sign",
    title: "Antidepressant order check (order-sign)",
    description: "Before draft orders are signed, checks every draft antidepressant or augmentation MedicationRequest \
against the patient's history: MAOI–serotonergic interactions within the washout (critical), another trial of a \
class that has already failed twice in treatment-resistant depression (with the alternatives), antidepressant \
monotherapy in bipolar disorder, and a daily dose below the minimum adequate dose. Silent otherwise.",
    usage_requirements: "Same prefetch as trd-patient-view. The context's draftOrders Bundle carries the draft \
MedicationRequests (Medications contained or in the Bundle); every draft is evaluated.",
    prefetch: PATIENT_VIEW_PREFETCH,
};

/// All services offered, in discovery order.
pub const SERVICES: &[ServiceDef] = &[PATIENT_VIEW, ORDER_SELECT, ORDER_SIGN];

pub fn find_service(id: &str) -> Option<&'static ServiceDef> {
    SERVICES.iter().find(|s| s.id == id)
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DiscoveryResponse {
    pub services: Vec<ServiceDescriptor>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServiceDescriptor {
    #[schema(example = "patient-view")]
    pub hook: String,
    #[schema(example = "trd-patient-view")]
    pub id: String,
    pub title: String,
    pub description: String,
    pub usage_requirements: String,
    /// Prefetch key → FHIR query template.
    pub prefetch: BTreeMap<String, String>,
}

pub fn discovery() -> DiscoveryResponse {
    DiscoveryResponse {
        services: SERVICES
            .iter()
            .map(|s| ServiceDescriptor {
                hook: s.hook.into(),
                id: s.id.into(),
                title: s.title.into(),
                description: s.description.into(),
                usage_requirements: s.usage_requirements.into(),
                prefetch: s
                    .prefetch
                    .iter()
                    .map(|t| (t.key.to_string(), t.query.to_string()))
                    .collect(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patient_view_prefetch_keys_are_exactly_the_contract() {
        let d = discovery();
        let pv = d
            .services
            .iter()
            .find(|s| s.id == "trd-patient-view")
            .unwrap();
        let keys: Vec<_> = pv.prefetch.keys().cloned().collect();
        assert_eq!(
            keys,
            [
                "conditions",
                "medicationDispenses",
                "medicationRequests",
                "medicationStatements",
                "observations",
                "patient",
                "procedures"
            ]
        );
        assert_eq!(pv.prefetch["patient"], "Patient/{{context.patientId}}");
        // The order hooks read the same history.
        for id in ["trd-order-select", "trd-order-sign"] {
            let s = d.services.iter().find(|s| s.id == id).unwrap();
            assert_eq!(s.prefetch, pv.prefetch, "{id}");
        }
        // CDS Hooks 2.0 has no `version` field in a service descriptor.
        let json = serde_json::to_value(&d).unwrap();
        assert!(json["services"][0].get("version").is_none());
        assert_eq!(
            pv.prefetch["observations"],
            "Observation?patient={{context.patientId}}&code=http://loinc.org|44261-6,http://loinc.org|89204-2,http://loinc.org|44260-8"
        );
    }
}
