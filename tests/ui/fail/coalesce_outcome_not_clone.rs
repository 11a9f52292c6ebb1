use resilience_runtime::coalesce;

#[derive(Debug, Clone)]
struct E;

#[derive(Debug)]
struct NotClone;

struct Profile;

#[coalesce(key = id)]
async fn profile(id: u64) -> Result<Profile, E> {
    Ok(Profile)
}

#[coalesce(key = id)]
async fn settings(id: u64) -> Result<u64, NotClone> {
    Ok(id)
}

fn main() {
    let _ = profile(1);
    let _ = settings(1);
}
