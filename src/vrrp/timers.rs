//! Protocol timer arithmetic at nanosecond precision.
//!
//! Multiply before dividing and never truncate to seconds or centiseconds:
//! holo-vrrp truncated Skew_Time to 0 and FRR once did the same.

use std::time::Duration;

use super::packet::Version;

/// Skew_Time.
///
/// RFC 3768 §6.1: `(256 - Priority) / 256` seconds (independent of the
/// interval). RFC 5798 §6.1: `((256 - Priority) * Master_Adver_Interval) / 256`.
pub fn skew_time(version: Version, priority: u8, master_adver_interval: Duration) -> Duration {
    let factor = 256 - u128::from(priority);
    let base = match version {
        Version::V2 => 1_000_000_000u128,
        Version::V3 => master_adver_interval.as_nanos(),
    };
    nanos(base * factor / 256)
}

/// Master_Down_Interval: `adverts × Master_Adver_Interval + Skew_Time`
/// (RFC 3768/5798 §6.1 use 3; keepalived's `down_timer_adverts` changes it).
pub fn master_down_interval(version: Version, priority: u8, master_adver_interval: Duration, adverts: u32) -> Duration {
    let adverts = u128::from(adverts.max(1));
    nanos(master_adver_interval.as_nanos() * adverts) + skew_time(version, priority, master_adver_interval)
}

fn nanos(n: u128) -> Duration {
    let secs = (n / 1_000_000_000) as u64;
    let sub = (n % 1_000_000_000) as u32;
    Duration::new(secs, sub)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference figure: priority 90 at 1 s is 3.6484375 s (keepalived
    /// measured 3.649 s in 20 of 20 trials).
    #[test]
    fn master_down_priority_90_is_exact() {
        assert_eq!(
            master_down_interval(Version::V2, 90, Duration::from_secs(1), 3),
            Duration::from_nanos(3_648_437_500)
        );
        assert_eq!(
            master_down_interval(Version::V3, 90, Duration::from_secs(1), 3),
            Duration::from_nanos(3_648_437_500)
        );
    }

    /// RFC 5798 §6.1 worked values (vrrp-and-rust.md §3.5).
    #[test]
    fn skew_is_never_truncated() {
        assert_eq!(
            skew_time(Version::V2, 100, Duration::from_secs(1)),
            Duration::from_nanos(609_375_000)
        );
        assert_eq!(
            skew_time(Version::V2, 200, Duration::from_secs(1)),
            Duration::from_nanos(218_750_000)
        );
        // v2 skew does not scale with the interval.
        assert_eq!(
            skew_time(Version::V2, 200, Duration::from_secs(5)),
            Duration::from_nanos(218_750_000)
        );
        // v3 at 10 ms: 2.1875 ms, below one centisecond.
        assert_eq!(
            skew_time(Version::V3, 200, Duration::from_millis(10)),
            Duration::from_nanos(2_187_500)
        );
        assert_eq!(
            skew_time(Version::V3, 255, Duration::from_secs(1)),
            Duration::from_nanos(3_906_250)
        );
    }

    #[test]
    fn down_timer_adverts_scales_the_interval_part_only() {
        assert_eq!(
            master_down_interval(Version::V3, 100, Duration::from_millis(100), 1),
            Duration::from_millis(100) + Duration::from_nanos(60_937_500)
        );
    }
}
