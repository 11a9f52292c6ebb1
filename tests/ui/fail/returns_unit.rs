use resilience_runtime::{retry, timeout};

#[retry]
async fn notify(user: &str) {
    let _ = user;
}

// In a stack, the mistake is reported once.
#[retry]
#[timeout("1s")]
async fn notify_in_time(user: &str) {
    let _ = user;
}

fn main() {}
