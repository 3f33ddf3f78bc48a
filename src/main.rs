fn main() {
    let _ = serde_json::from_slice::<serde_json::Value>(b"{}");
}
