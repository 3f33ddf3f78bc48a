//! `trd-cds`: serve the CDS Hooks service, assess a FHIR Bundle from a file, or print the OpenAPI.

use std::process::ExitCode;

use trd_cds::config::Config;
use trd_cds::http::Application;
use trd_cds::knowledge::KnowledgeBase;
use trd_cds::telemetry;
use trd_cds::timeline::{self, TimelineOptions};

const USAGE: &str = "\
trd-cds — treatment-resistant depression CDS Hooks service

USAGE:
    trd-cds [serve]                          serve HTTP (settings from the environment; see README)
    trd-cds assess <bundle.json> [--as-of YYYY-MM-DD] [--timeline out.svg [--timeline-width PX]]
                                             print the assessment of a FHIR Bundle as JSON;
                                             --timeline also draws the treatment timeline (SVG,
                                             default 1200 px wide)
    trd-cds print-openapi                    print the OpenAPI 3.1 document
    trd-cds --help | --version
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        None | Some("serve") if args.len() <= 1 => serve(),
        Some("assess") => assess(&args[1..]),
        Some("print-openapi") if args.len() == 1 => {
            println!("{}", trd_cds::openapi_json());
            ExitCode::SUCCESS
        }
        Some("--help" | "-h" | "help") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some("--version" | "-V") => {
            println!("trd-cds {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        _ => {
            eprint!("error: unexpected arguments {args:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn serve() -> ExitCode {
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    limit_malloc_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Logs, and traces when OTEL_EXPORTER_OTLP_ENDPOINT asks for them (exported on this runtime).
    let telemetry = match telemetry::init(config.log_json, runtime.handle().clone()) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let code = runtime.block_on(async {
        let app = match Application::build(&config).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("cannot start: {e}");
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        tracing::info!(
            addr = %config.addr,
            port = app.port(),
            store = if config.database_url.is_some() { "postgres" } else { "memory" },
            traces = if telemetry::exporting() { "otlp" } else { "off" },
            "trd-cds listening; API docs at /swagger-ui/"
        );
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("server error: {e}");
                ExitCode::FAILURE
            }
        }
    });
    // The last spans (those of the drain) go out while the runtime still runs the exporter.
    telemetry.shutdown();
    code
}

fn assess(args: &[String]) -> ExitCode {
    let mut path = None;
    let mut as_of = None;
    let mut timeline: Option<String> = None;
    let mut timeline_opts = TimelineOptions::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--timeline" => match it.next() {
                Some(p) if !p.starts_with("--") => timeline = Some(p.clone()),
                _ => {
                    eprintln!("error: --timeline needs an output file (e.g. out.svg)");
                    return ExitCode::from(2);
                }
            },
            "--timeline-width" => match it.next().and_then(|v| v.parse::<u32>().ok()) {
                Some(w) if (timeline::MIN_WIDTH..=timeline::MAX_WIDTH).contains(&w) => {
                    timeline_opts.width = w
                }
                _ => {
                    eprintln!(
                        "error: --timeline-width needs a width in px from {} to {}",
                        timeline::MIN_WIDTH,
                        timeline::MAX_WIDTH
                    );
                    return ExitCode::from(2);
                }
            },
            "--as-of" => match it.next().and_then(|v| trd_cds::dates::parse_day(v)) {
                Some(d) => as_of = Some(d),
                None => {
                    eprintln!("error: --as-of needs a date YYYY-MM-DD");
                    return ExitCode::from(2);
                }
            },
            p if path.is_none() && !p.starts_with("--") => path = Some(p.to_string()),
            other => {
                eprint!("error: unexpected argument '{other}'\n\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = path else {
        eprint!("error: assess needs a bundle file\n\n{USAGE}");
        return ExitCode::from(2);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: cannot read {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let kb = match std::env::var_os("TRD_CDS_KNOWLEDGE_DIR") {
        Some(d) => KnowledgeBase::load_dir(std::path::Path::new(&d)),
        None => KnowledgeBase::embedded(),
    };
    let kb = match kb {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let site = match Config::from_env() {
        Ok(c) => c.site,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let as_of = as_of.unwrap_or_else(|| time::OffsetDateTime::now_utc().date());
    match trd_cds::pipeline::assess_documents(&[&text], None, &kb, &site, as_of) {
        Ok((_, a)) => {
            if let Some(out) = &timeline
                && let Err(e) = std::fs::write(out, timeline::render_svg(&a, &timeline_opts))
            {
                eprintln!("error: cannot write {out}: {e}");
                return ExitCode::FAILURE;
            }
            print_json(&a)
        }
        Err(e) => {
            eprintln!("error: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(a: &trd_cds::clinical::Assessment) -> ExitCode {
    match serde_json::to_string_pretty(a) {
        Ok(s) => {
            println!("{s}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Bound glibc's malloc arenas to the number of cores (glibc's default is 8 per core) before any
/// worker thread starts, unless the operator set `MALLOC_ARENA_MAX`. With one arena per thread,
/// memory freed in one arena is not reused by another and RSS crept up for minutes under load:
/// in 4-minute soaks at 16 connections (one run each, machine shared) RSS grew 41.9 -> 47.6 MB
/// with glibc's default, 38.5 -> 39.2 MB with MALLOC_ARENA_MAX=2 and 39.1 -> 42.4 MB (more
/// requests served) with this call; CPU per request unchanged.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let arenas = libc::c_int::try_from(cores.max(2)).unwrap_or(libc::c_int::MAX);
        // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
        let ok = unsafe { libc::mallopt(libc::M_ARENA_MAX, arenas) };
        if ok != 1 {
            // Before the log subscriber exists (it comes after the runtime): straight to stderr.
            eprintln!("warning: could not bound malloc arenas to {arenas} (mallopt failed)");
        }
    }
}
