//! `GET /how-it-decides`: the service's page about how it decides (`docs/how-it-decides.md`,
//! rendered to HTML once), the live target of every card's `source.url`. Open like `/healthz`: it
//! holds no patient data.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get};

const PAGE_MARKDOWN: &str = include_str!("../../../docs/how-it-decides.md");

fn page() -> &'static str {
    static HTML: OnceLock<String> = OnceLock::new();
    HTML.get_or_init(|| {
        use pulldown_cmark::{Options, Parser, html};
        let mut body = String::with_capacity(PAGE_MARKDOWN.len() * 2);
        html::push_html(
            &mut body,
            Parser::new_ext(PAGE_MARKDOWN, Options::ENABLE_TABLES),
        );
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>How TRD CDS decides</title>\
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}\
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:.2rem .5rem}}</style>\
</head><body>\n{body}</body></html>\n"
        )
    })
}

/// How the service decides: the page card `source.url` points to.
///
/// What counts as a failed trial, what the card's answer means, how next steps are ordered and
/// which guidance they rest on, what the buttons create, and the `source.topic` codes. HTML.
#[utoipa::path(get, path = "/how-it-decides", tag = "Operations", responses(
    (status = 200, description = "The page, as HTML", content_type = "text/html")
))]
#[get("/how-it-decides")]
pub async fn how_it_decides() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .body(page())
}

/// The base URL cards link to: `TRD_CDS_PUBLIC_BASE_URL` when set, else `http://<Host>` of the
/// request (the name the caller used to reach the service). A Host header that is not a plain
/// host[:port] falls back to `localhost`, so a crafted header cannot put markup into a card.
pub fn public_base_url(configured: Option<&str>, req: &HttpRequest) -> String {
    if let Some(base) = configured {
        return base.to_string();
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("localhost");
    format!("http://{host}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn page_is_html_rendered_from_the_doc() {
        let html = page();
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<h1>How TRD CDS decides</h1>"));
        assert!(html.contains("<table>"));
    }

    #[test]
    fn base_url_is_configured_else_the_requests_host_sanitised() {
        let req = TestRequest::default()
            .insert_header((header::HOST, "cds.example.org:8443"))
            .to_http_request();
        assert_eq!(
            public_base_url(Some("https://cds.example.org"), &req),
            "https://cds.example.org"
        );
        assert_eq!(public_base_url(None, &req), "http://cds.example.org:8443");
        let evil = TestRequest::default()
            .insert_header((header::HOST, "x\"><script>"))
            .to_http_request();
        assert_eq!(public_base_url(None, &evil), "http://localhost");
    }
}
