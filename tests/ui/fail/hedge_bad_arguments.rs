use resilience_runtime::hedge;

#[derive(Debug)]
struct E;

#[hedge(max_hedges = 1)]
async fn no_delay() -> Result<(), E> {
    Ok(())
}

#[hedge(delay = "50ms", max_hedges = 11)]
async fn too_many() -> Result<(), E> {
    Ok(())
}

#[hedge(delay = "50ms", max_hedges = 0)]
async fn none() -> Result<(), E> {
    Ok(())
}

#[hedge(delay = percentile(100))]
async fn percentile_too_high() -> Result<(), E> {
    Ok(())
}

#[hedge(delay = median(50))]
async fn unknown_form() -> Result<(), E> {
    Ok(())
}

#[hedge(delay = "50 msec")]
async fn bad_unit() -> Result<(), E> {
    Ok(())
}

#[hedge(delay = "50ms", max_hedge = 2)]
async fn misspelt() -> Result<(), E> {
    Ok(())
}

fn main() {}
