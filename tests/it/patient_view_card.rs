//! The patient-view TRD card as a clinician's EHR receives it (issue 15): sidebar layout, buttons that
//! do something, guideline links, and a live `source.url` served by the service itself.

use crate::common;

use common::app::spawn_app;
use serde_json::Value;

fn fixture(name: &str) -> String {
    let p = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

/// The TRD card of the README "Try it" fixture.
async fn trd_card(env: &[(&str, &str)]) -> (common::app::TestApp, Value) {
    let app = spawn_app(env).await;
    let resp = app
        .post_json(
            "/cds-services/trd-patient-view",
            &fixture("patient-view-trd.json"),
        )
        .await;
    assert_eq!(resp.status(), 200);
    let v: Value = resp.json().await.unwrap();
    let card = v["cards"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["extension"]["trd-assessment"].is_object())
        .unwrap_or_else(|| panic!("a TRD card: {v}"))
        .clone();
    (app, card)
}

/// Every string a clinician reads on the card.
fn clinician_text(card: &Value) -> Vec<String> {
    let mut out = vec![
        card["summary"].as_str().unwrap().to_string(),
        card["detail"].as_str().unwrap().to_string(),
    ];
    for s in card["suggestions"].as_array().into_iter().flatten() {
        out.push(s["label"].as_str().unwrap().to_string());
        for a in s["actions"].as_array().into_iter().flatten() {
            out.push(a["description"].as_str().unwrap().to_string());
        }
    }
    out
}

#[tokio::test]
async fn trd_card_is_built_for_a_sidebar() {
    let (_app, card) = trd_card(&[]).await;
    let detail = card["detail"].as_str().unwrap();
    // No wide table: the old 8-column table overflowed a 400 px sidebar.
    assert!(
        detail.lines().all(|l| l.matches('|').count() <= 5),
        "{detail}"
    );
    // No internal codes, no spec sections.
    for text in clinician_text(&card) {
        for code in [
            "augment-antipsychotic",
            "augment-lithium",
            "refer-ect",
            "refer-tms",
            "refer-esketamine",
            "switch-class",
            "optimize-dose",
            "combine-antidepressant",
            "non-response",
            "clinical-rules",
            "§",
        ] {
            assert!(!text.contains(code), "'{code}' shown to clinicians: {text}");
        }
    }
    // One spelling per number: MGH-S is never "3.0" and "3" in one card.
    assert!(!detail.contains(".0 "), "{detail}");
    // Top to bottom: status, trials, next steps, other options, evidence last.
    let at = |s: &str| {
        detail
            .find(s)
            .unwrap_or_else(|| panic!("'{s}' missing: {detail}"))
    };
    assert!(at("**Criteria met:**") < at("**Failed trials**"));
    assert!(at("**Failed trials**") < at("**Next steps**"));
    assert!(at("**Next steps**") < at("Other options:"));
    assert!(at("Other options:") < at("Evidence:"));
    assert!(detail.contains("- Sertraline 150 mg/day · "), "{detail}");
    let steps = detail
        .lines()
        .filter(|l| l.starts_with(|c: char| c.is_ascii_digit()))
        .count();
    assert!((2..=4).contains(&steps), "{detail}");
    // The current trial (venlafaxine, no response below its optimised dose) is counted as failed
    // and its dose may still be raised: the card must not also say it is not yet a failure.
    assert!(detail.contains("3 failed adequate"), "{detail}");
    assert!(
        detail.contains("Raise venlafaxine from 150 to 225 mg/day"),
        "{detail}"
    );
    assert!(!detail.contains("before calling it a failure"), "{detail}");
}

#[tokio::test]
async fn every_button_creates_a_draft_and_the_first_is_recommended() {
    let (_app, card) = trd_card(&[]).await;
    let sugg = card["suggestions"].as_array().expect("suggestions");
    assert!(!sugg.is_empty() && sugg.len() <= 4, "{sugg:?}");
    for (i, s) in sugg.iter().enumerate() {
        let actions = s["actions"].as_array().unwrap_or_else(|| panic!("{s}"));
        assert_eq!(actions.len(), 1, "{s}");
        assert_eq!(actions[0]["type"], "create");
        assert_eq!(actions[0]["resource"]["status"], "draft");
        assert_eq!(s["isRecommended"].as_bool().unwrap_or(false), i == 0, "{s}");
        if actions[0]["resource"]["resourceType"] == "ServiceRequest" {
            let coding = &actions[0]["resource"]["code"]["coding"][0];
            assert_eq!(coding["system"], "http://snomed.info/sct", "{s}");
            assert!(
                coding["display"].as_str().unwrap().contains("eferral"),
                "a referral procedure, not the treatment: {s}"
            );
        }
    }
}

#[tokio::test]
async fn card_links_the_guidance_and_its_source_page_is_live() {
    let (app, card) = trd_card(&[]).await;
    let links = card["links"].as_array().expect("links");
    assert!(!links.is_empty());
    for l in links {
        assert_eq!(l["type"], "absolute");
        assert!(l["url"].as_str().unwrap().starts_with("https://"), "{l}");
    }
    assert!(
        links
            .iter()
            .any(|l| l["url"] == "https://www.nice.org.uk/guidance/ng222")
    );
    // Unset TRD_CDS_PUBLIC_BASE_URL: the request's host.
    let url = card["source"]["url"].as_str().expect("source.url");
    assert_eq!(url, format!("{}/how-it-decides", app.base));
    let topic = &card["source"]["topic"];
    assert_eq!(topic["system"], format!("{}/topics", app.base));
    assert_eq!(topic["code"], "treatment-resistant-depression");
    assert!(topic["display"].is_string());
    // Live, open (no client JWT) and HTML.
    let resp = app.client.get(url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    assert!(resp.text().await.unwrap().contains("How TRD CDS decides"));
}

#[tokio::test]
async fn source_url_uses_the_public_base_url_when_set() {
    let (_app, card) = trd_card(&[("TRD_CDS_PUBLIC_BASE_URL", "https://cds.example.org")]).await;
    assert_eq!(
        card["source"]["url"],
        "https://cds.example.org/how-it-decides"
    );
    assert_eq!(
        card["source"]["topic"]["system"],
        "https://cds.example.org/topics"
    );
}
