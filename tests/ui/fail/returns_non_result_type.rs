use resilience_runtime::{fallback, retry};

#[derive(Debug)]
struct E;

#[retry]
fn tuple() -> (u32, E) {
    (1, E)
}

#[fallback(default)]
fn reference() -> &'static str {
    "x"
}

fn main() {}
