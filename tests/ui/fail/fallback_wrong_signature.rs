use resilience_runtime::fallback;

#[derive(Debug)]
struct E;

fn too_few(_: E) -> Result<u32, E> {
    Ok(0)
}

// The fallback must take the function's arguments, then the error.
#[fallback(too_few)]
fn lookup(id: u32) -> Result<u32, E> {
    Ok(id)
}

// An async function awaits its fallback: a plain one is not a future.
fn plain_backup(id: u32, _: E) -> Result<u32, E> {
    Ok(id)
}

#[fallback(plain_backup)]
async fn lookup_async(id: u32) -> Result<u32, E> {
    Ok(id)
}

fn main() {}
