use resilience_runtime::retry;

#[derive(Debug)]
struct E;

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
