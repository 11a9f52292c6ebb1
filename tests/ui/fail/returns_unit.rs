use resilience_runtime::retry;

#[retry]
async fn notify(user: &str) {
    let _ = user;
}

fn main() {}
