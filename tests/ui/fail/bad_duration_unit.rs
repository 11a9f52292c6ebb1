use resilience_runtime::{retry, timeout};

#[derive(Debug)]
struct E;
impl From<resilience_runtime::Rejection> for E {
    fn from(_: resilience_runtime::Rejection) -> Self {
        E
    }
}

// A unit that is not one of ns, us, ms, s, m, h.
#[timeout("5 parsecs")]
async fn unknown_unit() -> Result<(), E> {
    Ok(())
}

#[retry(max_elapsed = "10sec")]
fn almost() -> Result<(), E> {
    Ok(())
}

// No unit at all.
#[timeout("5")]
async fn no_unit() -> Result<(), E> {
    Ok(())
}

// The number before the unit is missing, malformed, too precise or too large.
#[retry(max_elapsed = "s")]
fn no_number() -> Result<(), E> {
    Ok(())
}

#[retry(max_elapsed = "1.2.3s")]
fn two_points() -> Result<(), E> {
    Ok(())
}

#[retry(max_elapsed = "0.5ns")]
fn below_a_nanosecond() -> Result<(), E> {
    Ok(())
}

#[retry(max_elapsed = "99999999999999999999999h")]
fn too_large() -> Result<(), E> {
    Ok(())
}

fn main() {}
