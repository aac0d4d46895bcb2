//! Instants, durations and calendar months in UTC, and the clock every deadline goes through.

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC. In JSON it is an RFC 3339 string in UTC
/// (`2026-11-23T08:00:00Z`); an integer of milliseconds is accepted too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(pub i64);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Millis(i64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Millis(ms) if (0..=Timestamp::MAX.0).contains(&ms) => Ok(Timestamp(ms)),
            Repr::Millis(ms) => Err(serde::de::Error::custom(format!(
                "{ms} ms is outside 1970..9999"
            ))),
            Repr::Text(t) => Timestamp::parse_rfc3339(&t).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "{t:?} is not a UTC time such as 2026-11-23T08:00:00Z"
                ))
            }),
        }
    }
}

impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{
            KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type,
        };
        // Written as a string; read from a string or from milliseconds.
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .description(Some("UTC, RFC 3339, such as 2026-11-23T08:00:00Z")),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(0))
                    .maximum(Some(Timestamp::MAX.0))
                    .description(Some(
                        "milliseconds since the Unix epoch (accepted in requests)",
                    )),
            )
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

pub const SECOND: i64 = 1000;
pub const MINUTE: i64 = 60 * SECOND;
pub const HOUR: i64 = 60 * MINUTE;
pub const DAY: i64 = 24 * HOUR;

impl Timestamp {
    /// The last millisecond of year 9999: later instants have no four-digit RFC 3339 form.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    pub fn millis(self) -> i64 {
        self.0
    }

    pub fn plus_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0.saturating_add(ms))
    }

    pub fn plus_hours(self, h: i64) -> Timestamp {
        self.plus_millis(h.saturating_mul(HOUR))
    }

    /// The same wall-clock time `n` calendar months later, the day clamped to the month's length
    /// (31 January + 1 month = 28 or 29 February), as periods "of at most one month" are counted.
    pub fn plus_months(self, n: u32) -> Timestamp {
        let days = self.0.div_euclid(DAY);
        let ms_of_day = self.0.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        let total = y * 12 + (m as i64 - 1) + n as i64;
        let (ny, nm) = (total.div_euclid(12), (total.rem_euclid(12) + 1) as u32);
        let nd = d.min(days_in_month(ny, nm));
        Timestamp(days_from_civil(ny, nm, nd) * DAY + ms_of_day)
    }

    /// The calendar year (UTC).
    pub fn year(self) -> i64 {
        civil_from_days(self.0.div_euclid(DAY)).0
    }

    /// `YYYY-MM-DDTHH:MM:SSZ`, with `.mmm` before the `Z` when the milliseconds are not zero.
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(DAY);
        let ms = self.0.rem_euclid(DAY);
        let (y, m, d) = civil_from_days(days);
        let s = ms / SECOND;
        let frac = if ms % SECOND == 0 {
            String::new()
        } else {
            format!(".{:03}", ms % SECOND)
        };
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z",
            s / 3600,
            (s / 60) % 60,
            s % 60
        )
    }

    /// Parse `YYYY-MM-DDTHH:MM[:SS[.mmm]]Z` (UTC only; an offset is refused rather than guessed).
    pub fn parse_rfc3339(s: &str) -> Option<Timestamp> {
        let s = s.strip_suffix('Z')?;
        let (date, time) = s.split_once('T')?;
        let mut d = date.split('-');
        // Four digits: years 0000 to 9999, as RFC 3339 has them.
        let y = d.next()?;
        if y.len() != 4 || !y.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let y: i64 = y.parse().ok()?;
        let m: u32 = d.next()?.parse().ok()?;
        let day: u32 = d.next()?.parse().ok()?;
        if d.next().is_some() || !(1..=12).contains(&m) || day == 0 || day > days_in_month(y, m) {
            return None;
        }
        let mut t = time.split(':');
        let hh: i64 = t.next()?.parse().ok()?;
        let mm: i64 = t.next()?.parse().ok()?;
        let (ss, ms) = match t.next() {
            None => (0, 0),
            Some(v) => match v.split_once('.') {
                None => (v.parse().ok()?, 0),
                Some((sec, frac)) if (1..=3).contains(&frac.len()) => {
                    let scale = 10i64.pow(3 - frac.len() as u32);
                    (sec.parse().ok()?, frac.parse::<i64>().ok()? * scale)
                }
                Some(_) => return None,
            },
        };
        if t.next().is_some()
            || !(0..=23).contains(&hh)
            || !(0..=59).contains(&mm)
            || !(0..=59).contains(&ss)
        {
            return None;
        }
        Some(Timestamp(
            days_from_civil(y, m, day) * DAY + hh * HOUR + mm * MINUTE + ss * SECOND + ms,
        ))
    }
}

impl Timestamp {
    /// Swedish civil time (CET, CEST under the EU summer-time rule: from 01:00 UTC on the last
    /// Sunday of March to 01:00 UTC on the last Sunday of October), as `YYYY-MM-DD HH:MM:SS`.
    /// People in a camera centre read local time; the audit log and the API stay in UTC.
    pub fn in_stockholm(self) -> String {
        let (y, _, _) = civil_from_days(self.0.div_euclid(DAY));
        let last_sunday = |m: u32| {
            let last = days_from_civil(y, m, 31);
            // 1970-01-01 was a Thursday: weekday 0 = Monday.
            last - ((last + 3).rem_euclid(7) + 1) % 7
        };
        let start = last_sunday(3) * DAY + HOUR;
        let end = last_sunday(10) * DAY + HOUR;
        let offset = if (start..end).contains(&self.0) { 2 } else { 1 };
        let local = self.0 + offset * HOUR;
        let (y, m, d) = civil_from_days(local.div_euclid(DAY));
        let s = local.rem_euclid(DAY) / SECOND;
        format!(
            "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
            s / 3600,
            (s / 60) % 60,
            s % 60
        )
    }
}

impl Timestamp {
    /// The start of the Swedish civil day `YYYY-MM-DD` (00:00 in Stockholm, 23:00 or 22:00 UTC
    /// the day before), or `None` for no such date.
    pub fn stockholm_midnight(date: &str) -> Option<Timestamp> {
        if date.len() != 10 {
            return None;
        }
        let utc = Timestamp::parse_rfc3339(&format!("{date}T00:00Z"))?;
        // CEST is two hours ahead, CET one: whichever reads as that day's midnight.
        [2, 1]
            .into_iter()
            .map(|h| utc.plus_hours(-h))
            .find(|t| t.in_stockholm() == format!("{date} 00:00:00"))
    }

    /// The Swedish civil date, `YYYY-MM-DD`: the day a camera centre counts by.
    pub fn stockholm_date(self) -> String {
        let mut s = self.in_stockholm();
        s.truncate(10);
        s
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// Howard Hinnant's civil-date algorithms (public domain).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Where "now" comes from. Every deadline is computed against a clock, never against the OS directly,
/// so tests drive time and production cannot set it. `None` means the time is unknown: callers must
/// then fail closed.
pub trait Clock: Send + Sync {
    fn now(&self) -> Option<Timestamp>;
}

/// The operating system's clock. It has no setter.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Option<Timestamp> {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?;
        // Before 2026 the clock is certainly wrong (mandat did not exist): treat it as unknown.
        let ms = i64::try_from(d.as_millis()).ok()?;
        (ms >= 1_767_225_600_000).then_some(Timestamp(ms))
    }
}

/// A clock tests can move. Only built for tests and for crates that ask for the `fake-clock` feature
/// in their dev-dependencies.
#[cfg(any(test, feature = "fake-clock"))]
#[derive(Debug, Default)]
pub struct FakeClock(std::sync::Mutex<Option<Timestamp>>);

#[cfg(any(test, feature = "fake-clock"))]
impl FakeClock {
    pub fn at(t: Timestamp) -> Self {
        Self(std::sync::Mutex::new(Some(t)))
    }

    pub fn set(&self, t: Option<Timestamp>) {
        *self.0.lock().expect("fake clock") = t;
    }

    pub fn advance(&self, ms: i64) {
        let mut g = self.0.lock().expect("fake clock");
        *g = g.map(|t| t.plus_millis(ms));
    }
}

#[cfg(any(test, feature = "fake-clock"))]
impl Clock for FakeClock {
    fn now(&self) -> Option<Timestamp> {
        *self.0.lock().expect("fake clock")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_swedish_day_starts_at_midnight_in_stockholm_in_winter_and_summer() {
        let at = |d: &str| {
            super::Timestamp::stockholm_midnight(d)
                .unwrap()
                .to_rfc3339()
        };
        assert_eq!(at("2026-01-15"), "2026-01-14T23:00:00Z");
        assert_eq!(at("2026-07-01"), "2026-06-30T22:00:00Z");
        // The days summer time starts and ends.
        assert_eq!(at("2026-03-29"), "2026-03-28T23:00:00Z");
        assert_eq!(at("2026-10-25"), "2026-10-24T22:00:00Z");
        assert_eq!(super::Timestamp::stockholm_midnight("2026-02-30"), None);
        assert_eq!(super::Timestamp::stockholm_midnight("2026-2-3"), None);
        let t = super::Timestamp::stockholm_midnight("2026-07-01").unwrap();
        assert_eq!(t.stockholm_date(), "2026-07-01");
        assert_eq!(t.plus_millis(-1).stockholm_date(), "2026-06-30");
    }

    #[test]
    fn only_four_digit_years_come_in_so_every_instant_goes_out_as_rfc_3339() {
        let from = |j: &str| serde_json::from_str::<super::Timestamp>(j);
        assert_eq!(
            from("\"9999-12-31T23:59:59.999Z\"").unwrap(),
            super::Timestamp::MAX
        );
        assert_eq!(
            super::Timestamp::MAX.to_rfc3339(),
            "9999-12-31T23:59:59.999Z"
        );
        assert!(from("253402300799999").is_ok());
        for bad in [
            "253402300800000",
            "-1",
            "\"10000-01-01T00:00:00Z\"",
            "\"-001-01-01T00:00:00Z\"",
            "\"+2026-01-01T00:00:00Z\"",
        ] {
            assert!(from(bad).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn stockholm_time_follows_eu_summer_time() {
        let t = |s| super::Timestamp::parse_rfc3339(s).unwrap().in_stockholm();
        // 2026: summer time from 29 March 01:00 UTC to 25 October 01:00 UTC.
        assert_eq!(t("2026-03-29T00:59:59Z"), "2026-03-29 01:59:59");
        assert_eq!(t("2026-03-29T01:00:00Z"), "2026-03-29 03:00:00");
        assert_eq!(t("2026-10-25T00:59:59Z"), "2026-10-25 02:59:59");
        assert_eq!(t("2026-10-25T01:00:00Z"), "2026-10-25 02:00:00");
        assert_eq!(t("2026-11-23T09:00:00Z"), "2026-11-23 10:00:00");
        assert_eq!(t("2026-12-31T23:30:00Z"), "2027-01-01 00:30:00");
        // 2027: 28 March.
        assert_eq!(t("2027-03-28T01:00:00Z"), "2027-03-28 03:00:00");
        assert_eq!(t("2027-03-27T12:00:00Z"), "2027-03-27 13:00:00");
    }

    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    #[test]
    fn rfc3339_round_trip_and_rejects() {
        assert_eq!(ts("1970-01-01T00:00:00Z"), Timestamp(0));
        assert_eq!(ts("2026-07-01T12:30Z").to_rfc3339(), "2026-07-01T12:30:00Z");
        assert_eq!(ts("2026-07-01T12:30:05.25Z").0 % 1000, 250);
        assert_eq!(
            ts("2026-07-01T12:30:05.25Z").to_rfc3339(),
            "2026-07-01T12:30:05.250Z"
        );
        let json = serde_json::to_string(&ts("2026-07-01T12:30Z")).unwrap();
        assert_eq!(json, "\"2026-07-01T12:30:00Z\"");
        assert_eq!(
            serde_json::from_str::<Timestamp>(&json).unwrap(),
            ts("2026-07-01T12:30Z")
        );
        assert_eq!(
            serde_json::from_str::<Timestamp>("1000").unwrap(),
            Timestamp(1000)
        );
        assert!(serde_json::from_str::<Timestamp>("\"yesterday\"").is_err());
        for bad in [
            "2026-02-30T00:00Z",
            "2026-13-01T00:00Z",
            "2026-07-01T12:30+02:00",
            "2026-07-01T12:30:00.1234Z",
            "2026-07-01T-1:30Z",
            "x",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn calendar_months() {
        assert_eq!(
            ts("2026-01-15T08:00Z").plus_months(1),
            ts("2026-02-15T08:00Z")
        );
        assert_eq!(
            ts("2026-01-31T08:00Z").plus_months(1),
            ts("2026-02-28T08:00Z")
        );
        assert_eq!(
            ts("2028-01-31T08:00Z").plus_months(1),
            ts("2028-02-29T08:00Z")
        );
        assert_eq!(
            ts("2026-12-10T00:00Z").plus_months(1),
            ts("2027-01-10T00:00Z")
        );
    }

    #[test]
    fn fake_clock_moves_and_can_be_unknown() {
        let c = FakeClock::at(Timestamp(1000));
        c.advance(500);
        assert_eq!(c.now(), Some(Timestamp(1500)));
        c.set(None);
        assert_eq!(c.now(), None);
        assert!(SystemClock.now().is_some());
    }

    proptest! {
        #[test]
        fn rfc3339_round_trips(ms in 0i64..8_000_000_000_000) {
            prop_assert_eq!(Timestamp::parse_rfc3339(&Timestamp(ms).to_rfc3339()), Some(Timestamp(ms)));
        }

        #[test]
        fn civil_round_trip(days in -1_000_000i64..1_000_000) {
            let (y, m, d) = civil_from_days(days);
            prop_assert_eq!(days_from_civil(y, m, d), days);
        }

        #[test]
        fn month_later_is_28_to_31_days(ms in 0i64..4_000_000_000_000) {
            let t = Timestamp(ms);
            let later = t.plus_months(1).0 - t.0;
            prop_assert!((28 * DAY..=31 * DAY).contains(&later));
        }
    }
}
