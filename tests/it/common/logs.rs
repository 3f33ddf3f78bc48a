//! One process-wide log capture for the whole test binary.
//!
//! The app's workers run on other threads, so only a global `tracing` subscriber sees their
//! events; a process has one. The tests that check what is logged (no token, JWT or patient id;
//! refusal reasons present) share it: the first call installs a TRACE-level subscriber writing
//! into one buffer, and every later event of every test lands there too. A test therefore
//! searches for its own markers, never for the absence of unrelated text.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

/// The shared buffer, installing the subscriber on first use.
pub fn captured() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let sink = buf.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || Sink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
            .expect("no other global subscriber in the test binary (use common::logs)");
        buf
    })
    .clone()
}

/// Everything captured so far, as text.
pub fn text() -> String {
    String::from_utf8_lossy(&captured().lock().unwrap()).into_owned()
}

struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
