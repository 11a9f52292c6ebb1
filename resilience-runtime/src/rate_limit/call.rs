//! The call path of direct limiters, and the parts keyed limiters share.

use std::future::Future;
use std::time::Duration;

use super::gcra::{Decision, Reservation};
use super::{Core, RateLimiter};
use crate::rejection::{FromRejection, Rejection};
use crate::sync::AtomicU64;

impl Core {
    /// Decides a call that may wait up to `max_wait`.
    #[inline]
    pub(crate) fn decide(&self, tat: &AtomicU64) -> Decision {
        let quota = &self.settings.quota;
        quota.decide(tat, self.now(), quota.max_wait)
    }

    /// Decides a call that may not wait.
    #[inline]
    pub(crate) fn check(&self, tat: &AtomicU64) -> Result<(), Rejection> {
        match self.settings.quota.decide(tat, self.now(), 0) {
            Decision::Now => Ok(()),
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
            Decision::Wait { .. } => unreachable!("a call that may not wait was told to"),
        }
    }

    /// Sleeps until a reserved slot at `at`; a cancelled sleep gives the slot back
    /// where it can.
    #[cold]
    pub(crate) async fn wait_for_slot(
        &self,
        tat: &AtomicU64,
        at: u64,
        wait: u64,
        prev: u64,
        reserved: u64,
    ) {
        let reservation = Reservation::new(tat, prev, reserved);
        match self.instant(at) {
            Some(at) => tokio::time::sleep_until(at).await,
            None => tokio::time::sleep(Duration::from_nanos(wait)).await,
        }
        reservation.keep();
    }

    /// Admits a blocking call, sleeping its thread for up to `max_wait`.
    #[inline]
    pub(crate) fn admit_blocking(&self, tat: &AtomicU64) -> Result<(), Rejection> {
        match self.decide(tat) {
            Decision::Now => Ok(()),
            Decision::Wait { wait, .. } => {
                std::thread::sleep(Duration::from_nanos(wait));
                Ok(())
            }
            Decision::Refused { retry_after } => Err(self.refused(retry_after)),
        }
    }
}

impl RateLimiter {
    /// Runs `future` once the rate allows: at once if within the rate, after sleeping
    /// until its slot if that comes within `max_wait`, else returns
    /// [`Rejection::RateLimited`] with the exact `retry_after`, without polling
    /// `future`.
    ///
    /// An admitted call costs one clock read and one compare-and-swap: no lock, no
    /// allocation.
    pub async fn call<T, E, F>(&self, future: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: FromRejection,
    {
        let (core, tat) = (&self.inner.core, &self.inner.tat.0);
        match core.decide(tat) {
            Decision::Now => {}
            Decision::Wait {
                at,
                wait,
                prev,
                reserved,
            } => {
                // Boxed: the timer would otherwise make every call's future several
                // times larger, and moving it costs on every call.
                Box::pin(core.wait_for_slot(tat, at, wait, prev, reserved)).await
            }
            Decision::Refused { retry_after } => {
                return Err(E::from_rejection(core.refused(retry_after)));
            }
        }
        future.await
    }

    /// The blocking form of [`call`](Self::call), for plain functions: a call whose
    /// slot comes within `max_wait` sleeps its thread (`std::thread::sleep`) until then.
    pub fn call_blocking<T, E>(&self, f: impl FnOnce() -> Result<T, E>) -> Result<T, E>
    where
        E: FromRejection,
    {
        match self.inner.core.admit_blocking(&self.inner.tat.0) {
            Ok(()) => f(),
            Err(rejection) => Err(E::from_rejection(rejection)),
        }
    }

    /// Takes a slot if one is free now, else returns the rejection, never waiting
    /// (whatever `max_wait` is): governor's `check`.
    #[inline]
    pub fn check(&self) -> Result<(), Rejection> {
        self.inner.core.check(&self.inner.tat.0)
    }
}
