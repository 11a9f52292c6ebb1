//! Generated code reaches everything by absolute path: a crate that shadows the names
//! it might use — modules `core`, `std` and `resilience_runtime`, the prelude's `Ok`,
//! `Err`, `Some`, `None`, `Result`, `Option`, `Default`, `Box`, `Clone`, and
//! `Duration`, `LazyLock`, `ControlFlow`, std macros — still compiles and behaves (as
//! async-trait's dummy `mod core {}` and tokio's `macros_rename_test.rs` check), with
//! every attribute that compiles today.
//! `crate = ...` through a renamed crate is checked with a local module of the same
//! name as the rename.
#![allow(dead_code, unused_imports, unused_macros)]
#![allow(non_snake_case, non_camel_case_types, non_upper_case_globals)]
#![allow(clippy::all)]

// At the crate root a local module takes the extern crate's name for every path not
// starting with `::`.
mod resilience_runtime {}
mod core {}
mod std {}

extern crate resilience_runtime as renamed;

use ::resilience_runtime::{
    Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout,
};

/// Items named like the ones generated code needs, in the scope of the annotated
/// functions.
mod shadows {
    pub struct Ok;
    pub struct Err;
    pub struct Some;
    pub struct None;
    pub struct Result;
    pub struct Option;
    pub struct Duration;
    pub struct LazyLock;
    pub struct Bulkhead;
    pub struct CircuitBreaker;
    pub struct KeyedCircuitBreaker;
    pub struct Window;
    pub struct RateLimiter;
    pub struct KeyedRateLimiter;
    pub struct Rate;
    pub struct Adaptive;
    pub struct Arc;
    pub struct Cow;
    pub struct ControlFlow;
    pub struct Break;
    pub struct Continue;
    pub struct Box;
    pub struct Pin;
    pub struct Vec;
    pub struct String;
    pub trait Default {}
    pub trait Clone {}
    pub trait Future {}
    pub trait Send {}
    pub trait Into {}
    pub trait From {}
    pub fn drop() {}
    pub fn sleep() {}
    pub fn timeout() {}
    pub fn run() {}
    pub fn always() {}
}

mod annotated {
    use super::shadows::*;
    use super::{Rejection, bulkhead, circuit_breaker, fallback, rate_limit, retry, timeout};

    // Std macros generated code must not use by their bare name.
    macro_rules! concat {
        ($($t:tt)*) => {
            compile_error!("generated code used a local `concat!`")
        };
    }
    macro_rules! module_path {
        ($($t:tt)*) => {
            compile_error!("generated code used a local `module_path!`")
        };
    }
    macro_rules! stringify {
        ($($t:tt)*) => {
            compile_error!("generated code used a local `stringify!`")
        };
    }
    macro_rules! format {
        ($($t:tt)*) => {
            compile_error!("generated code used a local `format!`")
        };
    }
    macro_rules! format_args {
        ($($t:tt)*) => {
            compile_error!("generated code used a local `format_args!`")
        };
    }
    macro_rules! panic {
        ($($t:tt)*) => {
            compile_error!("generated code used a local `panic!`")
        };
    }
    macro_rules! matches {
        ($($t:tt)*) => {
            compile_error!("generated code used a local `matches!`")
        };
    }
    macro_rules! vec {
        ($($t:tt)*) => {
            compile_error!("generated code used a local `vec!`")
        };
    }

    type Res<T> = ::core::result::Result<T, Error>;

    #[derive(Debug, PartialEq)]
    pub enum Error {
        Again(u32),
        TimedOut,
    }

    impl ::core::convert::From<Rejection> for Error {
        fn from(_: Rejection) -> Self {
            Error::TimedOut
        }
    }

    fn until(calls: &mut u32, n: u32) -> Res<u32> {
        *calls += 1;
        if *calls < n {
            ::core::result::Result::Err(Error::Again(*calls))
        } else {
            ::core::result::Result::Ok(*calls)
        }
    }

    #[retry(max_attempts = 3, backoff = fixed("10ms"), jitter = none)]
    pub async fn retried(calls: &mut u32) -> Res<u32> {
        until(calls, 3)
    }

    #[retry(max_attempts = 3, backoff = exponential(initial = "1ms", factor = 2.0, max = "1s"))]
    pub fn retried_plain(
        calls: &mut u32,
        owned: ::std::string::String,
    ) -> ::core::result::Result<usize, Error> {
        until(calls, 2).map(|_| owned.len())
    }

    #[timeout("50ms")]
    pub async fn timed(slow: bool) -> Res<u32> {
        if slow {
            ::tokio::time::sleep(::core::time::Duration::from_secs(1)).await;
        }
        ::core::result::Result::Ok(1)
    }

    #[fallback(default)]
    pub fn defaulted() -> Res<u32> {
        ::core::result::Result::Err(Error::Again(0))
    }

    #[fallback(value = 9)]
    pub async fn valued() -> Res<u32> {
        ::core::result::Result::Err(Error::Again(0))
    }

    pub async fn backup(
        key: ::std::string::String,
        calls: &mut u32,
        err: Error,
    ) -> Res<::std::string::String> {
        ::core::result::Result::Ok(::std::format!("{key} {calls} {err:?}"))
    }

    #[fallback(backup)]
    #[retry(max_attempts = 2, backoff = none)]
    #[timeout("1s")]
    pub async fn stacked(
        key: ::std::string::String,
        calls: &mut u32,
    ) -> Res<::std::string::String> {
        until(calls, 99).map(|n| ::std::format!("{key}{n}"))
    }

    #[derive(Debug, ::core::clone::Clone, PartialEq)]
    pub struct Token(pub u32);

    impl Token {
        #[retry(max_attempts = 2, backoff = none)]
        pub async fn consume(mut self, calls: &mut u32) -> Res<u32> {
            self.0 += 1;
            until(calls, 2).map(|_| self.0)
        }

        #[fallback(Self::recover)]
        pub fn with_fallback(&self) -> Res<u32> {
            ::core::result::Result::Err(Error::Again(self.0))
        }

        fn recover(&self, err: Error) -> Res<u32> {
            ::core::assert_eq!(err, Error::Again(self.0));
            ::core::result::Result::Ok(self.0 * 10)
        }
    }

    #[bulkhead(max_concurrent = 1)]
    pub async fn guarded(calls: &mut u32) -> Res<u32> {
        until(calls, 1)
    }

    #[bulkhead(max_concurrent = adaptive(initial = 2, min = 1, max = 4), max_wait = "1s")]
    pub fn guarded_plain(calls: &mut u32) -> Res<u32> {
        until(calls, 1)
    }

    #[rate_limit(rate = "1/h")]
    pub async fn limited() -> Res<u32> {
        ::core::result::Result::Ok(1)
    }

    #[rate_limit(rate = "1/h", key = tenant.to_owned())]
    pub fn limited_keyed(tenant: &str) -> Res<usize> {
        ::core::result::Result::Ok(tenant.len())
    }

    #[fallback(value = 0)]
    #[retry(max_attempts = 3, backoff = none)]
    #[rate_limit(rate = "10/s", burst = 1, max_wait = "1s")]
    #[timeout("1s")]
    #[bulkhead(max_concurrent = 1)]
    pub async fn limits_stack(calls: &mut u32) -> Res<u32> {
        until(calls, 3)
    }

    #[rate_limit(crate = ::renamed, rate = "10/s")]
    #[bulkhead(crate = ::renamed, max_concurrent = 1)]
    pub async fn limits_through_rename() -> Res<u32> {
        ::core::result::Result::Ok(2)
    }

    fn is_again(e: &Error) -> bool {
        ::core::matches!(e, Error::Again(_))
    }

    #[circuit_breaker(consecutive_failures = 1, window = count(10), record_if = is_again)]
    pub async fn breaker(calls: &mut u32) -> Res<u32> {
        until(calls, 99)
    }

    #[circuit_breaker(consecutive_failures = 1, window = time("1s"), key = tenant.to_owned())]
    pub fn breaker_keyed(tenant: &str, calls: &mut u32) -> Res<u32> {
        until(calls, 99)
    }

    #[fallback(value = 0)]
    #[retry(max_attempts = 3, backoff = none)]
    #[circuit_breaker(consecutive_failures = 10)]
    #[rate_limit(rate = "10/s", burst = 1, max_wait = "1s")]
    #[timeout("1s")]
    #[bulkhead(max_concurrent = 1)]
    pub async fn full_api_stack(calls: &mut u32) -> Res<u32> {
        until(calls, 3)
    }

    #[circuit_breaker(crate = ::renamed, consecutive_failures = 1)]
    pub async fn breaker_through_rename() -> Res<u32> {
        ::core::result::Result::Ok(3)
    }

    /// `crate = ...` through the `extern crate` rename, with a local module of that name.
    mod renamed {}

    #[retry(crate = ::renamed, max_attempts = 2, backoff = none)]
    #[timeout("1s")]
    pub async fn through_rename(calls: &mut u32) -> Res<u32> {
        until(calls, 2)
    }
}

/// `#[async_trait]` itself names `Box` and `Pin` unqualified: only they are restored.
mod boxed {
    use super::annotated::{Error, Token};
    use super::retry;
    use super::shadows::*;
    use ::core::pin::Pin;
    use ::std::boxed::Box;

    type Res<T> = ::core::result::Result<T, Error>;

    #[::async_trait::async_trait]
    pub trait Api {
        async fn get(&self, calls: &mut u32) -> Res<u32>;
    }

    #[::async_trait::async_trait]
    impl Api for Token {
        #[retry(max_attempts = 3, backoff = none)]
        async fn get(&self, calls: &mut u32) -> Res<u32> {
            *calls += 1;
            if *calls < 3 {
                ::core::result::Result::Err(Error::Again(*calls))
            } else {
                ::core::result::Result::Ok(*calls + self.0)
            }
        }
    }
}

use annotated::*;
use boxed::Api;

#[::tokio::test(start_paused = true)]
async fn annotated_functions_work_with_shadowed_names() {
    let mut calls = 0;
    let start = ::tokio::time::Instant::now();
    assert_eq!(retried(&mut calls).await, ::core::result::Result::Ok(3));
    assert_eq!(start.elapsed(), ::core::time::Duration::from_millis(20));

    let mut calls = 0;
    assert_eq!(
        retried_plain(&mut calls, "abc".into()),
        ::core::result::Result::Ok(3)
    );

    assert_eq!(timed(false).await, ::core::result::Result::Ok(1));
    assert_eq!(
        timed(true).await,
        ::core::result::Result::Err(Error::TimedOut)
    );
    assert_eq!(defaulted(), ::core::result::Result::Ok(0));
    assert_eq!(valued().await, ::core::result::Result::Ok(9));

    let mut calls = 0;
    assert_eq!(
        stacked("k".into(), &mut calls).await,
        ::core::result::Result::Ok("k 2 Again(2)".into())
    );

    let mut calls = 0;
    assert_eq!(
        Token(1).consume(&mut calls).await,
        ::core::result::Result::Ok(2)
    );
    assert_eq!(Token(4).with_fallback(), ::core::result::Result::Ok(40));
    let mut calls = 0;
    assert_eq!(
        Token(10).get(&mut calls).await,
        ::core::result::Result::Ok(13)
    );

    let mut calls = 0;
    assert_eq!(
        through_rename(&mut calls).await,
        ::core::result::Result::Ok(2)
    );

    let mut calls = 0;
    assert_eq!(guarded(&mut calls).await, ::core::result::Result::Ok(1));
    let mut calls = 0;
    assert_eq!(guarded_plain(&mut calls), ::core::result::Result::Ok(1));
    assert_eq!(limited().await, ::core::result::Result::Ok(1));
    assert!(
        limited().await.is_err(),
        "the second call within the hour is limited"
    );
    assert_eq!(limited_keyed("ab"), ::core::result::Result::Ok(2));
    assert!(limited_keyed("ab").is_err());
    let mut calls = 0;
    let start = ::tokio::time::Instant::now();
    assert_eq!(
        limits_stack(&mut calls).await,
        ::core::result::Result::Ok(3)
    );
    assert_eq!(start.elapsed(), ::core::time::Duration::from_millis(200));
    assert_eq!(limits_through_rename().await, ::core::result::Result::Ok(2));

    let mut calls = 0;
    assert_eq!(
        breaker(&mut calls).await,
        ::core::result::Result::Err(Error::Again(1))
    );
    assert_eq!(
        breaker(&mut calls).await,
        ::core::result::Result::Err(Error::TimedOut)
    );
    assert_eq!(calls, 1, "the open breaker's rejection, converted");
    let mut calls = 0;
    assert!(breaker_keyed("a", &mut calls).is_err());
    assert!(breaker_keyed("b", &mut calls).is_err());
    assert!(breaker_keyed("a", &mut calls).is_err());
    assert_eq!(calls, 2, "key `a` is open, key `b` was a first call");
    let mut calls = 0;
    assert_eq!(
        full_api_stack(&mut calls).await,
        ::core::result::Result::Ok(3)
    );
    assert_eq!(
        breaker_through_rename().await,
        ::core::result::Result::Ok(3)
    );
}
