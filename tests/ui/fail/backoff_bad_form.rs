use resilience_runtime::retry;

#[derive(Debug)]
struct E;

// A form named without its settings.
#[retry(backoff = exponential)]
fn bare_form() -> Result<(), E> {
    Ok(())
}

// `fixed` without its delay.
#[retry(backoff = fixed())]
fn fixed_without_delay() -> Result<(), E> {
    Ok(())
}

// A misspelt setting inside a form.
#[retry(backoff = exponential(initial = "100ms", factr = 3.0))]
fn misspelt_setting() -> Result<(), E> {
    Ok(())
}

// A bad duration inside a form.
#[retry(backoff = linear(initial = "100ms", step = "100", max = "1s"))]
fn bad_step() -> Result<(), E> {
    Ok(())
}

// A factor below 1 would shrink the delays.
#[retry(backoff = exponential(factor = 0.5))]
fn shrinking() -> Result<(), E> {
    Ok(())
}

fn main() {}
