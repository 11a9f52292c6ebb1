use resilience_runtime::hedge;

#[derive(Debug)]
struct E;

struct Query {
    text: String,
}

// Each copy of the call needs its own `Query`.
#[hedge(delay = "50ms")]
async fn search(query: Query) -> Result<usize, E> {
    Ok(query.text.len())
}

// A reference needs no copy.
#[hedge(delay = "50ms")]
async fn search_ref(query: &Query) -> Result<usize, E> {
    Ok(query.text.len())
}

fn main() {}
