use resilience_runtime::hedge;

#[derive(Debug)]
struct E;

#[hedge(delay = "50ms")]
fn search(query: &str) -> Result<usize, E> {
    Ok(query.len())
}

fn main() {
    let _ = search("a");
}
